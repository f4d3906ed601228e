/* AVX2+FMA instantiation of the vector-math kernels (compiled with -mavx2 -mfma). */
#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <string.h>

#include "ops/kernels/vmath.h"

/* ---- float32: 8 lanes ---- */
#define T float
#define V __m256
#define W 8
#define SFX f32_avx2
#define ALIGN 32
#define VLD(p) _mm256_loadu_ps(p)
#define VST(p, v) _mm256_storeu_ps((p), (v))
#define VSTNT(p, v) _mm256_stream_ps((p), (v))
#define SFENCE() _mm_sfence()
#define VSET(c) _mm256_set1_ps(c)
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps
#define VMUL _mm256_mul_ps
#define VDIV _mm256_div_ps
#define VFMA _mm256_fmadd_ps
#define VABS(v) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (v))
#define VNEG(v) _mm256_xor_ps(_mm256_set1_ps(-0.0f), (v))
#define VSQRT _mm256_sqrt_ps
#define VLT(a, b) _mm256_cmp_ps((a), (b), _CMP_LT_OQ)
#define VLE(a, b) _mm256_cmp_ps((a), (b), _CMP_LE_OQ)
#define VGT(a, b) _mm256_cmp_ps((a), (b), _CMP_GT_OQ)
#define VGE(a, b) _mm256_cmp_ps((a), (b), _CMP_GE_OQ)
#define MOR(a, b) _mm256_or_ps((a), (b))
#define MAND(a, b) _mm256_and_ps((a), (b))
#define VSEL(m, a, b) _mm256_blendv_ps((b), (a), (m))
#define VEXP Sleef_expf8_u10avx2
#define VEXPM1 Sleef_expm1f8_u10avx2
#define VLOG Sleef_logf8_u10avx2
#define VLOG1P Sleef_log1pf8_u10avx2
#define VTANH Sleef_tanhf8_u10avx2
#define VERF Sleef_erff8_u10avx2
#define VSIN Sleef_sinf8_u10avx2
#define VCOS Sleef_cosf8_u10avx2
#define VM_FAST_CDF
#include "ops/kernels/vmath_tmpl.h"
#undef VM_FAST_CDF
#undef T
#undef V
#undef W
#undef SFX
#undef VLD
#undef VST
#undef VSTNT
#undef VSET
#undef VADD
#undef VSUB
#undef VMUL
#undef VDIV
#undef VFMA
#undef VABS
#undef VNEG
#undef VSQRT
#undef VLT
#undef VLE
#undef VGT
#undef VGE
#undef MOR
#undef MAND
#undef VSEL
#undef VEXP
#undef VEXPM1
#undef VLOG
#undef VLOG1P
#undef VTANH
#undef VERF
#undef VSIN
#undef VCOS

/* ---- float64: 4 lanes ---- */
#define T double
#define V __m256d
#define W 4
#define SFX f64_avx2
#define VLD(p) _mm256_loadu_pd(p)
#define VST(p, v) _mm256_storeu_pd((p), (v))
#define VSTNT(p, v) _mm256_stream_pd((p), (v))
#define VSET(c) _mm256_set1_pd(c)
#define VADD _mm256_add_pd
#define VSUB _mm256_sub_pd
#define VMUL _mm256_mul_pd
#define VDIV _mm256_div_pd
#define VFMA _mm256_fmadd_pd
#define VABS(v) _mm256_andnot_pd(_mm256_set1_pd(-0.0), (v))
#define VNEG(v) _mm256_xor_pd(_mm256_set1_pd(-0.0), (v))
#define VSQRT _mm256_sqrt_pd
#define VLT(a, b) _mm256_cmp_pd((a), (b), _CMP_LT_OQ)
#define VLE(a, b) _mm256_cmp_pd((a), (b), _CMP_LE_OQ)
#define VGT(a, b) _mm256_cmp_pd((a), (b), _CMP_GT_OQ)
#define VGE(a, b) _mm256_cmp_pd((a), (b), _CMP_GE_OQ)
#define MOR(a, b) _mm256_or_pd((a), (b))
#define MAND(a, b) _mm256_and_pd((a), (b))
#define VSEL(m, a, b) _mm256_blendv_pd((b), (a), (m))
#define VEXP Sleef_expd4_u10avx2
#define VEXPM1 Sleef_expm1d4_u10avx2
#define VLOG Sleef_logd4_u10avx2
#define VLOG1P Sleef_log1pd4_u10avx2
#define VTANH Sleef_tanhd4_u10avx2
#define VERF Sleef_erfd4_u10avx2
#define VSIN Sleef_sind4_u10avx2
#define VCOS Sleef_cosd4_u10avx2
#include "ops/kernels/vmath_tmpl.h"

const ag__vm_kernels ag__vm_kernels_avx2 = {
    fwd_f32_avx2, fwd_f64_avx2, bwd_f32_avx2, bwd_f64_avx2,
    bin_f32_avx2, bin_f64_avx2, axpy_f32_avx2, axpy_f64_avx2,
    rmax_f32_avx2, rmax_f64_avx2, expsum_f32_avx2, expsum_f64_avx2,
    shsc_f32_avx2, shsc_f64_avx2};
