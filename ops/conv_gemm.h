/* Internal: the two GEMM layouts convolution needs, float32 and float64.
 *   nn: C[M,N] (+)= A[M,K] * B[K,N]      (rows contiguous; lda, ldb, ldc in elements)
 *   nt: C[M,N] (+)= A[M,K] * B[N,K]^T
 * acc false: C is written without being read. Sums run in a fixed order.
 * A stop-gap until ops/kernels/gemm.h (ag__gemm_f32/f64 with row/col strides) is merged:
 * then these become one-line calls to it. */
#ifndef AG_CONV_GEMM_H
#define AG_CONV_GEMM_H

#include <stdbool.h>
#include <stdint.h>

void ag__conv_gemm_nn_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float *C, int64_t ldc, bool acc);
void ag__conv_gemm_nt_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float *C, int64_t ldc, bool acc);
void ag__conv_gemm_nn_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                          const double *B, int64_t ldb, double *C, int64_t ldc, bool acc);
void ag__conv_gemm_nt_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                          const double *B, int64_t ldb, double *C, int64_t ldc, bool acc);

/* AVX-512 float32 kernels (ops/conv_gemm_avx512.c). */
void ag__conv_gemm_nn_f32_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, bool acc);
void ag__conv_gemm_nt_f32_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, bool acc);
/* Forces the portable kernels (tests compare them with the AVX-512 ones). */
extern bool ag__conv_gemm_portable;

#endif
