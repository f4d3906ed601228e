/* Timing: ag_now, a monotonic clock, and ag_bench_time, the timing helper the benchmark
 * suite uses, public so a library user can time their own op the same way (each sample
 * runs inside a scope of its own, so it calls the tensor layer's scopes). */
#include "tensor/tensor.h"

#include <math.h>
#include <string.h>
#include <time.h>

#define MAX_SAMPLES 4096
#define SAMPLE_SECONDS 2e-4 /* a sample repeats fn until it lasts about this long */

double ag_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One sample: `calls` calls of fn inside a scope of their own; seconds per call. */
static double sample(ag_bench_fn fn, void *ctx, int64_t calls) {
    ag_scope_begin();
    double t0 = ag_now();
    for (int64_t i = 0; i < calls; i++) fn(ctx);
    double t = ag_now() - t0;
    ag_scope_end();
    return t / (double)calls;
}

double ag_bench_time(ag_bench_fn fn, void *ctx, int min_reps, double min_seconds) {
    if (!fn) {
        ag__error(AG_ERR_NULL, "ag_bench_time", "fn is NULL");
        return -1;
    }
    if (min_reps < 1) min_reps = 1;
    if (min_reps > MAX_SAMPLES) min_reps = MAX_SAMPLES;
    if (!(min_seconds > 0)) min_seconds = 0;
    /* warm-up, which also sizes a sample so that the clock's resolution does not matter */
    double first = sample(fn, ctx, 1);
    int64_t calls = first >= SAMPLE_SECONDS ? 1 : (int64_t)ceil(SAMPLE_SECONDS / fmax(first, 1e-9));
    if (calls > 1) calls = (int64_t)ceil(SAMPLE_SECONDS / fmax(sample(fn, ctx, calls), 1e-10));
    static _Thread_local double times[MAX_SAMPLES];
    int n = 0;
    double start = ag_now();
    while (n < MAX_SAMPLES && (n < min_reps || ag_now() - start < min_seconds)) {
        times[n] = sample(fn, ctx, calls);
        /* a warm-up slowed by a cold start sizes samples too short: grow them, so the
         * MAX_SAMPLES cap still spans min_seconds */
        if (times[n] * (double)calls < SAMPLE_SECONDS / 4 && calls < (INT64_C(1) << 40)) calls *= 2;
        n++;
    }
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    return n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
}
