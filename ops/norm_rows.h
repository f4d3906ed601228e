/* Internal: row kernels shared by layer_norm (ops/layer_norm.c) and group_norm
 * (ops/group_norm.c). A row is M contiguous elements normalized together. */
#ifndef AG_NORM_ROWS_H
#define AG_NORM_ROWS_H

#include "ops/ops.h"
#include "runtime/cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LN_LANES 8
/* Row kernels are inlined into their callers, and the callers' loops are compiled twice:
 * for the baseline and for AVX2 (LN_AVX2), the AVX2 copy chosen at run time (ln_avx2).
 * Both run the same operations in the same order (no FMA contraction in ISO C mode), so
 * they give the same bits. (Not target_clones: its ifunc resolver runs before a
 * sanitizer's runtime is up.) */
#define LN_INLINE static inline __attribute__((always_inline))
#define LN_AVX2 __attribute__((target("avx2")))
/* Whether to run the AVX2 copies: the CPU has AVX2 and AG_ISA does not ask for scalar. */
static inline bool ln_avx2(void) {
    return ag__cpu_has(AG_ISA_AVX2) && ag__isa_from_name(getenv("AG_ISA")) != AG_ISA_SCALAR;
}
/* GCC vector types (16 bytes: SSE2, the baseline) for sums that stay in registers. */
typedef float ln_v4f __attribute__((vector_size(16)));
typedef double ln_v2d __attribute__((vector_size(16)));

/* ------------------------------------------------------------------ row kernels
 * ln_stats: mean and 1/sqrt(biased var + eps) of one row, two passes over the row (it is
 *   in L1 by then), LN_LANES partial sums plus a tail sum, combined in a fixed order.
 * ln_forward: y = (x - mean) * rstd * w + b (w, b may be NULL).
 * ln_dx: dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = g * w; in two steps
 *   ln_dx_sums (the two means, summed in 16-byte vector lanes then a tail, in a fixed
 *   order) and ln_dx_out, so callers can interleave rows.
 * Loops run in blocks of LN_LANES with a fixed inner trip count (gcc -O2 vectorizes those)
 * and a scalar tail. */
#define LN_TREE(a) (((a)[0] + (a)[1]) + ((a)[2] + (a)[3])) + (((a)[4] + (a)[5]) + ((a)[6] + (a)[7]))
#define LN_BLOCKS(j, M, body)                \
    for (; j + LN_LANES <= M; j += LN_LANES) \
        for (int l = 0; l < LN_LANES; l++) { \
            int64_t k = j + l;               \
            body;                            \
        }                                    \
    for (int64_t k = j; k < M; k++) {        \
        body;                                \
    }
#define DEF_LN_ROWS(T, A, VT, VL, stats_name, fwd_name, dx_sums_name, dx_out_name, dx_name)     \
    LN_INLINE void stats_name(const T *restrict x, int64_t M, double eps, T *mean, T *rstd) {   \
        A acc[LN_LANES] = {0}, sq[LN_LANES] = {0}, t = 0, tq = 0;                               \
        int64_t j = 0;                                                                          \
        for (; j + LN_LANES <= M; j += LN_LANES)                                                \
            for (int l = 0; l < LN_LANES; l++) acc[l] += x[j + l];                              \
        for (int64_t k = j; k < M; k++) t += x[k];                                              \
        A mu = M ? (LN_TREE(acc) + t) / (A)M : 0;                                               \
        for (j = 0; j + LN_LANES <= M; j += LN_LANES)                                           \
            for (int l = 0; l < LN_LANES; l++) sq[l] += (x[j + l] - mu) * (x[j + l] - mu);      \
        for (int64_t k = j; k < M; k++) tq += (x[k] - mu) * (x[k] - mu);                        \
        A q = LN_TREE(sq) + tq;                                                                 \
        *mean = (T)mu;                                                                          \
        *rstd = (T)(1.0 / sqrt((M ? (double)q / (double)M : 0.0) + eps));                       \
    }                                                                                           \
    LN_INLINE void fwd_name(T *restrict y, const T *restrict x, int64_t M, T mean, T rstd,      \
                            const T *restrict w, const T *restrict b) {                         \
        int64_t j = 0;                                                                          \
        if (w && b) {                                                                           \
            LN_BLOCKS(j, M, y[k] = (x[k] - mean) * rstd * w[k] + b[k])                          \
        } else if (w) {                                                                         \
            LN_BLOCKS(j, M, y[k] = (x[k] - mean) * rstd * w[k])                                 \
        } else if (b) {                                                                         \
            LN_BLOCKS(j, M, y[k] = (x[k] - mean) * rstd + b[k])                                 \
        } else {                                                                                \
            LN_BLOCKS(j, M, y[k] = (x[k] - mean) * rstd)                                        \
        }                                                                                       \
    }                                                                                           \
    LN_INLINE void dx_sums_name(const T *restrict g, const T *restrict x, int64_t M, T mean,    \
                                T rstd, const T *restrict w, T *m1, T *m2) {                    \
        VT s1 = {0}, s2 = {0};                                                                  \
        int64_t j = 0;                                                                          \
        for (; j + VL <= M; j += VL) {                                                          \
            VT gv, xv, wv;                                                                      \
            memcpy(&gv, g + j, sizeof gv);                                                      \
            memcpy(&xv, x + j, sizeof xv);                                                      \
            if (w) memcpy(&wv, w + j, sizeof wv), gv *= wv;                                     \
            s1 += gv;                                                                           \
            s2 += gv * ((xv - mean) * rstd);                                                    \
        }                                                                                       \
        A t1 = 0, t2 = 0;                                                                       \
        for (int l = 0; l < VL; l++) t1 += s1[l], t2 += s2[l];                                  \
        for (; j < M; j++) {                                                                    \
            A gw = w ? g[j] * w[j] : g[j];                                                      \
            t1 += gw;                                                                           \
            t2 += gw * ((x[j] - mean) * rstd);                                                  \
        }                                                                                       \
        *m1 = (T)(t1 / (A)M), *m2 = (T)(t2 / (A)M);                                             \
    }                                                                                           \
    LN_INLINE void dx_out_name(T *restrict dx, const T *restrict g, const T *restrict x,        \
                               int64_t M, T mean, T rstd, const T *restrict w, T m1, T m2) {    \
        int64_t j = 0;                                                                          \
        if (w) {                                                                                \
            LN_BLOCKS(j, M, dx[k] = rstd * (g[k] * w[k] - m1 - (x[k] - mean) * rstd * m2))      \
        } else {                                                                                \
            LN_BLOCKS(j, M, dx[k] = rstd * (g[k] - m1 - (x[k] - mean) * rstd * m2))             \
        }                                                                                       \
    }                                                                                           \
    LN_INLINE void dx_name(T *restrict dx, const T *restrict g, const T *restrict x, int64_t M, \
                           T mean, T rstd, const T *restrict w) {                               \
        T m1, m2;                                                                               \
        dx_sums_name(g, x, M, mean, rstd, w, &m1, &m2);                                         \
        dx_out_name(dx, g, x, M, mean, rstd, w, m1, m2);                                        \
    }
DEF_LN_ROWS(float, float, ln_v4f, 4, ln_stats_f32, ln_forward_f32, ln_dx_sums_f32, ln_dx_out_f32,
            ln_dx_f32)
DEF_LN_ROWS(double, double, ln_v2d, 2, ln_stats_f64, ln_forward_f64, ln_dx_sums_f64, ln_dx_out_f64,
            ln_dx_f64)

#endif
