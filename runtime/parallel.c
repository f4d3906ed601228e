/* Parallel regions over the OpenMP team (runtime/parallel.h). */
#include "runtime/parallel.h"

#include <omp.h>

int ag__parallel_threads(void) { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

int ag__in_parallel(void) { return omp_in_parallel(); }

void ag__parallel_for(int64_t n, int64_t grain, double cost_per_iter, double min_work,
                      ag__range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int nt = ag__parallel_threads();
    int64_t blocks = (n + grain - 1) / grain;
    if (nt > blocks) nt = (int)blocks;
    if (nt <= 1 || (double)n * cost_per_iter < min_work) {
        fn(ctx, 0, n, 0);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num(), team = omp_get_num_threads();
        int64_t b0 = blocks * tid / team, b1 = blocks * (tid + 1) / team;
        int64_t lo = b0 * grain, hi = b1 * grain < n ? b1 * grain : n;
        if (lo < hi) fn(ctx, lo, hi, tid);
    }
}

void ag__parallel_team(int nth, ag__team_fn fn, void *ctx) {
    int max = ag__parallel_threads();
    if (nth > max) nth = max;
    if (nth <= 1) {
        fn(ctx, 0, 1);
        return;
    }
#pragma omp parallel num_threads(nth)
    fn(ctx, omp_get_thread_num(), omp_get_num_threads());
}
