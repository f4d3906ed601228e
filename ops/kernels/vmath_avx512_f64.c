/* AVX-512 instantiation of the vector-math kernels for float64 (compiled with the AVX-512 flags;
 * the Makefile picks the flags from the file name). */
#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <string.h>

#include "ops/kernels/vmath.h"

/* ---- float64: 8 lanes ---- */
#define T double
#define V __m512d
#define W 8
#define ALIGN 64
#define SFENCE() _mm_sfence()
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
#define VNEG(v)                                                  \
    _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(v), \
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

const ag__vm_kernels_f64 ag__vm_f64_avx512 = {fwd, bwd, bin, axpy, rmax, expsum, shsc};
