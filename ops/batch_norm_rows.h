/* Internal to ops/batch_norm.c: the row kernels. x is contiguous [N, C, S]; a row is the S
 * values of one sample and channel, at (i*C + c)*S. Callers walk the rows of a group of
 * channels in memory order and keep each channel's sums in its own bn_lanes, so every
 * channel's sums are added in the same order whatever the grouping or thread count.
 *
 * Sums are float64 in LANES lanes: value k of a row goes to lane k mod LANES, the row's
 * tail (S mod LANES values) to lane 0 as they come, and the lanes are added 0..3 from zero
 * at the end (bn_lanes_sums). Float32 values are widened before any arithmetic, and every
 * float64 operation is written in the order of the scalar formula beside it, so the
 * vector loops give the bits of that formula computed one value at a time. Vectors are 16
 * bytes (SSE2, the x86-64 baseline): lanes 0-1 in *_lo, 2-3 in *_hi. */
#ifndef AG_BATCH_NORM_ROWS_H
#define AG_BATCH_NORM_ROWS_H

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define BN_INLINE static inline __attribute__((always_inline))
#define LANES 4

typedef float bn_v2f __attribute__((vector_size(8)));
typedef float bn_v4f __attribute__((vector_size(16)));
typedef double bn_v2d __attribute__((vector_size(16)));

/* Two float64 sums of one channel in LANES lanes each. */
struct bn_lanes {
    bn_v2d a_lo, a_hi, b_lo, b_hi;
};
_Static_assert(LANES == 4, "bn_lanes holds 4 float64 lanes");

/* The float64 values of p[0..1] and p[2..3]. */
BN_INLINE void widen4(const float *p, bn_v2d *lo, bn_v2d *hi) {
#ifdef __SSE2__
    __m128 v = _mm_loadu_ps(p);
    *lo = (bn_v2d)_mm_cvtps_pd(v), *hi = (bn_v2d)_mm_cvtps_pd(_mm_movehl_ps(v, v));
#else
    bn_v2f a, b;
    memcpy(&a, p, sizeof a), memcpy(&b, p + 2, sizeof b);
    *lo = __builtin_convertvector(a, bn_v2d), *hi = __builtin_convertvector(b, bn_v2d);
#endif
}
/* p[0..3] = lo, hi rounded to float32 (as a (float) cast). */
BN_INLINE void narrow4(float *p, bn_v2d lo, bn_v2d hi) {
#ifdef __SSE2__
    _mm_storeu_ps(p, _mm_movelh_ps(_mm_cvtpd_ps((__m128d)lo), _mm_cvtpd_ps((__m128d)hi)));
#else
    bn_v2f a = __builtin_convertvector(lo, bn_v2f), b = __builtin_convertvector(hi, bn_v2f);
    memcpy(p, &a, sizeof a), memcpy(p + 2, &b, sizeof b);
#endif
}
BN_INLINE bn_v2d load2(const double *p) {
    bn_v2d v;
    memcpy(&v, p, sizeof v);
    return v;
}
BN_INLINE void store2(double *p, bn_v2d v) { memcpy(p, &v, sizeof v); }

/* sum of lanes a and of lanes b, lanes 0..3 added from zero. */
static inline void bn_lanes_sums(const struct bn_lanes *L, double *sa, double *sb) {
    *sa = (((0.0 + L->a_lo[0]) + L->a_lo[1]) + L->a_hi[0]) + L->a_hi[1];
    *sb = (((0.0 + L->b_lo[0]) + L->b_lo[1]) + L->b_hi[0]) + L->b_hi[1];
}

/* ------------------------------------------------------------------ statistics
 * a += v, b += v * v with v = x - K (K: the channel's first value, a shift that keeps
 * the one-pass variance accurate). */
BN_INLINE void lanes_stats(struct bn_lanes *L, bn_v2d x_lo, bn_v2d x_hi, double K) {
    bn_v2d v_lo = x_lo - K, v_hi = x_hi - K;
    L->a_lo += v_lo, L->a_hi += v_hi;
    L->b_lo += v_lo * v_lo, L->b_hi += v_hi * v_hi;
}
static inline void bn_row_stats_f32(const float *restrict x, int64_t S, double K,
                                    struct bn_lanes *L) {
    int64_t k = 0;
    for (; k + LANES <= S; k += LANES) {
        bn_v2d lo, hi;
        widen4(x + k, &lo, &hi);
        lanes_stats(L, lo, hi, K);
    }
    for (; k < S; k++) {
        double v = (double)x[k] - K;
        L->a_lo[0] += v, L->b_lo[0] += v * v;
    }
}
static inline void bn_row_stats_f64(const double *restrict x, int64_t S, double K,
                                    struct bn_lanes *L) {
    int64_t k = 0;
    for (; k + LANES <= S; k += LANES) lanes_stats(L, load2(x + k), load2(x + k + 2), K);
    for (; k < S; k++) {
        double v = x[k] - K;
        L->a_lo[0] += v, L->b_lo[0] += v * v;
    }
}

/* ------------------------------------------------------------------ gradient sums
 * a += g, b += g * (x - mean); the eval kernels also write dx = p * g (in g's dtype). */
BN_INLINE void lanes_grad(struct bn_lanes *L, bn_v2d g_lo, bn_v2d g_hi, bn_v2d x_lo, bn_v2d x_hi,
                          double mean) {
    L->a_lo += g_lo, L->a_hi += g_hi;
    L->b_lo += g_lo * (x_lo - mean), L->b_hi += g_hi * (x_hi - mean);
}
static inline void bn_row_grad_sums_f32(const float *restrict g, const float *restrict x, int64_t S,
                                        double mean, struct bn_lanes *L) {
    int64_t k = 0;
    for (; k + LANES <= S; k += LANES) {
        bn_v2d g_lo, g_hi, x_lo, x_hi;
        widen4(g + k, &g_lo, &g_hi), widen4(x + k, &x_lo, &x_hi);
        lanes_grad(L, g_lo, g_hi, x_lo, x_hi, mean);
    }
    for (; k < S; k++) {
        double gv = g[k];
        L->a_lo[0] += gv, L->b_lo[0] += gv * ((double)x[k] - mean);
    }
}
static inline void bn_row_grad_sums_f64(const double *restrict g, const double *restrict x,
                                        int64_t S, double mean, struct bn_lanes *L) {
    int64_t k = 0;
    for (; k + LANES <= S; k += LANES)
        lanes_grad(L, load2(g + k), load2(g + k + 2), load2(x + k), load2(x + k + 2), mean);
    for (; k < S; k++) L->a_lo[0] += g[k], L->b_lo[0] += g[k] * (x[k] - mean);
}
static inline void bn_row_eval_grad_f32(float *restrict dx, const float *restrict g,
                                        const float *restrict x, int64_t S, double mean, float p,
                                        struct bn_lanes *L) {
    int64_t k = 0;
    for (; k + LANES <= S; k += LANES) {
        bn_v4f gv;
        memcpy(&gv, g + k, sizeof gv);
        gv *= p;
        memcpy(dx + k, &gv, sizeof gv);
        bn_v2d g_lo, g_hi, x_lo, x_hi;
        widen4(g + k, &g_lo, &g_hi), widen4(x + k, &x_lo, &x_hi);
        lanes_grad(L, g_lo, g_hi, x_lo, x_hi, mean);
    }
    for (; k < S; k++) {
        double gv = g[k];
        dx[k] = p * g[k];
        L->a_lo[0] += gv, L->b_lo[0] += gv * ((double)x[k] - mean);
    }
}
static inline void bn_row_eval_grad_f64(double *restrict dx, const double *restrict g,
                                        const double *restrict x, int64_t S, double mean, double p,
                                        struct bn_lanes *L) {
    int64_t k = 0;
    for (; k + LANES <= S; k += LANES) {
        bn_v2d g_lo = load2(g + k), g_hi = load2(g + k + 2);
        store2(dx + k, g_lo * p), store2(dx + k + 2, g_hi * p);
        lanes_grad(L, g_lo, g_hi, load2(x + k), load2(x + k + 2), mean);
    }
    for (; k < S; k++) dx[k] = p * g[k], L->a_lo[0] += g[k], L->b_lo[0] += g[k] * (x[k] - mean);
}

/* ------------------------------------------------------------------ element-wise rows
 * affine: y = x * a + b in float64 (training: with a mean far from zero, a and b are large
 *   and opposite, and float32 arithmetic would cancel);
 * input_grad: dx = p * g + q * (x - mean) + r in float64 (training backward);
 * eval: y = (x - mean) * scale + shift in x's dtype (the running mean is a value of x's
 *   dtype, so x - mean is exact or rounded once);
 * scale: dx = p * g in g's dtype (eval backward without weight or bias gradients). */
static inline void bn_row_affine_f32(float *restrict y, const float *restrict x, int64_t S,
                                     double a, double b) {
    int64_t k = 0;
    for (; k + LANES <= S; k += LANES) {
        bn_v2d lo, hi;
        widen4(x + k, &lo, &hi);
        narrow4(y + k, lo * a + b, hi * a + b);
    }
    for (; k < S; k++) y[k] = (float)((double)x[k] * a + b);
}
static inline void bn_row_affine_f64(double *restrict y, const double *restrict x, int64_t S,
                                     double a, double b) {
#pragma omp simd
    for (int64_t k = 0; k < S; k++) y[k] = x[k] * a + b;
}
static inline void bn_row_input_grad_f32(float *restrict dx, const float *restrict g,
                                         const float *restrict x, int64_t S, double mean, double p,
                                         double q, double r) {
    int64_t k = 0;
    for (; k + LANES <= S; k += LANES) {
        bn_v2d g_lo, g_hi, x_lo, x_hi;
        widen4(g + k, &g_lo, &g_hi), widen4(x + k, &x_lo, &x_hi);
        narrow4(dx + k, p * g_lo + q * (x_lo - mean) + r, p * g_hi + q * (x_hi - mean) + r);
    }
    for (; k < S; k++) dx[k] = (float)(p * (double)g[k] + q * ((double)x[k] - mean) + r);
}
static inline void bn_row_input_grad_f64(double *restrict dx, const double *restrict g,
                                         const double *restrict x, int64_t S, double mean, double p,
                                         double q, double r) {
#pragma omp simd
    for (int64_t k = 0; k < S; k++) dx[k] = p * g[k] + q * (x[k] - mean) + r;
}
static inline void bn_row_eval_f32(float *restrict y, const float *restrict x, int64_t S,
                                   float mean, float scale, float shift) {
#pragma omp simd
    for (int64_t k = 0; k < S; k++) y[k] = (x[k] - mean) * scale + shift;
}
static inline void bn_row_eval_f64(double *restrict y, const double *restrict x, int64_t S,
                                   double mean, double scale, double shift) {
#pragma omp simd
    for (int64_t k = 0; k < S; k++) y[k] = (x[k] - mean) * scale + shift;
}
static inline void bn_row_scale_f32(float *restrict dx, const float *restrict g, int64_t S,
                                    float p) {
#pragma omp simd
    for (int64_t k = 0; k < S; k++) dx[k] = p * g[k];
}
static inline void bn_row_scale_f64(double *restrict dx, const double *restrict g, int64_t S,
                                    double p) {
#pragma omp simd
    for (int64_t k = 0; k < S; k++) dx[k] = p * g[k];
}

#endif
