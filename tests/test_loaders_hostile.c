/* Loaders on hostile input: each defect found by fuzzing and by hand (issue 10, D1-D5,
 * D21, D22) and each lax case decided (overlapping offsets, duplicate names, gzip without
 * its trailer, 1e999) has its file here. Under the ASan suite an overread or an allocation
 * sized by a header alone fails the test. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "helpers.h"
#include "leak_check.h"

static char path_buf[256];
static const char *tmp_path(const char *name) {
    snprintf(path_buf, sizeof path_buf, "/tmp/ag_test_hostile_%d_%s", (int)getpid(), name);
    return path_buf;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* A safetensors file: the header exactly as given (no padding), then `data` bytes of 0. */
static void write_st(const char *path, const char *json, size_t data) {
    uint64_t n = strlen(json);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fwrite(&n, 8, 1, f);
    fwrite(json, 1, n, f);
    for (size_t i = 0; i < data; i++) fputc(0, f);
    fclose(f);
}

static void expect_msg(const char *want) {
    const char *e = ag_last_error();
    cr_assert(e && strstr(e, want), "message '%s' lacks '%s'", e ? e : "(null)", want);
}

static void expect_st_error(const char *json, size_t data, const char *want) {
    const char *p = tmp_path("h.safetensors");
    write_st(p, json, data);
    ag_scope_begin();
    cr_assert_null(ag_load_safetensors_tensor(p, "a"), "'%s' was accepted", json);
    expect_msg(p);
    expect_msg(want);
    ag_scope_end();
    unlink(p);
}

/* D1: a string whose last header byte is a backslash; D2: a bare value running to the end
 * of the header. Both read one byte past the header (the file's end: ASan sees it). */
Test(loaders_hostile, safetensors_header_ending_inside_a_token) {
    expect_st_error("{\"a\\", 0, "unterminated string");
    expect_st_error("{\"a\":{\"x\":\"\\", 0, "unterminated string");
    expect_st_error("{\"__metadata__\":123", 0, "expected ',' or '}'");
    expect_st_error("{\"a\":{\"x\":true", 0, "expected '}' closing a tensor entry");
    expect_st_error("{\"__metadata__\":}", 0, "expected a value");
    assert_no_leaks();
}

/* D3: the valid header {} (a model without parameters) loads. */
Test(loaders_hostile, safetensors_empty_header_loads) {
    const char *p = tmp_path("empty.safetensors");
    cr_assert_eq(ag_save_safetensors(p, 0, NULL, NULL), 0, "%s", ag_last_error());
    cr_assert_null(ag_load_safetensors_tensor(p, "w"));
    expect_msg("no tensor named 'w'");
    write_st(p, "{}", 0);
    cr_assert_null(ag_load_safetensors_tensor(p, "w"));
    expect_msg("no tensor named 'w'");
    ag_model *m = ag_model_new();
    cr_assert_eq(ag_model_save(m, p), 0, "%s", ag_last_error());
    cr_assert_eq(ag_model_load(m, p), 0, "%s", ag_last_error());
    ag_model_free(m);
    unlink(p);
    assert_no_leaks();
}

/* Decided: as the format's reference implementation, data_offsets must tile the data
 * exactly and names must be unique. */
Test(loaders_hostile, safetensors_rejects_overlap_gaps_and_duplicates) {
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                    8, "overlapping");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "a gap");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
                    "leave bytes unused");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                    8, "'a' appears twice");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4,
                    "after the header's closing '}'");
    /* a 0 among the sizes must not lift the overflow bound (D5) */
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,1099511627776,1099511627776],"
                    "\"data_offsets\":[0,0]}}",
                    0, "shape too large");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"b\\ud800\":1}",
                    4, "lone surrogate");
    expect_st_error("{\"a\\u0000b\":{}}", 0, "\\u0000");
    expect_st_error("{\"a\x01\":{}}", 0, "control byte");
    /* the writer refuses what the reader would refuse */
    ag_tensor *t = ag_zeros(AG_F32, 1, (int64_t[]){1});
    const char *p = tmp_path("dup.safetensors");
    cr_assert_neq(ag_save_safetensors(p, 2, (ag_tensor *[]){t, t}, (const char *[]){"w", "w"}), 0);
    expect_msg("entry 1");
    char longname[300];
    memset(longname, 'n', 299);
    longname[299] = 0;
    cr_assert_neq(ag_save_safetensors(p, 1, &t, (const char *[]){longname}), 0);
    cr_assert_neq(ag_save_safetensors(p, 1, &t, (const char *[]){"a\nb"}), 0);
    ag_tensor_free(t);
    assert_no_leaks();
}

Test(loaders_hostile, safetensors_escapes_and_utf8_names) {
    const char *p = tmp_path("esc.safetensors");
    write_st(p,
             "{\"\\u00e9\\t\\\"\\ud83d\\ude00\":{\"dtype\":\"F32\",\"shape\":[],"
             "\"data_offsets\":[0,4]}, \"__metadata__\":{\"k\":[\"v\",null,-1.5e3]}}",
             4);
    ag_tensor *t = ag_load_safetensors_tensor(p, "\xc3\xa9\t\"\xf0\x9f\x98\x80");
    cr_assert(t, "%s", ag_last_error());
    cr_assert_eq(ag_ndim(t), 0);
    ag_tensor_free(t);
    unlink(p);
    assert_no_leaks();
}

/* Strided and broadcast tensors save outside any scope without leaking (D6). */
Test(loaders_hostile, safetensors_save_outside_scopes_allocates_nothing) {
    ag_tensor *a = ag_tensor_new(AG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ag_tensor *t = ag_transpose(a, 0, 1);
    const char *p = tmp_path("strided.safetensors");
    cr_assert_eq(ag_save_safetensors(p, 2, (ag_tensor *[]){a, t}, (const char *[]){"a", "t"}), 0,
                 "%s", ag_last_error());
    ag_tensor *r = ag_load_safetensors_tensor(p, "t");
    assert_tensor_close(r, (double[]){1, 4, 2, 5, 3, 6}, 6, 0, 0);
    ag_tensor_free(r);
    ag_tensor_free(t);
    ag_tensor_free(a);
    unlink(p);
    assert_no_leaks();
}

/* ------------------------------------------------------------------ IDX */
static void write_gz(const char *path, const void *data, size_t n, bool trailer) {
    gzFile f = gzopen(path, "wb");
    cr_assert(f);
    gzwrite(f, data, (unsigned)n);
    gzclose(f);
    if (trailer) return;
    FILE *g = fopen(path, "rb+"); /* drop the 8-byte trailer (CRC32, size) */
    fseek(g, 0, SEEK_END);
    long size = ftell(g);
    fclose(g);
    cr_assert_eq(truncate(path, size - 8), 0);
}

static void expect_idx_error(const char *p, ag_dtype d, const char *want) {
    ag_scope_begin();
    cr_assert_null(ag_load_idx(p, d, 0), "%s was accepted", p);
    expect_msg("ag_load_idx");
    expect_msg(p);
    expect_msg(want);
    ag_scope_end();
}

/* D4: float data asked for as int64 must be finite and in range. */
Test(loaders_hostile, idx_float_data_as_int64_is_checked) {
    unsigned char b[] = {0,    0,    0x0E, 1, 0, 0, 0, 2, 0xC0, 0x04, 0, 0, 0, 0, 0, 0, /* -2.5 */
                         0x7F, 0xF8, 0,    0, 0, 0, 0, 0};                              /* NaN */
    const char *p = tmp_path("nan.idx");
    write_bytes(p, b, sizeof b);
    expect_idx_error(p, AG_I64, "element 1 is nan");
    expect_idx_error(p, AG_I64, "byte 16");
    b[16] = 0x43; /* 2^63 * 1.0: one past int64 */
    b[17] = 0xE0;
    write_bytes(p, b, sizeof b);
    expect_idx_error(p, AG_I64, "int64 cannot hold");
    b[17] = 0xD0; /* 2^62 fits */
    write_bytes(p, b, sizeof b);
    ag_scope_begin();
    ag_tensor *t = ag_load_idx(p, AG_I64, 0);
    cr_assert(t, "%s", ag_last_error());
    cr_assert_eq(((int64_t *)ag_data(t))[0], -2); /* truncated toward zero, as torch .long() */
    cr_assert_eq(((int64_t *)ag_data(t))[1], (int64_t)1 << 62);
    ag_scope_end();
    unlink(p);
    assert_no_leaks();
}

/* The header alone never sizes an allocation: a short raw file is refused before any
 * malloc (ASan would abort on a 63 GB request), a short gzip stream after reading what
 * it holds. D5: a 0 among the sizes keeps the bound on the others. */
Test(loaders_hostile, idx_header_sizes_do_not_size_allocations) {
    unsigned char b[] = {0, 0, 8, 3, 0, 0, 0x10, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0, 1, 2};
    const char *p = tmp_path("big.idx");
    write_bytes(p, b, sizeof b); /* 2^36 bytes declared, 2 present */
    expect_idx_error(p, AG_F32, "truncated at byte 18");
    const char *g = tmp_path("big.idx.gz");
    write_gz(g, b, sizeof b, true);
    expect_idx_error(g, AG_F32, "truncated at byte 18");
    unsigned char z[] = {0, 0, 8, 3, 0, 0, 0, 0, 0x80, 0, 0, 0, 0x80, 0, 0, 0};
    write_bytes(p, z, sizeof z); /* [0, 2^31, 2^31] */
    expect_idx_error(p, AG_F32, "too large");
    unsigned char ok[] = {0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 5};
    write_bytes(p, ok, sizeof ok); /* [0, 5] is fine */
    ag_tensor *t = ag_load_idx(p, AG_F32, 0);
    cr_assert(t, "%s", ag_last_error());
    cr_assert_eq(ag_numel(t), 0);
    ag_tensor_free(t);
    cr_assert_null(ag_zeros(AG_F32, 3, (int64_t[]){0, (int64_t)1 << 40, (int64_t)1 << 40}));
    expect_msg("too large");
    t = ag_zeros(AG_F32, 3, (int64_t[]){0, (int64_t)1 << 20, (int64_t)1 << 20});
    cr_assert(t, "%s", ag_last_error());
    ag_tensor_free(t);
    unlink(p);
    unlink(g);
    assert_no_leaks();
}

/* Decided: a gzip stream must end with its trailer (its CRC is the integrity check); a
 * wrong CRC is an error too. Data past the declared size: an error, as before. */
Test(loaders_hostile, idx_gzip_needs_its_trailer) {
    unsigned char b[] = {0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9};
    const char *g = tmp_path("t.idx.gz");
    write_gz(g, b, sizeof b, true);
    ag_tensor *t = ag_load_idx(g, AG_F64, 0);
    assert_tensor_close(t, (double[]){7, 8, 9}, 3, 0, 0);
    ag_tensor_free(t);
    write_gz(g, b, sizeof b, false);
    expect_idx_error(g, AG_F64, "without its trailer");
    write_gz(g, b, sizeof b, true);
    FILE *f = fopen(g, "rb+"); /* flip a CRC bit */
    fseek(f, -8, SEEK_END);
    int c = fgetc(f);
    fseek(f, -8, SEEK_END);
    fputc(c ^ 1, f);
    fclose(f);
    expect_idx_error(g, AG_F64, "incorrect data check"); /* zlib: the CRC differs */
    unlink(g);
    assert_no_leaks();
}

/* ------------------------------------------------------------------ CSV */
static int load_csv_text(const char *text, size_t n, ag_csv_opts o, ag_tensor **x) {
    const char *p = tmp_path("h.csv");
    write_bytes(p, text, n);
    return ag_load_csv(p, o, x, NULL);
}

/* D21: CRLF loads, and a CR never reaches a message raw. */
Test(loaders_hostile, csv_crlf_and_control_bytes_in_messages) {
    ag_scope_begin();
    ag_tensor *x;
    const char *crlf = "a,b\r\n1,2\r\n3 ,4\r\n";
    cr_assert_eq(load_csv_text(crlf, strlen(crlf), (ag_csv_opts){.header = true}, &x), 0, "%s",
                 ag_last_error());
    assert_tensor_close(x, (double[]){1, 2, 3, 4}, 4, 0, 0);
    const char *cr = "1,2\r3,4\r\n"; /* a lone CR inside a line */
    cr_assert_neq(load_csv_text(cr, strlen(cr), (ag_csv_opts){0}, &x), 0);
    expect_msg("line 1, column 2: '2\\r3' is not a number");
    cr_assert(!strchr(ag_last_error(), '\r'));
    const char *bad = "1,2\r\n3,x\x1b\r\n";
    cr_assert_neq(load_csv_text(bad, strlen(bad), (ag_csv_opts){0}, &x), 0);
    expect_msg("line 2, column 2: 'x\\x1b' is not a number");
    ag_scope_end();
    assert_no_leaks();
}

/* D22: a NUL byte is an error, not the end of the line. */
Test(loaders_hostile, csv_nul_byte_is_an_error) {
    ag_scope_begin();
    ag_tensor *x;
    cr_assert_neq(load_csv_text("1,2\0junk\n", 9, (ag_csv_opts){0}, &x), 0);
    expect_msg("line 1, byte 4: a NUL byte");
    ag_scope_end();
    assert_no_leaks();
}

/* Decided: nan and inf as written load; a finite literal out of range is an error, for
 * float64 (1e999) and for a float32 column (1e39). Underflow reads as 0, as strtod. */
Test(loaders_hostile, csv_out_of_range_numbers) {
    ag_scope_begin();
    ag_tensor *x;
    cr_assert_neq(load_csv_text("1,1e999\n", 8, (ag_csv_opts){.dtype = AG_F64}, &x), 0);
    expect_msg("line 1, column 2: 1e999 is out of range for float64");
    cr_assert_neq(load_csv_text("1e39,1\n", 7, (ag_csv_opts){0}, &x), 0);
    expect_msg("line 1, column 1: 1e39 is out of range for float32");
    cr_assert_eq(load_csv_text("1e39,1e-999\n", 12, (ag_csv_opts){.dtype = AG_F64}, &x), 0);
    assert_tensor_close(x, (double[]){1e39, 0}, 2, 0, 0);
    cr_assert_eq(load_csv_text("nan,-inf\n", 9, (ag_csv_opts){0}, &x), 0, "%s", ag_last_error());
    cr_assert(isnan(ag_get(x, (int64_t[]){0, 0})));
    cr_assert(isinf(ag_get(x, (int64_t[]){0, 1})));
    ag_scope_end();
    assert_no_leaks();
}
