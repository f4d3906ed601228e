/* AVX-512 instantiation of the vector-math kernels (compiled with the AVX-512 flags). */
#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <string.h>

#include "ops/kernels/vmath.h"

/* ---- float32: 16 lanes ---- */
#define T float
#define V __m512
#define W 16
#define SFX f32_avx512
#define ALIGN 64
#define VLD(p) _mm512_loadu_ps(p)
#define VST(p, v) _mm512_storeu_ps((p), (v))
#define VSTNT(p, v) _mm512_stream_ps((p), (v))
#define SFENCE() _mm_sfence()
#define VSET(c) _mm512_set1_ps(c)
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VMUL _mm512_mul_ps
#define VDIV _mm512_div_ps
#define VFMA _mm512_fmadd_ps
#define VABS(v) _mm512_abs_ps(v)
#define VNEG(v) _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), \
                                   _mm512_set1_epi32((int)0x80000000u)))
#define VSQRT _mm512_sqrt_ps
#define VLT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ)
#define VLE(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LE_OQ)
#define VGT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ)
#define VGE(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GE_OQ)
#define MOR(a, b) ((__mmask16)((a) | (b)))
#define MAND(a, b) ((__mmask16)((a) & (b)))
#define VSEL(m, a, b) _mm512_mask_blend_ps((m), (b), (a))
#define VEXP Sleef_expf16_u10avx512f
#define VEXPM1 Sleef_expm1f16_u10avx512f
#define VLOG Sleef_logf16_u10avx512f
#define VLOG1P Sleef_log1pf16_u10avx512f
#define VTANH Sleef_tanhf16_u10avx512f
#define VERF Sleef_erff16_u10avx512f
#define VSIN Sleef_sinf16_u10avx512f
#define VCOS Sleef_cosf16_u10avx512f
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

/* ---- float64: 8 lanes ---- */
#define T double
#define V __m512d
#define W 8
#define SFX f64_avx512
#define VLD(p) _mm512_loadu_pd(p)
#define VST(p, v) _mm512_storeu_pd((p), (v))
#define VSTNT(p, v) _mm512_stream_pd((p), (v))
#define VSET(c) _mm512_set1_pd(c)
#define VADD _mm512_add_pd
#define VSUB _mm512_sub_pd
#define VMUL _mm512_mul_pd
#define VDIV _mm512_div_pd
#define VFMA _mm512_fmadd_pd
#define VABS(v) _mm512_abs_pd(v)
#define VNEG(v) _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(v), \
                                   _mm512_set1_epi64((long long)0x8000000000000000ull)))
#define VSQRT _mm512_sqrt_pd
#define VLT(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_LT_OQ)
#define VLE(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_LE_OQ)
#define VGT(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_GT_OQ)
#define VGE(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_GE_OQ)
#define MOR(a, b) ((__mmask8)((a) | (b)))
#define MAND(a, b) ((__mmask8)((a) & (b)))
#define VSEL(m, a, b) _mm512_mask_blend_pd((m), (b), (a))
#define VEXP Sleef_expd8_u10avx512f
#define VEXPM1 Sleef_expm1d8_u10avx512f
#define VLOG Sleef_logd8_u10avx512f
#define VLOG1P Sleef_log1pd8_u10avx512f
#define VTANH Sleef_tanhd8_u10avx512f
#define VERF Sleef_erfd8_u10avx512f
#define VSIN Sleef_sind8_u10avx512f
#define VCOS Sleef_cosd8_u10avx512f
#include "ops/kernels/vmath_tmpl.h"

const ag__vm_kernels ag__vm_kernels_avx512 = {
    fwd_f32_avx512, fwd_f64_avx512, bwd_f32_avx512, bwd_f64_avx512,
    bin_f32_avx512, bin_f64_avx512, axpy_f32_avx512, axpy_f64_avx512,
    rmax_f32_avx512, rmax_f64_avx512, expsum_f32_avx512, expsum_f64_avx512,
    shsc_f32_avx512, shsc_f64_avx512};
