/* Reductions: sum over any set of dims (keepdim or not); mean, sum_to built on it.
 * Sums accumulate in double, in a fixed order that does not depend on the thread count. */
#include "ops/ops.h"
#include "runtime/parallel.h"

#include <math.h>

struct sum_args {
    uint32_t mask; /* bit d set: dim d is reduced */
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
/* Sum of a contiguous run in 8 interleaved lanes (so the adds pipeline and vectorize),
 * combined in a fixed order: the result depends on the run only, not on threads. */
#define LANES 8
static double sum_run_f32(const float *p, int64_t n) {
    double acc[LANES] = {0};
    int64_t k = 0;
    for (; k + LANES <= n; k += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += p[k + l];
    for (; k < n; k++) acc[k % LANES] += p[k];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}
static double sum_run_f64(const double *p, int64_t n) {
    double acc[LANES] = {0};
    int64_t k = 0;
    for (; k + LANES <= n; k += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += p[k + l];
    for (; k < n; k++) acc[k % LANES] += p[k];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
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
        if (x->dtype == AG_F32) s += sum_run_f32((const float *)(const void *)data + off, run);
        else s += sum_run_f64((const double *)(const void *)data + off, run);
        i += run;
    }
    return s;
}

#define CHUNK ((int64_t)1 << 14)

/* Contiguous x reduced over its leading dims only (a bias gradient: [N,C] -> [C]):
 * rows are added in order into per-column accumulators, so the loop runs along
 * contiguous columns and vectorizes; threads split the columns. */
static bool leading_dims_only(const ag_tensor *x, uint32_t mask) {
    if (!ag_is_contiguous(x) || x->ndim < 2 || !mask || (mask & (mask + 1))) return false;
    return mask >> (x->ndim - 1) == 0; /* a run of low bits, not covering the last dim */
}

/* One reduction shared out by ag__parallel_for (over column tasks, chunks or outputs). */
struct red_job {
    ag_tensor *out;
    const ag_tensor *x;
    const struct red *r;
    int64_t rows, cols; /* sum_leading */
    double *acc;        /* sum over one output: a partial per chunk */
    int64_t *ip;        /* max_dim: the index of each output's maximum */
    double correction;  /* var_dim */
};

/* Outputs are shared out when x has 1 << 16 elements or more: the cost of one. */
static double per_out(const ag_tensor *x, int64_t nout) {
    return nout > 0 ? (double)x->numel / (double)nout : 0;
}
#define PAR_MIN (1 << 16)

#define COLS 512 /* columns per task: accumulators stay in L1 */

static void sum_leading_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct red_job *jb = ctx;
    ag_tensor *out = jb->out;
    const ag_tensor *x = jb->x;
    int64_t rows = jb->rows, cols = jb->cols;
    (void)tid;
    for (int64_t t = lo; t < hi; t++) {
        double acc[COLS] = {0};
        int64_t c0 = t * COLS, nc = cols - c0 < COLS ? cols - c0 : COLS;
        for (int64_t i = 0; i < rows; i++) {
            if (x->dtype == AG_F32) {
                const float *restrict row = (const float *)ag__ptr(x) + i * cols + c0;
                for (int64_t j = 0; j < nc; j++) acc[j] += row[j];
            } else {
                const double *restrict row = (const double *)ag__ptr(x) + i * cols + c0;
                for (int64_t j = 0; j < nc; j++) acc[j] += row[j];
            }
        }
        for (int64_t j = 0; j < nc; j++) {
            if (out->dtype == AG_F32) ((float *)ag__ptr(out))[c0 + j] = (float)acc[j];
            else ((double *)ag__ptr(out))[c0 + j] = acc[j];
        }
    }
}

static void sum_leading(ag_tensor *out, const ag_tensor *x, int64_t rows, int64_t cols) {
    int64_t tasks = (cols + COLS - 1) / COLS;
    struct red_job jb = {.out = out, .x = x, .rows = rows, .cols = cols};
    ag__parallel_for(tasks, 1, (double)x->numel / (double)tasks, PAR_MIN, sum_leading_range, &jb);
}

static void sum_chunk_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct red_job *jb = ctx;
    const struct red *r = jb->r;
    (void)tid;
    for (int64_t c = lo; c < hi; c++)
        jb->acc[c] = sum_range(jb->x, r, jb->x->offset, c * CHUNK,
                               (c + 1) * CHUNK < r->rcount ? (c + 1) * CHUNK : r->rcount);
}

static void sum_out_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct red_job *jb = ctx;
    const struct red *r = jb->r;
    (void)tid;
    for (int64_t o = lo; o < hi; o++) {
        int64_t base = jb->x->offset + odometer_offset(r->nk, r->kshape, r->kstride, o);
        double s = sum_range(jb->x, r, base, 0, r->rcount);
        if (jb->out->dtype == AG_F32) ((float *)ag__ptr(jb->out))[o] = (float)s;
        else ((double *)ag__ptr(jb->out))[o] = s;
    }
}

static int sum_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)n, (void)saved;
    const ag_tensor *x = in[0];
    uint32_t mask = ((const struct sum_args *)args)->mask;
    if (leading_dims_only(x, mask) && out->numel > 1) {
        sum_leading(out, x, x->numel / out->numel, out->numel);
        return AG_OK;
    }
    struct red r;
    red_init(&r, x, mask);
    int64_t nout = out->numel;
    struct red_job jb = {.out = out, .x = x, .r = &r};
    double *acc = NULL;
    if (nout == 1 && r.rcount > CHUNK) { /* one output: fixed chunks, combined in order */
        int64_t chunks = (r.rcount + CHUNK - 1) / CHUNK;
        acc = ag__malloc(sizeof(double) * (size_t)chunks);
        if (!acc) return ag__error(AG_ERR_NOMEM, "ag_sum", "out of memory");
        jb.acc = acc;
        ag__parallel_for(chunks, 1, (double)x->numel / (double)chunks, PAR_MIN, sum_chunk_range,
                         &jb);
        double s = 0;
        for (int64_t c = 0; c < chunks; c++) s += acc[c];
        free(acc);
        if (out->dtype == AG_F32) *(float *)ag__ptr(out) = (float)s;
        else *(double *)ag__ptr(out) = s;
        return AG_OK;
    }
    ag__parallel_for(nout, 1, per_out(x, nout), PAR_MIN, sum_out_range, &jb);
    return AG_OK;
}

static int sum_backward(struct ag_node *node, ag_tensor *g) {
    const struct sum_args *a = AG_ARGS(node, struct sum_args);
    ag_tensor *x = node->in[0];
    if (!a->keepdim) { /* put the reduced dims back as size 1 */
        int64_t shape[AG_MAX_DIMS];
        for (int d = 0; d < x->ndim; d++) shape[d] = (a->mask >> d & 1) ? 1 : x->shape[d];
        g = ag_reshape(g, x->ndim, shape);
    }
    return ag__accumulate(node, 0, ag_expand(g, x->ndim, x->shape));
}

const struct ag_op_def ag__op_sum = {
    .name = "sum",
    .arity = 1,
    .shape = sum_shape,
    .forward = sum_forward,
    .backward = sum_backward,
    .check = {.lo = -2,
              .hi = 2,
              .args = &(struct sum_args){.mask = 1},
              .args_size = sizeof(struct sum_args)},
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

/* ------------------------------------------------------------------ one-dim reductions
 * max_dim, argmax_dim, logsumexp_dim and var_dim reduce one (normalized) dim; each output
 * element is computed by one thread, in order, so results do not depend on the thread count. */
struct dim_args {
    int dim; /* normalized by the public function; 0 for a 0-d input */
    bool keepdim;
    int correction; /* var_dim */
};

static int dim_shape_as(struct ag_meta *m, ag_tensor *const *in, const void *args, const char *fn,
                        bool nonempty, ag_dtype out_dtype) {
    const struct dim_args *a = args;
    struct sum_args s = {in[0]->ndim ? 1u << a->dim : 0, a->keepdim};
    if (sum_shape(m, in, 1, &s, fn)) return AG_ERR_DTYPE;
    if (nonempty && in[0]->ndim && in[0]->shape[a->dim] == 0)
        return ag__error(AG_ERR_SHAPE, fn, "dim %d of %s is empty: no identity to reduce to",
                         a->dim, AG_SHAPE(in[0]));
    m->dtype = out_dtype;
    return AG_OK;
}
static int dim_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                     const char *fn) {
    (void)n;
    return dim_shape_as(m, in, args, fn, false, in[0]->dtype);
}
static int dim_shape_nonempty(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                              const char *fn) {
    (void)n;
    return dim_shape_as(m, in, args, fn, true, in[0]->dtype);
}
static int argmax_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                        const char *fn) {
    (void)n;
    return dim_shape_as(m, in, args, fn, true, AG_I64);
}

/* The reduced dim of x seen from output element o: base offset, length and stride. */
struct lane {
    int64_t base, len, stride;
};
static struct lane lane_of(const struct red *r, const ag_tensor *x, int64_t o) {
    return (struct lane){x->offset + odometer_offset(r->nk, r->kshape, r->kstride, o),
                         r->nr ? r->rshape[0] : 1, r->nr ? r->rstride[0] : 0};
}
static inline double at(const ag_tensor *x, int64_t off) {
    return x->dtype == AG_F32 ? (double)((const float *)x->storage->data)[off]
                              : ((const double *)x->storage->data)[off];
}
static inline void put(ag_tensor *t, int64_t i, double v) {
    if (t->dtype == AG_F32) ((float *)t->storage->data)[t->offset + i] = (float)v;
    else ((double *)t->storage->data)[t->offset + i] = v;
}
static uint32_t dim_mask(const ag_tensor *x, const struct dim_args *a) {
    return x->ndim ? 1u << a->dim : 0;
}

/* The first maximum of a lane (NaN wins, as torch): its value and index. */
static double lane_max(const ag_tensor *x, struct lane l, int64_t *index) {
    double best = at(x, l.base);
    int64_t bi = 0;
    for (int64_t j = 1; j < l.len && best == best; j++) {
        double v = at(x, l.base + j * l.stride);
        if (v > best || v != v) best = v, bi = j;
    }
    *index = bi;
    return best;
}

/* ------------------------------------------------------------------ max_dim, argmax_dim */
static void max_dim_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct red_job *jb = ctx;
    const ag_tensor *x = jb->x;
    const struct red r = *jb->r;
    ag_tensor *out = jb->out; /* NULL for argmax: out is the index tensor */
    int64_t *ip = jb->ip;
    (void)tid;
    for (int64_t o = lo; o < hi; o++) {
        double v = lane_max(x, lane_of(&r, x, o), &ip[o]);
        if (out) put(out, o, v);
    }
}

static int max_dim_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                           ag_tensor **saved) {
    (void)n;
    const ag_tensor *x = in[0];
    struct red r;
    red_init(&r, x, dim_mask(x, args));
    ag_tensor *idx =
        out->dtype == AG_I64 ? out : ag__empty(AG_I64, out->ndim, out->shape, "ag_max_dim");
    if (!idx) return AG_ERR_NOMEM;
    int64_t nout = out->numel, *ip = ag__ptr(idx);
    struct red_job jb = {.out = out != idx ? out : NULL, .x = x, .r = &r, .ip = ip};
    ag__parallel_for(nout, 1, per_out(x, nout), PAR_MIN, max_dim_range, &jb);
    if (out != idx) saved[0] = idx; /* first-max indices for backward */
    return AG_OK;
}

/* A constant of x's shape: 1 at saved index of each lane, 0 elsewhere. */
static ag_tensor *index_mask(const ag_tensor *x, const ag_tensor *idx, uint32_t mask) {
    ag_tensor *m = ag_zeros(x->dtype, x->ndim, x->shape);
    if (!m) return NULL;
    struct red r;
    red_init(&r, m, mask);
    const int64_t *ip = ag__ptr(idx);
    for (int64_t o = 0; o < idx->numel; o++) {
        struct lane l = lane_of(&r, m, o);
        put(m, l.base + ip[o] * l.stride, 1.0);
    }
    return m;
}

static int max_dim_backward(struct ag_node *node, ag_tensor *g) {
    const struct dim_args *a = AG_ARGS(node, struct dim_args);
    ag_tensor *x = node->in[0];
    ag_tensor *m = index_mask(x, node->saved[0], dim_mask(x, a));
    ag_tensor *gk = (!a->keepdim && x->ndim) ? ag_unsqueeze(g, a->dim) : g;
    return ag__accumulate(node, 0, ag_mul(gk, m));
}

const struct ag_op_def ag__op_max_dim = {
    .name = "max_dim",
    .arity = 1,
    .shape = dim_shape_nonempty,
    .forward = max_dim_forward,
    .backward = max_dim_backward,
    .check = {.lo = -2,
              .hi = 2,
              .args = &(struct dim_args){.dim = 1},
              .args_size = sizeof(struct dim_args)},
};
const struct ag_op_def ag__op_argmax_dim = {
    .name = "argmax_dim",
    .arity = 1,
    .shape = argmax_shape,
    .forward = max_dim_forward,
    .check = {.lo = -2,
              .hi = 2,
              .no_grad = true,
              .args = &(struct dim_args){.dim = 0},
              .args_size = sizeof(struct dim_args)},
};

static ag_tensor *apply_dim(enum ag_op_id op, ag_tensor *t, int dim, bool keepdim, int correction) {
    if (!t) return NULL;
    int d = ag__norm_dim(dim, t->ndim, ag__op_fnames[op]);
    if (d < 0) return NULL;
    struct dim_args a = {d, keepdim, correction};
    return AG_APPLY_ARGS(op, 1, (ag_tensor *const[]){t}, a);
}

/* Largest values along dim (first one on ties; NaN wins); the gradient goes to that element. */
ag_tensor *ag_max_dim(ag_tensor *t, int dim, bool keepdim) {
    return apply_dim(AG_OP_MAX_DIM, t, dim, keepdim, 0);
}
/* Index (AG_I64) of the first largest value along dim. */
ag_tensor *ag_argmax_dim(ag_tensor *t, int dim, bool keepdim) {
    return apply_dim(AG_OP_ARGMAX_DIM, t, dim, keepdim, 0);
}

/* ------------------------------------------------------------------ max over everything */
/* torch 1.13 max(t) backward is evenly_distribute_backward: every element equal to the
 * maximum (every NaN when the maximum is NaN) gets g / count. */
static int max_all_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                         const char *fn) {
    (void)n, (void)args;
    struct sum_args s = {(1u << in[0]->ndim) - 1, false};
    if (sum_shape(m, in, 1, &s, fn)) return AG_ERR_DTYPE;
    if (in[0]->numel == 0)
        return ag__error(AG_ERR_SHAPE, fn, "tensor %s is empty: no identity to reduce to",
                         AG_SHAPE(in[0]));
    return AG_OK;
}
static int max_all_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                           ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    const ag_tensor *x = in[0];
    double best = ag__get_flat(x, 0);
    for (int64_t i = 1; i < x->numel && best == best; i++) {
        double v = ag__get_flat(x, i);
        if (v > best || v != v) best = v;
    }
    put(out, 0, best);
    return AG_OK;
}
static int max_all_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *x = node->in[0];
    double v = ag_item(node->out);
    ag_tensor *m = ag__empty(x->dtype, x->ndim, x->shape, "ag_max");
    if (!m) return AG_ERR_NOMEM;
    int64_t count = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        double e = ag__get_flat(x, i);
        bool hit = v == v ? e == v : e != e;
        count += hit;
        put(m, i, hit);
    }
    return ag__accumulate(node, 0, ag_mul(g, ag_mul_scalar(m, 1.0 / (double)count)));
}
const struct ag_op_def ag__op_max = {
    .name = "max",
    .arity = 1,
    .shape = max_all_shape,
    .forward = max_all_forward,
    .backward = max_all_backward,
    .check = {.lo = -2, .hi = 2},
};
/* The largest element as a 0-d tensor (NaN if any is NaN); ties share the gradient. */
ag_tensor *ag_max(ag_tensor *t) { return AG_APPLY1(AG_OP_MAX, t); }

/* ------------------------------------------------------------------ logsumexp_dim */
/* log(sum(exp(x - m))) + m with m the lane's max (0 when the max is infinite, as torch). */
static void logsumexp_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct red_job *jb = ctx;
    const ag_tensor *x = jb->x;
    const struct red r = *jb->r;
    ag_tensor *out = jb->out;
    (void)tid;
    for (int64_t o = lo; o < hi; o++) {
        struct lane l = lane_of(&r, x, o);
        int64_t unused;
        double m = l.len ? lane_max(x, l, &unused) : -INFINITY;
        if (isinf(m)) m = 0;
        double s = 0;
        for (int64_t j = 0; j < l.len; j++) s += exp(at(x, l.base + j * l.stride) - m);
        put(out, o, log(s) + m);
    }
}

static int logsumexp_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                             ag_tensor **saved) {
    (void)n, (void)saved;
    const ag_tensor *x = in[0];
    struct red r;
    red_init(&r, x, dim_mask(x, args));
    int64_t nout = out->numel;
    struct red_job jb = {.out = out, .x = x, .r = &r};
    ag__parallel_for(nout, 1, per_out(x, nout), PAR_MIN, logsumexp_range, &jb);
    return AG_OK;
}
static int logsumexp_backward(struct ag_node *node, ag_tensor *g) { /* g * exp(x - out) */
    const struct dim_args *a = AG_ARGS(node, struct dim_args);
    ag_tensor *x = node->in[0], *y = node->out;
    bool unsq = !a->keepdim && x->ndim;
    ag_tensor *gk = unsq ? ag_unsqueeze(g, a->dim) : g, *yk = unsq ? ag_unsqueeze(y, a->dim) : y;
    return ag__accumulate(node, 0, ag_mul(gk, ag_exp(ag_sub(x, yk))));
}
const struct ag_op_def ag__op_logsumexp_dim = {
    .name = "logsumexp_dim",
    .arity = 1,
    .shape = dim_shape,
    .forward = logsumexp_forward,
    .backward = logsumexp_backward,
    .check = {.lo = -3,
              .hi = 3,
              .args = &(struct dim_args){.dim = 1},
              .args_size = sizeof(struct dim_args),
              .flops_per_elem = 12},
};
/* log(sum(exp(t), dim)), computed stably. An empty dim gives -inf. */
ag_tensor *ag_logsumexp_dim(ag_tensor *t, int dim, bool keepdim) {
    return apply_dim(AG_OP_LOGSUMEXP_DIM, t, dim, keepdim, 0);
}

/* ------------------------------------------------------------------ var_dim */
/* sum((x - mean)^2) / max(0, N - correction), two passes in double. */
static void var_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct red_job *jb = ctx;
    const ag_tensor *x = jb->x;
    const struct red r = *jb->r;
    ag_tensor *out = jb->out;
    (void)tid;
    for (int64_t o = lo; o < hi; o++) {
        struct lane l = lane_of(&r, x, o);
        double mean = 0, ss = 0;
        for (int64_t j = 0; j < l.len; j++) mean += at(x, l.base + j * l.stride);
        mean /= (double)l.len;
        for (int64_t j = 0; j < l.len; j++) {
            double d = at(x, l.base + j * l.stride) - mean;
            ss += d * d;
        }
        double div = (double)l.len - jb->correction;
        put(out, o, ss / (div > 0 ? div : 0));
    }
}

static int var_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)n, (void)saved;
    const ag_tensor *x = in[0];
    const struct dim_args *a = args;
    struct red r;
    red_init(&r, x, dim_mask(x, a));
    int64_t nout = out->numel;
    struct red_job jb = {.out = out, .x = x, .r = &r, .correction = a->correction};
    ag__parallel_for(nout, 1, per_out(x, nout), PAR_MIN, var_range, &jb);
    return AG_OK;
}
static int var_backward(struct ag_node *node, ag_tensor *g) { /* 2 g (x - mean) / (N - c) */
    const struct dim_args *a = AG_ARGS(node, struct dim_args);
    ag_tensor *x = node->in[0];
    int64_t len = x->ndim ? x->shape[a->dim] : 1;
    ag_tensor *gk = (!a->keepdim && x->ndim) ? ag_unsqueeze(g, a->dim) : g;
    ag_tensor *dev = ag_sub(x, ag_mean_dim(x, a->dim, true));
    double f = 2.0 / ((double)len - a->correction);
    return ag__accumulate(node, 0, ag_mul(gk, ag_mul_scalar(dev, f)));
}
const struct ag_op_def ag__op_var_dim = {
    .name = "var_dim",
    .arity = 1,
    .shape = dim_shape,
    .forward = var_forward,
    .backward = var_backward,
    .check = {.lo = -2,
              .hi = 2,
              .args = &(struct dim_args){.dim = 1, .correction = 1},
              .args_size = sizeof(struct dim_args),
              .flops_per_elem = 4},
};
/* Variance along dim with Bessel's correction `correction` (1: unbiased, 0: population). */
ag_tensor *ag_var_dim(ag_tensor *t, int dim, bool keepdim, int correction) {
    return apply_dim(AG_OP_VAR_DIM, t, dim, keepdim, correction);
}
