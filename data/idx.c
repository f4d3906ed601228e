/* IDX files (the MNIST format): magic 0,0,type,ndim; ndim big-endian u32 sizes; then the
 * data big-endian. Read through zlib's gzread, which also reads uncompressed files, so
 * "train-images-idx3-ubyte" and "train-images-idx3-ubyte.gz" both work. Every malformed
 * file gives an error naming the file and the byte offset. Untrusted input: the header's
 * sizes never size an allocation by themselves (read_data), and a gzip stream must end
 * with its trailer, whose CRC is what says the data is intact (check_end). */
#include "tensor/tensor.h"

#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *FN = "ag_load_idx";

/* Reads exactly n bytes; on a short read sets an error naming path and offset. */
static int read_exact(gzFile f, void *buf, size_t n, size_t *offset, const char *path,
                      const char *what) {
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r <= 0) {
            int zerr = 0;
            const char *msg = r < 0 ? gzerror(f, &zerr) : "end of file";
            return ag__error(AG_ERR_IO, FN,
                             "%s: truncated at byte %zu reading %s (%zu of %zu bytes; %s)", path,
                             *offset + got, what, got, n, msg);
        }
        got += (size_t)r;
    }
    *offset += n;
    return AG_OK;
}

static int elem_size(int type) {
    switch (type) {
    case 0x08:
    case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C:
    case 0x0D: return 4;
    case 0x0E: return 8;
    }
    return 0;
}

/* Big-endian element k of the raw data as double. */
static double raw_get(const unsigned char *raw, int type, int64_t k) {
    int sz = elem_size(type);
    const unsigned char *p = raw + k * sz;
    uint64_t u = 0;
    for (int b = 0; b < sz; b++) u = (u << 8) | p[b];
    switch (type) {
    case 0x08: return (double)(uint8_t)u;
    case 0x09: return (double)(int8_t)u;
    case 0x0B: return (double)(int16_t)u;
    case 0x0C: return (double)(int32_t)u;
    case 0x0D: {
        uint32_t v = (uint32_t)u;
        float f;
        memcpy(&f, &v, 4);
        return f;
    }
    default: {
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    }
}

/* Float data asked for as int64 must be finite and in int64's range (truncated toward
 * zero, as torch's .long()); anything else is an error naming the element. */
static int convert(ag_tensor *t, const unsigned char *raw, int type, double scale, const char *path,
                   size_t data_at) {
    int64_t n = t->numel;
    if (type == 0x08 && t->dtype == AG_F32) { /* the common case, fast */
        float *d = ag__ptr(t), s = (float)scale, lut[256];
        for (int v = 0; v < 256; v++) lut[v] = (float)v * s;
        for (int64_t k = 0; k < n; k++) d[k] = lut[raw[k]];
        return AG_OK;
    }
    for (int64_t k = 0; k < n; k++) {
        double v = raw_get(raw, type, k);
        if (t->dtype == AG_F32) ((float *)ag__ptr(t))[k] = (float)(v * scale);
        else if (t->dtype == AG_F64) ((double *)ag__ptr(t))[k] = v * scale;
        else if (t->dtype == AG_U8) ((uint8_t *)ag__ptr(t))[k] = (uint8_t)v; /* type 0x08 */
        else if (v > -0x1p63 - 1 && v < 0x1p63) ((int64_t *)ag__ptr(t))[k] = (int64_t)v;
        else /* NaN fails both comparisons */
            return ag__error(AG_ERR_IO, FN,
                             "%s: byte %zu: element %lld is %g, which int64 "
                             "cannot hold",
                             path, data_at + (size_t)k * (size_t)elem_size(type), (long long)k, v);
    }
    return AG_OK;
}

/* The header's sizes: each dimension and the product of the non-zero ones bounded (a 0
 * among them must not lift the bound: strides multiply the others). */
static int read_shape(gzFile f, int ndim, int64_t *shape, size_t *off, const char *path) {
    int64_t bound = 1;
    for (int d = 0; d < ndim; d++) {
        unsigned char b[4];
        size_t at = *off;
        if (read_exact(f, b, 4, off, path, "the dimensions")) return AG_ERR_IO;
        shape[d] = ((int64_t)b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
        int64_t s = shape[d] ? shape[d] : 1;
        if (shape[d] > (int64_t)1 << 31 || bound > ((int64_t)1 << 40) / s)
            return ag__error(AG_ERR_IO, FN, "%s: byte %zu: dimension %d size %lld is too large",
                             path, at, d, (long long)shape[d]);
        bound *= s;
    }
    return AG_OK;
}

/* Whether the file (regular: *checked set) can hold `bytes` of data after byte off: a raw
 * file must be that long, a gzip file at least 1/1032 of it (deflate's largest ratio).
 * Sets an error when not. */
static bool data_can_fit(gzFile f, size_t bytes, size_t off, const char *path, bool *checked) {
    struct stat st;
    *checked = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    if (!*checked) return true; /* a pipe: read and see */
    uint64_t size = (uint64_t)st.st_size;
    if (gzdirect(f) && size >= off && size - off >= bytes) return true;
    if (!gzdirect(f) && size * 1032 + 4096 >= bytes) return true;
    if (gzdirect(f))
        ag__error(
            AG_ERR_IO, FN,
            "%s: truncated at byte %lld: the header declares %zu bytes of data after byte %zu",
            path, (long long)size, bytes, off);
    else
        ag__error(AG_ERR_IO, FN,
                  "%s: truncated: %lld compressed bytes cannot hold the %zu bytes of data the "
                  "header declares",
                  path, (long long)size, bytes);
    return false;
}

/* Reads `bytes` of data. A raw file must hold them before anything is allocated; a gzip
 * stream's buffer doubles as data arrives, so no header makes us allocate more than about
 * twice what the input really holds. Returns malloc'ed bytes, or NULL and an error. */
static unsigned char *read_data(gzFile f, size_t bytes, size_t *off, const char *path) {
    bool checked;
    if (gzdirect(f) && !data_can_fit(f, bytes, *off, path, &checked)) return NULL;
    size_t cap = bytes < ((size_t)1 << 20) ? bytes : (size_t)1 << 20, got = 0;
    unsigned char *raw = ag__malloc(cap ? cap : 1);
    while (raw) {
        if (read_exact(f, raw + got, cap - got, off, path, "the data")) {
            free(raw);
            return NULL;
        }
        got = cap;
        if (got == bytes) return raw;
        cap = bytes - cap < cap ? bytes : 2 * cap;
        unsigned char *g = ag__realloc(raw, cap);
        if (!g) free(raw);
        raw = g;
    }
    ag__error(AG_ERR_NOMEM, FN, "%s: cannot allocate %zu bytes", path, cap);
    return NULL;
}

/* After the data: the stream must end here, and a gzip stream with its trailer intact. */
static int check_end(gzFile f, size_t off, const char *path, int ndim, const int64_t *shape) {
    char extra;
    int r = gzread(f, &extra, 1), zerr = Z_OK;
    const char *msg = gzerror(f, &zerr);
    if (r == 1)
        return ag__error(AG_ERR_IO, FN,
                         "%s: byte %zu: data continues past the %s elements the "
                         "header declares",
                         path, off, ag__shape_str(ndim, shape));
    if (r < 0 || zerr != Z_OK)
        return ag__error(AG_ERR_IO, FN,
                         "%s: byte %zu: the gzip stream is damaged or ends "
                         "without its trailer (%s)",
                         path, off, msg);
    return AG_OK;
}

/* Unsigned bytes kept as AG_U8 from a regular file: read straight into the tensor, with no
 * second copy of the data (a dataset's peak memory is its size, not twice it). */
static ag_tensor *read_u8(gzFile f, int ndim, const int64_t *shape, size_t bytes, size_t *off,
                          const char *path) {
    ag_tensor *t = ag__empty(AG_U8, ndim, shape, FN);
    if (t && (read_exact(f, ag__ptr(t), bytes, off, path, "the data") ||
              check_end(f, *off, path, ndim, shape))) {
        ag_tensor_free(t);
        return NULL;
    }
    return t;
}

static ag_tensor *read_idx(gzFile f, const char *path, ag_dtype dtype, double scale) {
    size_t off = 0;
    unsigned char head[4];
    if (read_exact(f, head, 4, &off, path, "the magic number")) return NULL;
    int type = head[2], ndim = head[3];
    if (head[0] || head[1] || !elem_size(type)) {
        ag__error(AG_ERR_IO, FN, "%s: bad magic %02x %02x %02x %02x at byte 0 (not an IDX file)",
                  path, head[0], head[1], head[2], head[3]);
        return NULL;
    }
    if (ndim < 1 || ndim > AG_MAX_DIMS) {
        ag__error(AG_ERR_IO, FN, "%s: byte 3: %d dimensions (1..%d supported)", path, ndim,
                  AG_MAX_DIMS);
        return NULL;
    }
    int64_t shape[AG_MAX_DIMS], numel = 1;
    if (read_shape(f, ndim, shape, &off, path)) return NULL;
    for (int d = 0; d < ndim; d++) numel *= shape[d];
    size_t data_at = off, bytes = (size_t)numel * (size_t)elem_size(type);
    if (dtype == AG_U8 && type != 0x08) {
        ag__error(AG_ERR_DTYPE, FN,
                  "%s: byte 2: element type 0x%02X is not unsigned bytes: ask for a float dtype "
                  "or AG_I64, not AG_U8",
                  path, type);
        return NULL;
    }
    bool checked = false;
    if (dtype == AG_U8 && !data_can_fit(f, bytes, off, path, &checked)) return NULL;
    if (checked) return read_u8(f, ndim, shape, bytes, &off, path);
    unsigned char *raw = read_data(f, bytes, &off, path);
    if (!raw || check_end(f, off, path, ndim, shape)) {
        free(raw);
        return NULL;
    }
    ag_tensor *t = ag__empty(dtype, ndim, shape, FN);
    if (t && convert(t, raw, type, scale, path, data_at)) {
        ag_tensor_free(t);
        t = NULL;
    }
    free(raw);
    return t;
}

ag_tensor *ag_load_idx(const char *path, ag_dtype dtype, double scale) {
    if (!path) {
        ag__error(AG_ERR_NULL, FN, "path is NULL");
        return NULL;
    }
    if (!ag__dtype_valid(dtype)) {
        ag__error(AG_ERR_DTYPE, FN, "unknown dtype %d", (int)dtype);
        return NULL;
    }
    if (dtype == AG_U8 && scale != 0 && scale != 1) {
        ag__error(AG_ERR_ARG, FN,
                  "%s: AG_U8 keeps the bytes, scale %g would be lost (0; scale each batch "
                  "instead, as ag_train_opts.input_scale does)",
                  path, scale);
        return NULL;
    }
    if (scale == 0) scale = 1;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        ag__error(AG_ERR_IO, FN, "%s: cannot open", path);
        return NULL;
    }
    gzbuffer(f, 1 << 17);
    ag_tensor *t = read_idx(f, path, dtype, scale);
    gzclose(f);
    return t;
}
