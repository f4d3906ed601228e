/* Portable GEMM loops for convolution and the run-time choice of the AVX-512 kernels.
 * See ops/conv_gemm.h. */
#include "ops/conv_gemm.h"
#include "ops/kernels/gemm.h"

#include <stdlib.h>

bool ag__conv_gemm_portable;

static bool use_avx512(void) {
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return have && !ag__conv_gemm_portable;
}

/* Portable kernels: i-k-j order so the inner loop runs along contiguous rows. */
#define GEMM_NN(T, A, lda, B, ldb, C, ldc)                                         \
    for (int64_t i = 0; i < M; i++) {                                              \
        T *c = C + i * ldc;                                                        \
        if (!acc)                                                                  \
            for (int64_t j = 0; j < N; j++) c[j] = 0;                              \
        for (int64_t k = 0; k < K; k++) {                                          \
            T a = A[i * lda + k];                                                  \
            const T *b = B + k * ldb;                                              \
            for (int64_t j = 0; j < N; j++) c[j] += a * b[j];                      \
        }                                                                          \
    }
#define GEMM_NT(T, A, lda, B, ldb, C, ldc)                                         \
    for (int64_t i = 0; i < M; i++)                                                \
        for (int64_t j = 0; j < N; j++) {                                          \
            const T *a = A + i * lda, *b = B + j * ldb;                            \
            T s = 0;                                                               \
            for (int64_t k = 0; k < K; k++) s += a[k] * b[k];                      \
            C[i * ldc + j] = acc ? C[i * ldc + j] + s : s;                         \
        }

void ag__conv_gemm_nn_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float *C, int64_t ldc, bool acc) {
    if (use_avx512() && getenv("AG_CONV_LOCAL")) {
        ag__conv_gemm_nn_f32_avx512(M, N, K, A, lda, B, ldb, C, ldc, acc);
        return;
    }
    if (!ag__conv_gemm_portable) {
        ag__gemm_f32(M, N, K, 1.0f, A, lda, 1, B, ldb, 1, acc ? 1.0f : 0.0f, C, ldc, 1);
        return;
    }
    GEMM_NN(float, A, lda, B, ldb, C, ldc)
}
void ag__conv_gemm_nt_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float *C, int64_t ldc, bool acc) {
    if (use_avx512() && getenv("AG_CONV_LOCAL")) {
        ag__conv_gemm_nt_f32_avx512(M, N, K, A, lda, B, ldb, C, ldc, acc);
        return;
    }
    if (!ag__conv_gemm_portable) {
        ag__gemm_f32(M, N, K, 1.0f, A, lda, 1, B, 1, ldb, acc ? 1.0f : 0.0f, C, ldc, 1);
        return;
    }
    GEMM_NT(float, A, lda, B, ldb, C, ldc)
}
void ag__conv_gemm_nn_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                          const double *B, int64_t ldb, double *C, int64_t ldc, bool acc) {
    GEMM_NN(double, A, lda, B, ldb, C, ldc)
}
void ag__conv_gemm_nt_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                          const double *B, int64_t ldb, double *C, int64_t ldc, bool acc) {
    GEMM_NT(double, A, lda, B, ldb, C, ldc)
}
