/* 2-D pooling over (N, C, H, W), torch semantics (ceil_mode false; max pads with -inf,
 * avg counts the padding: count_include_pad true). Four ops, closed under differentiation:
 *   max_pool2d(x[, src])          y[p] = src[argmax of x in window p]  (src defaults to x;
 *                                 the first maximum in row-major order, NaN wins as in torch)
 *   max_pool2d_backward(g, x)     dx[argmax p] += g[p]; its derivative in g is
 *                                 max_pool2d(x, H), in x zero
 *   avg_pool2d(x), avg_pool2d_backward(g): a linear map and its transpose.
 * Threads split the N*C planes, so results do not depend on the thread count. */
#include "ops/kernels/convpool.h"
#include "ops/ops.h"

#include "runtime/parallel.h"

#include <math.h>

struct pool_args {
    int k[2], s[2], p[2];
    int64_t in[2]; /* backward ops: the input's H, W */
};

struct pgeom {
    int64_t planes, H, W, OH, OW, kh, kw, sh, sw, ph, pw;
};

static void pgeom_init(struct pgeom *g, const int64_t *x, const struct pool_args *a) {
    *g = (struct pgeom){.planes = x[0] * x[1],
                        .H = x[2],
                        .W = x[3],
                        .kh = a->k[0],
                        .kw = a->k[1],
                        .sh = a->s[0],
                        .sw = a->s[1],
                        .ph = a->p[0],
                        .pw = a->p[1]};
    g->OH = (g->H + 2 * g->ph - g->kh) / g->sh + 1;
    g->OW = (g->W + 2 * g->pw - g->kw) / g->sw + 1;
}

/* Threads split the planes when there is work enough: the cost of one plane. */
static double plane_cost(const struct pgeom *g) { return (double)(g->OH * g->OW * g->kh * g->kw); }
#define PAR_MIN (1 << 15)

/* One pooling call shared out over planes (or 64-plane chunks) by ag__parallel_for. */
struct pool_job {
    const struct pgeom *g;
    bool f32, scatter;
    const char *x, *src;
    char *dst;
};

/* Contiguous data of t (a copy without recording when strided); see release(). */
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

/* ------------------------------------------------------------------ shape rules */
static int check_input(const ag_tensor *x, const char *what, const char *fn) {
    if (!ag__is_float(x->dtype))
        return ag__error(AG_ERR_DTYPE, fn, "%s must be float32 or float64, got %s %s", what,
                         ag_dtype_name(x->dtype), AG_SHAPE(x));
    if (x->ndim != 4)
        return ag__error(AG_ERR_SHAPE, fn, "%s must be [N,C,H,W], got %s", what, AG_SHAPE(x));
    return AG_OK;
}

/* Checks the window against x [N,C,H,W]; fills out with [N,C,OH,OW]. */
static int pool_geometry(struct ag_meta *m, const ag_tensor *x, const struct pool_args *a,
                         const char *fn) {
    for (int d = 0; d < 2; d++) {
        if (a->k[d] < 1 || a->s[d] < 1 || a->p[d] < 0 || 2 * (int64_t)a->p[d] > a->k[d])
            return ag__error(AG_ERR_ARG, fn,
                             "kernel %dx%d, stride %dx%d, padding %dx%d: need "
                             "kernel, stride >= 1 and 0 <= padding <= kernel/2 (x %s)",
                             a->k[0], a->k[1], a->s[0], a->s[1], a->p[0], a->p[1], AG_SHAPE(x));
        if (x->shape[2 + d] + 2 * (int64_t)a->p[d] < a->k[d])
            return ag__error(AG_ERR_SHAPE, fn,
                             "kernel %dx%d is larger than the padded input "
                             "%lldx%lld of x %s",
                             a->k[0], a->k[1], (long long)(x->shape[2] + 2 * (int64_t)a->p[0]),
                             (long long)(x->shape[3] + 2 * (int64_t)a->p[1]), AG_SHAPE(x));
    }
    struct pgeom g;
    pgeom_init(&g, x->shape, a);
    *m = (struct ag_meta){x->dtype, 4, {x->shape[0], x->shape[1], g.OH, g.OW}};
    return AG_OK;
}

static int same_dtype_shape(const ag_tensor *a, const ag_tensor *b, const int64_t *want,
                            const char *what, const char *fn) {
    if (a->dtype != b->dtype)
        return ag__error(AG_ERR_DTYPE, fn, "dtypes %s %s and %s %s differ (use ag_cast)",
                         ag_dtype_name(a->dtype), AG_SHAPE(a), ag_dtype_name(b->dtype),
                         AG_SHAPE(b));
    if (b->ndim != 4 || memcmp(b->shape, want, 4 * sizeof(int64_t)))
        return ag__error(AG_ERR_SHAPE, fn, "%s %s must be %s", what, AG_SHAPE(b),
                         ag__shape_str(4, want));
    return AG_OK;
}

static int max_pool_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                          const char *fn) {
    if (n < 1 || n > 2) return ag__error(AG_ERR_ARG, fn, "takes x and an optional source");
    if (check_input(in[0], "x", fn) || pool_geometry(m, in[0], args, fn))
        return ag__last_error_code();
    if (n == 2 && same_dtype_shape(in[0], in[1], in[0]->shape, "source", fn))
        return ag__last_error_code();
    return AG_OK;
}

/* (g, x) or (g): g must be the pooled shape of an input [N,C,in[0],in[1]] (x when given). */
static int pool_backward_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                               const char *fn) {
    const struct pool_args *a = args;
    const ag_tensor *gy = in[0];
    if (check_input(gy, "grad_output", fn)) return ag__last_error_code();
    ag_tensor xm = {
        .dtype = gy->dtype, .ndim = 4, .shape = {gy->shape[0], gy->shape[1], a->in[0], a->in[1]}};
    if (n == 2 && same_dtype_shape(gy, in[1], xm.shape, "x", fn)) return ag__last_error_code();
    struct ag_meta pooled;
    if (pool_geometry(&pooled, &xm, a, fn)) return ag__last_error_code();
    if (memcmp(pooled.shape, gy->shape, 4 * sizeof(int64_t)))
        return ag__error(AG_ERR_SHAPE, fn,
                         "grad_output %s does not match the pooled shape %s "
                         "of input %s",
                         AG_SHAPE(gy), ag__shape_str(4, pooled.shape), AG_SHAPE(&xm));
    *m = (struct ag_meta){gy->dtype, 4, {xm.shape[0], xm.shape[1], xm.shape[2], xm.shape[3]}};
    return AG_OK;
}

/* ------------------------------------------------------------------ kernels */
#define T float
#define MAXPOOL_NOPAD maxpool_nopad_f32
#define MAXPOOL_PLANE maxpool_f32
#define AVGPOOL avg_f32
#include "ops/pool_tmpl.h"
#undef T
#undef MAXPOOL_NOPAD
#undef MAXPOOL_PLANE
#undef AVGPOOL

#define T double
#define MAXPOOL_NOPAD maxpool_nopad_f64
#define MAXPOOL_PLANE maxpool_f64
#define AVGPOOL avg_f64
#include "ops/pool_tmpl.h"
#undef T
#undef MAXPOOL_NOPAD
#undef MAXPOOL_PLANE
#undef AVGPOOL

/* The 2x2/stride-2 unpadded float32 case has AVX-512 kernels (ops/kernels/convpool.h);
 * their scatter writes every element of dst, so it needs no zeroing. */
static bool fast_2x2(const struct pgeom *g, bool f32) {
    return f32 && g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 &&
           g->pw == 0 && ag__convpool_avx512();
}

static void max_pool_fast_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct pool_job *j = ctx;
    const struct pgeom *g = j->g;
    const float *x = (const float *)(const void *)j->x, *src = (const float *)(const void *)j->src;
    float *dst = (float *)(void *)j->dst;
    int64_t plane = g->H * g->W, oplane = g->OH * g->OW, step = 64;
    (void)tid;
    for (int64_t c = lo; c < hi; c++) {
        int64_t p0 = c * step, np = g->planes - p0 < step ? g->planes - p0 : step;
        if (j->scatter)
            ag__maxpool2x2_back_f32_avx512(np, g->H, g->W, x + p0 * plane, src + p0 * oplane,
                                           dst + p0 * plane);
        else
            ag__maxpool2x2_f32_avx512(np, g->H, g->W, x + p0 * plane, src + p0 * plane,
                                      dst + p0 * oplane);
    }
}

static void max_pool_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct pool_job *j = ctx;
    const struct pgeom *g = j->g;
    size_t es = j->f32 ? 4 : 8;
    int64_t plane = g->H * g->W, oplane = g->OH * g->OW;
    int64_t sstep = j->scatter ? oplane : plane, dstep = j->scatter ? plane : oplane;
    (void)tid;
    for (int64_t c = lo; c < hi; c++) {
        const char *xp = j->x + (size_t)(c * plane) * es, *sp = j->src + (size_t)(c * sstep) * es;
        char *dp = j->dst + (size_t)(c * dstep) * es;
        if (j->f32)
            maxpool_f32(g, (const float *)(const void *)xp, (const float *)(const void *)sp,
                        (float *)(void *)dp, j->scatter);
        else
            maxpool_f64(g, (const double *)(const void *)xp, (const double *)(const void *)sp,
                        (double *)(void *)dp, j->scatter);
    }
}

/* scatter false: y[p] = src[argmax]; true: dst[argmax] += src[p] (dst zeroed first). */
static void max_pool_run(const struct pgeom *g, bool f32, const char *x, const char *src, char *dst,
                         bool scatter) {
    struct pool_job j = {g, f32, scatter, x, src, dst};
    if (fast_2x2(g, f32)) {
        int64_t chunks = (g->planes + 63) / 64;
        ag__parallel_for(chunks, 1, 64 * plane_cost(g), PAR_MIN, max_pool_fast_range, &j);
        return;
    }
    ag__parallel_for(g->planes, 1, plane_cost(g), PAR_MIN, max_pool_range, &j);
}

static void avg_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct pool_job *j = ctx;
    (void)tid;
    if (j->f32)
        avg_f32(j->g, (const float *)(const void *)j->x, (float *)(void *)j->dst, j->scatter, lo,
                hi);
    else
        avg_f64(j->g, (const double *)(const void *)j->x, (double *)(void *)j->dst, j->scatter, lo,
                hi);
}

/* scatter false: y[p] = mean of x over window p (padding counted); true: the transpose. */
static void avg_run(const struct pgeom *g, bool f32, const void *x, void *y, bool scatter) {
    struct pool_job j = {g, f32, scatter, x, NULL, y};
    ag__parallel_for(g->planes, 1, plane_cost(g), PAR_MIN, avg_range, &j);
}

/* ------------------------------------------------------------------ forward entry points */
static int max_pool_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                            ag_tensor **saved) {
    (void)saved;
    ag_tensor *x = dense(in[0]), *src = n == 2 ? dense(in[1]) : x;
    if (!x || !src) return AG_ERR_NOMEM;
    struct pgeom g;
    pgeom_init(&g, x->shape, args);
    max_pool_run(&g, out->dtype == AG_F32, ag__ptr(x), ag__ptr(src), ag__ptr(out), false);
    release(x, in[0]);
    if (n == 2) release(src, in[1]);
    return AG_OK;
}

static int max_pool_backward_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                                     ag_tensor **saved) {
    (void)n, (void)saved;
    ag_tensor *gy = dense(in[0]), *x = dense(in[1]);
    if (!gy || !x) return AG_ERR_NOMEM;
    struct pgeom g;
    pgeom_init(&g, x->shape, args);
    if (!fast_2x2(&g, out->dtype == AG_F32))
        memset(ag__ptr(out), 0, (size_t)out->numel * ag_dtype_size(out->dtype));
    max_pool_run(&g, out->dtype == AG_F32, ag__ptr(x), ag__ptr(gy), ag__ptr(out), true);
    release(gy, in[0]), release(x, in[1]);
    return AG_OK;
}

static int avg_pool_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                            ag_tensor **saved) {
    (void)n, (void)saved;
    ag_tensor *x = dense(in[0]);
    if (!x) return AG_ERR_NOMEM;
    struct pgeom g;
    pgeom_init(&g, x->shape, args);
    avg_run(&g, out->dtype == AG_F32, ag__ptr(x), ag__ptr(out), false);
    release(x, in[0]);
    return AG_OK;
}

static int avg_pool_backward_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                                     ag_tensor **saved) {
    (void)n, (void)saved;
    ag_tensor *gy = dense(in[0]);
    if (!gy) return AG_ERR_NOMEM;
    struct pgeom g;
    pgeom_init(&g, out->shape, args);
    memset(ag__ptr(out), 0, (size_t)out->numel * ag_dtype_size(out->dtype));
    avg_run(&g, out->dtype == AG_F32, ag__ptr(gy), ag__ptr(out), true);
    release(gy, in[0]);
    return AG_OK;
}

/* ------------------------------------------------------------------ backward rules */
static ag_tensor *with_size(enum ag_op_id op, int n, ag_tensor *const *in, struct pool_args a,
                            const ag_tensor *like) {
    a.in[0] = like->shape[2], a.in[1] = like->shape[3];
    return ag__apply(op, n, in, &a, sizeof a);
}

static int max_pool_backward(struct ag_node *node, ag_tensor *gy) {
    struct pool_args a = *AG_ARGS(node, struct pool_args);
    ag_tensor *x = node->in[0];
    int i = node->n_in - 1; /* the source: x itself, or in[1]; x's own part is zero */
    if (!ag__needs_grad(node, i)) return AG_OK;
    return ag__accumulate(
        node, i, with_size(AG_OP_MAX_POOL2D_BACKWARD, 2, (ag_tensor *const[]){gy, x}, a, x));
}

static int max_pool_backward_backward(struct ag_node *node, ag_tensor *h) {
    struct pool_args a = *AG_ARGS(node, struct pool_args);
    if (!ag__needs_grad(node, 0)) return AG_OK; /* d/dx is zero */
    return ag__accumulate(
        node, 0,
        ag__apply(AG_OP_MAX_POOL2D, 2, (ag_tensor *const[]){node->in[1], h}, &a, sizeof a));
}

static int avg_pool_backward(struct ag_node *node, ag_tensor *gy) {
    struct pool_args a = *AG_ARGS(node, struct pool_args);
    return ag__accumulate(
        node, 0, with_size(AG_OP_AVG_POOL2D_BACKWARD, 1, (ag_tensor *const[]){gy}, a, node->in[0]));
}

static int avg_pool_backward_backward(struct ag_node *node, ag_tensor *h) {
    struct pool_args a = *AG_ARGS(node, struct pool_args);
    return ag__accumulate(node, 0,
                          ag__apply(AG_OP_AVG_POOL2D, 1, (ag_tensor *const[]){h}, &a, sizeof a));
}

/* ------------------------------------------------------------------ gradcheck inputs
 * variant 0: overlapping 3x2 windows, stride 2x1, padding 1x1 on [2,2,5,5].
 * variant 1: 2x2 windows, stride = kernel, a transposed [2,2,5,6] (last row unused). */
static const struct pool_args pool_check_args[2] = {
    {.k = {3, 2}, .s = {2, 1}, .p = {1, 1}},
    {.k = {2, 2}, .s = {2, 2}, .p = {0, 0}},
};

static ag_tensor *pool_check_x(ag_dtype dt, int variant) {
    if (variant == 0) return ag__check_input(dt, 4, (int64_t[]){2, 2, 5, 5}, -2, 2);
    ag_tensor *base = ag__check_input(dt, 4, (int64_t[]){2, 2, 6, 5}, -2, 2);
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *t = ag_transpose(base, 2, 3);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(t, true);
    return t;
}

static ag_tensor *pool_check_gy(ag_dtype dt, const ag_tensor *x, const struct pool_args *a) {
    struct pgeom g;
    pgeom_init(&g, x->shape, a);
    return ag__check_input(dt, 4, (int64_t[]){x->shape[0], x->shape[1], g.OH, g.OW}, -2, 2);
}

/* Benchmark inputs (size > 0): 2x2 pooling of 32 channels of 28x28, the Fashion-MNIST CNN's
 * first pool, with as many images as make about size elements. */
static const struct pool_args pool_bench_args = {.k = {2, 2}, .s = {2, 2}, .in = {28, 28}};
static ag_tensor *pool_bench_x(ag_dtype dt, int64_t size) {
    int64_t n = size / (32 * 28 * 28) > 1 ? size / (32 * 28 * 28) : 1;
    return ag__check_input(dt, 4, (int64_t[]){n, 32, 28, 28}, -2, 2);
}

static int pool_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    *(struct pool_args *)args = size ? pool_bench_args : pool_check_args[variant];
    in[0] = size ? pool_bench_x(dt, size) : pool_check_x(dt, variant);
    return 1;
}

static int pool_backward_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size,
                              bool with_x) {
    struct pool_args *a = args;
    *a = size ? pool_bench_args : pool_check_args[variant];
    ag_tensor *x = size ? pool_bench_x(dt, size) : pool_check_x(dt, variant);
    a->in[0] = x->shape[2], a->in[1] = x->shape[3];
    in[0] = pool_check_gy(dt, x, a);
    in[1] = x;
    return with_x ? 2 : 1;
}
static int max_backward_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    return pool_backward_make(in, args, dt, variant, size, true);
}
static int avg_backward_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    return pool_backward_make(in, args, dt, variant, size, false);
}

const struct ag_op_def ag__op_max_pool2d = {
    .name = "max_pool2d",
    .arity = -1,
    .shape = max_pool_shape,
    .forward = max_pool_forward,
    .backward = max_pool_backward,
    .check = {.make = pool_make},
};
const struct ag_op_def ag__op_max_pool2d_backward = {
    .name = "max_pool2d_backward",
    .arity = 2,
    .shape = pool_backward_shape,
    .forward = max_pool_backward_forward,
    .backward = max_pool_backward_backward,
    .check = {.make = max_backward_make},
};
const struct ag_op_def ag__op_avg_pool2d = {
    .name = "avg_pool2d",
    .arity = 1,
    .shape = max_pool_shape,
    .forward = avg_pool_forward,
    .backward = avg_pool_backward,
    .check = {.make = pool_make},
};
const struct ag_op_def ag__op_avg_pool2d_backward = {
    .name = "avg_pool2d_backward",
    .arity = 1,
    .shape = pool_backward_shape,
    .forward = avg_pool_backward_forward,
    .backward = avg_pool_backward_backward,
    .check = {.make = avg_backward_make},
};

/* ------------------------------------------------------------------ public functions */
static int pool_args_from(struct pool_args *a, ag_pool_opts o, const char *fn) {
    *a = (struct pool_args){0};
    for (int d = 0; d < 2; d++) {
        if (o.kernel[d] < 1 || o.stride[d] < 0 || o.padding[d] < 0)
            return ag__error(AG_ERR_ARG, fn,
                             "kernel %dx%d must be >= 1, stride %dx%d and "
                             "padding %dx%d >= 0",
                             o.kernel[0], o.kernel[1], o.stride[0], o.stride[1], o.padding[0],
                             o.padding[1]);
        a->k[d] = o.kernel[d];
        a->s[d] = o.stride[d] ? o.stride[d] : o.kernel[d];
        a->p[d] = o.padding[d];
    }
    return AG_OK;
}

/* x [N,C,H,W] -> [N,C,OH,OW], the max over each window (torch.nn.functional.max_pool2d). */
ag_tensor *ag_max_pool2d(ag_tensor *x, ag_pool_opts opts) {
    if (!x) return NULL;
    struct pool_args a;
    if (pool_args_from(&a, opts, "ag_max_pool2d")) return NULL;
    if (x->ndim == 3) /* unbatched [C,H,W], as torch */
        return ag_squeeze(
            AG_APPLY_ARGS(AG_OP_MAX_POOL2D, 1, (ag_tensor *const[]){ag_unsqueeze(x, 0)}, a), 0);
    return AG_APPLY_ARGS(AG_OP_MAX_POOL2D, 1, (ag_tensor *const[]){x}, a);
}

/* x [N,C,H,W] -> [N,C,OH,OW], the mean over each window, padding counted. */
ag_tensor *ag_avg_pool2d(ag_tensor *x, ag_pool_opts opts) {
    if (!x) return NULL;
    struct pool_args a;
    if (pool_args_from(&a, opts, "ag_avg_pool2d")) return NULL;
    if (x->ndim == 3) /* unbatched [C,H,W], as torch */
        return ag_squeeze(
            AG_APPLY_ARGS(AG_OP_AVG_POOL2D, 1, (ag_tensor *const[]){ag_unsqueeze(x, 0)}, a), 0);
    return AG_APPLY_ARGS(AG_OP_AVG_POOL2D, 1, (ag_tensor *const[]){x}, a);
}
