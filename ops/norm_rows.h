/* Internal: row kernels shared by layer_norm (ops/layer_norm.c) and group_norm
 * (ops/group_norm.c). A row is M contiguous elements normalized together. */
#ifndef AG_NORM_ROWS_H
#define AG_NORM_ROWS_H

#include "ops/ops.h"

#include <math.h>

#define LN_LANES 8

/* ------------------------------------------------------------------ row kernels
 * ln_row_stats: mean and 1/sqrt(biased var + eps) of one row, two passes over the row
 * (it is in L1 by then), LN_LANES partial sums combined in a fixed order.
 * ln_row_forward: y = (x - mean) * rstd * w + b (w, b may be NULL).
 * ln_row_dx: dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = g * w. */
#define DEF_LN_ROWS(T, A, stats_name, fwd_name, dx_name)                                  \
    static inline void stats_name(const T *restrict x, int64_t M, double eps, T *mean, T *rstd) { \
        A acc[LN_LANES] = {0}, sq[LN_LANES] = {0};                                          \
        int64_t j = 0;                                                                      \
        for (; j + LN_LANES <= M; j += LN_LANES)                                            \
            for (int l = 0; l < LN_LANES; l++) acc[l] += x[j + l];                          \
        for (int l = 0; j < M; j++, l++) acc[l] += x[j];                                    \
        A s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])); \
        A mu = M ? s / (A)M : 0;                                                            \
        for (j = 0; j + LN_LANES <= M; j += LN_LANES)                                       \
            for (int l = 0; l < LN_LANES; l++) {                                            \
                A d = x[j + l] - mu;                                                        \
                sq[l] += d * d;                                                             \
            }                                                                               \
        for (int l = 0; j < M; j++, l++) {                                                  \
            A d = x[j] - mu;                                                                \
            sq[l] += d * d;                                                                 \
        }                                                                                   \
        A q = ((sq[0] + sq[1]) + (sq[2] + sq[3])) + ((sq[4] + sq[5]) + (sq[6] + sq[7]));    \
        *mean = (T)mu;                                                                      \
        *rstd = (T)(1.0 / sqrt((M ? (double)q / (double)M : 0.0) + eps));                    \
    }                                                                                       \
    static inline void fwd_name(T *restrict y, const T *restrict x, int64_t M, T mean, T rstd,     \
                         const T *restrict w, const T *restrict b) {                        \
        if (w && b)                                                                         \
            for (int64_t j = 0; j < M; j++) y[j] = (x[j] - mean) * rstd * w[j] + b[j];      \
        else if (w)                                                                         \
            for (int64_t j = 0; j < M; j++) y[j] = (x[j] - mean) * rstd * w[j];             \
        else if (b)                                                                         \
            for (int64_t j = 0; j < M; j++) y[j] = (x[j] - mean) * rstd + b[j];             \
        else                                                                                \
            for (int64_t j = 0; j < M; j++) y[j] = (x[j] - mean) * rstd;                    \
    }                                                                                       \
    static inline void dx_name(T *restrict dx, const T *restrict g, const T *restrict x, int64_t M, \
                        T mean, T rstd, const T *restrict w) {                              \
        A s1[LN_LANES] = {0}, s2[LN_LANES] = {0};                                           \
        int64_t j = 0;                                                                      \
        for (; j + LN_LANES <= M; j += LN_LANES)                                            \
            for (int l = 0; l < LN_LANES; l++) {                                            \
                A gw = w ? g[j + l] * w[j + l] : g[j + l];                                  \
                s1[l] += gw;                                                                \
                s2[l] += gw * ((x[j + l] - mean) * rstd);                                   \
            }                                                                               \
        for (int l = 0; j < M; j++, l++) {                                                  \
            A gw = w ? g[j] * w[j] : g[j];                                                  \
            s1[l] += gw;                                                                    \
            s2[l] += gw * ((x[j] - mean) * rstd);                                           \
        }                                                                                   \
        A a1 = ((s1[0] + s1[1]) + (s1[2] + s1[3])) + ((s1[4] + s1[5]) + (s1[6] + s1[7]));   \
        A a2 = ((s2[0] + s2[1]) + (s2[2] + s2[3])) + ((s2[4] + s2[5]) + (s2[6] + s2[7]));   \
        T m1 = (T)(a1 / (A)M), m2 = (T)(a2 / (A)M);                                         \
        if (w)                                                                              \
            for (j = 0; j < M; j++)                                                         \
                dx[j] = rstd * (g[j] * w[j] - m1 - (x[j] - mean) * rstd * m2);              \
        else                                                                                \
            for (j = 0; j < M; j++) dx[j] = rstd * (g[j] - m1 - (x[j] - mean) * rstd * m2); \
    }
DEF_LN_ROWS(float, float, ln_stats_f32, ln_forward_f32, ln_dx_f32)
DEF_LN_ROWS(double, double, ln_stats_f64, ln_forward_f64, ln_dx_f64)

#endif
