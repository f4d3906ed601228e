/* gemm_avx2.c — AVX2+FMA GEMM micro-kernels (see the contract in gemm.h).
 *
 * f32: MR=6 rows x NR=16 columns (2 ymm per row): 12 accumulators + 2 B vectors +
 *      1 broadcast of the 16 ymm registers (the classic Haswell shape).
 * f64: MR=6 x NR=8, same layout with 4 doubles per ymm.
 * Full tiles with csc == 1 are written with vector loads/stores; partial tiles and other
 * strides go through a temp tile with the very same rounding (alpha*acc, then one fma
 * with beta*C). */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "ops/kernels/gemm.h"
#include "ops/kernels/gemm_merge.h"

#define MR_S 6
#define NR_S 16
#define MR_D 6
#define NR_D 8

static void ukr_f32(int64_t K, float alpha, const float *restrict Ap, int64_t ars, int64_t acs,
                    const float *restrict Bp, int64_t bks, float beta, float *C, int64_t rsc,
                    int64_t csc, int m, int n) {
    __m256 c0[MR_S], c1[MR_S];
#pragma GCC unroll 8
    for (int i = 0; i < MR_S; i++) c0[i] = c1[i] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
#pragma GCC unroll 8
        for (int i = 0; i < MR_S; i++) {
            __m256 a = _mm256_broadcast_ss(Ap + i * ars);
            c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
        }
        Ap += acs;
        Bp += bks;
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (m == MR_S && n == NR_S && csc == 1) {
#pragma GCC unroll 8
        for (int i = 0; i < MR_S; i++) {
            float *c = C + i * rsc;
            __m256 t0 = _mm256_mul_ps(va, c0[i]), t1 = _mm256_mul_ps(va, c1[i]);
            if (beta != 0.0f) {
                t0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), t0);
                t1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), t1);
            }
            _mm256_storeu_ps(c, t0);
            _mm256_storeu_ps(c + 8, t1);
        }
        return;
    }
    float t[MR_S * NR_S] __attribute__((aligned(32)));
#pragma GCC unroll 8
    for (int i = 0; i < MR_S; i++) {
        _mm256_store_ps(t + i * NR_S, _mm256_mul_ps(va, c0[i]));
        _mm256_store_ps(t + i * NR_S + 8, _mm256_mul_ps(va, c1[i]));
    }
    gemm_merge_f32(t, NR_S, beta, C, rsc, csc, m, n);
}

static void ukr_f64(int64_t K, double alpha, const double *restrict Ap, int64_t ars, int64_t acs,
                    const double *restrict Bp, int64_t bks, double beta, double *C, int64_t rsc,
                    int64_t csc, int m, int n) {
    __m256d c0[MR_D], c1[MR_D];
#pragma GCC unroll 8
    for (int i = 0; i < MR_D; i++) c0[i] = c1[i] = _mm256_setzero_pd();
    for (int64_t k = 0; k < K; k++) {
        __m256d b0 = _mm256_load_pd(Bp), b1 = _mm256_load_pd(Bp + 4);
#pragma GCC unroll 8
        for (int i = 0; i < MR_D; i++) {
            __m256d a = _mm256_broadcast_sd(Ap + i * ars);
            c0[i] = _mm256_fmadd_pd(a, b0, c0[i]);
            c1[i] = _mm256_fmadd_pd(a, b1, c1[i]);
        }
        Ap += acs;
        Bp += bks;
    }
    __m256d va = _mm256_set1_pd(alpha), vb = _mm256_set1_pd(beta);
    if (m == MR_D && n == NR_D && csc == 1) {
#pragma GCC unroll 8
        for (int i = 0; i < MR_D; i++) {
            double *c = C + i * rsc;
            __m256d t0 = _mm256_mul_pd(va, c0[i]), t1 = _mm256_mul_pd(va, c1[i]);
            if (beta != 0.0) {
                t0 = _mm256_fmadd_pd(vb, _mm256_loadu_pd(c), t0);
                t1 = _mm256_fmadd_pd(vb, _mm256_loadu_pd(c + 4), t1);
            }
            _mm256_storeu_pd(c, t0);
            _mm256_storeu_pd(c + 4, t1);
        }
        return;
    }
    double t[MR_D * NR_D] __attribute__((aligned(32)));
#pragma GCC unroll 8
    for (int i = 0; i < MR_D; i++) {
        _mm256_store_pd(t + i * NR_D, _mm256_mul_pd(va, c0[i]));
        _mm256_store_pd(t + i * NR_D + 4, _mm256_mul_pd(va, c1[i]));
    }
    gemm_merge_f64(t, NR_D, beta, C, rsc, csc, m, n);
}

/* Blocking (elements): B micro-panel KC*NR in L1, packed A MC*KC in L2. */
const ag__gemm_cfg_f32 ag__gemm_avx2_f32 = {ukr_f32, MR_S, NR_S, 256, 120, 4096, NULL, 0, 0, 0};
const ag__gemm_cfg_f64 ag__gemm_avx2_f64 = {ukr_f64, MR_D, NR_D, 256, 96, 2048, NULL, 0, 0, 0};
