/* The implicit-GEMM convolution for double (conv_igemm_tmpl.h, every name spelled out). */
#define T double
#define IG_CFG ag__gemm_cfg_f64
#define IG_CFG_AVX512 ag__gemm_avx512_f64
#define IG_CFG_AVX2 ag__gemm_avx2_f64
#define IG_RUN ag__conv_igemm_f64
#define IG_NAIVE ag__conv_igemm_f64_naive
#include "ops/kernels/conv_igemm_tmpl.h"

#include "runtime/precision.h"

/* An AVX2 or AVX-512 micro-kernel, and float32 products at full precision (the bf16
 * modes round packed panels, which the im2col path through ag__gemm_f32 does). */
bool ag__conv_igemm_ok(void) {
    int isa = ag__gemm_isa_id();
    return (isa == AG_ISA_AVX2 || isa == AG_ISA_AVX512) && ag__gemm_bf16_split() == 0;
}
