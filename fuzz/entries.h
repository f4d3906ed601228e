/* The fuzz entries: one function per reader, taking the fuzzer's bytes. libFuzzer's
 * targets (fuzz/fuzz_<name>.c) call them, and so does the test suite's replay of every
 * file in fuzz/corpus/<name>/ and fuzz/regressions/<name>/ (tests/test_fuzz_replay.c), so
 * an input that once crashed stays in `make test` under ASan.
 * The bytes reach the readers through their public API, as a file: a memfd opened by
 * path (/proc/self/fd/N), so the fuzzer writes no files to disk.
 * Every entry checks the promise: the reader returns a result, or NULL / non-zero with a
 * one-line error naming the function; anything else aborts (a finding). */
#ifndef AG_FUZZ_ENTRIES_H
#define AG_FUZZ_ENTRIES_H

#include <ag.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

/* A file holding exactly bytes[0..n): one memfd per slot, reused. Returns its path. */
static inline const char *fuzz_file(int slot, const void *bytes, size_t n) {
    static int fds[2] = {-1, -1};
    static char paths[2][64];
    if (fds[slot] < 0) {
        fds[slot] = memfd_create("ag_fuzz", 0);
        if (fds[slot] < 0) abort();
        snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
    }
    if (ftruncate(fds[slot], 0) || (n && pwrite(fds[slot], bytes, n, 0) != (ssize_t)n)) abort();
    return paths[slot];
}

/* A failed call must leave an error naming fn on one line. */
static inline void fuzz_expect_error(const char *fn) {
    const char *e = ag_last_error();
    if (!e || strncmp(e, fn, strlen(fn)) || strchr(e, '\n') || strchr(e, '\r')) {
        fprintf(stderr, "fuzz: %s failed without a proper error: '%s'\n", fn, e ? e : "(none)");
        abort();
    }
}

/* Loads "a" and a small model's state from the file; a tensor that loads must survive a
 * save and a load unchanged. */
static inline void fuzz_st_load(const char *path) {
    ag_clear_error();
    ag_scope_begin();
    ag_tensor *t = ag_load_safetensors_tensor(path, "a");
    if (!t) fuzz_expect_error("ag_load_safetensors_tensor");
    else {
        const char *again = fuzz_file(1, "", 0);
        if (ag_save_safetensors(again, 1, &t, (const char *[]){"a"})) abort();
        ag_tensor *u = ag_load_safetensors_tensor(again, "a");
        size_t bytes = (size_t)ag_numel(t) * ag_dtype_size(ag_dtype_of(t));
        if (!u || ag_ndim(u) != ag_ndim(t) || (bytes && memcmp(ag_data(u), ag_data(t), bytes)))
            abort();
    }
    ag_scope_end();
    ag_model *m = ag_model_new();
    if (!m || ag_model_add(m, ag_linear_layer(2, 1, true))) abort();
    ag_clear_error();
    if (ag_model_load(m, path)) fuzz_expect_error("ag_model_load");
    ag_model_free(m);
}

/* The whole file as given. */
static inline int fuzz_safetensors(const uint8_t *d, size_t n) {
    fuzz_st_load(fuzz_file(0, d, n));
    return 0;
}

/* The header only: byte 0 says how many zero bytes of data follow (4 per unit), the rest
 * is the JSON header, its length prefixed as the format wants. */
static inline int fuzz_safetensors_header(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    size_t hl = n - 1, dl = 4 * (size_t)d[0];
    unsigned char *f = calloc(8 + hl + dl, 1);
    if (!f) abort();
    uint64_t h = hl;
    memcpy(f, &h, 8);
    memcpy(f + 8, d + 1, hl);
    fuzz_st_load(fuzz_file(0, f, 8 + hl + dl));
    free(f);
    return 0;
}

static inline void fuzz_idx_load(const char *path) {
    for (int k = 0; k < 2; k++) { /* the fast uint8 path and the checked int64 one */
        ag_clear_error();
        ag_tensor *t = ag_load_idx(path, k ? AG_I64 : AG_F32, 0);
        if (!t) fuzz_expect_error("ag_load_idx");
        ag_tensor_free(t);
    }
}

/* A raw IDX file as given. */
static inline int fuzz_idx(const uint8_t *d, size_t n) {
    fuzz_idx_load(fuzz_file(0, d, n));
    return 0;
}

/* A gzip IDX file. Byte 0: bit 0 set, the rest is the .gz file as given (zlib's framing
 * and the trailer check fuzzed); clear, the rest is the IDX content, compressed here (the
 * IDX parsing fuzzed through the gzip path), bit 1 dropping the trailer. */
static inline int fuzz_idx_gz(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    if (d[0] & 1) {
        fuzz_idx_load(fuzz_file(0, d + 1, n - 1));
        return 0;
    }
    z_stream z = {0};
    uLong cap = compressBound((uLong)(n - 1)) + 32;
    unsigned char *out = malloc(cap);
    if (!out || deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    z.next_in = (unsigned char *)(uintptr_t)(d + 1);
    z.avail_in = (uInt)(n - 1);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    size_t len = z.total_out - ((d[0] & 2) ? 8 : 0);
    deflateEnd(&z);
    fuzz_idx_load(fuzz_file(0, out, len));
    free(out);
    return 0;
}

/* A CSV file. Byte 0 picks the options: bit 0 header, bit 1 label column, bit 2 label from
 * the end, bit 3 float labels, bit 4 float64, bit 5 ';' as the delimiter. */
static inline int fuzz_csv(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    uint8_t b = d[0];
    ag_csv_opts o = {.header = b & 1,
                     .has_label = b & 2,
                     .label_col = (b & 4) ? -1 : 0,
                     .label_float = b & 8,
                     .dtype = (b & 16) ? AG_F64 : AG_F32,
                     .delim = (b & 32) ? ';' : ','};
    const char *path = fuzz_file(0, d + 1, n - 1);
    ag_tensor *x = NULL, *y = NULL;
    ag_clear_error();
    ag_scope_begin();
    if (ag_load_csv(path, o, &x, o.has_label ? &y : NULL)) fuzz_expect_error("ag_load_csv");
    else if (!x || (o.has_label && !y) || ag_shape(x)[0] < 1) abort();
    ag_scope_end();
    return 0;
}

/* One list of the targets: name (fuzz/fuzz_<name>.c, fuzz/corpus/<name>/) and entry. */
#define AG_FUZZ_TARGETS(X)                         \
    X(safetensors, fuzz_safetensors)               \
    X(safetensors_header, fuzz_safetensors_header) \
    X(idx, fuzz_idx)                               \
    X(idx_gz, fuzz_idx_gz)                         \
    X(csv, fuzz_csv)

#endif
