/* Group normalization, torch.nn.functional.group_norm's semantics: x [N, C, *] in G groups
 * of C/G channels; each (n, group) block of M = C/G * prod(*) elements is normalized with
 * its own mean and biased variance, then scaled and shifted per channel.
 *   group_norm(x, [w], [b])                   one pass per block (the layer_norm row
 *                                             kernels, with the block's per-channel weight
 *                                             and bias spread over its elements); saves
 *                                             mean and rstd [N*G]
 *   group_norm_backward(g, x, mean, rstd, [w])   flat [numel + 2C]: dx, then dw and db
 *                                             (sums over n and spatial), in one pass
 * With create_graph everything is written with ops from x (differentiable again); the
 * fused op is never recorded. dw, db add per-sample partials in sample order. */
#include "ops/norm_rows.h"
#include "runtime/parallel.h"

struct gn_args {
    int groups;
    bool has_w, has_b;
    double eps;
};

static int64_t spatial(const ag_tensor *x) {
    int64_t s = 1;
    for (int d = 2; d < x->ndim; d++) s *= x->shape[d];
    return s;
}

static ag_tensor *dense(ag_tensor *t) {
    if (!t || ag_is_contiguous(t)) return t;
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *c = ag_contiguous(t);
    ag_set_grad_enabled(prev);
    return c;
}
static void release(ag_tensor *c, const ag_tensor *t) {
    if (c && c != t && !c->arena) ag_tensor_free(c);
}

/* x float [N, C, *] with C divisible by groups; params [C] of x's dtype. */
static int check_x(const ag_tensor *x, int groups, const char *fn) {
    if (!ag__is_float(x->dtype) || x->ndim < 2)
        return ag__error(AG_ERR_SHAPE, fn, "x must be float [N, C, *], got %s %s",
                         ag_dtype_name(x->dtype), AG_SHAPE(x));
    if (groups < 1 || x->shape[1] % groups)
        return ag__error(AG_ERR_ARG, fn, "groups %d must divide the %lld channels of x %s", groups,
                         (long long)x->shape[1], AG_SHAPE(x));
    return AG_OK;
}
static int check_param(const ag_tensor *p, const ag_tensor *x, const char *what, const char *fn) {
    if (p->dtype != x->dtype || p->ndim != 1 || p->shape[0] != x->shape[1])
        return ag__error(AG_ERR_SHAPE, fn, "%s %s %s must be %s [%lld] for x %s", what,
                         ag_dtype_name(p->dtype), AG_SHAPE(p), ag_dtype_name(x->dtype),
                         (long long)x->shape[1], AG_SHAPE(x));
    return AG_OK;
}

/* ------------------------------------------------------------------ per-block rows */
/* The weight (or bias) of each element of group gi's block: p[c] over S elements. */
#define DEF_SPREAD(T, name)                                                                     \
    static void name(T *restrict row, const T *restrict p, int64_t c0, int64_t cg, int64_t S) { \
        for (int64_t c = 0; c < cg; c++)                                                        \
            for (int64_t s = 0; s < S; s++) row[c * S + s] = p[c0 + c];                         \
    }
DEF_SPREAD(float, spread_f32)
DEF_SPREAD(double, spread_f64)

/* Spread per-channel params into [G, M] rows (NULL when p is NULL). */
static ag_tensor *spread(const ag_tensor *p, int64_t C, int G, int64_t S) {
    if (!p) return NULL;
    ag_tensor *d = dense((ag_tensor *)p);
    ag_tensor *r = ag__empty(p->dtype, 1, (int64_t[]){C * S}, "ag_group_norm");
    int64_t cg = C / G;
    for (int g = 0; r && d && g < G; g++) {
        if (p->dtype == AG_F32)
            spread_f32((float *)ag__ptr(r) + g * cg * S, ag__ptr(d), g * cg, cg, S);
        else spread_f64((double *)ag__ptr(r) + g * cg * S, ag__ptr(d), g * cg, cg, S);
    }
    release(d, p);
    return r;
}

/* ------------------------------------------------------------------ group_norm */
static int gn_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                    const char *fn) {
    const struct gn_args *a = args;
    if (n != 1 + a->has_w + a->has_b)
        return ag__error(AG_ERR_ARG, fn, "expects %d inputs, got %d", 1 + a->has_w + a->has_b, n);
    if (check_x(in[0], a->groups, fn)) return ag__last_error_code();
    for (int i = 1; i < n; i++)
        if (check_param(in[i], in[0], i == 1 && a->has_w ? "weight" : "bias", fn))
            return ag__last_error_code();
    return ag__shape_same(m, in, 1, NULL, fn);
}

/* One group_norm (or its backward) shared out by ag__parallel_for: forward over the
 * N*G rows, backward over the N samples (each with its own partial dw, db). */
struct gn_job {
    ag_tensor *out;
    const ag_tensor *x, *w, *b, *mean, *rstd, *g;
    const struct gn_args *a;
    int64_t G, M, C, S;
    double *part; /* backward: [N, 2C] */
};

LN_INLINE void gn_range_rows(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct gn_job *j = ctx;
    const ag_tensor *x = j->x, *w = j->w, *b = j->b, *mean = j->mean, *rstd = j->rstd;
    ag_tensor *out = j->out;
    const struct gn_args *a = j->a;
    int64_t G = j->G, M = j->M;
    bool f32 = out->dtype == AG_F32;
    (void)tid;
    for (int64_t r = lo; r < hi; r++) {
        int64_t off = (r % G) * M; /* this group's slice of the spread params */
        if (f32) {
            float *mu = (float *)ag__ptr(mean) + r, *rs = (float *)ag__ptr(rstd) + r;
            const float *xr = (const float *)ag__ptr(x) + r * M;
            ln_stats_f32(xr, M, a->eps, mu, rs);
            ln_forward_f32((float *)ag__ptr(out) + r * M, xr, M, *mu, *rs,
                           w ? (const float *)ag__ptr(w) + off : NULL,
                           b ? (const float *)ag__ptr(b) + off : NULL);
        } else {
            double *mu = (double *)ag__ptr(mean) + r, *rs = (double *)ag__ptr(rstd) + r;
            const double *xr = (const double *)ag__ptr(x) + r * M;
            ln_stats_f64(xr, M, a->eps, mu, rs);
            ln_forward_f64((double *)ag__ptr(out) + r * M, xr, M, *mu, *rs,
                           w ? (const double *)ag__ptr(w) + off : NULL,
                           b ? (const double *)ag__ptr(b) + off : NULL);
        }
    }
}
/* gn_range_rows compiled for AVX2 and for the baseline (ln_avx2 picks). */
LN_AVX2 static void gn_range_avx2(void *ctx, int64_t lo, int64_t hi, int tid) {
    gn_range_rows(ctx, lo, hi, tid);
}
static void gn_range_base(void *ctx, int64_t lo, int64_t hi, int tid) {
    gn_range_rows(ctx, lo, hi, tid);
}

static int gn_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n;
    const struct gn_args *a = args;
    int64_t N = in[0]->shape[0], C = in[0]->shape[1], S = spatial(in[0]), G = a->groups;
    int64_t R = N * G, M = C / G * S;
    ag_tensor *x = dense(in[0]);
    ag_tensor *w = spread(a->has_w ? in[1] : NULL, C, a->groups, S);
    ag_tensor *b = spread(a->has_b ? in[1 + a->has_w] : NULL, C, a->groups, S);
    ag_tensor *mean = ag__empty(out->dtype, 1, &R, "ag_group_norm"),
              *rstd = ag__empty(out->dtype, 1, &R, "ag_group_norm");
    int rc = AG_ERR_NOMEM;
    if (x && mean && rstd && (!a->has_w || w) && (!a->has_b || b)) {
        struct gn_job j = {out, x, w, b, mean, rstd, NULL, a, G, M, C, S, NULL};
        ag__parallel_for(R, 1, (double)M, 1 << 15, ln_avx2() ? gn_range_avx2 : gn_range_base, &j);
        saved[0] = mean, saved[1] = rstd;
        rc = AG_OK;
    }
    release(x, in[0]), release(w, NULL), release(b, NULL);
    if (rc) release(mean, NULL), release(rstd, NULL);
    return rc;
}

/* dw = sum over (n, spatial) of g * xhat, db = sum of g: xhat [N, G, M] -> [N, C, S]. */
static int gn_param_grads(struct ag_node *node, ag_tensor *g, ag_tensor *xhat) {
    const struct gn_args *a = AG_ARGS(node, struct gn_args);
    ag_tensor *x = node->in[0];
    int64_t N = x->shape[0], C = x->shape[1], S = spatial(x);
    int64_t ncs[3] = {N, C, S};
    ag_tensor *g3 = ag_reshape(g, 3, ncs);
    int rc = AG_OK;
    if (a->has_w && ag__needs_grad(node, 1))
        rc = ag__accumulate(
            node, 1,
            ag_sum_dim(ag_sum_dim(ag_mul(g3, ag_reshape(xhat, 3, ncs)), 2, false), 0, false));
    int ib = 1 + a->has_w;
    if (!rc && a->has_b && ag__needs_grad(node, ib))
        rc = ag__accumulate(node, ib, ag_sum_dim(ag_sum_dim(g3, 2, false), 0, false));
    return rc;
}

/* Everything with ops, statistics recomputed from x: differentiable again. */
static int gn_backward_composite(struct ag_node *node, ag_tensor *g) {
    const struct gn_args *a = AG_ARGS(node, struct gn_args);
    ag_tensor *x = node->in[0], *w = a->has_w ? node->in[1] : NULL;
    int64_t N = x->shape[0], C = x->shape[1], S = spatial(x), G = a->groups;
    int64_t ngm[3] = {N, G, C / G * S}, ncs[3] = {N, C, S};
    ag_tensor *xr = ag_reshape(x, 3, ngm);
    ag_tensor *xc = ag_sub(xr, ag_mean_dim(xr, 2, true));
    ag_tensor *rstd = ag_pow(ag_add_scalar(ag_mean_dim(ag_mul(xc, xc), 2, true), a->eps), -0.5);
    ag_tensor *xhat = ag_mul(xc, rstd);
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) {
        ag_tensor *gw =
            w ? ag_mul(ag_reshape(g, 3, ncs), ag_reshape(w, 3, (int64_t[]){1, C, 1})) : g;
        gw = ag_reshape(gw, 3, ngm);
        ag_tensor *inner = ag_sub(ag_sub(gw, ag_mean_dim(gw, 2, true)),
                                  ag_mul(xhat, ag_mean_dim(ag_mul(gw, xhat), 2, true)));
        rc = ag__accumulate(node, 0, ag_reshape(ag_mul(rstd, inner), x->ndim, x->shape));
    }
    return rc ? rc : gn_param_grads(node, g, xhat);
}

static int gn_backward(struct ag_node *node, ag_tensor *g) {
    if (ag_is_grad_enabled()) return gn_backward_composite(node, g);
    const struct gn_args *a = AG_ARGS(node, struct gn_args);
    ag_tensor *x = node->in[0], *mean = node->saved[0], *rstd = node->saved[1];
    ag_tensor *const in[] = {g, x, mean, rstd, a->has_w ? node->in[1] : NULL};
    ag_tensor *all = ag__apply(AG_OP_GROUP_NORM_BACKWARD, 4 + a->has_w, in, a, sizeof *a);
    int64_t n = x->numel, C = x->shape[1];
    int ib = 1 + a->has_w;
    int rc = all ? AG_OK : ag__last_error_code();
    if (!rc && ag__needs_grad(node, 0))
        rc = ag__accumulate(node, 0, ag_reshape(ag_slice(all, 0, 0, n, 1), x->ndim, x->shape));
    if (!rc && a->has_w && ag__needs_grad(node, 1))
        rc = ag__accumulate(node, 1, ag_slice(all, 0, n, n + C, 1));
    if (!rc && a->has_b && ag__needs_grad(node, ib))
        rc = ag__accumulate(node, ib, ag_slice(all, 0, n + C, n + 2 * C, 1));
    return rc;
}

/* variant 0: x [2,4,3] in 2 groups with weight and bias; variant 1: a transposed
 * [3,6] in 3 groups, weight only. Benchmark: [size/(32*64), 32, 64] in 8 groups. */
static int gn_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct gn_args *a = args;
    if (size) {
        *a = (struct gn_args){.groups = 8, .has_w = true, .has_b = true, .eps = 1e-5};
        in[0] =
            ag__check_input(dt, 3, (int64_t[]){size / 2048 > 1 ? size / 2048 : 1, 32, 64}, -2, 2);
        in[1] = ag__check_input(dt, 1, (int64_t[]){32}, 0.5, 1.5);
        in[2] = ag__check_input(dt, 1, (int64_t[]){32}, -1, 1);
        return 3;
    }
    if (variant == 0) {
        *a = (struct gn_args){.groups = 2, .has_w = true, .has_b = true, .eps = 1e-5};
        in[0] = ag__check_input(dt, 3, (int64_t[]){2, 4, 3}, -2, 2);
        in[1] = ag__check_input(dt, 1, (int64_t[]){4}, 0.5, 1.5);
        in[2] = ag__check_input(dt, 1, (int64_t[]){4}, -1, 1);
        return 3;
    }
    *a = (struct gn_args){.groups = 3, .has_w = true, .eps = 1e-3};
    ag_tensor *base = ag__check_input(dt, 2, (int64_t[]){6, 3}, -2, 2);
    bool prev = ag_set_grad_enabled(false);
    in[0] = ag_transpose(base, 0, 1);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(in[0], true);
    in[1] = ag__check_input(dt, 1, (int64_t[]){6}, 0.5, 1.5);
    return 2;
}

const struct ag_op_def ag__op_group_norm = {
    .name = "group_norm",
    .arity = -1,
    .shape = gn_shape,
    .forward = gn_forward,
    .backward = gn_backward,
    .check = {.make = gn_make, .flops_per_elem = 8},
};

/* ------------------------------------------------------------------ group_norm_backward */
static int gnb_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                     const char *fn) {
    const struct gn_args *a = args;
    if (n != 4 + a->has_w)
        return ag__error(AG_ERR_ARG, fn, "expects %d inputs, got %d", 4 + a->has_w, n);
    const ag_tensor *g = in[0], *x = in[1];
    if (check_x(x, a->groups, fn)) return ag__last_error_code();
    bool ok = g->dtype == x->dtype && g->ndim == x->ndim;
    for (int d = 0; ok && d < x->ndim; d++) ok = g->shape[d] == x->shape[d];
    int64_t R = x->shape[0] * a->groups;
    for (int i = 2; ok && i < 4; i++)
        ok = in[i]->dtype == x->dtype && in[i]->ndim == 1 && in[i]->shape[0] == R;
    if (!ok)
        return ag__error(AG_ERR_SHAPE, fn,
                         "grad_output %s, mean %s and rstd %s must match x %s %s "
                         "([%lld] statistics)",
                         AG_SHAPE(g), AG_SHAPE(in[2]), AG_SHAPE(in[3]), ag_dtype_name(x->dtype),
                         AG_SHAPE(x), (long long)R);
    if (a->has_w && check_param(in[4], x, "weight", fn)) return ag__last_error_code();
    *m = (struct ag_meta){x->dtype, 1, {x->numel + 2 * x->shape[1]}};
    return AG_OK;
}

/* dx of block r (rows of M elements; off: the block's slice of the spread weight). */
LN_INLINE void dx_block(ag_tensor *out, const ag_tensor *g, const ag_tensor *x,
                        const ag_tensor *mean, const ag_tensor *rstd, const ag_tensor *w, int64_t M,
                        int64_t r, int64_t off) {
    if (out->dtype == AG_F32)
        ln_dx_f32((float *)ag__ptr(out) + r * M, (const float *)ag__ptr(g) + r * M,
                  (const float *)ag__ptr(x) + r * M, M, ((const float *)ag__ptr(mean))[r],
                  ((const float *)ag__ptr(rstd))[r], w ? (const float *)ag__ptr(w) + off : NULL);
    else
        ln_dx_f64((double *)ag__ptr(out) + r * M, (const double *)ag__ptr(g) + r * M,
                  (const double *)ag__ptr(x) + r * M, M, ((const double *)ag__ptr(mean))[r],
                  ((const double *)ag__ptr(rstd))[r], w ? (const double *)ag__ptr(w) + off : NULL);
}

/* For the cg channels of block r from channel c0: acc[c] += sum over s of g * xhat and
 * acc[C + c] += sum over s of g (acc: 2C entries, C = x's channels), in double. */
LN_INLINE void param_block(double *acc, const ag_tensor *g, const ag_tensor *x,
                           const ag_tensor *mean, const ag_tensor *rstd, int64_t cg, int64_t S,
                           int64_t r, int64_t c0) {
    int64_t C = x->shape[1], M = cg * S;
    double mu = ag__get_flat(mean, r), rs = ag__get_flat(rstd, r);
    for (int64_t c = 0; c < cg; c++) {
        double sw = 0, sb = 0;
        for (int64_t s = 0; s < S; s++) {
            int64_t at = r * M + c * S + s;
            double gv = x->dtype == AG_F32 ? ((const float *)ag__ptr(g))[at]
                                           : ((const double *)ag__ptr(g))[at];
            double xv = x->dtype == AG_F32 ? ((const float *)ag__ptr(x))[at]
                                           : ((const double *)ag__ptr(x))[at];
            sw += gv * ((xv - mu) * rs);
            sb += gv;
        }
        acc[c0 + c] += sw;
        acc[C + c0 + c] += sb;
    }
}

LN_INLINE void gnb_range_rows(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct gn_job *j = ctx;
    int64_t G = j->G, M = j->M, C = j->C, S = j->S;
    (void)tid;
    for (int64_t i = lo; i < hi; i++)
        for (int64_t r = i * G; r < (i + 1) * G; r++) {
            dx_block(j->out, j->g, j->x, j->mean, j->rstd, j->w, M, r, (r % G) * M);
            param_block(j->part + i * 2 * C, j->g, j->x, j->mean, j->rstd, C / G, S, r,
                        (r % G) * (C / G));
        }
}
/* gnb_range_rows compiled for AVX2 and for the baseline (ln_avx2 picks). */
LN_AVX2 static void gnb_range_avx2(void *ctx, int64_t lo, int64_t hi, int tid) {
    gnb_range_rows(ctx, lo, hi, tid);
}
static void gnb_range_base(void *ctx, int64_t lo, int64_t hi, int tid) {
    gnb_range_rows(ctx, lo, hi, tid);
}

static int gnb_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)n, (void)saved;
    const struct gn_args *a = args;
    int64_t N = in[1]->shape[0], C = in[1]->shape[1], S = spatial(in[1]), G = a->groups;
    int64_t M = C / G * S;
    ag_tensor *g = dense(in[0]), *x = dense(in[1]), *mean = dense(in[2]), *rstd = dense(in[3]);
    ag_tensor *w = spread(a->has_w ? in[4] : NULL, C, a->groups, S);
    double *part = calloc((size_t)(N ? N : 1) * (size_t)(2 * C), sizeof(double)); /* [N, 2C] */
    int rc = AG_ERR_NOMEM;
    if (g && x && mean && rstd && (!a->has_w || w) && part) {
        struct gn_job j = {out, x, w, NULL, mean, rstd, g, a, G, M, C, S, part};
        ag__parallel_for(N, 1, (double)(G * M), 1 << 15,
                         ln_avx2() ? gnb_range_avx2 : gnb_range_base, &j);
        for (int64_t j = 0; j < 2 * C; j++) { /* after dx: dw, then db */
            double t = 0;
            for (int64_t i = 0; i < N; i++) t += part[i * 2 * C + j];
            if (out->dtype == AG_F32) ((float *)ag__ptr(out))[N * C * S + j] = (float)t;
            else ((double *)ag__ptr(out))[N * C * S + j] = t;
        }
        rc = AG_OK;
    }
    free(part);
    release(g, in[0]), release(x, in[1]), release(mean, in[2]), release(rstd, in[3]),
        release(w, NULL);
    return rc;
}

static int gnb_no_backward(struct ag_node *node, ag_tensor *g) {
    (void)g;
    return ag__error(AG_ERR_STATE, "ag_group_norm_backward",
                     "not twice differentiable (x %s); "
                     "differentiate ag_group_norm with create_graph instead",
                     AG_SHAPE(node->in[1]));
}

static int gnb_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    ag_tensor *x[3];
    int k = gn_make(x, args, dt, variant, size);
    const struct gn_args *a = args;
    int64_t R = x[0]->shape[0] * a->groups;
    in[0] = ag__check_input(dt, x[0]->ndim, x[0]->shape, -1, 1);
    in[1] = x[0];
    in[2] = ag__check_input(dt, 1, &R, -1, 1);
    in[3] = ag__check_input(dt, 1, &R, 0.5, 2);
    if (a->has_w) in[4] = x[1];
    (void)k;
    return 4 + a->has_w;
}

const struct ag_op_def ag__op_group_norm_backward = {
    .name = "group_norm_backward",
    .arity = -1,
    .shape = gnb_shape,
    .forward = gnb_forward,
    .backward = gnb_no_backward,
    .check = {.make = gnb_make, .no_grad = true, .flops_per_elem = 10},
};

/* ------------------------------------------------------------------ public function */
ag_tensor *ag_group_norm(ag_tensor *x, int groups, ag_tensor *weight, ag_tensor *bias, double eps) {
    const char *fn = "ag_group_norm";
    if (!x) return NULL;
    if (!(eps >= 0)) {
        ag__error(AG_ERR_ARG, fn, "eps %g must be >= 0 (x %s)", eps, AG_SHAPE(x));
        return NULL;
    }
    struct gn_args a = {
        .groups = groups, .has_w = weight != NULL, .has_b = bias != NULL, .eps = eps};
    ag_tensor *const in[] = {x, weight ? weight : bias, bias};
    return ag__apply(AG_OP_GROUP_NORM, 1 + a.has_w + a.has_b, in, &a, sizeof a);
}
