/* The weight-gradient kernel (conv_wgrad_tmpl.h) for double with AVX2+FMA, every vector
 * operation named in full. */
#include <immintrin.h>
#include <stdint.h>

/* The sum of the lanes, in a fixed order. */
static inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
/* All bits set in the first n lanes. */
static inline __m256i mask_pd(int64_t n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

#define T double
#define V __m256d
#define L 4
#define V_ZERO() _mm256_setzero_pd()
#define V_LOAD(p) _mm256_load_pd(p)
#define V_STORE(p, v) _mm256_store_pd(p, v)
#define V_BCAST(p) _mm256_broadcast_sd(p)
#define V_FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define VI __m256i
#define V_LOADU(p) _mm256_loadu_pd(p)
#define V_MASKLOAD(p, m) _mm256_maskload_pd(p, m)
#define V_MASK(n) mask_pd(n)
#define V_HSUM(v) hsum_pd(v)
#define MT 6
#define WG_RUN ag__conv_wgrad_f64_avx2
#include "ops/kernels/conv_wgrad_tmpl.h"
