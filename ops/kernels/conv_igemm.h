/* conv_igemm.h — convolution as an implicit GEMM: no materialised im2col.
 *
 * y[n, g*Og + o] = W_g [Og, kcol] · col(x[n, g]) [kcol, P] (+ bias), kcol = Cg*KH*KW.
 * Each image is first laid out once as zero-padded "phase planes": for stride (sh, sw) the
 * padded image splits into sh*sw sub-images xph[c][a][b][i][j] = xpad[c][i*sh+a][j*sw+b],
 * each Wph = ceil((W+2pw)/sw) wide.  Tap (kh, kw) of output pixel (oh, ow) is then
 * xph[c][a][b][oh + kh*dh/sh][ow + kw*dw/sw] (a = kh*dh mod sh, b = kw*dw mod sw): over the
 * "virtual" output index q = oh*Wph + ow every tap row of col is one contiguous run of a
 * phase plane.  A packed B micro-panel (NR columns of q) is so a set of short vector copies
 * from an image that sits in L1/L2, and the GEMM micro-kernel (gemm.h) runs on it directly
 * against the packed weights.  The virtual columns ow >= OW are computed and dropped
 * (Wph - OW of every Wph: 2/16 at 14x14 with padding 1).
 *
 * Threads split images (runtime/parallel.h); every output element is one fixed chain of
 * FMAs over k in order (K blocked at a fixed size), so results do not depend on the thread
 * count.  The bias is added in the copy out, after the product (as the im2col path), and
 * the ReLU of ag_conv2d_relu is applied there too (the epilogue: no extra pass). */
#ifndef AG_KERNELS_CONV_IGEMM_H
#define AG_KERNELS_CONV_IGEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/kernels/conv_shape.h"

/* One convolution: x [N, G*Cg, H, W] -> y [N, G*Og, OH, OW] with w [G*Og, Cg, KH, KW],
 * all contiguous; bias [G*Og] or NULL. */
struct ag__conv_igemm {
    struct ag__conv_shape s;
    const void *x, *w, *bias;
    void *y;
    bool relu; /* y = max(y, 0) in the copy out (ReLU's rule: v <= 0 -> 0, NaN stays) */
};

/* Can the implicit GEMM run now (an AVX2 or AVX-512 micro-kernel is dispatched)? */
bool ag__conv_igemm_ok(void);

/* y from p (float32 / float64).  0 on success, non-zero when out of memory (y incomplete). */
int ag__conv_igemm_f32(const struct ag__conv_igemm *p);
int ag__conv_igemm_f64(const struct ag__conv_igemm *p);

/* The naive twins: direct seven-loop convolution accumulating in double, same contract. */
void ag__conv_igemm_f32_naive(const struct ag__conv_igemm *p);
void ag__conv_igemm_f64_naive(const struct ag__conv_igemm *p);

#endif
