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
 * operands are passed to ours as strides and to OpenBLAS as CblasTrans. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops/kernels/gemm.h"

extern void openblas_set_num_threads(int);
extern char *openblas_get_corename(void);

typedef struct {
    const char *name;
    int64_t M, N, K;
    int ta, tb;        /* A (resp. B) stored transposed: read through strides */
} shape;

static const shape shapes[] = {
    {"sq64", 64, 64, 64, 0, 0},         {"sq128", 128, 128, 128, 0, 0},
    {"sq256", 256, 256, 256, 0, 0},     {"sq512", 512, 512, 512, 0, 0},
    {"sq1024", 1024, 1024, 1024, 0, 0}, {"sq2048", 2048, 2048, 2048, 0, 0},
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

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const shape *s;
    const float *A, *B;
    float *C;
} prob;

static void run_ours(const prob *p)
{
    const shape *s = p->s;
    /* A is M x K: stored row-major, or as its transpose (K x M row-major). */
    int64_t rsa = s->ta ? 1 : s->K, csa = s->ta ? s->M : 1;
    int64_t rsb = s->tb ? 1 : s->N, csb = s->tb ? s->K : 1;
    ag__gemm_f32(s->M, s->N, s->K, 1.0f, p->A, rsa, csa, p->B, rsb, csb, 0.0f, p->C,
                 s->N, 1);
}

static void run_blas(const prob *p)
{
    const shape *s = p->s;
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                s->tb ? CblasTrans : CblasNoTrans, (int)s->M, (int)s->N, (int)s->K, 1.0f,
                p->A, s->ta ? (int)s->M : (int)s->K, p->B, s->tb ? (int)s->K : (int)s->N,
                0.0f, p->C, (int)s->N);
}

/* Median seconds per call of fn over `samples` samples of `inner` calls each. */
static double time_it(void (*fn)(const prob *), const prob *p, int inner, int samples,
                      double *best)
{
    double t[64];
    /* Let the other library's idle workers stop spinning (OpenBLAS threads busy-wait
     * ~0.1 s after a call, libgomp's a little) before timing: on 2 cores they would
     * steal one. */
    nanosleep(&(struct timespec){0, 300000000}, NULL);
    for (int i = 0; i < inner; i++) fn(p);   /* warm up caches, threads, buffers */
    for (int r = 0; r < samples; r++) {
        double t0 = now();
        for (int i = 0; i < inner; i++) fn(p);
        t[r] = (now() - t0) / inner;
    }
    qsort(t, (size_t)samples, sizeof *t, cmp_d);
    *best = t[0];
    return t[samples / 2];
}

int main(int argc, char **argv)
{
    FILE *csv = argc > 1 ? fopen(argv[1], "w") : NULL;
    if (argc > 1 && !csv) { perror(argv[1]); return 1; }
    if (csv) fprintf(csv, "shape,M,N,K,threads,ours_gflops,openblas_gflops,ratio,ratio_best\n");
    printf("ours: isa=%s   OpenBLAS core: %s\n%-32s %3s %9s %9s %6s %6s\n", ag__gemm_isa(), openblas_get_corename(), "shape", "thr",
           "ours GF/s", "oblas GF/s", "ratio", "best");
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        float *A = aligned_alloc(64, (size_t)(s->M * s->K * 4 + 64));
        float *B = aligned_alloc(64, (size_t)(s->K * s->N * 4 + 64));
        float *C = aligned_alloc(64, (size_t)(s->M * s->N * 4 + 64));
        for (int64_t j = 0; j < s->M * s->K; j++) A[j] = (float)(j % 17) * 0.1f - 0.8f;
        for (int64_t j = 0; j < s->K * s->N; j++) B[j] = (float)(j % 13) * 0.1f - 0.6f;
        prob p = {s, A, B, C};
        double flop = 2.0 * (double)s->M * (double)s->N * (double)s->K;
        int inner = (int)(2e-3 * 5e10 / flop) + 1;       /* ~2 ms at 50 GFLOP/s */
        int samples = flop > 4e9 ? 5 : 15;
        for (int th = 1; th <= 2; th++) {
            omp_set_num_threads(th);
            openblas_set_num_threads(th);
            double mo, mb;   /* fastest samples: the machine may be shared */
            double to = time_it(run_ours, &p, inner, samples, &mo);
            double tb = time_it(run_blas, &p, inner, samples, &mb);
            double go = flop / to * 1e-9, gb = flop / tb * 1e-9;
            printf("%-32s %3d %9.1f %9.1f %6.2f %6.2f\n", s->name, th, go, gb, go / gb,
                   mb / mo);
            if (csv)
                fprintf(csv, "\"%s\",%lld,%lld,%lld,%d,%.2f,%.2f,%.3f,%.3f\n", s->name,
                        (long long)s->M, (long long)s->N, (long long)s->K, th, go, gb,
                        go / gb, mb / mo);
        }
        free(A), free(B), free(C);
    }
    if (csv) fclose(csv);
    return 0;
}
