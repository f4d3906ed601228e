/* bench_gemm.c — ag__gemm_f32 against OpenBLAS cblas_sgemm, side by side in one run.
 *
 * Build (from the repository root; only the ISA files get ISA flags):
 *   F="-std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -fopenmp -Iinclude -I. -D_GNU_SOURCE"
 *   gcc $F -c ops/kernels/gemm.c -o /tmp/gemm.o
 *   gcc $F -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma -mavx2 \
 *       -c ops/kernels/gemm_avx512.c -o /tmp/gemm_avx512.o
 *   gcc $F -mavx2 -mfma -c ops/kernels/gemm_avx2.c -o /tmp/gemm_avx2.o
 *   gcc $F bench/bench_gemm.c /tmp/gemm.o /tmp/gemm_avx512.o /tmp/gemm_avx2.o \
 *       -lopenblas -lm -o /tmp/bench_gemm
 * Run against OpenBLAS's best kernels for the host.  The environment's
 * OPENBLAS_CORETYPE=Haswell would halve OpenBLAS on an AVX-512 machine:
 *   AMD Zen 4/5 (detected by OpenBLAS 0.3.21):
 *     env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /tmp/bench_gemm [out.csv]
 *   Intel Sapphire/Emerald Rapids (0.3.21 does not recognise it and falls back to
 *   Prescott SSE kernels; SkylakeX is its fastest AVX-512 sgemm here):
 *     env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=SkylakeX /tmp/bench_gemm [out.csv]
 * The first line printed names the OpenBLAS core actually used.
 *
 * For each shape and for 1 and 2 threads: the median over samples of the time per call
 * (a sample repeats the call enough to last ~2 ms), for ours and for OpenBLAS, as
 * GFLOP/s, ours/OpenBLAS of the medians, and ("best") of the fastest samples.  Both sides run row-major C with beta = 0; transposed
 * operands are passed to ours as strides and to OpenBLAS as CblasTrans.
 * Then ours alone at each float32 matmul precision (precision_rows; AG_BENCH_PRECISION_ONLY=1
 * runs only those). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ag.h"
#include "ops/kernels/gemm.h"
#include "runtime/cpu.h"
#include "runtime/precision.h"

extern void openblas_set_num_threads(int);
extern char *openblas_get_corename(void);

typedef struct {
    const char *name;
    int64_t M, N, K;
    int ta, tb; /* A (resp. B) stored transposed: read through strides */
} shape;

static const shape shapes[] = {
    {"sq64", 64, 64, 64, 0, 0},
    {"sq128", 128, 128, 128, 0, 0},
    {"sq256", 256, 256, 256, 0, 0},
    {"sq512", 512, 512, 512, 0, 0},
    {"sq1024", 1024, 1024, 1024, 0, 0},
    {"sq2048", 2048, 2048, 2048, 0, 0},
    {"mlp1 128x784*784x256", 128, 256, 784, 0, 0},
    {"mlp2 128x256*256x128", 128, 128, 256, 0, 0},
    {"mlp3 128x128*128x10", 128, 10, 128, 0, 0},
    {"bwdW1 784x128*128x256 (A^T G)", 784, 256, 128, 1, 0},
    {"bwdX1 128x256*256x784 (G B^T)", 128, 784, 256, 0, 1},
    {"bwdW2 256x128*128x128 (A^T G)", 256, 128, 128, 1, 0},
    {"bwdX2 128x128*128x256 (G B^T)", 128, 256, 128, 0, 1},
    {"bwdW3 128x128*128x10 (A^T G)", 128, 10, 128, 1, 0},
    {"bwdX3 128x10*10x128 (G B^T)", 128, 128, 10, 0, 1},
};

/* Seconds on a clock: the calling thread's CPU time for single-threaded runs (the
 * machine is shared, so wall time would count other processes' time slices), wall
 * time for threaded runs (indicative only on a shared machine). */
static double now(int cpu) {
    struct timespec t;
    clock_gettime(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const shape *s;
    const float *A, *B;
    float *C;
} prob;

static void run_ours(const prob *p) {
    const shape *s = p->s;
    /* A is M x K: stored row-major, or as its transpose (K x M row-major). */
    int64_t rsa = s->ta ? 1 : s->K, csa = s->ta ? s->M : 1;
    int64_t rsb = s->tb ? 1 : s->N, csb = s->tb ? s->K : 1;
    ag__gemm_f32(s->M, s->N, s->K, 1.0f, p->A, rsa, csa, p->B, rsb, csb, 0.0f, p->C, s->N, 1);
}

static void run_blas(const prob *p) {
    const shape *s = p->s;
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                (int)s->M, (int)s->N, (int)s->K, 1.0f, p->A, s->ta ? (int)s->M : (int)s->K, p->B,
                s->tb ? (int)s->K : (int)s->N, 0.0f, p->C, (int)s->N);
}

/* Interleaved timing of ours and OpenBLAS: `rounds` rounds, each one sample of
 * `inner` calls of ours then one of OpenBLAS (single-threaded: thread CPU time,
 * interleaved call by call so both see the same machine load; threaded: wall time,
 * with a pause before each side so the other side's idle workers stop spinning).
 * Fills min and median seconds per call of each side. */
static void time_pair(const prob *p, int th, int inner, int rounds, double *min_o, double *med_o,
                      double *min_b, double *med_b) {
    double to[64], tb[64];
    int cpu = th == 1;
    for (int i = 0; i < inner; i++) run_ours(p), run_blas(p); /* warm up */
    for (int r = 0; r < rounds; r++) {
        for (int side = 0; side < 2; side++) {
            if (!cpu) nanosleep(&(struct timespec){0, 100000000}, NULL);
            void (*fn)(const prob *) = side ? run_blas : run_ours;
            if (!cpu) fn(p);
            double t0 = now(cpu);
            for (int i = 0; i < inner; i++) fn(p);
            (side ? tb : to)[r] = (now(cpu) - t0) / inner;
        }
    }
    qsort(to, (size_t)rounds, sizeof *to, cmp_d);
    qsort(tb, (size_t)rounds, sizeof *tb, cmp_d);
    *min_o = to[0], *med_o = to[rounds / 2], *min_b = tb[0], *med_b = tb[rounds / 2];
}

/* ours alone at each float32 matmul precision, 1 thread, median GFLOP/s: HIGHEST, then
 * MEDIUM and HIGH on the path the machine takes by default (ag_matmul_backend names it)
 * and on the emulated bf16 path (AG_MATMUL_BF16=emulate). */
static void precision_rows(FILE *csv, const char *filt) {
    printf("\nprecision modes (1 thread, median GFLOP/s; AMX-BF16: %s, AVX512-BF16: %s)\n",
           ag__cpu_has_amx_bf16() ? "yes" : "no AMX", ag__cpu_has_avx512_bf16() ? "yes" : "no");
    if (csv) fprintf(csv, "\nshape,M,N,K,precision,backend,gflops\n");
    static const struct {
        const char *name;
        ag_precision p;
        int path;
    } modes[] = {
        {"highest", AG_PRECISION_HIGHEST, AG_BF16_OFF},
        {"medium", AG_PRECISION_MEDIUM, AG_BF16_OFF},
        {"high", AG_PRECISION_HIGH, AG_BF16_OFF},
        {"medium", AG_PRECISION_MEDIUM, AG_BF16_EMULATE},
        {"high", AG_PRECISION_HIGH, AG_BF16_EMULATE},
    };
    omp_set_num_threads(1);
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        if (filt && !strstr(s->name, filt)) continue;
        if (s->M * s->N * s->K > (int64_t)1 << 28) continue; /* sq1024 and up: too long */
        float *A = aligned_alloc(64, (size_t)(s->M * s->K * 4 + 64));
        float *B = aligned_alloc(64, (size_t)(s->K * s->N * 4 + 64));
        float *C = aligned_alloc(64, (size_t)(s->M * s->N * 4 + 64));
        for (int64_t j = 0; j < s->M * s->K; j++) A[j] = (float)(j % 17) * 0.1f - 0.8f;
        for (int64_t j = 0; j < s->K * s->N; j++) B[j] = (float)(j % 13) * 0.1f - 0.6f;
        prob p = {s, A, B, C};
        double flop = 2.0 * (double)s->M * (double)s->N * (double)s->K;
        int inner = (int)(1e-3 * 1e11 / flop) + 1;
        for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
            ag__bf16_set_path(modes[m].path);
            ag_set_float32_matmul_precision(modes[m].p);
            double t[15];
            for (int i = 0; i < inner; i++) run_ours(&p);
            for (int r = 0; r < 15; r++) {
                double t0 = now(1);
                for (int i = 0; i < inner; i++) run_ours(&p);
                t[r] = (now(1) - t0) / inner;
            }
            qsort(t, 15, sizeof *t, cmp_d);
            printf("%-32s %-8s %-32s %7.1f\n", s->name, modes[m].name, ag_matmul_backend(),
                   flop / t[7] * 1e-9);
            if (csv)
                fprintf(csv, "\"%s\",%lld,%lld,%lld,%s,%s,%.2f\n", s->name, (long long)s->M,
                        (long long)s->N, (long long)s->K, modes[m].name, ag_matmul_backend(),
                        flop / t[7] * 1e-9);
        }
        free(A), free(B), free(C);
    }
    ag_set_float32_matmul_precision(AG_PRECISION_HIGHEST);
}

int main(int argc, char **argv) {
    /* Optional: AG_BENCH_THREADS=1|2 runs one thread count, AG_BENCH_SHAPES=substring
     * keeps the shapes whose name contains it. */
    const char *ts = getenv("AG_BENCH_THREADS"), *filt = getenv("AG_BENCH_SHAPES");
    int only_th = ts ? atoi(ts) : 0;
    FILE *csv = argc > 1 ? fopen(argv[1], "w") : NULL;
    if (argc > 1 && !csv) {
        perror(argv[1]);
        return 1;
    }
    if (csv) fprintf(csv, "shape,M,N,K,threads,ours_gflops,openblas_gflops,ratio,ratio_best\n");
    printf("ours: isa=%s   OpenBLAS core: %s   (GFLOP/s: median, best)\n"
           "%-32s %3s %7s %7s %7s %7s %6s %6s\n",
           ag__gemm_isa(), openblas_get_corename(), "shape", "thr", "ours", "oblas", "ours_b",
           "obl_b", "ratio", "r_best");
    for (size_t i = 0; !getenv("AG_BENCH_PRECISION_ONLY") && i < sizeof shapes / sizeof *shapes;
         i++) {
        const shape *s = &shapes[i];
        if (filt && !strstr(s->name, filt)) continue;
        float *A = aligned_alloc(64, (size_t)(s->M * s->K * 4 + 64));
        float *B = aligned_alloc(64, (size_t)(s->K * s->N * 4 + 64));
        float *C = aligned_alloc(64, (size_t)(s->M * s->N * 4 + 64));
        for (int64_t j = 0; j < s->M * s->K; j++) A[j] = (float)(j % 17) * 0.1f - 0.8f;
        for (int64_t j = 0; j < s->K * s->N; j++) B[j] = (float)(j % 13) * 0.1f - 0.6f;
        prob p = {s, A, B, C};
        double flop = 2.0 * (double)s->M * (double)s->N * (double)s->K;
        int inner = (int)(1e-3 * 1e11 / flop) + 1; /* ~1 ms at 100 GFLOP/s */
        for (int th = 1; th <= 2; th++) {
            if (only_th && th != only_th) continue;
            omp_set_num_threads(th);
            openblas_set_num_threads(th);
            int rounds = th == 1 ? (flop > 4e9 ? 15 : 41) : (flop > 4e9 ? 5 : 9);
            double mo, to, mb, tb;
            time_pair(&p, th, inner, rounds, &mo, &to, &mb, &tb);
            double go = flop / to * 1e-9, gb = flop / tb * 1e-9;
            double bo = flop / mo * 1e-9, bb = flop / mb * 1e-9;
            printf("%-32s %3d %7.1f %7.1f %7.1f %7.1f %6.2f %6.2f\n", s->name, th, go, gb, bo, bb,
                   go / gb, bo / bb);
            if (csv)
                fprintf(csv, "\"%s\",%lld,%lld,%lld,%d,%.2f,%.2f,%.3f,%.3f\n", s->name,
                        (long long)s->M, (long long)s->N, (long long)s->K, th, go, gb, go / gb,
                        bo / bb);
        }
        free(A), free(B), free(C);
    }
    precision_rows(csv, filt);
    if (csv) fclose(csv);
    return 0;
}
