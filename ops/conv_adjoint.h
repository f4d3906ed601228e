/* Internal: conv2d's two gradients as functions, for the transposed convolution
 * (ops/conv_transpose.c) and the per-pass benchmarks (bench/bench_resnet_ops.c). Defined
 * in ops/conv.c, where the convolution geometry lives. */
#ifndef AG_CONV_ADJOINT_H
#define AG_CONV_ADJOINT_H

#include "ops/ops.h"

/* The gradient of conv2d's input [N, C, H, W] for grad_output gy [N, O, OH, OW] and weight
 * w [O, C/groups, KH, KW]: the conv2d_input_grad op (differentiable any number of times). */
ag_tensor *ag__conv2d_input_grad(ag_tensor *gy, ag_tensor *w, const int stride[2], const int pad[2],
                                 const int dil[2], int groups, int64_t H, int64_t W);

/* The gradient of conv2d's weight [O, C/groups, KH, KW] for input x [N, C, H, W] and
 * grad_output gy [N, O, OH, OW]: the conv2d_weight_grad op. */
ag_tensor *ag__conv2d_weight_grad(ag_tensor *x, ag_tensor *gy, const int stride[2],
                                  const int pad[2], const int dil[2], int groups, int64_t KH,
                                  int64_t KW);

#endif
