/* AVX2+FMA instantiation of the vector-math kernels for float64 (compiled with -mavx2 -mfma;
 * the Makefile picks the flags from the file name). */
#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <string.h>

#include "ops/kernels/vmath.h"

/* ---- float64: 4 lanes ---- */
#define T double
#define V __m256d
#define W 4
#define ALIGN 32
#define SFENCE() _mm_sfence()
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

const ag__vm_kernels_f64 ag__vm_f64_avx2 = {fwd, bwd, bin, axpy, rmax, expsum, shsc};
