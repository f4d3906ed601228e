/* Data: IDX (plain and gzip) and CSV readers with their malformed-file errors,
 * standardization, permutations, splits and the mini-batch loader. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/sampler.h"
#include "helpers.h"

static char path_buf[256];
static const char *tmp_path(const char *name) {
    snprintf(path_buf, sizeof path_buf, "/tmp/ag_test_data_%d_%s", (int)getpid(), name);
    return path_buf;
}

static void write_file(const char *path, const void *data, size_t n, bool gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        cr_assert(f);
        gzwrite(f, data, (unsigned)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        cr_assert(f);
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

/* A 2x3 ubyte IDX: magic 0 0 8 2, dims 2 and 3, data 0..5 scaled. */
static const unsigned char IDX_OK[] = {0, 0, 8, 2, 0,  0,   0,   2,   0,
                                       0, 0, 3, 0, 51, 102, 153, 204, 255};

static void expect_error(ag_tensor *t, const char *part1, const char *part2) {
    cr_assert_null(t);
    const char *e = ag_last_error();
    cr_assert(e && strstr(e, "ag_load_idx") && strstr(e, part1) && strstr(e, part2),
              "message '%s' lacks '%s' / '%s'", e ? e : "(null)", part1, part2);
}

Test(data, idx_plain_and_gzip) {
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tmp_path(gz ? "ok.idx.gz" : "ok.idx");
        write_file(p, IDX_OK, sizeof IDX_OK, gz);
        ag_scope_begin();
        ag_tensor *t = ag_load_idx(p, AG_F32, 1 / 255.0);
        cr_assert(t, "%s", ag_last_error());
        cr_assert_eq(ag_ndim(t), 2);
        cr_assert_eq(ag_shape(t)[0], 2);
        cr_assert_eq(ag_shape(t)[1], 3);
        assert_tensor_close(t, (double[]){0, 0.2, 0.4, 0.6, 0.8, 1.0}, 6, 1e-7, 0);
        ag_tensor *l = ag_load_idx(p, AG_I64, 0);
        cr_assert_eq(ag_dtype_of(l), AG_I64);
        assert_tensor_close(l, (double[]){0, 51, 102, 153, 204, 255}, 6, 0, 0);
        ag_scope_end();
        unlink(p);
    }
}

Test(data, idx_other_types) {
    /* int32 big-endian 1-D: 3 values */
    unsigned char b[] = {0, 0, 0x0C, 1, 0, 0, 0, 3, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 7};
    const char *p = tmp_path("i32.idx");
    write_file(p, b, sizeof b, false);
    ag_scope_begin();
    ag_tensor *t = ag_load_idx(p, AG_F64, 0);
    cr_assert(t, "%s", ag_last_error());
    assert_tensor_close(t, (double[]){256, -2, 7}, 3, 0, 0);
    ag_scope_end();
    unlink(p);
}

Test(data, idx_malformed_files_name_file_and_byte) {
    const char *p = tmp_path("bad.idx");
    unsigned char buf[sizeof IDX_OK + 1];
    memcpy(buf, IDX_OK, sizeof IDX_OK);
    ag_scope_begin();
    write_file(p, buf, sizeof IDX_OK - 2, false); /* truncated data */
    expect_error(ag_load_idx(p, AG_F32, 0), p, "truncated at byte 16");
    write_file(p, buf, 6, true); /* truncated dims, gzip */
    expect_error(ag_load_idx(p, AG_F32, 0), "truncated at byte 6", "dimensions");
    write_file(p, buf, 2, false); /* truncated magic */
    expect_error(ag_load_idx(p, AG_F32, 0), "truncated at byte 2", "magic");
    buf[1] = 7; /* bad magic */
    write_file(p, buf, sizeof IDX_OK, false);
    expect_error(ag_load_idx(p, AG_F32, 0), "bad magic", "byte 0");
    buf[1] = 0;
    buf[2] = 0x42; /* unknown type */
    write_file(p, buf, sizeof IDX_OK, false);
    expect_error(ag_load_idx(p, AG_F32, 0), "bad magic", p);
    buf[2] = 8;
    buf[3] = 0; /* zero dims */
    write_file(p, buf, sizeof IDX_OK, false);
    expect_error(ag_load_idx(p, AG_F32, 0), "byte 3", "dimensions");
    buf[3] = 2;
    buf[sizeof IDX_OK] = 9; /* wrong sizes: extra data */
    write_file(p, buf, sizeof IDX_OK + 1, false);
    expect_error(ag_load_idx(p, AG_F32, 0), "byte 18", "continues past");
    expect_error(ag_load_idx("/nonexistent/x.idx", AG_F32, 0), "/nonexistent/x.idx", "cannot open");
    cr_assert_null(ag_load_idx(NULL, AG_F32, 0));
    ag_scope_end();
    unlink(p);
}

static void write_text(const char *p, const char *s) { write_file(p, s, strlen(s), false); }

Test(data, csv_header_label_and_delimiters) {
    const char *p = tmp_path("ok.csv");
    write_text(p, "a,b,label,c\r\n1,2,0,3\r\n4.5, -5 ,1,6e1\n\n");
    ag_scope_begin();
    ag_tensor *x, *y;
    cr_assert_eq(
        ag_load_csv(p, (ag_csv_opts){.header = true, .has_label = true, .label_col = 2}, &x, &y), 0,
        "%s", ag_last_error());
    cr_assert_eq(ag_shape(x)[0], 2);
    cr_assert_eq(ag_shape(x)[1], 3);
    cr_assert_eq(ag_dtype_of(x), AG_F32);
    assert_tensor_close(x, (double[]){1, 2, 3, 4.5, -5, 60}, 6, 0, 0);
    cr_assert_eq(ag_dtype_of(y), AG_I64);
    assert_tensor_close(y, (double[]){0, 1}, 2, 0, 0);
    write_text(p, "1;2.5\n3;4.25\n");
    cr_assert_eq(ag_load_csv(p,
                             (ag_csv_opts){.delim = ';',
                                           .has_label = true,
                                           .label_col = -1,
                                           .label_float = true,
                                           .dtype = AG_F64},
                             &x, &y),
                 0);
    assert_tensor_close(y, (double[]){2.5, 4.25}, 2, 0, 0);
    cr_assert_eq(ag_dtype_of(y), AG_F64);
    cr_assert_eq(ag_load_csv(p, (ag_csv_opts){.delim = ';'}, &x, NULL), 0);
    cr_assert_eq(ag_shape(x)[1], 2);
    ag_scope_end();
    unlink(p);
}

static void expect_csv_error(const char *p, const char *text, ag_csv_opts o, const char *want) {
    write_text(p, text);
    ag_tensor *x = NULL, *y = NULL;
    cr_assert_neq(ag_load_csv(p, o, &x, &y), 0, "'%s' was accepted", text);
    const char *e = ag_last_error();
    cr_assert(e && strstr(e, "ag_load_csv") && strstr(e, p) && strstr(e, want),
              "message '%s' lacks '%s'", e ? e : "(null)", want);
}

Test(data, csv_malformed_files_name_file_and_line) {
    const char *p = tmp_path("bad.csv");
    ag_scope_begin();
    expect_csv_error(p, "x,y\n1,2\n3,abc\n", (ag_csv_opts){.header = true},
                     "line 3, column 2: 'abc'");
    expect_csv_error(p, "1,2\n3\n", (ag_csv_opts){0}, "line 2 has 1 columns, expected 2");
    expect_csv_error(p, "1,2\n3,4,5\n", (ag_csv_opts){0}, "line 2 has more than 2 columns");
    expect_csv_error(p, "1,2\n3,\n", (ag_csv_opts){0}, "line 2, column 2");
    expect_csv_error(p, "h\n", (ag_csv_opts){.header = true}, "no data rows");
    expect_csv_error(p, "1,0.5\n", (ag_csv_opts){.has_label = true, .label_col = 1},
                     "not an integer");
    expect_csv_error(p, "1,2\n", (ag_csv_opts){.has_label = true, .label_col = 5},
                     "label column 5");
    ag_tensor *x;
    cr_assert_neq(ag_load_csv("/nonexistent.csv", (ag_csv_opts){0}, &x, NULL), 0);
    cr_assert(strstr(ag_last_error(), "/nonexistent.csv: cannot open"));
    cr_assert_neq(ag_load_csv(p, (ag_csv_opts){.dtype = AG_I64}, &x, NULL), 0);
    ag_scope_end();
    unlink(p);
}

Test(data, standardize_fits_train_applies_to_test) {
    ag_scope_begin();
    ag_tensor *x = T64(2, SHAPE(3, 2), 1.0, 10.0, 2.0, 10.0, 3.0, 10.0);
    ag_tensor *m, *s;
    cr_assert_eq(ag_standardize_fit(x, &m, &s), 0);
    assert_tensor_close(m, (double[]){2, 10}, 2, 1e-15, 0);
    assert_tensor_close(s, (double[]){sqrt(2.0 / 3), 1}, 2, 1e-15, 0); /* std 0 -> 1 */
    ag_tensor *t = T64(2, SHAPE(1, 2), 4.0, 11.0);
    cr_assert_eq(ag_standardize_apply_(t, m, s), 0);
    assert_tensor_close(t, (double[]){2 / sqrt(2.0 / 3), 1}, 2, 1e-12, 0);
    cr_assert_neq(ag_standardize_apply_(T64(2, SHAPE(1, 3), 1.0, 2.0, 3.0), m, s), 0);
    cr_assert(strstr(ag_last_error(), "do not fit"));
    cr_assert_neq(ag_standardize_fit(NULL, &m, &s), 0);
    ag_scope_end();
}

Test(data, randperm_is_a_seeded_permutation) {
    int64_t a[50], b[50];
    ag_manual_seed(3);
    ag_randperm(50, a);
    ag_manual_seed(3);
    ag_randperm(50, b);
    cr_assert_arr_eq(a, b, sizeof a);
    int seen[50] = {0}, moved = 0;
    for (int i = 0; i < 50; i++) {
        seen[a[i]]++;
        moved += a[i] != i;
    }
    for (int i = 0; i < 50; i++) cr_assert_eq(seen[i], 1);
    cr_assert_gt(moved, 30);
    cr_assert_neq(ag_randperm(-1, a), 0);
}

Test(data, train_val_split) {
    ag_scope_begin();
    ag_tensor *x = ag_arange(AG_F64, 0, 10, 1), *y = ag_cast(ag_arange(AG_F64, 0, 10, 1), AG_I64);
    x = ag_reshape(x, 2, (int64_t[]){10, 1});
    ag_tensor *xt, *yt, *xv, *yv;
    cr_assert_eq(ag_train_val_split(x, y, 0.3, false, &xt, &yt, &xv, &yv), 0, "%s",
                 ag_last_error());
    cr_assert_eq(ag_shape(xt)[0], 7);
    cr_assert_eq(ag_shape(xv)[0], 3);
    assert_tensor_close(xv, (double[]){7, 8, 9}, 3, 0, 0);
    cr_assert_eq(ag_train_val_split(x, y, 0.5, true, &xt, &yt, &xv, &yv), 0);
    double sum = 0;
    for (int64_t i = 0; i < 5; i++) {
        double xi = ag_get(xt, (int64_t[]){i, 0});
        cr_assert_eq(xi, ag_get(yt, &i)); /* rows stay paired */
        sum += xi + ag_get(xv, (int64_t[]){i, 0});
    }
    cr_assert_eq(sum, 45);
    cr_assert_neq(ag_train_val_split(x, y, 1.0, false, &xt, &yt, &xv, &yv), 0);
    cr_assert_neq(
        ag_train_val_split(x, ag_zeros(AG_I64, 1, (int64_t[]){3}), 0.5, false, &xt, &yt, &xv, &yv),
        0);
    cr_assert(strstr(ag_last_error(), "rows"));
    ag_scope_end();
}

/* Every row seen once per epoch, for full-batch, mini-batch and stochastic settings. */
Test(data, loader_batch_sizes) {
    ag_scope_begin();
    ag_tensor *x = ag_reshape(ag_arange(AG_F32, 0, 20, 1), 2, (int64_t[]){10, 2});
    ag_tensor *y = ag_cast(ag_arange(AG_F64, 0, 10, 1), AG_I64);
    int64_t sizes[] = {0, 3, 1, 10, 100};
    int64_t want_batches[] = {1, 4, 10, 1, 1};
    for (int k = 0; k < 5; k++)
        for (int sh = 0; sh < 2; sh++) {
            ag_loader *l = ag_loader_new(x, y, sizes[k], sh);
            cr_assert(l, "%s", ag_last_error());
            cr_assert_eq(ag_loader_num_batches(l), want_batches[k]);
            for (int epoch = 0; epoch < 2; epoch++) {
                ag_loader_reset(l);
                int seen[10] = {0}, batches = 0;
                ag_tensor *xb, *yb;
                while (ag_loader_next(l, &xb, &yb)) {
                    batches++;
                    for (int64_t r = 0; r < ag_shape(xb)[0]; r++) {
                        int64_t lab = (int64_t)ag_get(yb, &r);
                        cr_assert_eq(ag_get(xb, (int64_t[]){r, 1}), 2 * lab + 1);
                        seen[lab]++;
                    }
                }
                cr_assert_eq(batches, want_batches[k]);
                for (int i = 0; i < 10; i++) cr_assert_eq(seen[i], 1);
            }
            ag_loader_free(l);
        }
    cr_assert_null(ag_loader_new(x, y, -1, false));
    cr_assert_null(ag_loader_new(x, ag_zeros(AG_I64, 1, (int64_t[]){4}), 2, false));
    ag_scope_end();
}

Test(data, loader_outlives_scopes_and_batches_feed_ops) {
    ag_tensor *x = ag_ones(AG_F32, 2, (int64_t[]){5, 3});
    ag_loader *l = ag_loader_new(x, NULL, 2, true);
    ag_tensor *xb;
    for (int step = 0; ag_loader_next(l, &xb, NULL); step++) {
        ag_scope_begin();
        double s = ag_item(ag_sum(xb));
        cr_assert_eq(s, step < 2 ? 6 : 3);
        ag_scope_end();
    }
    ag_loader_free(l);
    ag_tensor_free(x);
}

Test(data, fashion_mnist_if_installed) {
    const char *p = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    if (access(p, R_OK)) cr_skip_test("no %s", p);
    ag_scope_begin();
    ag_tensor *y = ag_load_idx(p, AG_I64, 0);
    cr_assert(y, "%s", ag_last_error());
    cr_assert_eq(ag_numel(y), 10000);
    ag_tensor *x = ag_load_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                               AG_F32, 1 / 255.0);
    cr_assert(x, "%s", ag_last_error());
    cr_assert_eq(ag_ndim(x), 3);
    cr_assert_eq(ag_shape(x)[1], 28);
    ag_scope_end();
}

/* ---- data kept as bytes (AG_U8) */
Test(data, idx_as_bytes_plain_and_gzip) {
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tmp_path(gz ? "u8.idx.gz" : "u8.idx");
        write_file(p, IDX_OK, sizeof IDX_OK, gz);
        for (int scale = 0; scale < 2; scale++) {
            ag_tensor *t = ag_load_idx(p, AG_U8, scale);
            cr_assert(t, "%s", ag_last_error());
            cr_assert_eq(ag_dtype_of(t), AG_U8);
            cr_assert_eq(ag_ndim(t), 2);
            cr_assert_eq(memcmp(ag_data(t), IDX_OK + 12, 6), 0);
            ag_tensor_free(t);
        }
        unlink(p);
    }
}

Test(data, idx_as_bytes_errors) {
    const char *p = tmp_path("u8err.idx");
    write_file(p, IDX_OK, sizeof IDX_OK, false);
    expect_error(ag_load_idx(p, AG_U8, 1 / 255.0), "scale", "AG_U8");
    write_file(p, IDX_OK, sizeof IDX_OK - 1, false); /* one byte of data short */
    expect_error(ag_load_idx(p, AG_U8, 0), "truncated", "byte 17");
    unsigned char more[sizeof IDX_OK + 1];
    memcpy(more, IDX_OK, sizeof IDX_OK);
    more[sizeof IDX_OK] = 9;
    write_file(p, more, sizeof more, false);
    expect_error(ag_load_idx(p, AG_U8, 0), "continues past", "byte 18");
    unsigned char i32[] = {0, 0, 0x0C, 1, 0, 0, 0, 1, 0, 0, 1, 0};
    write_file(p, i32, sizeof i32, false);
    expect_error(ag_load_idx(p, AG_U8, 0), "0x0C", "not unsigned bytes");
    /* a small gzip file cannot hold the 2^32 bytes its header declares: no allocation */
    unsigned char big[] = {0, 0, 8, 2, 0, 1, 0, 0, 0, 1, 0, 0, 1, 2, 3};
    const char *g = tmp_path("u8big.idx.gz");
    write_file(g, big, sizeof big, true);
    expect_error(ag_load_idx(g, AG_U8, 0), "truncated", "compressed bytes cannot hold");
    unlink(g);
    unlink(p);
}

/* Byte rows come out of the loader as float batches, scaled, shuffled or not, float32 (or
 * what ag_train asks: the default dtype); a batch exists once (the same tensor each step). */
Test(data, loader_converts_bytes_per_batch) {
    uint8_t v[10 * 3];
    for (int i = 0; i < 30; i++) v[i] = (uint8_t)(i * 8);
    ag_tensor *x = ag_tensor_new(AG_U8, 2, (int64_t[]){10, 3}, v);
    ag_tensor *y = ag_arange(AG_I64, 0, 10, 1);
    for (int dt = 0; dt < 2; dt++)
        for (int sh = 0; sh < 2; sh++)
            for (int sc = 0; sc < 2; sc++) {
                ag_loader *l = ag_loader_new(x, y, 4, sh);
                cr_assert(l, "%s", ag_last_error());
                if (dt) cr_assert_eq(ag__loader_set_batch_dtype(l, AG_F64), 0); /* ag_train's */
                if (sc) cr_assert_eq(ag_loader_set_input_scale(l, 0.5), 0);
                ag_tensor *xb, *yb, *first = NULL;
                int seen = 0;
                while (ag_loader_next(l, &xb, &yb)) {
                    cr_assert_eq(ag_dtype_of(xb), dt ? AG_F64 : AG_F32);
                    if (!first) first = xb;
                    cr_assert_eq(xb, first);
                    for (int64_t r = 0; r < ag_shape(xb)[0]; r++, seen++) {
                        int64_t row = (int64_t)ag_get(yb, &r);
                        for (int64_t c = 0; c < 3; c++) {
                            uint8_t b = v[row * 3 + c]; /* default: as torch's /255 */
                            double want = sc ? b * 0.5 : dt ? b / 255.0 : (float)b / 255.0f;
                            cr_assert_eq(ag_get(xb, (int64_t[]){r, c}), want);
                        }
                    }
                }
                cr_assert_eq(seen, 10);
                ag_loader_free(l);
            }
    cr_assert_neq(ag_loader_set_input_scale(NULL, 1), 0);
    ag_loader *l = ag_loader_new(x, y, 4, false);
    cr_assert_neq(ag_loader_set_input_scale(l, NAN), 0);
    cr_assert(strstr(ag_last_error(), "ag_loader_set_input_scale"));
    ag_loader_free(l);
    ag_tensor_free(x);
    ag_tensor_free(y);
}

/* Bytes and float32 in one safetensors file: "U8" in the header, values back exactly. */
Test(data, safetensors_keep_bytes) {
    const char *p = tmp_path("u8.safetensors");
    ag_scope_begin();
    uint8_t v[6] = {0, 1, 127, 128, 254, 255};
    ag_tensor *u = ag_tensor_new(AG_U8, 2, (int64_t[]){2, 3}, v);
    ag_tensor *f = ag_full(AG_F32, 1, (int64_t[]){3}, 0.5);
    cr_assert_eq(ag_save_safetensors(p, 2, (ag_tensor *const[]){u, f},
                                     (const char *const[]){"bytes", "floats"}),
                 0, "%s", ag_last_error());
    FILE *fh = fopen(p, "rb");
    char head[256] = {0};
    cr_assert(fh && fread(head, 1, sizeof head - 1, fh) > 8);
    fclose(fh);
    cr_expect(strstr(head + 8, "\"dtype\":\"U8\""), "%s", head + 8);
    ag_tensor *b = ag_load_safetensors_tensor(p, "bytes");
    cr_assert(b && ag_dtype_of(b) == AG_U8, "%s", ag_last_error());
    cr_expect_eq(memcmp(ag_data(b), v, 6), 0);
    ag_scope_end();
    unlink(p);
}

/* A distributed loader's shard of byte rows: float batches too, each row once over ranks. */
Test(data, distributed_loader_converts_bytes) {
    uint8_t v[8];
    for (int i = 0; i < 8; i++) v[i] = (uint8_t)(i * 30);
    ag_tensor *x = ag_tensor_new(AG_U8, 2, (int64_t[]){8, 1}, v);
    int seen[8] = {0};
    for (int rank = 0; rank < 2; rank++) {
        ag_loader *l = ag_loader_new_distributed(x, NULL, 3, true, rank, 2, false);
        cr_assert(l, "%s", ag_last_error());
        cr_assert_eq(ag_loader_set_input_scale(l, 1), 0);
        ag_tensor *xb;
        while (ag_loader_next(l, &xb, NULL)) {
            cr_assert_eq(ag_dtype_of(xb), AG_F32);
            for (int64_t r = 0; r < ag_shape(xb)[0]; r++) {
                double b = ag_get(xb, (int64_t[]){r, 0});
                cr_assert(b == (int)b && (int)b % 30 == 0 && b < 240, "value %g", b);
                seen[(int)b / 30]++;
            }
        }
        ag_loader_free(l);
    }
    for (int i = 0; i < 8; i++) cr_expect_eq(seen[i], 1, "row %d seen %d times", i, seen[i]);
    ag_tensor_free(x);
}
