/* The weight-gradient kernel (conv_wgrad_tmpl.h) for double with AVX-512F, every vector
 * operation named in full: 12 taps x 16 channels a register tile. */
#include <immintrin.h>
#include <stdint.h>

/* The first n lanes (0 < n < 8). */
static inline __mmask8 mask_pd(int64_t n) { return (__mmask8)((1u << n) - 1); }

#define T double
#define V __m512d
#define L 8
#define MT 12
#define V_ZERO() _mm512_setzero_pd()
#define V_LOAD(p) _mm512_load_pd(p)
#define V_STORE(p, v) _mm512_store_pd(p, v)
#define V_BCAST(p) _mm512_set1_pd(*(p))
#define V_FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VI __mmask8
#define V_LOADU(p) _mm512_loadu_pd(p)
#define V_MASKLOAD(p, m) _mm512_maskz_loadu_pd(m, p)
#define V_MASK(n) mask_pd(n)
#define V_HSUM(v) _mm512_reduce_add_pd(v)
#define WG_RUN ag__conv_wgrad_f64_avx512
#include "ops/kernels/conv_wgrad_tmpl.h"
