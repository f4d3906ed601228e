/* conv_wgrad.h — the convolution weight gradient without a materialised im2col.
 *
 * dw[g*Og + o, c, kh, kw] = sum over n, oh, ow of gy[n, g*Og + o, oh, ow] *
 *                           xpad[n, g*Cg + c, oh*sh + kh*dh, ow*sw + kw*dw].
 * Each image is laid out once as "column-shifted phase planes": for every channel c, kernel
 * column kw and row phase a < sh, plane[c][kw][a][i][ow] = xpad[c][i*sh + a][ow*sw + kw*dw]
 * (Hq rows of OW).  Tap (c, kh, kw) over the output pixels p = oh*OW + ow is then one
 * contiguous run of plane[c][kw][kh*dh mod sh], starting at row kh*dh / sh, exactly as
 * long as gy's row of P = OH*OW pixels: no virtual columns, no gather.  A register tile
 * of MT taps x 2 vectors of output channels (6 x 16 floats with AVX2, 12 x 32 with
 * AVX-512) runs down the pixels, one broadcast tap value times the channels' transposed
 * gy per pixel.  Below 32 taps (1-channel or 1x1 kernels) a tile of 2 channels x MT taps
 * runs the pixels along the lanes instead (the last vector masked) and sums its lanes.
 *
 * Threads take fixed chunks of images (the chunk size depends on N only); a chunk's
 * partial sums are added in image order and the chunks in chunk order, so results are
 * bitwise the same for any thread count. */
#ifndef AG_KERNELS_CONV_WGRAD_H
#define AG_KERNELS_CONV_WGRAD_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/kernels/conv_shape.h"

/* One weight gradient: x [N, G*Cg, H, W] and gy [N, G*Og, OH, OW] -> dw [G*Og, Cg, KH, KW],
 * all contiguous. */
struct ag__conv_wgrad {
    struct ag__conv_shape s;
    const void *x, *gy;
    void *out;
};

/* Can a vector kernel run now (AVX2+FMA or AVX-512 dispatched, float32 products at full
 * precision)? */
bool ag__conv_wgrad_ok(void);

/* out from p (float32 / float64) with the dispatched ISA's kernel.  0 on success,
 * non-zero when out of memory. */
int ag__conv_wgrad_f32(const struct ag__conv_wgrad *p);
int ag__conv_wgrad_f64(const struct ag__conv_wgrad *p);
/* The per-ISA kernels (conv_wgrad_tmpl.h instantiated in conv_wgrad_<type>_<isa>.c). */
int ag__conv_wgrad_f32_avx2(const struct ag__conv_wgrad *p);
int ag__conv_wgrad_f64_avx2(const struct ag__conv_wgrad *p);
int ag__conv_wgrad_f32_avx512(const struct ag__conv_wgrad *p);
int ag__conv_wgrad_f64_avx512(const struct ag__conv_wgrad *p);

/* The naive twins: the seven-loop definition accumulating in double, same contract. */
void ag__conv_wgrad_f32_naive(const struct ag__conv_wgrad *p);
void ag__conv_wgrad_f64_naive(const struct ag__conv_wgrad *p);

#endif
