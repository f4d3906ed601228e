/* Internal to the benchmark suite (bench/): shared pieces of `make bench`. */
#ifndef AG_BENCH_H
#define AG_BENCH_H

#include <stdbool.h>
#include <stdio.h>

#include "ops/ops.h"

struct bench_cfg {
    bool quick;            /* QUICK=1: few sizes, short timings (a smoke test) */
    int threads[2];        /* thread counts to sweep */
    int n_threads;
    const char *outdir;    /* bench/results */
    double peak_gflops[3]; /* measured at start, by thread count (index 1, 2) */
    double copy_gbs[3];
};

/* The machine's limits: float32 FMA peak (AVX-512 when the CPU has it, else AVX2) and
 * copy bandwidth, on the current thread count. */
double bench_peak_gflops(int threads, bool quick);
double bench_copy_gbs(int threads, bool quick);
const char *bench_peak_isa(void);

/* Per-op overhead: the micrograd test (chained scalar ops forward, then backward). */
struct overhead_result {
    int n_ops;
    const char *third_op;              /* op used beside mul and add */
    double fwd_us, bwd_us, nograd_us;  /* per op, medians */
};
int bench_overhead(int n_ops, int reps, struct overhead_result *r);

/* Times every op of the table forward and backward over a size sweep (CSV rows). */
int bench_optable(const struct bench_cfg *cfg, FILE *csv, FILE *md);

/* Runs a command, returns its stdout (malloc'ed) or NULL when it failed. */
char *bench_run_capture(const char *cmd);

#endif
