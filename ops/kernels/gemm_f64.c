/* The GEMM framework for double (gemm_tmpl.h, with every name it defines spelled out). */
#define T double
#define GEMM_CFG ag__gemm_cfg_f64
#define GEMM_CFG_AVX512 ag__gemm_avx512_f64
#define GEMM_CFG_AVX2 ag__gemm_avx2_f64
#define GEMM_NAIVE ag__gemm_f64_naive
#define GEMM_OWN ag__gemm_own_f64
#include "ops/kernels/gemm_tmpl.h"
