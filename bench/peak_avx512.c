/* The machine's float32 FMA peak: independent AVX-512 FMA chains on every thread.
 * Compiled with the AVX-512 flags (the _avx512 suffix); only called after a run-time
 * check that the CPU has AVX-512F (bench_peak_gflops in bench/bench_machine.c). */
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>

#include <ag.h>

/* Seconds for `iters` rounds of 12 chains x 16 lanes x 2 flops on each of `threads`. */
double bench__fma_loop_avx512(int64_t iters, int threads) {
    double t0 = ag_now();
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
        __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
        for (int k = 0; k < 12; k++) a[k] = _mm512_set1_ps((float)k);
        for (int64_t i = 0; i < iters; i++) {
/* unrolled, so the 12 chains stay in registers (at -O2 gcc would keep the
             * array in memory and every FMA would wait on a store) */
#pragma GCC unroll 12
            for (int k = 0; k < 12; k++) a[k] = _mm512_fmadd_ps(a[k], m, c);
        }
        __m512 s = a[0];
        for (int k = 1; k < 12; k++) s = _mm512_add_ps(s, a[k]);
        sink += _mm512_reduce_add_ps(s);
    }
    double t = ag_now() - t0;
    return sink == 12345.678f ? t + 1e-12 : t; /* keeps the loop alive */
}
