/* convpool.h — hand-vectorized kernels for the common small-CNN shapes of conv2d and
 * max_pool2d (ops/conv.c, ops/pool.c call them when ag__convpool_avx512() says the
 * AVX-512 set is in use; the generic loops in those files are the slow references).
 *
 * Max pool 2x2, stride 2, no padding, over `planes` contiguous (H, W) planes, H, W >= 2:
 *   forward:  y[p] = src[argmax of x in window p]   (OH = H/2, OW = W/2 per plane)
 *   backward: dx[argmax p] = g[p], every other element of dx 0 (dx fully written)
 * argmax is the first maximum in row-major window order, a NaN beating any number, as the
 * generic kernel in ops/pool.c and torch. */
#ifndef AG_KERNELS_CONVPOOL_H
#define AG_KERNELS_CONVPOOL_H

#include <stdbool.h>
#include <stdint.h>

/* True when the AVX-512 kernels below may run (the GEMM's ISA choice, so AG_ISA=avx2 or
 * scalar also turns them off and the generic loops run). */
bool ag__convpool_avx512(void);

void ag__maxpool2x2_f32_avx512(int64_t planes, int64_t H, int64_t W, const float *x,
                               const float *src, float *y);
void ag__maxpool2x2_back_f32_avx512(int64_t planes, int64_t H, int64_t W, const float *x,
                                    const float *g, float *dx);

#endif
