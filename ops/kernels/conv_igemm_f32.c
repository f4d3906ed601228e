/* The implicit-GEMM convolution for float (conv_igemm_tmpl.h, every name spelled out). */
#define T float
#define IG_CFG ag__gemm_cfg_f32
#define IG_CFG_AVX512 ag__gemm_avx512_f32
#define IG_CFG_AVX2 ag__gemm_avx2_f32
#define IG_RUN ag__conv_igemm_f32
#define IG_NAIVE ag__conv_igemm_f32_naive
#include "ops/kernels/conv_igemm_tmpl.h"
