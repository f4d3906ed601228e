/* gemm_simple.h — a plain cache-blocked GEMM with the same contract as gemm.h's
 * ag__gemm_f32/f64 (used by ops/matmul.c until the BLIS-style kernels land):
 * C[M,N] = alpha * A[M,K] · B[K,N] + beta * C, element (i,j) of X at X[i*rs + j*cs];
 * beta == 0 never reads C. Threads split rows of C only, so results do not depend on
 * the thread count. */
#ifndef AG_KERNELS_GEMM_SIMPLE_H
#define AG_KERNELS_GEMM_SIMPLE_H

#include <stdint.h>

void ag__gemm_simple_f32(int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t rsa, int64_t csa,
                         const float *B, int64_t rsb, int64_t csb,
                         float beta, float *C, int64_t rsc, int64_t csc);
void ag__gemm_simple_f64(int64_t M, int64_t N, int64_t K, double alpha,
                         const double *A, int64_t rsa, int64_t csa,
                         const double *B, int64_t rsb, int64_t csb,
                         double beta, double *C, int64_t rsc, int64_t csc);

#endif
