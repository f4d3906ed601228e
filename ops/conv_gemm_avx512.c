/* Float32 GEMM micro-kernels for convolution, AVX-512 (compiled with the ISA flags; called
 * only when the CPU has AVX-512F, see ops/conv_gemm.h). A stop-gap until the shared
 * ops/kernels/gemm.h lands: the two layouts convolution needs, with a fixed summation
 * order (results do not depend on the thread count, which splits work outside).
 *   nn: C[M,N] (+)= A[M,K] * B[K,N]      rows of A, B, C contiguous (lda, ldb, ldc)
 *   nt: C[M,N] (+)= A[M,K] * B[N,K]^T    rows of A and B contiguous along K */
#include "ops/conv_gemm.h"

#include <immintrin.h>

static inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

/* One 4 x 64 tile of C (mr <= 4 rows, columns masked). */
static void tile_nn(int64_t mr, int64_t w, int64_t K, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float *C, int64_t ldc, bool acc) {
    __mmask16 m[4];
    for (int v = 0; v < 4; v++) m[v] = w > 16 * v ? tail_mask(w - 16 * v) : 0;
    const float *a[4];
    for (int i = 0; i < 4; i++) a[i] = A + (i < mr ? i : mr - 1) * lda;
    __m512 c[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            c[i][v] = acc && i < mr ? _mm512_maskz_loadu_ps(m[v], C + i * ldc + 16 * v)
                                    : _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        const float *b = B + k * ldb;
        __m512 bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) bv[v] = _mm512_maskz_loadu_ps(m[v], b + 16 * v);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            __m512 av = _mm512_set1_ps(a[i][k]);
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) c[i][v] = _mm512_fmadd_ps(av, bv[v], c[i][v]);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < 4; v++)
            if (m[v]) _mm512_mask_storeu_ps(C + i * ldc + 16 * v, m[v], c[i][v]);
}

void ag__conv_gemm_nn_f32_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, bool acc) {
    for (int64_t j = 0; j < N; j += 64) {
        int64_t w = N - j < 64 ? N - j : 64;
        for (int64_t i = 0; i < M; i += 4)
            tile_nn(M - i < 4 ? M - i : 4, w, K, A + i * lda, lda, B + j, ldb, C + i * ldc + j,
                    ldc, acc);
    }
}

/* A 4 x 4 block of dot products along K. */
static void tile_nt(int64_t mr, int64_t nr, int64_t K, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float *C, int64_t ldc, bool acc) {
    const float *a[4], *b[4];
    for (int i = 0; i < 4; i++) {
        a[i] = A + (i < mr ? i : mr - 1) * lda;
        b[i] = B + (i < nr ? i : nr - 1) * ldb;
    }
    __m512 c[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) c[i][j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 16) {
        __mmask16 m = tail_mask(K - k);
        __m512 av[4], bv[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            av[i] = _mm512_maskz_loadu_ps(m, a[i] + k);
            bv[i] = _mm512_maskz_loadu_ps(m, b[i] + k);
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) c[i][j] = _mm512_fmadd_ps(av[i], bv[j], c[i][j]);
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float s = _mm512_reduce_add_ps(c[i][j]);
            C[i * ldc + j] = acc ? C[i * ldc + j] + s : s;
        }
}

void ag__conv_gemm_nt_f32_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, bool acc) {
    for (int64_t i = 0; i < M; i += 4)
        for (int64_t j = 0; j < N; j += 4)
            tile_nt(M - i < 4 ? M - i : 4, N - j < 4 ? N - j : 4, K, A + i * lda, lda,
                    B + j * ldb, ldb, C + i * ldc + j, ldc, acc);
}
