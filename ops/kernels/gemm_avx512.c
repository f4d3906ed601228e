/* gemm_avx512.c — AVX-512 GEMM micro-kernels (see the contract in gemm.h).
 *
 * f32: MR=14 rows x NR=32 columns (2 zmm per row): 28 accumulators + 2 B vectors +
 *      1 broadcast = 31 of the 32 zmm registers.  Per k: 2 aligned B loads,
 *      14 broadcasts (folded into the FMAs), 28 FMAs.
 * f64: MR=14 x NR=16, same register layout with 8 doubles per zmm.
 * C is row-major in the common case (csc == 1): full tiles are written with vector
 * loads/stores; partial tiles and other strides go through a small temp tile with the
 * very same rounding (alpha*acc, then one fma with beta*C). */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "ops/kernels/gemm.h"
#include "ops/kernels/gemm_merge.h"

/* A is read through strides (ars, acs): packed panels pass (1, MR), row-major A read
 * in place passes (rsa, 1).  Row i lives at p[i/3][(i%3)*ars] so the 14 rows need only
 * five pointers ([p + ars*4], [p + ars*8] are plain x86 addressing modes). */
#define A_ROWS_SETUP()                                                                          \
    const __typeof__(*Ap) *p0 = Ap, *p1 = Ap + 3 * ars, *p2 = Ap + 6 * ars, *p3 = Ap + 9 * ars, \
                          *p4 = Ap + 12 * ars
#define A_ROW(i) ((i) < 3 ? p0 : (i) < 6 ? p1 : (i) < 9 ? p2 : (i) < 12 ? p3 : p4)[((i) % 3) * ars]
#define A_ROWS_STEP() (p0 += acs, p1 += acs, p2 += acs, p3 += acs, p4 += acs)

#define MR_S 14
#define NR_S 32
#define MR_D 14
#define NR_D 16

/* Transpose the 16x16 block r[0..15] (rows) in registers. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++)
        for (int h = 0; h < 2; h++) {
            __m512d a = _mm512_castps_pd(t[4 * i + h]), b = _mm512_castps_pd(t[4 * i + h + 2]);
            r[4 * i + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            r[4 * i + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    /* r[4i+q] now holds, in each 128-bit lane l, column q of rows 4i..4i+3 of lane l. */
    for (int i = 0; i < 2; i++)
        for (int q = 0; q < 4; q++) {
            __m512 a = r[8 * i + q], b = r[8 * i + 4 + q];
            t[8 * i + q] = _mm512_shuffle_f32x4(a, b, 0x88);     /* lanes 0,2 | 0,2 */
            t[8 * i + 4 + q] = _mm512_shuffle_f32x4(a, b, 0xdd); /* lanes 1,3 | 1,3 */
        }
    for (int q = 0; q < 4; q++)
        for (int h = 0; h < 2; h++) {
            __m512 a = t[4 * h + q], b = t[8 + 4 * h + q];
            r[q + 4 * h] = _mm512_shuffle_f32x4(a, b, 0x88);     /* column 4h+q */
            r[q + 8 + 4 * h] = _mm512_shuffle_f32x4(a, b, 0xdd); /* column 8+4h+q */
        }
}

/* Column-major C (rsc == 1): load 16 columns of the tile t (already alpha*acc, row i
 * at t[i*NR_S]) and transpose them in registers so each of the nq columns is one
 * masked vector of m rows, then the same rounding as gemm_merge_f32. */
static void store_cols_f32(const float *t, float beta, float *C, int64_t csc, int m, int nq) {
    __mmask16 km = (__mmask16)((1u << m) - 1);
    __m512 r[16], vb = _mm512_set1_ps(beta);
    for (int i = 0; i < 16; i++)
        r[i] = i < MR_S ? _mm512_load_ps(t + i * NR_S) : _mm512_setzero_ps();
    transpose16(r);
    nq = nq < 16 ? nq : 16;
    for (int q = 0; q < nq; q++) {
        float *c = C + q * csc;
        __m512 v = r[q];
        if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(km, c), v);
        _mm512_mask_storeu_ps(c, km, v);
    }
}

/* The K loop for the first `mr` rows (a constant after inlining, so each row count
 * gets its own fully unrolled loop): rows past m are neither read nor computed. */
static inline __attribute__((always_inline)) void
kloop_f32(const int mr, const int narrow, int64_t K, const float *restrict Ap, int64_t ars,
          int64_t acs, const float *restrict Bp, int64_t bks, __m512 *c0, __m512 *c1) {
    A_ROWS_SETUP();
    if (narrow) { /* narrow panel (small N): skip the all-zero half */
        for (int64_t k = 0; k < K; k++, A_ROWS_STEP(), Bp += bks) {
            __m512 b0 = _mm512_loadu_ps(Bp);
#pragma GCC unroll 16
            for (int i = 0; i < mr; i++)
                c0[i] = _mm512_fmadd_ps(_mm512_set1_ps(A_ROW(i)), b0, c0[i]);
        }
    } else {
        for (int64_t k = 0; k < K; k++, A_ROWS_STEP(), Bp += bks) {
            __m512 b0 = _mm512_loadu_ps(Bp);
            __m512 b1 = _mm512_loadu_ps(Bp + 16);
#pragma GCC unroll 16
            for (int i = 0; i < mr; i++) {
                __m512 a = _mm512_set1_ps(A_ROW(i));
                c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
                c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
            }
        }
    }
}

/* Reads only rows i < m of A (cfg.a_exact): a short last panel of an in-place A needs
 * no packing, and costs m/MR of a full one. */
static void ukr_f32(int64_t K, float alpha, const float *restrict Ap, int64_t ars, int64_t acs,
                    const float *restrict Bp, int64_t bks, float beta, float *C, int64_t rsc,
                    int64_t csc, int m, int n) {
    __m512 c0[MR_S], c1[MR_S];
#pragma GCC unroll 16
    for (int i = 0; i < MR_S; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    if (csc == 1) /* C rows arrive while the K loop runs (large C misses) */
        for (int i = 0; i < m; i++) {
            _mm_prefetch((const char *)(C + i * rsc), _MM_HINT_T0);
            _mm_prefetch((const char *)(C + i * rsc + n - 1), _MM_HINT_T0);
        }
    switch (m) {
#define KL(MV)                                                           \
    case MV:                                                             \
        if (n <= 16) kloop_f32(MV, 1, K, Ap, ars, acs, Bp, bks, c0, c1); \
        else kloop_f32(MV, 0, K, Ap, ars, acs, Bp, bks, c0, c1);         \
        break;
        KL(1)
        KL(2) KL(3) KL(4) KL(5) KL(6) KL(7) KL(8) KL(9) KL(10) KL(11) KL(12) KL(13) default : KL(14)
#undef KL
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (csc == 1 && (m < MR_S || n < NR_S)) { /* row-major partial tile: masks */
        __mmask16 k0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
        __mmask16 k1 = n >= NR_S ? (__mmask16)0xFFFF
                       : n > 16  ? (__mmask16)((1u << (n - 16)) - 1)
                                 : 0;
        for (int i = 0; i < m; i++) {
            float *c = C + i * rsc;
            __m512 t0 = _mm512_mul_ps(va, c0[i]), t1 = _mm512_mul_ps(va, c1[i]);
            if (beta != 0.0f) {
                t0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, c), t0);
                t1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, c + 16), t1);
            }
            _mm512_mask_storeu_ps(c, k0, t0);
            _mm512_mask_storeu_ps(c + 16, k1, t1);
        }
        return;
    }
    if (m == MR_S && n == NR_S && csc == 1) {
#pragma GCC unroll 16
        for (int i = 0; i < MR_S; i++) {
            float *c = C + i * rsc;
            __m512 t0 = _mm512_mul_ps(va, c0[i]), t1 = _mm512_mul_ps(va, c1[i]);
            if (beta != 0.0f) {
                t0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c), t0);
                t1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + 16), t1);
            }
            _mm512_storeu_ps(c, t0);
            _mm512_storeu_ps(c + 16, t1);
        }
        return;
    }
    float t[MR_S * NR_S] __attribute__((aligned(64)));
#pragma GCC unroll 16
    for (int i = 0; i < MR_S; i++) {
        _mm512_store_ps(t + i * NR_S, _mm512_mul_ps(va, c0[i]));
        _mm512_store_ps(t + i * NR_S + 16, _mm512_mul_ps(va, c1[i]));
    }
    if (rsc == 1) { /* column-major C (the swapped small-N product) */
        store_cols_f32(t, beta, C, csc, m, n);
        if (n > 16) store_cols_f32(t + 16, beta, C + 16 * csc, csc, m, n - 16);
        return;
    }
    gemm_merge_f32(t, NR_S, beta, C, rsc, csc, m, n);
}

static void ukr_f64(int64_t K, double alpha, const double *restrict Ap, int64_t ars, int64_t acs,
                    const double *restrict Bp, int64_t bks, double beta, double *C, int64_t rsc,
                    int64_t csc, int m, int n) {
    __m512d c0[MR_D], c1[MR_D];
#pragma GCC unroll 16
    for (int i = 0; i < MR_D; i++) c0[i] = c1[i] = _mm512_setzero_pd();
    A_ROWS_SETUP();
    if (n <= 8) { /* narrow panel (small N): skip the all-zero half */
        for (int64_t k = 0; k < K; k++, A_ROWS_STEP(), Bp += bks) {
            __m512d b0 = _mm512_load_pd(Bp);
#pragma GCC unroll 16
            for (int i = 0; i < MR_D; i++)
                c0[i] = _mm512_fmadd_pd(_mm512_set1_pd(A_ROW(i)), b0, c0[i]);
        }
    } else {
        for (int64_t k = 0; k < K; k++, A_ROWS_STEP(), Bp += bks) {
            __m512d b0 = _mm512_load_pd(Bp), b1 = _mm512_load_pd(Bp + 8);
#pragma GCC unroll 16
            for (int i = 0; i < MR_D; i++) {
                __m512d a = _mm512_set1_pd(A_ROW(i));
                c0[i] = _mm512_fmadd_pd(a, b0, c0[i]);
                c1[i] = _mm512_fmadd_pd(a, b1, c1[i]);
            }
        }
    }
    __m512d va = _mm512_set1_pd(alpha), vb = _mm512_set1_pd(beta);
    if (csc == 1 && (m < MR_D || n < NR_D)) { /* row-major partial tile: masks */
        __mmask8 k0 = n >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << n) - 1);
        __mmask8 k1 = n >= NR_D ? (__mmask8)0xFF : n > 8 ? (__mmask8)((1u << (n - 8)) - 1) : 0;
        for (int i = 0; i < m; i++) {
            double *c = C + i * rsc;
            __m512d t0 = _mm512_mul_pd(va, c0[i]), t1 = _mm512_mul_pd(va, c1[i]);
            if (beta != 0.0) {
                t0 = _mm512_fmadd_pd(vb, _mm512_maskz_loadu_pd(k0, c), t0);
                t1 = _mm512_fmadd_pd(vb, _mm512_maskz_loadu_pd(k1, c + 8), t1);
            }
            _mm512_mask_storeu_pd(c, k0, t0);
            _mm512_mask_storeu_pd(c + 8, k1, t1);
        }
        return;
    }
    if (m == MR_D && n == NR_D && csc == 1) {
#pragma GCC unroll 16
        for (int i = 0; i < MR_D; i++) {
            double *c = C + i * rsc;
            __m512d t0 = _mm512_mul_pd(va, c0[i]), t1 = _mm512_mul_pd(va, c1[i]);
            if (beta != 0.0) {
                t0 = _mm512_fmadd_pd(vb, _mm512_loadu_pd(c), t0);
                t1 = _mm512_fmadd_pd(vb, _mm512_loadu_pd(c + 8), t1);
            }
            _mm512_storeu_pd(c, t0);
            _mm512_storeu_pd(c + 8, t1);
        }
        return;
    }
    double t[MR_D * NR_D] __attribute__((aligned(64)));
#pragma GCC unroll 16
    for (int i = 0; i < MR_D; i++) {
        _mm512_store_pd(t + i * NR_D, _mm512_mul_pd(va, c0[i]));
        _mm512_store_pd(t + i * NR_D + 8, _mm512_mul_pd(va, c1[i]));
    }
    gemm_merge_f64(t, NR_D, beta, C, rsc, csc, m, n);
}

/* Pack a kc x nc block of B into 32-column panels.  Row-major B: masked vector copies
 * of each k row.  Column-major B (the Bᵀ view of G·Bᵀ, rsb == 1): 16 columns x 16 k
 * are read as 16 contiguous vectors and transposed in registers; edges go scalar. */
static void pack_b_f32(int64_t kc, int64_t nc, const float *B, int64_t rsb, int64_t csb,
                       float *restrict Bp) {
    for (int64_t j0 = 0; j0 < nc; j0 += NR_S, Bp += NR_S * kc) {
        int n = nc - j0 < NR_S ? (int)(nc - j0) : NR_S;
        const float *b = B + j0 * csb;
        if (csb == 1) {
            __mmask16 k0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
            __mmask16 k1 = n >= 32  ? (__mmask16)0xFFFF
                           : n > 16 ? (__mmask16)((1u << (n - 16)) - 1)
                                    : 0;
            for (int64_t k = 0; k < kc; k++) {
                _mm512_store_ps(Bp + k * NR_S, _mm512_maskz_loadu_ps(k0, b + k * rsb));
                _mm512_store_ps(Bp + k * NR_S + 16, _mm512_maskz_loadu_ps(k1, b + k * rsb + 16));
            }
            continue;
        }
        int64_t k = 0;
        if (rsb == 1)
            for (; k + 16 <= kc; k += 16)
                for (int h = 0; h < 2; h++) {
                    __m512 r[16];
                    for (int j = 0; j < 16; j++)
                        r[j] = 16 * h + j < n ? _mm512_loadu_ps(b + (16 * h + j) * csb + k)
                                              : _mm512_setzero_ps();
                    transpose16(r);
                    for (int q = 0; q < 16; q++)
                        _mm512_store_ps(Bp + (k + q) * NR_S + 16 * h, r[q]);
                }
        for (; k < kc; k++) {
            float *dst = Bp + k * NR_S;
            for (int j = 0; j < NR_S; j++) dst[j] = j < n ? b[k * rsb + j * csb] : 0.0f;
        }
    }
}

/* Blocking (elements).  KC*NR*4 B bytes of the micro-panel sit in the 48 KiB L1D,
 * MC*KC of packed A in the L2, KC*NC of packed B in the L3. */
const ag__gemm_cfg_f32 ag__gemm_avx512_f32 = {ukr_f32, MR_S,       NR_S, 256, 168,
                                              4096,    pack_b_f32, 1,    1,   1};
const ag__gemm_cfg_f64 ag__gemm_avx512_f64 = {ukr_f64, MR_D, NR_D, 256, 112, 2048, NULL, 0, 0, 0};
