/* The weight-gradient kernel (conv_wgrad_tmpl.h) for float with AVX2+FMA, every vector
 * operation named in full. */
#include <immintrin.h>
#include <stdint.h>

/* The sum of the lanes, in a fixed order. */
static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}
/* All bits set in the first n lanes. */
static inline __m256i mask_ps(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define T float
#define V __m256
#define L 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_load_ps(p)
#define V_STORE(p, v) _mm256_store_ps(p, v)
#define V_BCAST(p) _mm256_broadcast_ss(p)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VI __m256i
#define V_LOADU(p) _mm256_loadu_ps(p)
#define V_MASKLOAD(p, m) _mm256_maskload_ps(p, m)
#define V_MASK(n) mask_ps(n)
#define V_HSUM(v) hsum_ps(v)
#define MT 6
#define WG_RUN ag__conv_wgrad_f32_avx2
#include "ops/kernels/conv_wgrad_tmpl.h"
