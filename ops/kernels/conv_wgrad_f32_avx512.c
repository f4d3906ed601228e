/* The weight-gradient kernel (conv_wgrad_tmpl.h) for float with AVX-512F, every vector
 * operation named in full: 12 taps x 32 channels a register tile. */
#include <immintrin.h>
#include <stdint.h>

/* The first n lanes (0 < n < 16). */
static inline __mmask16 mask_ps(int64_t n) { return (__mmask16)((1u << n) - 1); }

#define T float
#define V __m512
#define L 16
#define MT 12
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_load_ps(p)
#define V_STORE(p, v) _mm512_store_ps(p, v)
#define V_BCAST(p) _mm512_set1_ps(*(p))
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VI __mmask16
#define V_LOADU(p) _mm512_loadu_ps(p)
#define V_MASKLOAD(p, m) _mm512_maskz_loadu_ps(m, p)
#define V_MASK(n) mask_ps(n)
#define V_HSUM(v) _mm512_reduce_add_ps(v)
#define WG_RUN ag__conv_wgrad_f32_avx512
#include "ops/kernels/conv_wgrad_tmpl.h"
