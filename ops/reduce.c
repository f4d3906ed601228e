/* Reductions: sum over any set of dims (keepdim or not); mean, sum_to built on it.
 * Sums accumulate in double, in a fixed order that does not depend on the thread count. */
#include "ops/ops.h"

#include <omp.h>

struct sum_args {
    uint32_t mask;     /* bit d set: dim d is reduced */
    bool keepdim;
};

static int sum_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                     const char *fn) {
    (void)n;
    const struct sum_args *a = args;
    if (!ag__is_float(in[0]->dtype))
        return ag__error(AG_ERR_DTYPE, fn, "expects float32 or float64, got %s %s",
                         ag_dtype_name(in[0]->dtype), AG_SHAPE(in[0]));
    m->dtype = in[0]->dtype;
    m->ndim = 0;
    for (int d = 0; d < in[0]->ndim; d++) {
        if (!(a->mask >> d & 1)) m->shape[m->ndim++] = in[0]->shape[d];
        else if (a->keepdim) m->shape[m->ndim++] = 1;
    }
    return AG_OK;
}

/* The reduction as kept dims (outer) x reduced dims (inner), with strides. */
struct red {
    int nk, nr;
    int64_t kshape[AG_MAX_DIMS], kstride[AG_MAX_DIMS];
    int64_t rshape[AG_MAX_DIMS], rstride[AG_MAX_DIMS];
    int64_t rcount;
};

static void red_init(struct red *r, const ag_tensor *x, uint32_t mask) {
    r->nk = r->nr = 0;
    r->rcount = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (mask >> d & 1) {
            r->rshape[r->nr] = x->shape[d];
            r->rstride[r->nr++] = x->strides[d];
            r->rcount *= x->shape[d];
        } else {
            r->kshape[r->nk] = x->shape[d];
            r->kstride[r->nk++] = x->strides[d];
        }
    }
}

static int64_t odometer_offset(int nd, const int64_t *shape, const int64_t *stride, int64_t i) {
    int64_t off = 0;
    for (int d = nd - 1; d >= 0; d--) {
        off += (i % shape[d]) * stride[d];
        i /= shape[d];
    }
    return off;
}

/* Sum of elements [lo, hi) of the reduced index space from base. */
static double sum_range(const ag_tensor *x, const struct red *r, int64_t base, int64_t lo,
                        int64_t hi) {
    double s = 0;
    bool unit = r->nr >= 1 && r->rstride[r->nr - 1] == 1;
    int64_t inner = r->nr ? r->rshape[r->nr - 1] : 1;
    const char *data = x->storage->data;
    for (int64_t i = lo; i < hi;) {
        int64_t off = base + odometer_offset(r->nr, r->rshape, r->rstride, i);
        int64_t run = unit ? inner - i % inner : 1;
        if (run > hi - i) run = hi - i;
        if (x->dtype == AG_F32) {
            const float *p = (const float *)(const void *)data + off;
            for (int64_t k = 0; k < run; k++) s += p[k];
        } else {
            const double *p = (const double *)(const void *)data + off;
            for (int64_t k = 0; k < run; k++) s += p[k];
        }
        i += run;
    }
    return s;
}

#define CHUNK ((int64_t)1 << 14)

static int sum_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)n, (void)saved;
    const ag_tensor *x = in[0];
    struct red r;
    red_init(&r, x, ((const struct sum_args *)args)->mask);
    int64_t nout = out->numel;
    bool par = x->numel >= (1 << 16) && !omp_in_parallel();
    double *acc = NULL;
    if (nout == 1 && r.rcount > CHUNK) {   /* one output: fixed chunks, combined in order */
        int64_t chunks = (r.rcount + CHUNK - 1) / CHUNK;
        acc = malloc(sizeof(double) * (size_t)chunks);
        if (!acc) return ag__error(AG_ERR_NOMEM, "ag_sum", "out of memory");
        #pragma omp parallel for schedule(static) if (par)
        for (int64_t c = 0; c < chunks; c++)
            acc[c] = sum_range(x, &r, x->offset, c * CHUNK,
                               (c + 1) * CHUNK < r.rcount ? (c + 1) * CHUNK : r.rcount);
        double s = 0;
        for (int64_t c = 0; c < chunks; c++) s += acc[c];
        free(acc);
        if (out->dtype == AG_F32) *(float *)ag__ptr(out) = (float)s;
        else *(double *)ag__ptr(out) = s;
        return AG_OK;
    }
    #pragma omp parallel for schedule(static) if (par && nout > 1)
    for (int64_t o = 0; o < nout; o++) {
        int64_t base = x->offset + odometer_offset(r.nk, r.kshape, r.kstride, o);
        double s = sum_range(x, &r, base, 0, r.rcount);
        if (out->dtype == AG_F32) ((float *)ag__ptr(out))[o] = (float)s;
        else ((double *)ag__ptr(out))[o] = s;
    }
    return AG_OK;
}

static int sum_backward(struct ag_node *node, ag_tensor *g) {
    const struct sum_args *a = AG_ARGS(node, struct sum_args);
    ag_tensor *x = node->in[0];
    if (!a->keepdim) {   /* put the reduced dims back as size 1 */
        int64_t shape[AG_MAX_DIMS];
        for (int d = 0; d < x->ndim; d++) shape[d] = (a->mask >> d & 1) ? 1 : x->shape[d];
        g = ag_reshape(g, x->ndim, shape);
    }
    return ag__accumulate(node, 0, ag_expand(g, x->ndim, x->shape));
}

const struct ag_op_def ag__op_sum = {
    .name = "sum", .arity = 1, .shape = sum_shape,
    .forward = sum_forward, .backward = sum_backward,
    .check = {.lo = -2, .hi = 2, .args = &(struct sum_args){.mask = 1}, .args_size = sizeof(struct sum_args)},
};

static ag_tensor *sum_mask(ag_tensor *t, uint32_t mask, bool keepdim) {
    struct sum_args a = {mask, keepdim};
    return AG_APPLY_ARGS(AG_OP_SUM, 1, (ag_tensor *const[]){t}, a);
}

ag_tensor *ag_sum(ag_tensor *t) { return t ? sum_mask(t, (1u << t->ndim) - 1, false) : NULL; }

ag_tensor *ag_sum_dim(ag_tensor *t, int dim, bool keepdim) {
    if (!t) return NULL;
    int d = ag__norm_dim(dim, t->ndim, "ag_sum_dim");
    if (d < 0) return NULL;
    return sum_mask(t, t->ndim ? 1u << d : 0, keepdim);
}

ag_tensor *ag_mean(ag_tensor *t) {
    if (!t) return NULL;
    ag_tensor *s = ag_sum(t);
    return ag_mul(s, ag_scalar(t->dtype, 1.0 / (double)t->numel));
}

ag_tensor *ag_mean_dim(ag_tensor *t, int dim, bool keepdim) {
    if (!t) return NULL;
    int d = ag__norm_dim(dim, t->ndim, "ag_mean_dim");
    if (d < 0) return NULL;
    int64_t count = t->ndim ? t->shape[d] : 1;
    return ag_mul(ag_sum_dim(t, dim, keepdim), ag_scalar(t->dtype, 1.0 / (double)count));
}

/* Undoes broadcasting: sums t down to shape (which t's shape broadcasts from). */
ag_tensor *ag_sum_to(ag_tensor *t, int ndim, const int64_t *shape) {
    if (!t) return NULL;
    const char *fn = "ag_sum_to";
    if (ag__check_shape(ndim, shape, fn)) return NULL;
    int lead = t->ndim - ndim;
    uint32_t mask = 0;
    bool ok = lead >= 0;
    for (int d = 0; ok && d < t->ndim; d++) {
        int j = d - lead;
        if (j < 0) mask |= 1u << d;
        else if (shape[j] == 1 && t->shape[d] != 1) mask |= 1u << d;
        else ok = shape[j] == t->shape[d];
    }
    if (!ok) {
        ag__error(AG_ERR_SHAPE, fn, "%s cannot be summed to %s", AG_SHAPE(t),
                  ag__shape_str(ndim, shape));
        return NULL;
    }
    if (!mask && lead == 0) return t;
    return ag_reshape(sum_mask(t, mask, true), ndim, shape);
}
