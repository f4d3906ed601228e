/* batch_norm(x, [w], [b], [running_mean, running_var]), torch semantics: x [N,C] or
 * [N,C,*]; training normalizes with the batch's biased variance and updates the running
 * stats in place (unbiased variance); eval uses the running stats. The backward rule is
 * written with ops, recomputing the statistics from x, so it is differentiable again;
 * without create_graph it runs fused kernels (two passes in training, one in eval). */
#include "ops/iter.h"
#include "runtime/parallel.h"

#include <math.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ------------------------------------------------------------------ batch_norm */
struct bn_args {
    bool training, has_w, has_b;
    double eps, momentum;
    ag_tensor *run_mean, *run_var; /* training: updated in place when not NULL */
};

/* Input positions: x, then weight, bias (when given), then running mean, var (eval). */
static int bn_w(const struct bn_args *a) { return a->has_w ? 1 : -1; }
static int bn_b(const struct bn_args *a) { return a->has_b ? 1 + a->has_w : -1; }
static int bn_stats(const struct bn_args *a) { return 1 + a->has_w + a->has_b; }

static int bn_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                    const char *fn) {
    const struct bn_args *a = args;
    const ag_tensor *x = in[0];
    if (ag__shape_same(m, in, n, args, fn)) return ag__last_error_code();
    if (x->ndim < 2)
        return ag__error(AG_ERR_SHAPE, fn, "x %s must be [N,C] or [N,C,*]", AG_SHAPE(x));
    int want = bn_stats(a) + (a->training ? 0 : 2);
    if (n != want) return ag__error(AG_ERR_ARG, fn, "expects %d inputs, got %d", want, n);
    for (int i = 1; i < n; i++)
        if (in[i]->dtype != x->dtype || in[i]->ndim != 1 || in[i]->shape[0] != x->shape[1])
            return ag__error(AG_ERR_SHAPE, fn,
                             "weight, bias and running stats must be %s [%lld] "
                             "for x %s, got %s %s",
                             ag_dtype_name(x->dtype), (long long)x->shape[1], AG_SHAPE(x),
                             ag_dtype_name(in[i]->dtype), AG_SHAPE(in[i]));
    if (a->training && x->numel / x->shape[1] < 2)
        return ag__error(AG_ERR_SHAPE, fn, "training needs more than 1 value per channel, x %s",
                         AG_SHAPE(x));
    return AG_OK;
}

/* ------------------------------------------------------------------ kernels
 * x is contiguous [N, C, S]: channel c is N rows of S values, row i at (i*C + c)*S. Each
 * kernel runs one channel, every sum in float64 in a fixed order (so results do not
 * depend on the thread count); threads split the channels. f32 is a constant at every
 * call, so each dtype gets its own straight-line loop. */
#define INLINE static inline __attribute__((always_inline))
#define LANES 4

INLINE double ld(const void *p, int64_t i, bool f32) {
    return f32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
INLINE void st(void *p, int64_t i, double v, bool f32) {
    if (f32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

struct bn_dims {
    int64_t N, C, S;
};
static struct bn_dims bn_dims_of(const ag_tensor *x) {
    int64_t N = x->shape[0], C = x->shape[1];
    return (struct bn_dims){N, C, N * C > 0 ? x->numel / (N * C) : 0};
}

/* One pass: mean and biased variance of channel c, as sums of d = x - K and d*d with K
 * the channel's first value (a shift that keeps the one-pass formula accurate). */
INLINE void channel_stats_t(const void *x, struct bn_dims d, int64_t c, double *mean, double *var,
                            bool f32) {
    double K = ld(x, c * d.S, f32), s[LANES] = {0}, q[LANES] = {0};
    for (int64_t i = 0; i < d.N; i++) {
        int64_t base = (i * d.C + c) * d.S, k = 0;
        for (; k + LANES <= d.S; k += LANES)
            for (int l = 0; l < LANES; l++) {
                double v = ld(x, base + k + l, f32) - K;
                s[l] += v, q[l] += v * v;
            }
        for (; k < d.S; k++) {
            double v = ld(x, base + k, f32) - K;
            s[0] += v, q[0] += v * v;
        }
    }
    double ss = 0, qq = 0, n = (double)(d.N * d.S);
    for (int l = 0; l < LANES; l++) ss += s[l], qq += q[l];
    *mean = K + ss / n;
    *var = (qq - ss * ss / n) / n;
    if (*var < 0) *var = 0;
}

/* out = x * a + b over channel c (in place allowed), in float64: with a mean far from
 * zero, a and b are large and opposite, and float32 arithmetic would cancel. */
INLINE void channel_affine_t(void *out, const void *x, struct bn_dims d, int64_t c, double a,
                             double b, bool f32) {
    for (int64_t i = 0; i < d.N; i++) {
        int64_t base = (i * d.C + c) * d.S;
        for (int64_t k = 0; k < d.S; k++) st(out, base + k, ld(x, base + k, f32) * a + b, f32);
    }
}

/* Backward pass 1: sums[0] = sum g, sums[1] = sum g * (x - mean) over channel c. */
INLINE void channel_grad_sums_t(const void *g, const void *x, struct bn_dims d, int64_t c,
                                double mean, double *s0, double *s1, bool f32) {
    double a[LANES] = {0}, b[LANES] = {0};
    for (int64_t i = 0; i < d.N; i++) {
        int64_t base = (i * d.C + c) * d.S, k = 0;
        for (; k + LANES <= d.S; k += LANES)
            for (int l = 0; l < LANES; l++) {
                double gv = ld(g, base + k + l, f32);
                a[l] += gv, b[l] += gv * (ld(x, base + k + l, f32) - mean);
            }
        for (; k < d.S; k++) {
            double gv = ld(g, base + k, f32);
            a[0] += gv, b[0] += gv * (ld(x, base + k, f32) - mean);
        }
    }
    *s0 = *s1 = 0;
    for (int l = 0; l < LANES; l++) *s0 += a[l], *s1 += b[l];
}

/* Backward pass 2: dx = p * g + q * (x - mean) + r over channel c. */
INLINE void channel_input_grad_t(void *dx, const void *g, const void *x, struct bn_dims d,
                                 int64_t c, double mean, double p, double q, double r, bool f32) {
    for (int64_t i = 0; i < d.N; i++) {
        int64_t base = (i * d.C + c) * d.S;
        for (int64_t k = 0; k < d.S; k++)
            st(dx, base + k, p * ld(g, base + k, f32) + q * (ld(x, base + k, f32) - mean) + r, f32);
    }
}

/* Eval backward: dx = p * g over channel c (x is not read; float32 as channel_affine_t). */
INLINE void channel_scale_t(void *dx, const void *g, struct bn_dims d, int64_t c, double p,
                            bool f32) {
    for (int64_t i = 0; i < d.N; i++) {
        int64_t base = (i * d.C + c) * d.S;
        if (f32) {
            const float *gs = (const float *)g + base;
            float *o = (float *)dx + base;
            float pf = (float)p;
#pragma omp simd
            for (int64_t k = 0; k < d.S; k++) o[k] = pf * gs[k];
        } else {
            const double *gs = (const double *)g + base;
            double *o = (double *)dx + base;
#pragma omp simd
            for (int64_t k = 0; k < d.S; k++) o[k] = p * gs[k];
        }
    }
}

/* Eval forward: y = (x - mean) * scale + shift over the S values at base, in x's dtype,
 * one vector pass. The running mean is a value of x's dtype, so x - mean is exact or
 * rounded once (no cancellation of large opposite terms as x * a + b would have in
 * float32). */
INLINE void row_eval_t(void *out, const void *x, int64_t base, int64_t S, double mean, double scale,
                       double shift, bool f32) {
    if (f32) {
        const float *xs = (const float *)x + base;
        float *o = (float *)out + base, m = (float)mean, a = (float)scale, b = (float)shift;
#pragma omp simd
        for (int64_t k = 0; k < S; k++) o[k] = (xs[k] - m) * a + b;
    } else {
        const double *xs = (const double *)x + base;
        double *o = (double *)out + base;
#pragma omp simd
        for (int64_t k = 0; k < S; k++) o[k] = (xs[k] - mean) * scale + shift;
    }
}

/* Eval backward in one pass over g and x: dx = p * g (as channel_scale_t) and the sums of
 * channel_grad_sums_t (s0 = sum g, s1 = sum g (x - mean), float64 lanes k mod LANES, the
 * same operations in the same order, so the same bits), written with 16-byte vectors:
 * lanes 0-1 in lo, 2-3 in hi. */
typedef float bn_v2f __attribute__((vector_size(8)));
typedef float bn_v4f __attribute__((vector_size(16)));
typedef double bn_v2d __attribute__((vector_size(16)));
struct bn_lanes {
    bn_v2d a_lo, a_hi, b_lo, b_hi;
};
_Static_assert(LANES == 4, "bn_lanes holds 4 float64 lanes");

INLINE void lanes_add(struct bn_lanes *L, bn_v2d g_lo, bn_v2d g_hi, bn_v2d x_lo, bn_v2d x_hi,
                      double mean) {
    L->a_lo += g_lo, L->a_hi += g_hi;
    L->b_lo += g_lo * (x_lo - mean), L->b_hi += g_hi * (x_hi - mean);
}
/* The float64 values of p[0..1] and p[2..3] (cvtps2pd twice on SSE2). */
INLINE void widen4(const float *p, bn_v2d *lo, bn_v2d *hi) {
#ifdef __SSE2__
    __m128 v = _mm_loadu_ps(p);
    *lo = (bn_v2d)_mm_cvtps_pd(v), *hi = (bn_v2d)_mm_cvtps_pd(_mm_movehl_ps(v, v));
#else
    bn_v2f a, b;
    memcpy(&a, p, sizeof a), memcpy(&b, p + 2, sizeof b);
    *lo = __builtin_convertvector(a, bn_v2d), *hi = __builtin_convertvector(b, bn_v2d);
#endif
}
INLINE bn_v2d load2(const double *p) {
    bn_v2d v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void row_eval_grad_f32(float *restrict dx, const float *restrict g, const float *restrict x,
                              int64_t S, double mean, float p, struct bn_lanes *L) {
    int64_t k = 0;
    for (; k + LANES <= S; k += LANES) {
        bn_v4f gv;
        memcpy(&gv, g + k, sizeof gv);
        gv *= p;
        memcpy(dx + k, &gv, sizeof gv);
        bn_v2d g_lo, g_hi, x_lo, x_hi;
        widen4(g + k, &g_lo, &g_hi), widen4(x + k, &x_lo, &x_hi);
        lanes_add(L, g_lo, g_hi, x_lo, x_hi, mean);
    }
    for (; k < S; k++) {
        double gv = g[k];
        dx[k] = p * g[k];
        L->a_lo[0] += gv, L->b_lo[0] += gv * ((double)x[k] - mean);
    }
}
static void row_eval_grad_f64(double *restrict dx, const double *restrict g,
                              const double *restrict x, int64_t S, double mean, double p,
                              struct bn_lanes *L) {
    int64_t k = 0;
    for (; k + LANES <= S; k += LANES) {
        bn_v2d g_lo = load2(g + k), g_hi = load2(g + k + 2);
        bn_v2d d_lo = g_lo * p, d_hi = g_hi * p;
        memcpy(dx + k, &d_lo, sizeof d_lo), memcpy(dx + k + 2, &d_hi, sizeof d_hi);
        lanes_add(L, g_lo, g_hi, load2(x + k), load2(x + k + 2), mean);
    }
    for (; k < S; k++) dx[k] = p * g[k], L->a_lo[0] += g[k], L->b_lo[0] += g[k] * (x[k] - mean);
}

/* One row (S values at base) into channel lanes L; the tails go to lane 0 as they come
 * (as channel_grad_sums_t). */
INLINE void row_eval_grad_t(void *dx, const void *g, const void *x, int64_t base, int64_t S,
                            double mean, double p, struct bn_lanes *L, bool f32) {
    if (f32)
        row_eval_grad_f32((float *)dx + base, (const float *)g + base, (const float *)x + base, S,
                          mean, (float)p, L);
    else
        row_eval_grad_f64((double *)dx + base, (const double *)g + base, (const double *)x + base,
                          S, mean, p, L);
}
/* The lanes summed 0..3 from zero (as channel_grad_sums_t). */
static void lanes_sums(const struct bn_lanes *L, double *s0, double *s1) {
    *s0 = (((0.0 + L->a_lo[0]) + L->a_lo[1]) + L->a_hi[0]) + L->a_hi[1];
    *s1 = (((0.0 + L->b_lo[0]) + L->b_lo[1]) + L->b_hi[0]) + L->b_hi[1];
}

static void channel_stats(const ag_tensor *x, struct bn_dims d, int64_t c, double *mean,
                          double *var) {
    if (x->dtype == AG_F32) channel_stats_t(ag__ptr(x), d, c, mean, var, true);
    else channel_stats_t(ag__ptr(x), d, c, mean, var, false);
}
static void channel_affine(ag_tensor *out, const ag_tensor *x, struct bn_dims d, int64_t c,
                           double a, double b) {
    if (x->dtype == AG_F32) channel_affine_t(ag__ptr(out), ag__ptr(x), d, c, a, b, true);
    else channel_affine_t(ag__ptr(out), ag__ptr(x), d, c, a, b, false);
}
static void channel_grad_sums(const ag_tensor *g, const ag_tensor *x, struct bn_dims d, int64_t c,
                              double mean, double *s0, double *s1) {
    if (x->dtype == AG_F32) channel_grad_sums_t(ag__ptr(g), ag__ptr(x), d, c, mean, s0, s1, true);
    else channel_grad_sums_t(ag__ptr(g), ag__ptr(x), d, c, mean, s0, s1, false);
}
static void channel_input_grad(ag_tensor *dx, const ag_tensor *g, const ag_tensor *x,
                               struct bn_dims d, int64_t c, double mean, double p, double q,
                               double r) {
    if (x->dtype == AG_F32)
        channel_input_grad_t(ag__ptr(dx), ag__ptr(g), ag__ptr(x), d, c, mean, p, q, r, true);
    else channel_input_grad_t(ag__ptr(dx), ag__ptr(g), ag__ptr(x), d, c, mean, p, q, r, false);
}

static void channel_scale(ag_tensor *dx, const ag_tensor *g, struct bn_dims d, int64_t c,
                          double p) {
    if (g->dtype == AG_F32) channel_scale_t(ag__ptr(dx), ag__ptr(g), d, c, p, true);
    else channel_scale_t(ag__ptr(dx), ag__ptr(g), d, c, p, false);
}
static void row_eval(ag_tensor *out, const ag_tensor *x, int64_t base, int64_t S, double mean,
                     double scale, double shift) {
    if (x->dtype == AG_F32) row_eval_t(ag__ptr(out), ag__ptr(x), base, S, mean, scale, shift, true);
    else row_eval_t(ag__ptr(out), ag__ptr(x), base, S, mean, scale, shift, false);
}
static void row_eval_grad(void *dx, const ag_tensor *g, const ag_tensor *x, int64_t base, int64_t S,
                          double mean, double p, struct bn_lanes *L) {
    if (x->dtype == AG_F32) row_eval_grad_t(dx, ag__ptr(g), ag__ptr(x), base, S, mean, p, L, true);
    else row_eval_grad_t(dx, ag__ptr(g), ag__ptr(x), base, S, mean, p, L, false);
}

/* t itself when contiguous, else a contiguous copy made with grad off (NULL: no memory). */
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
/* Channels split over threads (runtime/parallel.h) when x has this many elements. */
#define BN_PARALLEL_MIN (1 << 16)
static void bn_channels(const ag_tensor *x, int64_t C, ag__range_fn fn, void *ctx) {
    ag__parallel_for(C, 1, (double)x->numel / (double)(C > 0 ? C : 1), BN_PARALLEL_MIN, fn, ctx);
}

/* What bn_forward's threads share. */
struct bn_fwd {
    const struct bn_args *a;
    ag_tensor *const *in;
    ag_tensor *out, *x;
    struct bn_dims d;
    double *sm, *si;
};

/* Channels [lo, hi): statistics (training: from x, updating the running stats; eval: the
 * running stats), then y in one pass (training: x * scale + shift in float64, channel by
 * channel; eval: (x - mean) * scale + bias in x's dtype, row_eval_t, in memory order). */
static void bn_forward_channels(void *ctx, int64_t lo, int64_t hi, int tid) {
    (void)tid;
    const struct bn_fwd *f = ctx;
    const struct bn_args *a = f->a;
    ag_tensor *const *in = f->in;
    double cnt = (double)(f->d.N * f->d.S);
    for (int64_t c = lo; c < hi; c++) {
        double mean, var;
        if (a->training) {
            channel_stats(f->x, f->d, c, &mean, &var);
            if (a->run_mean) {
                double m = a->momentum;
                ag_tensor *rm = a->run_mean, *rv = a->run_var;
                double om = ag__get_flat(rm, c), ov = ag__get_flat(rv, c);
                double nm = (1 - m) * om + m * mean, nv = (1 - m) * ov + m * var * cnt / (cnt - 1);
                if (rm->dtype == AG_F32)
                    ((float *)ag__ptr(rm))[c] = (float)nm, ((float *)ag__ptr(rv))[c] = (float)nv;
                else ((double *)ag__ptr(rm))[c] = nm, ((double *)ag__ptr(rv))[c] = nv;
            }
        } else {
            mean = ag__get_flat(in[bn_stats(a)], c);
            var = ag__get_flat(in[bn_stats(a) + 1], c);
        }
        double w = a->has_w ? ag__get_flat(in[bn_w(a)], c) : 1.0;
        double b = a->has_b ? ag__get_flat(in[bn_b(a)], c) : 0.0;
        double is = 1 / sqrt(var + a->eps), scale = w * is;
        f->sm[c] = mean, f->si[c] = is;
        if (a->training) channel_affine(f->out, f->x, f->d, c, scale, b - mean * scale);
    }
    if (a->training) return;
    for (int64_t i = 0; i < f->d.N; i++) /* rows in memory order: one stream */
        for (int64_t c = lo; c < hi; c++) {
            double w = a->has_w ? ag__get_flat(in[bn_w(a)], c) : 1.0;
            double b = a->has_b ? ag__get_flat(in[bn_b(a)], c) : 0.0;
            row_eval(f->out, f->x, (i * f->d.C + c) * f->d.S, f->d.S, f->sm[c], w * f->si[c], b);
        }
}

/* Saves mean and 1/sqrt(var + eps) as float64 [C] (saved[0], saved[1]) for the fused
 * backward; training updates the running stats in place (unbiased variance). */
static int bn_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n;
    ag_tensor *x = dense(in[0]);
    int64_t C = in[0]->shape[1];
    saved[0] = ag__empty(AG_F64, 1, &C, "ag_batch_norm");
    saved[1] = ag__empty(AG_F64, 1, &C, "ag_batch_norm");
    if (!x || !saved[0] || !saved[1]) {
        release(x, in[0]);
        return AG_ERR_NOMEM;
    }
    struct bn_fwd f = {args, in, out, x, bn_dims_of(x), ag__ptr(saved[0]), ag__ptr(saved[1])};
    bn_channels(x, C, bn_forward_channels, &f);
    release(x, in[0]);
    return AG_OK;
}

/* ------------------------------------------------------------------ fused backward ops
 * batch_norm_grad_sums(g, x, mean)            -> float64 [2, C]: sum g, sum g (x - mean)
 * batch_norm_input_grad(g, x, mean, invstd, sums[, w]) -> dx, like x
 * with mean and invstd the float64 [C] that forward saved. The two passes of the backward
 * when create_graph is off; with create_graph on, batch_norm's backward is written with
 * ops instead (bn_backward_ops), so these two are never recorded and have no derivative. */
struct bn_grad_args {
    bool training, has_w;
};

static int check_c64(const ag_tensor *t, int64_t C, const char *what, const char *fn) {
    if (t->dtype == AG_F64 && t->ndim == 1 && t->shape[0] == C) return AG_OK;
    return ag__error(AG_ERR_SHAPE, fn, "%s must be float64 [%lld], got %s %s", what, (long long)C,
                     ag_dtype_name(t->dtype), AG_SHAPE(t));
}

static int check_g_x(ag_tensor *const *in, const char *fn) {
    const ag_tensor *g = in[0], *x = in[1];
    if (!ag__is_float(x->dtype) || x->ndim < 2 || g->dtype != x->dtype || g->ndim != x->ndim ||
        memcmp(g->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim))
        return ag__error(AG_ERR_SHAPE, fn,
                         "grad %s %s and x %s %s must be one float shape "
                         "[N,C,*]",
                         ag_dtype_name(g->dtype), AG_SHAPE(g), ag_dtype_name(x->dtype),
                         AG_SHAPE(x));
    return check_c64(in[2], x->shape[1], "mean", fn);
}

static int grad_sums_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                           const char *fn) {
    (void)n, (void)args;
    if (check_g_x(in, fn)) return ag__last_error_code();
    *m = (struct ag_meta){.dtype = AG_F64, .ndim = 2, .shape = {2, in[1]->shape[1]}};
    return AG_OK;
}

/* What the threads of one backward pass share. */
struct bn_grad_pass {
    const ag_tensor *g, *x;
    ag_tensor *const *in;
    ag_tensor *out;
    struct bn_dims d;
    const struct bn_grad_args *a;
};

static void grad_sums_channels(void *ctx, int64_t lo, int64_t hi, int tid) {
    (void)tid;
    const struct bn_grad_pass *p = ctx;
    double *o = ag__ptr(p->out);
    for (int64_t c = lo; c < hi; c++)
        channel_grad_sums(p->g, p->x, p->d, c, ag__get_flat(p->in[2], c), &o[c], &o[p->d.C + c]);
}

static int grad_sums_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                             ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    ag_tensor *g = dense(in[0]), *x = dense(in[1]);
    if (!g || !x) {
        release(g, in[0]), release(x, in[1]);
        return AG_ERR_NOMEM;
    }
    struct bn_grad_pass p = {.g = g, .x = x, .in = in, .out = out, .d = bn_dims_of(x)};
    bn_channels(x, p.d.C, grad_sums_channels, &p);
    release(g, in[0]), release(x, in[1]);
    return AG_OK;
}

static int input_grad_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                            const char *fn) {
    const struct bn_grad_args *a = args;
    if (n != 5 + a->has_w)
        return ag__error(AG_ERR_ARG, fn, "expects %d inputs, got %d", 5 + a->has_w, n);
    if (check_g_x(in, fn)) return ag__last_error_code();
    int64_t C = in[1]->shape[1];
    if (check_c64(in[3], C, "invstd", fn)) return ag__last_error_code();
    if (in[4]->dtype != AG_F64 || in[4]->ndim != 2 || in[4]->shape[0] != 2 || in[4]->shape[1] != C)
        return ag__error(AG_ERR_SHAPE, fn, "sums must be float64 [2,%lld], got %s", (long long)C,
                         AG_SHAPE(in[4]));
    if (a->has_w && (in[5]->dtype != in[1]->dtype || in[5]->ndim != 1 || in[5]->shape[0] != C))
        return ag__error(AG_ERR_SHAPE, fn, "weight %s must be [%lld] for x %s", AG_SHAPE(in[5]),
                         (long long)C, AG_SHAPE(in[1]));
    ag__meta_like(m, in[1]);
    return AG_OK;
}

/* training: dx = w s (g - sum g / n - (x - mean) s^2 sum g (x - mean) / n), s = invstd;
 * eval: dx = w s g (one pass over g, x not read). */
static void input_grad_channels(void *ctx, int64_t lo, int64_t hi, int tid) {
    (void)tid;
    const struct bn_grad_pass *pp = ctx;
    ag_tensor *const *in = pp->in;
    struct bn_dims d = pp->d;
    double cnt = (double)(d.N * d.S);
    for (int64_t c = lo; c < hi; c++) {
        double s = ag__get_flat(in[3], c), p = s * (pp->a->has_w ? ag__get_flat(in[5], c) : 1.0);
        if (!pp->a->training) {
            channel_scale(pp->out, pp->g, d, c, p);
            continue;
        }
        double q = -p * s * s * ag__get_flat(in[4], d.C + c) / cnt;
        double r = -p * ag__get_flat(in[4], c) / cnt;
        channel_input_grad(pp->out, pp->g, pp->x, d, c, ag__get_flat(in[2], c), p, q, r);
    }
}

static int input_grad_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                              ag_tensor **saved) {
    (void)n, (void)saved;
    const struct bn_grad_args *a = args;
    ag_tensor *g = dense(in[0]), *x = dense(in[1]);
    if (!g || !x) {
        release(g, in[0]), release(x, in[1]);
        return AG_ERR_NOMEM;
    }
    struct bn_grad_pass p = {.g = g, .x = x, .in = in, .out = out, .d = bn_dims_of(x), .a = a};
    bn_channels(x, p.d.C, input_grad_channels, &p);
    release(g, in[0]), release(x, in[1]);
    return AG_OK;
}

static int fused_grad_backward(struct ag_node *node, ag_tensor *g) {
    (void)g;
    return ag__error(AG_ERR_STATE, "ag_backward",
                     "%s is not differentiable (batch_norm "
                     "records its backward with ops when create_graph is on)",
                     node->def->name);
}

/* Inputs like the forward saves them, for the table tests and the benchmark. */
static int fused_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size,
                      bool input_grad) {
    int64_t C = size ? 32 : 3, n = size / (32 * 14 * 14) > 1 ? size / (32 * 14 * 14) : 1;
    int64_t xs[4] = {size ? n : 4, C, size ? 14 : 2, size ? 14 : 3}, two[2] = {2, C};
    in[0] = ag__check_input(dt, 4, xs, -2, 2);
    in[1] = ag__check_input(dt, 4, xs, -2, 2);
    in[2] = ag__check_input(AG_F64, 1, &C, -0.5, 0.5);
    if (!input_grad) return 3;
    *(struct bn_grad_args *)args = (struct bn_grad_args){variant == 0, variant == 0};
    in[3] = ag__check_input(AG_F64, 1, &C, 0.5, 2);
    in[4] = ag__check_input(AG_F64, 2, two, -3, 3);
    if (variant) return 5;
    in[5] = ag__check_input(dt, 1, &C, 0.5, 2);
    return 6;
}
static int grad_sums_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    return variant ? 0 : fused_make(in, args, dt, variant, size, false);
}
static int input_grad_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    return fused_make(in, args, dt, variant, size, true);
}

const struct ag_op_def ag__op_batch_norm_grad_sums = {
    .name = "batch_norm_grad_sums",
    .arity = 3,
    .shape = grad_sums_shape,
    .forward = grad_sums_forward,
    .backward = fused_grad_backward,
    .check = {.make = grad_sums_make, .no_grad = true},
};

const struct ag_op_def ag__op_batch_norm_input_grad = {
    .name = "batch_norm_input_grad",
    .arity = -1,
    .shape = input_grad_shape,
    .forward = input_grad_forward,
    .backward = fused_grad_backward,
    .check = {.make = input_grad_make, .no_grad = true},
};

/* batch_norm_eval_backward(g, x, mean, invstd[, w]) -> [numel + 2C] of x's dtype: dx
 * (x's elements in order, x's shape once reshaped), then dw = invstd sum g (x - mean),
 * then db = sum g: eval mode's whole backward in one pass over g and x. Sums in float64,
 * one channel per thread in a fixed order: the bits do not depend on the thread count. */
static int eval_grad_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                           const char *fn) {
    const struct bn_grad_args *a = args;
    if (n != 4 + a->has_w)
        return ag__error(AG_ERR_ARG, fn, "expects %d inputs, got %d", 4 + a->has_w, n);
    if (check_g_x(in, fn)) return ag__last_error_code();
    const ag_tensor *x = in[1];
    int64_t C = x->shape[1];
    if (check_c64(in[3], C, "invstd", fn)) return ag__last_error_code();
    if (a->has_w && (in[4]->dtype != x->dtype || in[4]->ndim != 1 || in[4]->shape[0] != C))
        return ag__error(AG_ERR_SHAPE, fn, "weight %s must be [%lld] for x %s", AG_SHAPE(in[4]),
                         (long long)C, AG_SHAPE(x));
    *m = (struct ag_meta){.dtype = x->dtype, .ndim = 1, .shape = {x->numel + 2 * C}};
    return AG_OK;
}

/* Channels [lo, hi) in groups of EVAL_GROUP, each group's rows in memory order (one
 * stream); each channel's lanes take its rows in the order of channel_grad_sums_t. */
#define EVAL_GROUP 16
static void eval_grad_channels(void *ctx, int64_t lo, int64_t hi, int tid) {
    (void)tid;
    const struct bn_grad_pass *pp = ctx;
    ag_tensor *const *in = pp->in;
    struct bn_dims d = pp->d;
    int64_t numel = pp->x->numel;
    for (int64_t c0 = lo; c0 < hi; c0 += EVAL_GROUP) {
        int64_t c1 = c0 + EVAL_GROUP < hi ? c0 + EVAL_GROUP : hi;
        struct bn_lanes L[EVAL_GROUP];
        double mean[EVAL_GROUP], p[EVAL_GROUP];
        memset(L, 0, sizeof L);
        for (int64_t c = c0; c < c1; c++) {
            mean[c - c0] = ag__get_flat(in[2], c);
            p[c - c0] = ag__get_flat(in[3], c) * (pp->a->has_w ? ag__get_flat(in[4], c) : 1.0);
        }
        for (int64_t i = 0; i < d.N; i++)
            for (int64_t c = c0; c < c1; c++)
                row_eval_grad(ag__ptr(pp->out), pp->g, pp->x, (i * d.C + c) * d.S, d.S,
                              mean[c - c0], p[c - c0], &L[c - c0]);
        for (int64_t c = c0; c < c1; c++) {
            double s0, s1, s = ag__get_flat(in[3], c);
            lanes_sums(&L[c - c0], &s0, &s1);
            if (pp->out->dtype == AG_F32) {
                float *o = (float *)ag__ptr(pp->out) + numel;
                o[c] = (float)(s1 * s), o[d.C + c] = (float)s0;
            } else {
                double *o = (double *)ag__ptr(pp->out) + numel;
                o[c] = s1 * s, o[d.C + c] = s0;
            }
        }
    }
}

static int eval_grad_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                             ag_tensor **saved) {
    (void)n, (void)saved;
    ag_tensor *g = dense(in[0]), *x = dense(in[1]);
    if (!g || !x) {
        release(g, in[0]), release(x, in[1]);
        return AG_ERR_NOMEM;
    }
    struct bn_grad_pass p = {.g = g, .x = x, .in = in, .out = out, .d = bn_dims_of(x), .a = args};
    bn_channels(x, p.d.C, eval_grad_channels, &p);
    release(g, in[0]), release(x, in[1]);
    return AG_OK;
}

/* variant 0: with a weight; variant 1: without. */
static int eval_grad_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    int n = fused_make(in, args, dt, 1, size, true);
    *(struct bn_grad_args *)args = (struct bn_grad_args){false, variant == 0};
    int64_t C = ag_shape(in[1])[1];
    if (variant == 0) in[4] = ag__check_input(dt, 1, &C, 0.5, 2);
    return n - 1 + (variant == 0);
}

const struct ag_op_def ag__op_batch_norm_eval_backward = {
    .name = "batch_norm_eval_backward",
    .arity = -1,
    .shape = eval_grad_shape,
    .forward = eval_grad_forward,
    .backward = fused_grad_backward,
    .check = {.make = eval_grad_make, .no_grad = true},
};

/* 1/sqrt(v + eps) with ops (differentiable). */
static ag_tensor *inv_std(ag_tensor *v, double eps) {
    ag_dtype dt = ag_dtype_of(v);
    return ag_div(ag_scalar(dt, 1.0), ag_sqrt(ag_add(v, ag_scalar(dt, eps))));
}

static int bn_backward_ops(struct ag_node *node, ag_tensor *g) {
    const struct bn_args *a = AG_ARGS(node, struct bn_args);
    ag_tensor *x = node->in[0];
    ag_dtype dt = x->dtype;
    int64_t cs[AG_MAX_DIMS], C = x->shape[1];
    for (int d = 0; d < x->ndim; d++) cs[d] = d == 1 ? C : 1;
    ag_tensor *inv_cnt = ag_scalar(dt, (double)C / (double)x->numel);
    ag_tensor *mean, *invstd;
    if (a->training) { /* statistics in float64 as forward (and torch): a constant
                            * float32 channel then has mean exactly its value, xhat 0 */
        ag_tensor *xs = ag_cast(x, AG_F64), *ic = ag_scalar(AG_F64, (double)C / (double)x->numel);
        mean = ag_mul(ag_sum_to(xs, x->ndim, cs), ic);
        ag_tensor *xc = ag_sub(xs, mean);
        invstd = ag_cast(inv_std(ag_mul(ag_sum_to(ag_mul(xc, xc), x->ndim, cs), ic), a->eps), dt);
        mean = ag_cast(mean, dt);
    } else {
        mean = ag_reshape(node->in[bn_stats(a)], x->ndim, cs);
        invstd = inv_std(ag_reshape(node->in[bn_stats(a) + 1], x->ndim, cs), a->eps);
    }
    ag_tensor *xhat = ag_mul(ag_sub(x, mean), invstd);
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) {
        ag_tensor *gw = a->has_w ? ag_mul(g, ag_reshape(node->in[bn_w(a)], x->ndim, cs)) : g;
        ag_tensor *dx;
        if (a->training) { /* invstd * (gw - mean(gw) - xhat * mean(gw * xhat)) */
            ag_tensor *m1 = ag_mul(ag_sum_to(gw, x->ndim, cs), inv_cnt);
            ag_tensor *m2 = ag_mul(ag_sum_to(ag_mul(gw, xhat), x->ndim, cs), inv_cnt);
            dx = ag_mul(invstd, ag_sub(ag_sub(gw, m1), ag_mul(xhat, m2)));
        } else {
            dx = ag_mul(gw, invstd);
        }
        rc = ag__accumulate(node, 0, dx);
    }
    if (!rc && a->has_w && ag__needs_grad(node, bn_w(a)))
        rc = ag__accumulate(node, bn_w(a),
                            ag_reshape(ag_sum_to(ag_mul(g, xhat), x->ndim, cs), 1, &C));
    if (!rc && a->has_b && ag__needs_grad(node, bn_b(a)))
        rc = ag__accumulate(node, bn_b(a), ag_reshape(ag_sum_to(g, x->ndim, cs), 1, &C));
    return rc;
}

/* Eval mode, dx and dw or db wanted: batch_norm_eval_backward's one pass, its output
 * sliced into the three gradients (views, no copies). */
static int bn_eval_backward(struct ag_node *node, ag_tensor *g, bool need_w, bool need_b) {
    const struct bn_args *a = AG_ARGS(node, struct bn_args);
    ag_tensor *x = node->in[0];
    int64_t C = x->shape[1], n = x->numel;
    struct bn_grad_args ga = {false, a->has_w};
    ag_tensor *in[5] = {g, x, node->saved[0], node->saved[1], a->has_w ? node->in[bn_w(a)] : NULL};
    ag_tensor *all = ag__apply(AG_OP_BATCH_NORM_EVAL_BACKWARD, 4 + a->has_w, in, &ga, sizeof ga);
    if (!all) return ag__last_error_code();
    int rc = ag__accumulate(node, 0, ag_reshape(ag_slice(all, 0, 0, n, 1), x->ndim, x->shape));
    if (!rc && need_w) rc = ag__accumulate(node, bn_w(a), ag_slice(all, 0, n, n + C, 1));
    if (!rc && need_b) rc = ag__accumulate(node, bn_b(a), ag_slice(all, 0, n + C, n + 2 * C, 1));
    return rc;
}

/* Two fused passes over x and g (batch_norm_grad_sums, batch_norm_input_grad) from the
 * saved float64 mean and invstd (eval: one, bn_eval_backward); with create_graph on, the
 * rule written with ops. */
static int bn_backward(struct ag_node *node, ag_tensor *g) {
    if (ag_is_grad_enabled()) return bn_backward_ops(node, g);
    const struct bn_args *a = AG_ARGS(node, struct bn_args);
    ag_tensor *x = node->in[0], *mean = node->saved[0], *invstd = node->saved[1];
    int64_t C = x->shape[1];
    bool need_x = ag__needs_grad(node, 0);
    bool need_w = a->has_w && ag__needs_grad(node, bn_w(a));
    bool need_b = a->has_b && ag__needs_grad(node, bn_b(a));
    if (!a->training && need_x && (need_w || need_b))
        return bn_eval_backward(node, g, need_w, need_b);
    ag_tensor *sums = NULL;
    if ((need_x && a->training) || need_w || need_b) {
        sums = ag__apply(AG_OP_BATCH_NORM_GRAD_SUMS, 3, (ag_tensor *const[]){g, x, mean}, NULL, 0);
        if (!sums) return ag__last_error_code();
    }
    int rc = AG_OK;
    if (need_x) {
        struct bn_grad_args ga = {a->training, a->has_w};
        ag_tensor *in[6] = {g, x, mean, invstd, sums, a->has_w ? node->in[bn_w(a)] : NULL};
        if (!sums)
            in[4] = ag__zeros_in(ag__current_arena(), AG_F64, 2, (int64_t[]){2, C}, "ag_backward");
        rc = ag__accumulate(
            node, 0, ag__apply(AG_OP_BATCH_NORM_INPUT_GRAD, 5 + a->has_w, in, &ga, sizeof ga));
        if (!sums) release(in[4], NULL);
    }
    if (!rc && need_w)
        rc = ag__accumulate(node, bn_w(a),
                            ag_mul(ag_reshape(ag_slice(sums, 0, 1, 2, 1), 1, &C), invstd));
    if (!rc && need_b)
        rc = ag__accumulate(node, bn_b(a), ag_reshape(ag_slice(sums, 0, 0, 1, 1), 1, &C));
    return rc;
}

/* variant 0: training on [3,2,2,2] with weight and bias; variant 1: eval on a transposed
 * [2,3,6] (rows of 6: a vector block and a tail) with weight, bias and running stats (held
 * fixed). */
static int bn_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct bn_args *a = args;
    *a = (struct bn_args){.training = variant == 0 || size,
                          .has_w = true,
                          .has_b = true,
                          .eps = 1e-5,
                          .momentum = 0.1};
    int64_t C = size ? 32 : variant ? 3 : 2;
    if (size) { /* benchmark: 32 channels of 14x14, training mode */
        int64_t n = size / (32 * 14 * 14) > 1 ? size / (32 * 14 * 14) : 1;
        in[0] = ag__check_input(dt, 4, (int64_t[]){n, 32, 14, 14}, -2, 2);
        in[1] = ag__check_input(dt, 1, &C, 0.5, 2);
        in[2] = ag__check_input(dt, 1, &C, -1, 1);
        return 3;
    }
    if (variant == 0) {
        in[0] = ag__check_input(dt, 4, (int64_t[]){3, 2, 2, 2}, -2, 2);
    } else {
        ag_tensor *base = ag__check_input(dt, 3, (int64_t[]){2, 6, 3}, -2, 2);
        bool prev = ag_set_grad_enabled(false);
        in[0] = ag_transpose(base, 1, 2);
        ag_set_grad_enabled(prev);
        ag_set_requires_grad(in[0], true);
    }
    in[1] = ag__check_input(dt, 1, &C, 0.5, 2);
    in[2] = ag__check_input(dt, 1, &C, -1, 1);
    if (variant == 0) return 3;
    in[3] = ag__check_input(dt, 1, &C, -1, 1);
    in[4] = ag__check_input(dt, 1, &C, 0.5, 2);
    ag_set_requires_grad(in[3], false);
    ag_set_requires_grad(in[4], false);
    return 5;
}

const struct ag_op_def ag__op_batch_norm = {
    .name = "batch_norm",
    .arity = -1,
    .shape = bn_shape,
    .forward = bn_forward,
    .backward = bn_backward,
    .check = {.make = bn_make},
};

static int check_stat(const ag_tensor *t, const ag_tensor *x, const char *what) {
    if (t->dtype == x->dtype && t->ndim == 1 && t->shape[0] == x->shape[1] && ag_is_contiguous(t))
        return AG_OK;
    return ag__error(AG_ERR_SHAPE, "ag_batch_norm",
                     "%s %s %s must be a contiguous %s [%lld] for x %s", what,
                     ag_dtype_name(t->dtype), AG_SHAPE(t), ag_dtype_name(x->dtype),
                     (long long)x->shape[1], AG_SHAPE(x));
}

/* x [N,C] or [N,C,*] -> same shape; weight, bias [C] or NULL (1, 0). training: batch
 * statistics, and running_mean/var [C] (both or neither) updated in place as
 * (1-momentum)*old + momentum*new; eval: running_mean/var required. */
ag_tensor *ag_batch_norm(ag_tensor *x, ag_tensor *running_mean, ag_tensor *running_var,
                         ag_tensor *weight, ag_tensor *bias, bool training, double momentum,
                         double eps) {
    if (!x) return NULL;
    const char *fn = "ag_batch_norm";
    if (x->ndim < 2) {
        ag__error(AG_ERR_SHAPE, fn, "x %s must be [N,C] or [N,C,*]", AG_SHAPE(x));
        return NULL;
    }
    if (!running_mean != !running_var || (!training && !running_mean)) {
        ag__error(AG_ERR_NULL, fn, "running_mean and running_var must both be given%s (x %s)",
                  training ? " or both be NULL" : " in eval mode", AG_SHAPE(x));
        return NULL;
    }
    if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1)) {
        ag__error(AG_ERR_ARG, fn, "eps %g must be >= 0 and momentum %g in [0, 1]", eps, momentum);
        return NULL;
    }
    if (running_mean &&
        (check_stat(running_mean, x, "running_mean") || check_stat(running_var, x, "running_var")))
        return NULL;
    struct bn_args a = {training,
                        weight != NULL,
                        bias != NULL,
                        eps,
                        momentum,
                        training ? running_mean : NULL,
                        training ? running_var : NULL};
    ag_tensor *in[5] = {x};
    int n = 1;
    if (weight) in[n++] = weight;
    if (bias) in[n++] = bias;
    if (!training) in[n++] = running_mean, in[n++] = running_var;
    return ag__apply(AG_OP_BATCH_NORM, n, in, &a, sizeof a);
}
