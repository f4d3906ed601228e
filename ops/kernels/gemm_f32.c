/* The GEMM framework for float (gemm_tmpl.h, with every name it defines spelled out). */
#define T float
#define GEMM_CFG ag__gemm_cfg_f32
#define GEMM_CFG_AVX512 ag__gemm_avx512_f32
#define GEMM_CFG_AVX2 ag__gemm_avx2_f32
#define GEMM_NAIVE ag__gemm_f32_naive
#define GEMM_OWN ag__gemm_own_f32
#include "ops/kernels/gemm_tmpl.h"
