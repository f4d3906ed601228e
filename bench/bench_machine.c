/* The machine's limits, measured at the start of `make bench`: float32 FMA peak and copy
 * bandwidth (STREAM's convention: bytes read + bytes written per second). */
#include "bench/bench.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

double bench__fma_loop_avx512(int64_t iters, int threads);
double bench__fma_loop_avx2(int64_t iters, int threads);

const char *bench_peak_isa(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
    return "none";
}

double bench_peak_gflops(int threads, bool quick) {
    const char *isa = bench_peak_isa();
    int lanes = !strcmp(isa, "avx512") ? 16 : !strcmp(isa, "avx2") ? 8 : 0;
    if (!lanes) return 0;
    double (*loop)(int64_t, int) = lanes == 16 ? bench__fma_loop_avx512 : bench__fma_loop_avx2;
    int64_t iters = quick ? 2000000 : 10000000;
    double best = 1e30;
    loop(iters / 10, threads); /* warm-up: clocks up, threads started */
    for (int r = 0; r < (quick ? 3 : 5); r++) {
        double t = loop(iters, threads);
        if (t < best) best = t;
    }
    return (double)iters * 12 * lanes * 2 * threads / best * 1e-9;
}

double bench_copy_gbs(int threads, bool quick) {
    size_t n = (quick ? 32u : 128u) << 20; /* bytes per array: far beyond the caches */
    char *a = aligned_alloc(64, n), *b = aligned_alloc(64, n);
    if (!a || !b) {
        free(a), free(b);
        return 0;
    }
    memset(a, 1, n), memset(b, 2, n);
    double best = 1e30;
    for (int r = 0; r < (quick ? 3 : 7); r++) {
        double t0 = ag_now();
#pragma omp parallel num_threads(threads)
        {
            int k = omp_get_thread_num(), nt = omp_get_num_threads();
            size_t lo = n / (size_t)nt * (size_t)k, hi = k == nt - 1 ? n : lo + n / (size_t)nt;
            memcpy(b + lo, a + lo, hi - lo);
        }
        double t = ag_now() - t0;
        if (t < best) best = t;
    }
    volatile char keep = b[n / 2];
    (void)keep;
    free(a), free(b);
    return 2.0 * (double)n / best * 1e-9;
}
