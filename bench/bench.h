/* Internal to the benchmark suite (bench/): shared pieces of `make bench`. */
#ifndef AG_BENCH_H
#define AG_BENCH_H

#include <stdbool.h>
#include <stdio.h>

#include "ops/ops.h"

struct bench_cfg {
    bool quick;     /* QUICK=1: few sizes, short timings (a smoke test) */
    bool smoke;     /* tests: one small size, one sample per timing */
    int threads[2]; /* thread counts to sweep */
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
    const char *third_op;             /* op used beside mul and add */
    double fwd_us, bwd_us, nograd_us; /* per op, medians */
};
int bench_overhead(int n_ops, int reps, struct overhead_result *r);

/* One measurement: ours, and the peer's when there is one (0: none). */
struct bench_row {
    char what[48];  /* op name, or a shape label */
    char dir[4];    /* "fwd" / "bwd" */
    long long size; /* elements per input (ops) or n (gemm) */
    int threads;
    char shapes[96];       /* input shapes, "1048576;1048576" (for the peers) */
    double lo, hi;         /* input domain */
    double flops, bytes;   /* per call */
    bool compute_bound;    /* "of limit" is FLOP/s over the FMA peak only (matmul, conv) */
    double ours_s, peer_s; /* median seconds per call */
};
struct bench_rows {
    struct bench_row *v;
    int n, cap;
};
struct bench_row *bench_rows_add(struct bench_rows *r);

/* Times every op of the table forward and backward over a size sweep on the current
 * thread count, appending rows. Returns 0, or -1 when an op failed (named on stderr). */
int bench_optable(const struct bench_cfg *cfg, int threads, struct bench_rows *out);

/* OpenBLAS's core name when libopenblas.so.0 loads, else NULL (the peer is skipped). */
const char *bench_openblas_core(void);
/* C[m,n] = A[m,k] B[k,n] float32: ours (ag_matmul, when linked) and OpenBLAS sgemm. */
int bench_gemm_shape(const char *label, int64_t m, int64_t n, int64_t k, int threads, bool quick,
                     struct bench_rows *out);
/* Seconds per MLP or CNN training step (batch 128), or -1 with *missing set to the error. */
double bench_train_step(bool cnn, int threads, bool quick, const char **missing);

/* Runs a command, returns its stdout (malloc'ed) or NULL when it failed. */
char *bench_run_capture(const char *cmd);

#endif
