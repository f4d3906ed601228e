/* CSV files of numbers: an optional header line, the same number of columns on every line,
 * and an optional label column split off into y. Errors name the file, line and column. */
#include "tensor/tensor.h"

#include <errno.h>
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
        double *p = realloc(t->v, (size_t)cap * sizeof *p);
        if (!p) return AG_ERR_NOMEM;
        t->v = p;
        t->cap = cap;
    }
    return AG_OK;
}

/* Parses one data line into the table; returns the number of fields or -1 on error. */
static int64_t parse_line(char *line, char delim, struct table *t, int64_t base,
                          const char *path, int64_t lineno) {
    int64_t col = 0;
    char *p = line;
    for (;;) {
        char *end = p;
        while (*end && *end != delim) end++;
        char save = *end;
        *end = 0;
        char *s = p, *stop;
        while (*s == ' ' || *s == '\t') s++;
        errno = 0;
        double v = strtod(s, &stop);
        while (*stop == ' ' || *stop == '\t') stop++;
        if (stop == s || *stop) {
            ag__error(AG_ERR_IO, FN, "%s: line %lld, column %lld: '%.40s' is not a number", path,
                      (long long)lineno, (long long)col + 1, s);
            return -1;
        }
        if (t->cols && col >= t->cols) {
            ag__error(AG_ERR_IO, FN, "%s: line %lld has more than %lld columns", path,
                      (long long)lineno, (long long)t->cols);
            return -1;
        }
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
        int64_t n = parse_line(line, o.delim, t, t->rows * t->cols, path, lineno);
        if (n < 0) { rc = AG_ERR_IO; break; }
        if (!t->cols) t->cols = n;
        if (n != t->cols) {
            rc = ag__error(AG_ERR_IO, FN, "%s: line %lld has %lld columns, expected %lld", path,
                           (long long)lineno, (long long)n, (long long)t->cols);
            break;
        }
        t->rows++;
    }
    free(line);
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
                    ag__error(AG_ERR_IO, FN, "%s: data row %lld: label %g is not an integer "
                              "(set label_float)", path, (long long)r + 1, v);
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
