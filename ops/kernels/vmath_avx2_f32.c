/* AVX2+FMA instantiation of the vector-math kernels for float32 (compiled with -mavx2 -mfma;
 * the Makefile picks the flags from the file name). */
#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <string.h>

#include "ops/kernels/vmath.h"

/* ---- float32: 8 lanes ---- */
#define T float
#define V __m256
#define W 8
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

const ag__vm_kernels_f32 ag__vm_f32_avx2 = {fwd, bwd, bin, axpy, rmax, expsum, shsc};
