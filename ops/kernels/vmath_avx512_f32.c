/* AVX-512 instantiation of the vector-math kernels for float32 (compiled with the AVX-512 flags;
 * the Makefile picks the flags from the file name). */
#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <string.h>

#include "ops/kernels/vmath.h"

/* ---- float32: 16 lanes ---- */
#define T float
#define V __m512
#define W 16
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
#define VNEG(v)          \
    _mm512_castsi512_ps( \
        _mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u)))
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

const ag__vm_kernels_f32 ag__vm_f32_avx512 = {fwd, bwd, bin, axpy, rmax, expsum, shsc};
