/* Separable linear maps along one dim (see ops/sep_map.h):
 *   sep_map(x, plan)              out[o, i, k] = sum_t w[i][t] x[o, col[i][t], k] (+ fill)
 *   sep_map_transpose(g, plan)    dx[o, c, k] += w[i][t] g[o, i, k] for col[i][t] = c
 * x is seen as [outer, len, inner] around the dim; rows of `inner` contiguous elements
 * move at once (a copy, or a scaled add that vectorizes). Threads split `outer`, and
 * within it the order is fixed, so results do not depend on the thread count. */
#include "ops/sep_map.h"
#include "runtime/parallel.h"

struct sep_args {
    int dim, taps;
    int64_t len; /* sep_map_transpose: the source length along dim (x's size) */
    bool has_fill;
    double fill;
};

/* ------------------------------------------------------------------ plans */
ag_tensor *ag__sep_plan(int64_t out_len, int taps) {
    ag_tensor *p = ag__empty(AG_F64, 3, (int64_t[]){out_len, taps, 2}, "ag__sep_plan");
    for (int64_t i = 0; p && i < out_len * taps; i++) {
        ((double *)ag__ptr(p))[2 * i] = -1;
        ((double *)ag__ptr(p))[2 * i + 1] = 0;
    }
    return p;
}

void ag__sep_plan_set(ag_tensor *plan, int64_t row, int tap, int64_t col, double weight) {
    double *e = (double *)ag__ptr(plan) + 2 * (row * plan->shape[1] + tap);
    e[0] = (double)col;
    e[1] = weight;
}

static int check_plan(const ag_tensor *plan, int64_t src_len, const char *fn) {
    if (plan->dtype != AG_F64 || plan->ndim != 3 || plan->shape[2] != 2)
        return ag__error(AG_ERR_SHAPE, fn, "plan %s %s must be float64 [out_len, taps, 2]",
                         ag_dtype_name(plan->dtype), AG_SHAPE(plan));
    for (int64_t i = 0; i < plan->numel / 2; i++) {
        double c = ag__get_flat(plan, 2 * i);
        if (c < -1 || c >= (double)src_len || c != (double)(int64_t)c)
            return ag__error(AG_ERR_INDEX, fn, "plan source %g is outside [0, %lld)", c,
                             (long long)src_len);
    }
    return AG_OK;
}

/* [outer, len, inner] around dim */
static void split_at(const ag_tensor *t, int dim, int64_t *outer, int64_t *inner) {
    *outer = *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= t->shape[d];
    for (int d = dim + 1; d < t->ndim; d++) *inner *= t->shape[d];
}

static ag_tensor *dense(ag_tensor *t) {
    if (ag_is_contiguous(t)) return t;
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *c = ag_contiguous(t);
    ag_set_grad_enabled(prev);
    return c;
}
static void release(ag_tensor *c, const ag_tensor *t) {
    if (c && c != t && !c->arena) ag_tensor_free(c);
}

/* ------------------------------------------------------------------ kernels */
/* One outer block: out rows [out_len, inner] from x rows [in_len, inner] (forward), or
 * the transpose adding g rows into dx rows. */
#define DEF_SEP_KERNELS(T, fwd_name, bwd_name)                                                     \
    static void fwd_name(T *restrict out, const T *restrict x, const double *plan,                 \
                         int64_t out_len, int taps, int64_t inner, const struct sep_args *a) {     \
        for (int64_t i = 0; i < out_len; i++) {                                                    \
            T *dst = out + i * inner;                                                              \
            bool any = false;                                                                      \
            for (int t = 0; t < taps; t++) {                                                       \
                const double *e = plan + 2 * (i * taps + t);                                       \
                if (e[0] < 0) continue;                                                            \
                const T *src = x + (int64_t)e[0] * inner;                                          \
                T w = (T)e[1];                                                                     \
                if (!any && w == 1) memcpy(dst, src, sizeof(T) * (size_t)inner);                   \
                else if (!any)                                                                     \
                    for (int64_t k = 0; k < inner; k++) dst[k] = w * src[k];                       \
                else                                                                               \
                    for (int64_t k = 0; k < inner; k++) dst[k] += w * src[k];                      \
                any = true;                                                                        \
            }                                                                                      \
            if (!any)                                                                              \
                for (int64_t k = 0; k < inner; k++) dst[k] = a->has_fill ? (T)a->fill : 0;         \
        }                                                                                          \
    }                                                                                              \
    static void bwd_name(T *restrict dx, const T *restrict g, const double *plan, int64_t out_len, \
                         int taps, int64_t inner) {                                                \
        for (int64_t i = 0; i < out_len; i++)                                                      \
            for (int t = 0; t < taps; t++) {                                                       \
                const double *e = plan + 2 * (i * taps + t);                                       \
                if (e[0] < 0) continue;                                                            \
                T *dst = dx + (int64_t)e[0] * inner, w = (T)e[1];                                  \
                const T *src = g + i * inner;                                                      \
                if (w == 1)                                                                        \
                    for (int64_t k = 0; k < inner; k++) dst[k] += src[k];                          \
                else                                                                               \
                    for (int64_t k = 0; k < inner; k++) dst[k] += w * src[k];                      \
            }                                                                                      \
    }
DEF_SEP_KERNELS(float, sep_fwd_f32, sep_bwd_f32)
DEF_SEP_KERNELS(double, sep_fwd_f64, sep_bwd_f64)

/* One sep_map (or transpose) shared out over the outer index by ag__parallel_for. */
struct sep_job {
    ag_tensor *out;
    const ag_tensor *src, *plan;
    const struct sep_args *a;
    int64_t inner, src_len, out_len;
    int taps;
};

static void sep_fwd_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct sep_job *j = ctx;
    (void)tid;
    for (int64_t o = lo; o < hi; o++) {
        if (j->out->dtype == AG_F32)
            sep_fwd_f32((float *)ag__ptr(j->out) + o * j->out_len * j->inner,
                        (const float *)ag__ptr(j->src) + o * j->src_len * j->inner,
                        ag__ptr(j->plan), j->out_len, j->taps, j->inner, j->a);
        else
            sep_fwd_f64((double *)ag__ptr(j->out) + o * j->out_len * j->inner,
                        (const double *)ag__ptr(j->src) + o * j->src_len * j->inner,
                        ag__ptr(j->plan), j->out_len, j->taps, j->inner, j->a);
    }
}

/* The transpose: out_len is a->len (out's), src_len the plan's rows (g's). */
static void sep_bwd_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct sep_job *j = ctx;
    (void)tid;
    for (int64_t o = lo; o < hi; o++) {
        if (j->out->dtype == AG_F32)
            sep_bwd_f32((float *)ag__ptr(j->out) + o * j->out_len * j->inner,
                        (const float *)ag__ptr(j->src) + o * j->src_len * j->inner,
                        ag__ptr(j->plan), j->src_len, j->taps, j->inner);
        else
            sep_bwd_f64((double *)ag__ptr(j->out) + o * j->out_len * j->inner,
                        (const double *)ag__ptr(j->src) + o * j->src_len * j->inner,
                        ag__ptr(j->plan), j->src_len, j->taps, j->inner);
    }
}

/* ------------------------------------------------------------------ sep_map */
static int sep_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                     const char *fn) {
    (void)n;
    const struct sep_args *a = args;
    const ag_tensor *x = in[0], *plan = in[1];
    if (ag__shape_same(m, in, 1, NULL, fn)) return ag__last_error_code();
    if (a->dim < 0 || a->dim >= x->ndim)
        return ag__error(AG_ERR_DIM, fn, "dim %d is out of range for %s", a->dim, AG_SHAPE(x));
    if (check_plan(plan, x->shape[a->dim], fn)) return ag__last_error_code();
    m->shape[a->dim] = plan->shape[0];
    return AG_OK;
}

static int sep_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)n, (void)saved;
    const struct sep_args *a = args;
    ag_tensor *x = dense(in[0]), *plan = dense(in[1]);
    if (!x || !plan) return release(x, in[0]), release(plan, in[1]), AG_ERR_NOMEM;
    int64_t outer, inner, in_len = x->shape[a->dim], out_len = plan->shape[0];
    split_at(x, a->dim, &outer, &inner);
    int taps = (int)plan->shape[1];
    struct sep_job j = {out, x, plan, a, inner, in_len, out_len, taps};
    ag__parallel_for(outer, 1, (double)(out_len * inner), 1 << 16, sep_fwd_range, &j);
    release(x, in[0]), release(plan, in[1]);
    return AG_OK;
}

static ag_tensor *transpose_op(ag_tensor *g, ag_tensor *plan, struct sep_args a, int64_t len) {
    a.len = len, a.has_fill = false, a.fill = 0;
    return AG_APPLY_ARGS(AG_OP_SEP_MAP_TRANSPOSE, 2, ((ag_tensor *const[]){g, plan}), a);
}

static int sep_backward(struct ag_node *node, ag_tensor *g) {
    if (!ag__needs_grad(node, 0)) return AG_OK;
    const struct sep_args *a = AG_ARGS(node, struct sep_args);
    return ag__accumulate(node, 0, transpose_op(g, node->in[1], *a, node->in[0]->shape[a->dim]));
}

/* A random plan from len sources to out_len rows, 2 taps, some rows empty. */
static ag_tensor *random_plan(int64_t out_len, int64_t len) {
    ag_tensor *p = ag__sep_plan(out_len, 2);
    for (int64_t i = 0; p && i < out_len; i++)
        for (int t = 0; t < 2; t++) {
            uint64_t r = ag_random_u64();
            if (r % 5 == 0) continue;
            ag__sep_plan_set(p, i, t, (int64_t)(r / 5 % (uint64_t)len), 0.25 + (double)(r % 7) / 4);
        }
    return p;
}

/* variant 0: [3,5] along dim 1 into 6 with fill 1.5; variant 1: a transposed [4,3] along
 * dim 0 into 2, no fill. Benchmark: a [64, size/64] tensor along dim 0. */
static int sep_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct sep_args *a = args;
    if (size) {
        *a = (struct sep_args){.dim = 0, .taps = 2};
        in[0] = ag__check_input(dt, 2, (int64_t[]){64, size / 64 > 1 ? size / 64 : 1}, -2, 2);
        in[1] = random_plan(64, 64);
        return 2;
    }
    if (variant == 0) {
        *a = (struct sep_args){.dim = 1, .taps = 2, .has_fill = true, .fill = 1.5};
        in[0] = ag__check_input(dt, 2, (int64_t[]){3, 5}, -2, 2);
        in[1] = random_plan(6, 5);
        return 2;
    }
    *a = (struct sep_args){.dim = 0, .taps = 2};
    ag_tensor *base = ag__check_input(dt, 2, (int64_t[]){3, 4}, -2, 2);
    bool prev = ag_set_grad_enabled(false);
    in[0] = ag_transpose(base, 0, 1);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(in[0], true);
    in[1] = random_plan(2, 4);
    return 2;
}

const struct ag_op_def ag__op_sep_map = {
    .name = "sep_map",
    .arity = 2,
    .shape = sep_shape,
    .forward = sep_forward,
    .backward = sep_backward,
    .check = {.make = sep_make},
};

/* ------------------------------------------------------------------ sep_map_transpose */
static int sept_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                      const char *fn) {
    (void)n;
    const struct sep_args *a = args;
    const ag_tensor *g = in[0], *plan = in[1];
    if (ag__shape_same(m, in, 1, NULL, fn)) return ag__last_error_code();
    if (a->dim < 0 || a->dim >= g->ndim || a->len < 0)
        return ag__error(AG_ERR_DIM, fn, "dim %d is out of range for %s", a->dim, AG_SHAPE(g));
    if (check_plan(plan, a->len, fn)) return ag__last_error_code();
    if (plan->shape[0] != g->shape[a->dim])
        return ag__error(AG_ERR_SHAPE, fn, "plan %s has %lld rows for dim %d of %s", AG_SHAPE(plan),
                         (long long)plan->shape[0], a->dim, AG_SHAPE(g));
    m->shape[a->dim] = a->len;
    return AG_OK;
}

static int sept_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n, (void)saved;
    const struct sep_args *a = args;
    ag_tensor *g = dense(in[0]), *plan = dense(in[1]);
    if (!g || !plan) return release(g, in[0]), release(plan, in[1]), AG_ERR_NOMEM;
    int64_t outer, inner, out_len = plan->shape[0];
    split_at(out, a->dim, &outer, &inner);
    int taps = (int)plan->shape[1];
    memset(ag__ptr(out), 0, (size_t)out->numel * ag_dtype_size(out->dtype));
    struct sep_job j = {out, g, plan, a, inner, out_len, a->len, taps};
    ag__parallel_for(outer, 1, (double)(out_len * inner), 1 << 16, sep_bwd_range, &j);
    release(g, in[0]), release(plan, in[1]);
    return AG_OK;
}

static int sept_backward(struct ag_node *node, ag_tensor *h) {
    if (!ag__needs_grad(node, 0)) return AG_OK;
    const struct sep_args *a = AG_ARGS(node, struct sep_args);
    return ag__accumulate(node, 0, ag__sep_map(h, a->dim, node->in[1], false, 0, "ag_sep_map"));
}

static int sept_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    ag_tensor *x[2];
    sep_make(x, args, dt, variant, size);
    struct sep_args *a = args;
    a->len = x[0]->shape[a->dim], a->has_fill = false, a->fill = 0;
    int64_t shape[AG_MAX_DIMS];
    memcpy(shape, x[0]->shape, sizeof shape);
    shape[a->dim] = x[1]->shape[0];
    in[0] = ag__check_input(dt, x[0]->ndim, shape, -2, 2);
    in[1] = x[1];
    return 2;
}

const struct ag_op_def ag__op_sep_map_transpose = {
    .name = "sep_map_transpose",
    .arity = 2,
    .shape = sept_shape,
    .forward = sept_forward,
    .backward = sept_backward,
    .check = {.make = sept_make},
};

/* ------------------------------------------------------------------ internal entry */
ag_tensor *ag__sep_map(ag_tensor *x, int dim, ag_tensor *plan, bool has_fill, double fill,
                       const char *fn) {
    if (!x || !plan) return NULL;
    if (!ag__is_float(x->dtype)) {
        ag__error(AG_ERR_DTYPE, fn, "x must be float32 or float64, got %s %s",
                  ag_dtype_name(x->dtype), AG_SHAPE(x));
        return NULL;
    }
    struct sep_args a = {
        .dim = dim, .taps = (int)plan->shape[1], .has_fill = has_fill, .fill = fill};
    return AG_APPLY_ARGS(AG_OP_SEP_MAP, 2, ((ag_tensor *const[]){x, plan}), a);
}
