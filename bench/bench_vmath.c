/* bench_vmath: float32 throughput of the ag vector-math kernels vs PyTorch.
 *
 * Build (from the repository root):
 *   F="-std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -fopenmp -I."
 *   gcc $F -c ops/kernels/vmath.c -o /tmp/vmath.o
 *   gcc $F -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma -mavx2 \
 *       -c ops/kernels/vmath_avx512.c -o /tmp/vmath_avx512.o
 *   gcc $F -mavx2 -mfma -c ops/kernels/vmath_avx2.c -o /tmp/vmath_avx2.o
 *   gcc $F bench/bench_vmath.c /tmp/vmath.o /tmp/vmath_avx2.o /tmp/vmath_avx512.o \
 *       -lsleef -lm -o /tmp/bench_vmath
 * Run:  /tmp/bench_vmath [reps=7] [--no-torch] [--cpu] [--ops exp,tanh,...]
 *   --cpu: 1-thread rows are timed in per-thread CPU time (CLOCK_THREAD_CPUTIME_ID, and
 *   time.thread_time_ns in the peer), which a machine shared with other jobs disturbs far
 *   less than wall time; 2-thread rows stay wall time. --ops: only these functions
 *   (names as ag__vm_name, plus "add"; relu/leaky_relu/add feed the bandwidth summary).
 *   Runs the torch peer (bench/peers/eltwise_peer.py, ATEN_CPU_CAPABILITY=avx512,
 *   OMP_WAIT_POLICY=PASSIVE, one process per thread count) via popen and prints ratios.
 *   AG_ISA=scalar|avx2|avx512 picks the kernels; AG_VM_NT_BYTES sets the streaming-store
 *   threshold (bytes of output; default: never stream).
 * Every figure is the median over reps of G elements/s (1e9 elements per second). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/kernels/vmath.h"

static int reps = 7;
static int cpu_time;         /* --cpu: thread CPU time when running on one thread */
static const char *only_ops; /* --ops: comma-separated list, NULL = all */

static double now(void) {
    struct timespec ts;
    clock_gettime(
        cpu_time && omp_get_max_threads() == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    int kind; /* 0 fwd, 1 bwd, 2 add, 3 copy */
    ag_vm_fn f;
    float *x, *g, *y, *o;
    int64_t n;
} bench_job;

static void copy_par(float *dst, const float *src, int64_t n) {
    int64_t ch = (int64_t)1 << 16, nch = (n + ch - 1) / ch;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nch; c++) {
        int64_t o = c * ch, len = n - o < ch ? n - o : ch;
        memcpy(dst + o, src + o, (size_t)len * sizeof(float));
    }
}

static void job_once(const bench_job *j) {
    ag_vm_params p = ag__vm_default_params(j->f);
    switch (j->kind) {
    case 0: ag__vm_forward_f32(j->f, j->o, j->x, j->n, p); break;
    case 1: ag__vm_backward_f32(j->f, j->o, j->g, j->x, j->y, j->n, p); break;
    case 2: ag__vm_binary_f32(AG_VM_ADD, j->o, j->x, j->g, j->n); break;
    default: copy_par(j->o, j->x, j->n); break;
    }
}

/* Median G elements/s; each rep runs enough calls for ~50 ms. */
static double rate(const bench_job *j) {
    job_once(j);
    int calls = 1;
    double dt;
    for (;;) {
        double t0 = now();
        for (int c = 0; c < calls; c++) job_once(j);
        dt = now() - t0;
        if (dt > 0.02) break;
        calls *= 2;
    }
    int k = (int)(calls * 0.05 / dt) + 1;
    double *r = malloc(sizeof(double) * (size_t)reps);
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        for (int c = 0; c < k; c++) job_once(j);
        r[i] = (double)j->n * k / (now() - t0) / 1e9;
    }
    qsort(r, (size_t)reps, sizeof(double), cmp_d);
    double m = r[reps / 2];
    free(r);
    return m;
}

/* torch results: [op][dir][size index][thread index] */
#define NT_OPS (AG_VM_COUNT + 1) /* + add */
static double torch_r[NT_OPS][2][2][2];

static int op_index(const char *name) {
    if (strcmp(name, "add") == 0) return AG_VM_COUNT;
    for (int i = 0; i < AG_VM_COUNT; i++)
        if (strcmp(name, ag__vm_name((ag_vm_fn)i)) == 0) return i;
    return -1;
}

static int wanted(const char *name) {
    if (!only_ops) return 1;
    size_t l = strlen(name);
    for (const char *s = only_ops; (s = strstr(s, name)) != NULL; s += l)
        if ((s == only_ops || s[-1] == ',') && (s[l] == ',' || s[l] == 0)) return 1;
    return 0;
}

static void run_torch(int threads) {
    char cmd[1024], line[512];
    snprintf(cmd, sizeof cmd,
             "ATEN_CPU_CAPABILITY=avx512 OMP_WAIT_POLICY=PASSIVE "
             "AG_BENCH_OPS=%s /usr/bin/python3 bench/peers/eltwise_peer.py %d %d%s",
             only_ops ? only_ops : "", threads, reps, cpu_time ? " --cpu" : "");
    FILE *fp = popen(cmd, "r");
    if (!fp) return;
    while (fgets(line, sizeof line, fp)) {
        char op[64], dir[8], cap[32];
        long long n;
        int th;
        double r;
        for (char *c = line; *c; c++)
            if (*c == ',') *c = ' ';
        if (sscanf(line, "torch %31s %63s %7s %lld %d %lf", cap, op, dir, &n, &th, &r) != 6)
            continue;
        int oi = op_index(op);
        if (oi < 0) continue;
        torch_r[oi][dir[0] == 'b'][n > (1 << 20)][threads - 1] = r;
    }
    pclose(fp);
}

int main(int argc, char **argv) {
    int use_torch = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-torch") == 0) use_torch = 0;
        else if (strcmp(argv[i], "--cpu") == 0) cpu_time = 1;
        else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) only_ops = argv[++i];
        else reps = atoi(argv[i]) > 0 ? atoi(argv[i]) : reps;
    }
    const char *ntb = getenv("AG_VM_NT_BYTES");
    if (ntb) ag__vm_set_nt_bytes(atoll(ntb));
    if (use_torch) run_torch(1), run_torch(2);
    int64_t nmax = (int64_t)1 << 24;
    float *x = malloc((size_t)nmax * 4), *xl = malloc((size_t)nmax * 4);
    float *g = malloc((size_t)nmax * 4), *y = malloc((size_t)nmax * 4);
    float *o = malloc((size_t)nmax * 4);
    srand(1);
    for (int64_t i = 0; i < nmax; i++) {
        x[i] = 10.0f * (float)rand() / (float)RAND_MAX - 5.0f;
        xl[i] = 0.1f + 4.9f * (float)rand() / (float)RAND_MAX;
        g[i] = 2.0f * (float)rand() / (float)RAND_MAX - 1.0f;
        o[i] = 0; /* touch */
    }
    printf("# ag vmath isa=%s reps=%d; G elem/s (median); ratio = ours/torch\n", ag__vm_isa(),
           reps);
    printf("%-12s %-3s %9s %2s %8s %8s %6s\n", "op", "dir", "n", "T", "ours", "torch", "ratio");
    double copy[2] = {0, 0}, mem[3][2] = {{0}};
    for (int si = 0; si < 2; si++) {
        int64_t n = si ? nmax : (int64_t)1 << 20;
        for (int t = 1; t <= 2; t++) {
            omp_set_num_threads(t);
            for (int oi = 0; oi <= AG_VM_COUNT; oi++) {
                for (int d = 0; d < (oi == AG_VM_COUNT ? 1 : 2); d++) {
                    ag_vm_fn f = (ag_vm_fn)(oi == AG_VM_COUNT ? 0 : oi);
                    if (!wanted(oi == AG_VM_COUNT ? "add" : ag__vm_name(f))) continue;
                    int pos = f == AG_VM_LOG || f == AG_VM_SQRT || f == AG_VM_LOG1P;
                    bench_job j = {oi == AG_VM_COUNT ? 2 : d, f, pos ? xl : x, g, y, o, n};
                    if (d == 1) ag__vm_forward_f32(f, y, j.x, n, ag__vm_default_params(f));
                    double r = rate(&j), tr = torch_r[oi][d][si][t - 1];
                    printf("%-12s %-3s %9lld %2d %8.3f %8.3f %6.2f\n",
                           oi == AG_VM_COUNT ? "add" : ag__vm_name(f), d ? "bwd" : "fwd",
                           (long long)n, t, r, tr, tr > 0 ? r / tr : 0.0);
                    if (si && oi == AG_VM_RELU && d == 0) mem[0][t - 1] = r;
                    if (si && oi == AG_VM_LEAKY_RELU && d == 0) mem[1][t - 1] = r;
                    if (si && oi == AG_VM_COUNT) mem[2][t - 1] = r;
                }
            }
            if (si && (wanted("relu") || wanted("leaky_relu") || wanted("add"))) {
                bench_job j = {3, AG_VM_EXP, x, g, y, o, n};
                copy[t - 1] = rate(&j) * 8; /* GB/s: read + write 4 B each */
            }
        }
    }
    for (int t = 1; t <= 2; t++)
        printf("# 16M, %d thread(s): copy %.1f GB/s; relu %.0f%%, leaky_relu %.0f%%, "
               "add %.0f%% of copy bandwidth (unary 8 B/elem, add 12 B/elem)\n",
               t, copy[t - 1], 100 * mem[0][t - 1] * 8 / copy[t - 1],
               100 * mem[1][t - 1] * 8 / copy[t - 1], 100 * mem[2][t - 1] * 12 / copy[t - 1]);
    free(x), free(xl), free(g), free(y), free(o);
    return 0;
}
