/* The geometry every convolution kernel takes (conv_igemm.h, conv_wgrad.h): x is
 * [N, G*Cg, H, W], the weight [G*Og, Cg, KH, KW], y (or dy) [N, G*Og, OH, OW]; stride
 * sh/sw, padding ph/pw, dilation dh/dw.  ops/conv.c fills one from its checked geometry. */
#ifndef AG_OPS_KERNELS_CONV_SHAPE_H
#define AG_OPS_KERNELS_CONV_SHAPE_H

#include <stdint.h>

struct ag__conv_shape {
    int64_t N, G, Cg, H, W, Og, KH, KW, OH, OW;
    int64_t sh, sw, ph, pw, dh, dw;
};

#endif
