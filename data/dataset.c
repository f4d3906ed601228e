/* Datasets in memory: standardization, permutations, train/validation split and the
 * mini-batch loader. Rows are dim 0; a row is the contiguous block of the other dims. */
#include "data/sampler.h"
#include "tensor/tensor.h"

#include <math.h>
#include <string.h>

static int64_t row_elems(const ag_tensor *t) { return t->shape[0] ? t->numel / t->shape[0] : 0; }
static size_t row_bytes(const ag_tensor *t) {
    return (size_t)row_elems(t) * ag_dtype_size(t->dtype);
}

static int check_rows(const ag_tensor *x, const ag_tensor *y, const char *fn) {
    if (!x) return ag__error(AG_ERR_NULL, fn, "x is NULL");
    if (x->ndim < 1) return ag__error(AG_ERR_SHAPE, fn, "x %s has no rows", AG_SHAPE(x));
    if (!ag_is_contiguous(x))
        return ag__error(AG_ERR_STATE, fn, "x %s is not contiguous", AG_SHAPE(x));
    if (y && (y->ndim < 1 || y->shape[0] != x->shape[0]))
        return ag__error(AG_ERR_SHAPE, fn, "y %s does not have the %lld rows of x %s", AG_SHAPE(y),
                         (long long)x->shape[0], AG_SHAPE(x));
    if (y && !ag_is_contiguous(y))
        return ag__error(AG_ERR_STATE, fn, "y %s is not contiguous", AG_SHAPE(y));
    return AG_OK;
}

/* ------------------------------------------------------------------ standardization */
int ag_standardize_fit(ag_tensor *x, ag_tensor **mean, ag_tensor **std) {
    const char *fn = "ag_standardize_fit";
    int rc = check_rows(x, NULL, fn);
    if (rc) return rc;
    if (!mean || !std) return ag__error(AG_ERR_NULL, fn, "mean and std must not be NULL");
    if (!ag__is_float(x->dtype) || x->shape[0] < 1)
        return ag__error(AG_ERR_ARG, fn, "x %s %s must be float with at least one row",
                         ag_dtype_name(x->dtype), AG_SHAPE(x));
    int64_t n = x->shape[0], d = row_elems(x);
    ag_tensor *m = ag__empty(x->dtype, x->ndim - 1, x->shape + 1, fn);
    ag_tensor *s = ag__empty(x->dtype, x->ndim - 1, x->shape + 1, fn);
    double *acc = ag__calloc((size_t)(2 * d + 1), sizeof *acc);
    if (!m || !s || !acc) {
        free(acc);
        return ag__error(AG_ERR_NOMEM, fn, "out of memory for %s", AG_SHAPE(x));
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < d; j++) acc[j] += ag__get_flat(x, r * d + j);
    for (int64_t j = 0; j < d; j++) acc[j] /= (double)n;
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < d; j++) {
            double c = ag__get_flat(x, r * d + j) - acc[j];
            acc[d + j] += c * c;
        }
    for (int64_t j = 0; j < d; j++) {
        double sd = sqrt(acc[d + j] / (double)n);
        if (!(sd > 0)) sd = 1;
        if (x->dtype == AG_F32) {
            ((float *)ag__ptr(m))[j] = (float)acc[j];
            ((float *)ag__ptr(s))[j] = (float)sd;
        } else {
            ((double *)ag__ptr(m))[j] = acc[j];
            ((double *)ag__ptr(s))[j] = sd;
        }
    }
    free(acc);
    *mean = m;
    *std = s;
    return AG_OK;
}

int ag_standardize_apply_(ag_tensor *x, ag_tensor *mean, ag_tensor *std) {
    const char *fn = "ag_standardize_apply_";
    int rc = check_rows(x, NULL, fn);
    if (rc) return rc;
    if (!mean || !std) return ag__error(AG_ERR_NULL, fn, "mean and std must not be NULL");
    int64_t d = row_elems(x);
    if (mean->numel != d || std->numel != d || !ag__is_float(x->dtype))
        return ag__error(AG_ERR_SHAPE, fn, "mean %s and std %s do not fit the rows of x %s",
                         AG_SHAPE(mean), AG_SHAPE(std), AG_SHAPE(x));
    for (int64_t r = 0; r < x->shape[0]; r++)
        for (int64_t j = 0; j < d; j++) {
            double v = (ag__get_flat(x, r * d + j) - ag__get_flat(mean, j)) / ag__get_flat(std, j);
            if (x->dtype == AG_F32) ((float *)ag__ptr(x))[r * d + j] = (float)v;
            else ((double *)ag__ptr(x))[r * d + j] = v;
        }
    return AG_OK;
}

/* ------------------------------------------------------------------ permutations and splits */
int ag_randperm(int64_t n, int64_t *out) {
    if (!out || n < 0)
        return ag__error(AG_ERR_ARG, "ag_randperm", "needs n >= 0 (%lld) and out", (long long)n);
    for (int64_t i = 0; i < n; i++) out[i] = i;
    uint64_t base = ag__rng_reserve((uint64_t)n);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(ag__rng_uniform(base + (uint64_t)i) * (double)(i + 1));
        int64_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
    return AG_OK;
}

/* Rows idx[0..n) of t into a new contiguous tensor (current scope). */
static ag_tensor *gather_rows(ag_tensor *t, const int64_t *idx, int64_t n, const char *fn) {
    int64_t shape[AG_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = n;
    ag_tensor *o = ag__empty(t->dtype, t->ndim, shape, fn);
    if (!o) return NULL;
    size_t rb = row_bytes(t);
    for (int64_t i = 0; i < n; i++)
        memcpy((char *)ag__ptr(o) + (size_t)i * rb, (char *)ag__ptr(t) + (size_t)idx[i] * rb, rb);
    return o;
}

int ag_train_val_split(ag_tensor *x, ag_tensor *y, double val_fraction, bool shuffle,
                       ag_tensor **x_train, ag_tensor **y_train, ag_tensor **x_val,
                       ag_tensor **y_val) {
    const char *fn = "ag_train_val_split";
    int rc = check_rows(x, y, fn);
    if (rc) return rc;
    if (!(val_fraction >= 0 && val_fraction < 1))
        return ag__error(AG_ERR_ARG, fn, "val_fraction %g must be in [0, 1)", val_fraction);
    if (!x_train || !x_val || (y && (!y_train || !y_val)))
        return ag__error(AG_ERR_NULL, fn, "output pointers must not be NULL");
    int64_t n = x->shape[0], nv = (int64_t)floor(val_fraction * (double)n), nt = n - nv;
    int64_t *idx = ag__malloc(sizeof *idx * (size_t)(n ? n : 1));
    if (!idx) return ag__error(AG_ERR_NOMEM, fn, "out of memory");
    if (shuffle) ag_randperm(n, idx);
    else
        for (int64_t i = 0; i < n; i++) idx[i] = i;
    *x_train = gather_rows(x, idx, nt, fn);
    *x_val = gather_rows(x, idx + nt, nv, fn);
    if (y) {
        *y_train = gather_rows(y, idx, nt, fn);
        *y_val = gather_rows(y, idx + nt, nv, fn);
    }
    free(idx);
    if (!*x_train || !*x_val || (y && (!*y_train || !*y_val))) return ag__last_error_code();
    return AG_OK;
}

/* ------------------------------------------------------------------ the loader */
struct ag_loader {
    ag_tensor *x, *y; /* not owned */
    int64_t n, batch, pos;
    bool shuffle;
    int64_t *perm;
    ag_tensor *xbuf, *ybuf;      /* heap: one batch of rows (shuffled batches copy here) */
    ag_tensor *xv, *yv;          /* heap view structs handed out (over x or the buffers) */
    struct ag__sampler *sampler; /* ag_loader_new_distributed: rows per epoch (data/sampler.c) */
    double x_scale;              /* AG_U8 x: batches are float, byte * x_scale (0: 1/255) */
};

/* A heap tensor struct sharing t's storage; its geometry is set per batch. */
static ag_tensor *heap_view(ag_tensor *t) {
    ag_tensor *v = ag__malloc(sizeof *v);
    if (!v) return NULL;
    *v = *t;
    v->arena = NULL;
    v->node = NULL;
    v->grad = NULL;
    v->grad_zero = false;
    v->requires_grad = false;
    if (!t->storage->arena) t->storage->refs++;
    return v;
}

static void point(ag_tensor *v, ag_tensor *base, int64_t first_row, int64_t rows) {
    v->storage = base->storage;
    v->offset = base->offset + first_row * row_elems(base);
    v->shape[0] = rows;
    v->numel = rows * row_elems(base);
}

void ag_loader_free(ag_loader *l) {
    if (!l) return;
    if (l->xv) {
        l->xv->storage = l->x->storage;
        ag_tensor_free(l->xv);
    }
    if (l->yv) {
        l->yv->storage = l->y->storage;
        ag_tensor_free(l->yv);
    }
    ag_tensor_free(l->xbuf);
    ag_tensor_free(l->ybuf);
    free(l->perm);
    ag__sampler_free(l->sampler);
    free(l);
}

/* The permutation and one batch of rows, for loaders that copy rows in an order. */
static int alloc_batch(ag_loader *l, const char *fn) {
    if (l->xbuf) return AG_OK; /* a byte loader has its float batch already */
    int64_t xs[AG_MAX_DIMS], ys[AG_MAX_DIMS];
    memcpy(xs, l->x->shape, sizeof xs);
    xs[0] = l->batch;
    l->perm = ag__malloc(sizeof *l->perm * (size_t)(l->n ? l->n : 1));
    ag_dtype xdt = l->x->dtype == AG_U8 ? AG_F32 : l->x->dtype; /* bytes: float batches */
    l->xbuf = ag__zeros_in(NULL, xdt, l->x->ndim, xs, fn);
    if (l->xbuf) l->xv->dtype = xdt;
    if (!l->perm || !l->xbuf) return AG_ERR_NOMEM;
    if (l->y) {
        memcpy(ys, l->y->shape, sizeof ys);
        ys[0] = l->batch;
        if (!(l->ybuf = ag__zeros_in(NULL, l->y->dtype, l->y->ndim, ys, fn))) return AG_ERR_NOMEM;
    }
    return AG_OK;
}

ag_loader *ag__loader_new_sampled(ag_tensor *x, ag_tensor *y, int64_t batch_size,
                                  struct ag__sampler *s, const char *fn) {
    ag_loader *l = ag_loader_new(x, y, batch_size, false);
    if (!l) return NULL;
    if (alloc_batch(l, fn)) {
        ag_loader_free(l);
        ag__error(AG_ERR_NOMEM, fn, "out of memory for a batch of %s", AG_SHAPE(x));
        return NULL;
    }
    l->shuffle = true; /* rows are copied in the sampler's order */
    l->sampler = s;
    ag_loader_reset(l);
    return l;
}

struct ag__sampler *ag__loader_sampler(ag_loader *l) {
    return l ? l->sampler : NULL;
}

ag_loader *ag_loader_new(ag_tensor *x, ag_tensor *y, int64_t batch_size, bool shuffle) {
    const char *fn = "ag_loader_new";
    if (check_rows(x, y, fn)) return NULL;
    if (batch_size < 0) {
        ag__error(AG_ERR_ARG, fn, "batch_size %lld must be >= 0", (long long)batch_size);
        return NULL;
    }
    ag_loader *l = ag__calloc(1, sizeof *l);
    if (!l) goto nomem;
    l->x = x;
    l->y = y;
    l->n = x->shape[0];
    l->batch = batch_size == 0 || batch_size > l->n ? l->n : batch_size;
    l->shuffle = shuffle;
    if (!(l->xv = heap_view(x)) || (y && !(l->yv = heap_view(y)))) goto nomem;
    if ((shuffle || x->dtype == AG_U8) && alloc_batch(l, fn)) goto nomem;
    ag_loader_reset(l);
    return l;
nomem:
    ag_loader_free(l);
    ag__error(AG_ERR_NOMEM, fn, "out of memory for a batch of %s", AG_SHAPE(x));
    return NULL;
}

int64_t ag_loader_num_batches(const ag_loader *l) {
    return !l ? -1 : l->batch ? (l->n + l->batch - 1) / l->batch : 0;
}

void ag_loader_reset(ag_loader *l) {
    if (!l) return;
    l->pos = 0;
    if (l->sampler) l->n = ag__sampler_order(l->sampler, l->perm);
    else if (l->shuffle) ag_randperm(l->n, l->perm);
}

static void copy_rows(ag_tensor *dst, ag_tensor *src, const int64_t *idx, int64_t n) {
    size_t rb = row_bytes(src);
    char *d = ag__ptr(dst);
    const char *s = ag__ptr(src);
    for (int64_t i = 0; i < n; i++) memcpy(d + (size_t)i * rb, s + (size_t)idx[i] * rb, rb);
}

int ag_loader_set_input_scale(ag_loader *l, double scale) {
    const char *fn = "ag_loader_set_input_scale";
    if (!l) return ag__error(AG_ERR_NULL, fn, "loader is NULL");
    if (!isfinite(scale))
        return ag__error(AG_ERR_ARG, fn, "scale %g must be finite (0: 1/255)", scale);
    l->x_scale = scale;
    return AG_OK;
}

int ag__loader_set_batch_dtype(ag_loader *l, ag_dtype dtype) {
    const char *fn = "ag__loader_set_batch_dtype";
    if (!l || !ag__is_float(dtype))
        return ag__error(AG_ERR_ARG, fn, "needs a loader and a float dtype");
    if (l->x->dtype != AG_U8 || l->xbuf->dtype == dtype) return AG_OK;
    ag_tensor *b = ag__zeros_in(NULL, dtype, l->xbuf->ndim, l->xbuf->shape, fn);
    if (!b) return AG_ERR_NOMEM;
    ag_tensor_free(l->xbuf);
    l->xbuf = b;
    l->xv->dtype = dtype;
    return AG_OK;
}

/* Rows idx[0..n) (NULL: rows first..first+n) of the bytes src into the float batch dst,
 * each byte times scale (0: divided by 255, rounded once in the batch's dtype, as torch's
 * x.float() / 255): one pass, the only float copy of the data that exists. */
static void convert_rows(ag_tensor *dst, const ag_tensor *src, const int64_t *idx, int64_t first,
                         int64_t n, double scale) {
    int64_t re = row_elems(src);
    const uint8_t *s = ag__ptr(src);
    float lut32[256];
    double lut64[256];
    for (int v = 0; v < 256; v++) {
        lut64[v] = scale ? v * scale : v / 255.0;
        lut32[v] = scale ? (float)(v * scale) : (float)v / 255.0f;
    }
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *row = s + (idx ? idx[i] : first + i) * re;
        if (dst->dtype == AG_F32)
            for (int64_t j = 0; j < re; j++) ((float *)ag__ptr(dst))[i * re + j] = lut32[row[j]];
        else
            for (int64_t j = 0; j < re; j++) ((double *)ag__ptr(dst))[i * re + j] = lut64[row[j]];
    }
}

bool ag_loader_next(ag_loader *l, ag_tensor **x_batch, ag_tensor **y_batch) {
    if (!l || l->pos >= l->n) return false;
    int64_t rows = l->n - l->pos < l->batch ? l->n - l->pos : l->batch;
    if (l->x->dtype == AG_U8) {
        const int64_t *idx = l->shuffle ? l->perm + l->pos : NULL;
        convert_rows(l->xbuf, l->x, idx, l->pos, rows, l->x_scale);
        point(l->xv, l->xbuf, 0, rows);
    }
    if (l->shuffle) {
        if (l->x->dtype != AG_U8) copy_rows(l->xbuf, l->x, l->perm + l->pos, rows);
        point(l->xv, l->xbuf, 0, rows);
        if (l->y) {
            copy_rows(l->ybuf, l->y, l->perm + l->pos, rows);
            point(l->yv, l->ybuf, 0, rows);
        }
    } else {
        if (l->x->dtype != AG_U8) point(l->xv, l->x, l->pos, rows);
        if (l->y) point(l->yv, l->y, l->pos, rows);
    }
    l->pos += rows;
    if (x_batch) *x_batch = l->xv;
    if (y_batch) *y_batch = l->yv;
    return true;
}
