/* The FMA peak on CPUs without AVX-512: the same loop with AVX2 (see peak_avx512.c). */
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>

#include <ag.h>

/* Seconds for `iters` rounds of 12 chains x 8 lanes x 2 flops on each of `threads`. */
double bench__fma_loop_avx2(int64_t iters, int threads) {
    double t0 = ag_now();
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
        __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
        for (int k = 0; k < 12; k++) a[k] = _mm256_set1_ps((float)k);
        for (int64_t i = 0; i < iters; i++)
#pragma GCC unroll 12
            for (int k = 0; k < 12; k++) a[k] = _mm256_fmadd_ps(a[k], m, c);
        __m256 s = a[0];
        for (int k = 1; k < 12; k++) s = _mm256_add_ps(s, a[k]);
        float v[8];
        _mm256_storeu_ps(v, s);
        for (int k = 0; k < 8; k++) sink += v[k];
    }
    double t = ag_now() - t0;
    return sink == 12345.678f ? t + 1e-12 : t;
}
