/* CSV files of numbers: an optional header line, the same number of columns on every line,
 * and an optional label column split off into y. Errors name the file, line and column.
 * Untrusted input: LF or CRLF line ends; a NUL byte is an error (not the end of a line);
 * "nan"/"inf" are read as written, a finite literal out of range (1e999) is an error;
 * control bytes in messages are escaped; the table grows as rows arrive. */
#include "tensor/tensor.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>

static const char *FN = "ag_load_csv";

struct table {
    double *v;
    int64_t rows, cols, cap;
};

/* Room for at least `need` values. */
static int reserve(struct table *t, int64_t need) {
    if (need > t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 4096;
        while (cap < need) cap *= 2;
        double *p = ag__realloc(t->v, (size_t)cap * sizeof *p);
        if (!p) return AG_ERR_NOMEM;
        t->v = p;
        t->cap = cap;
    }
    return AG_OK;
}

/* Up to 40 bytes of s for a message, control bytes written as \r, \xNN. */
static const char *printable(const char *s, char *buf) {
    size_t k = 0;
    for (int i = 0; i < 40 && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r') k += (size_t)snprintf(buf + k, 8, "\\r");
        else if (c < 0x20 || c == 0x7f) k += (size_t)snprintf(buf + k, 8, "\\x%02x", c);
        else buf[k++] = (char)c;
    }
    buf[k] = 0;
    return buf;
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* One field as a number: blanks around it allowed; "nan" and "inf" are read as such, but a
 * finite literal too large for float64 (1e999) or for a float32 column is an error, never a
 * silent inf. Returns AG_OK or an error naming line and column. */
static int field(char *s, bool f32, double *out, const char *path, int64_t lineno, int64_t col) {
    char *stop, buf[200];
    while (is_blank(*s)) s++;
    errno = 0;
    double v = strtod(s, &stop);
    bool overflow = errno == ERANGE && isinf(v);
    char *num_end = stop;
    while (is_blank(*stop)) stop++;
    if (stop == s || *stop)
        return ag__error(AG_ERR_IO, FN, "%s: line %lld, column %lld: '%s' is not a number", path,
                         (long long)lineno, (long long)col + 1, printable(s, buf));
    *num_end = 0;
    if (overflow || (f32 && isfinite(v) && fabs(v) > FLT_MAX))
        return ag__error(AG_ERR_IO, FN, "%s: line %lld, column %lld: %s is out of range for %s",
                         path, (long long)lineno, (long long)col + 1, printable(s, buf),
                         overflow ? "float64" : "float32");
    *out = v;
    return AG_OK;
}

/* Parses one data line (len bytes, NUL bytes inside are an error) into the table; returns
 * the number of fields or -1 on error. */
static int64_t parse_line(char *line, size_t len, ag_csv_opts o, struct table *t, int64_t base,
                          const char *path, int64_t lineno) {
    char *nul = memchr(line, 0, len);
    if (nul) {
        ag__error(AG_ERR_IO, FN, "%s: line %lld, byte %lld: a NUL byte (not a text file?)", path,
                  (long long)lineno, (long long)(nul - line) + 1);
        return -1;
    }
    int64_t col = 0;
    char *p = line;
    for (;;) {
        char *end = p;
        while (*end && *end != o.delim) end++;
        char save = *end;
        *end = 0;
        double v = 0;
        if (t->cols && col >= t->cols) {
            ag__error(AG_ERR_IO, FN, "%s: line %lld has more than %lld columns", path,
                      (long long)lineno, (long long)t->cols);
            return -1;
        }
        if (field(p, o.dtype == AG_F32, &v, path, lineno, col)) return -1;
        if (reserve(t, base + col + 1)) {
            ag__error(AG_ERR_NOMEM, FN, "%s: out of memory at line %lld", path, (long long)lineno);
            return -1;
        }
        t->v[base + col++] = v;
        if (!save) break;
        p = end + 1;
    }
    return col;
}

static int read_table(FILE *f, const char *path, ag_csv_opts o, struct table *t) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0;
    int rc = AG_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (lineno == 1 && o.header) continue;
        if (len == 0) continue;
        int64_t n = parse_line(line, (size_t)len, o, t, t->rows * t->cols, path, lineno);
        if (n < 0) {
            rc = AG_ERR_IO;
            break;
        }
        if (!t->cols) t->cols = n;
        if (n != t->cols) {
            rc = ag__error(AG_ERR_IO, FN, "%s: line %lld has %lld columns, expected %lld", path,
                           (long long)lineno, (long long)n, (long long)t->cols);
            break;
        }
        t->rows++;
    }
    free(line);
    if (!rc && ferror(f))
        rc = ag__error(AG_ERR_IO, FN, "%s: read error after line %lld", path, (long long)lineno);
    if (!rc && t->rows == 0) rc = ag__error(AG_ERR_IO, FN, "%s: no data rows", path);
    return rc;
}

static int split(struct table *t, ag_csv_opts o, const char *path, ag_tensor **x, ag_tensor **y) {
    int64_t lc = -1;
    if (o.has_label) {
        lc = o.label_col < 0 ? t->cols + o.label_col : o.label_col;
        if (lc < 0 || lc >= t->cols)
            return ag__error(AG_ERR_ARG, FN, "%s: label column %d is outside the %lld columns",
                             path, o.label_col, (long long)t->cols);
    }
    int64_t nf = t->cols - (lc >= 0);
    ag_tensor *xt = ag__empty(o.dtype, 2, (int64_t[]){t->rows, nf}, FN);
    ag_tensor *yt = lc >= 0 ? ag__empty(o.label_float ? o.dtype : AG_I64, 1, &t->rows, FN) : NULL;
    if (!xt || (lc >= 0 && !yt)) goto fail;
    for (int64_t r = 0; r < t->rows; r++) {
        int64_t k = 0;
        for (int64_t c = 0; c < t->cols; c++) {
            double v = t->v[r * t->cols + c];
            if (c == lc) {
                if (!o.label_float && (v != floor(v) || fabs(v) > 9e15)) {
                    ag__error(AG_ERR_IO, FN,
                              "%s: data row %lld: label %g is not an integer "
                              "(set label_float)",
                              path, (long long)r + 1, v);
                    goto fail;
                }
                if (yt->dtype == AG_I64) ((int64_t *)ag__ptr(yt))[r] = (int64_t)v;
                else if (yt->dtype == AG_F32) ((float *)ag__ptr(yt))[r] = (float)v;
                else ((double *)ag__ptr(yt))[r] = v;
            } else if (o.dtype == AG_F32) {
                ((float *)ag__ptr(xt))[r * nf + k++] = (float)v;
            } else {
                ((double *)ag__ptr(xt))[r * nf + k++] = v;
            }
        }
    }
    *x = xt;
    if (y) *y = yt;
    else ag_tensor_free(yt);
    return AG_OK;
fail:
    ag_tensor_free(xt);
    ag_tensor_free(yt);
    return ag__last_error_code() ? ag__last_error_code() : AG_ERR_IO;
}

int ag_load_csv(const char *path, ag_csv_opts opts, ag_tensor **x, ag_tensor **y) {
    if (!path || !x) return ag__error(AG_ERR_NULL, FN, "path and x must not be NULL");
    if (opts.dtype != AG_F32 && opts.dtype != AG_F64)
        return ag__error(AG_ERR_DTYPE, FN, "features must be float32 or float64, not %s",
                         ag_dtype_name(opts.dtype));
    if (!opts.delim) opts.delim = ',';
    FILE *f = fopen(path, "r");
    if (!f) return ag__error(AG_ERR_IO, FN, "%s: cannot open: %s", path, strerror(errno));
    struct table t = {0};
    int rc = read_table(f, path, opts, &t);
    fclose(f);
    if (!rc) rc = split(&t, opts, path, x, y);
    free(t.v);
    return rc;
}
