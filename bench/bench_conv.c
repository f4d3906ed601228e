/* Benchmark: forward+backward of the Fashion-MNIST CNN's conv and pool layers, float32,
 * batch 128, against bench/peers/conv_peer.py (same shapes, same CSV columns):
 *   layer 1: conv3x3(1->32) on [128,1,28,28] + maxpool2   (input needs no gradient)
 *   layer 2: conv3x3(32->64) on layer 1's output shape + maxpool2
 * padding PAD: 0 as /work/shared/peers/cnn_fmnist.py, 1 for the 'pad1' variant.
 * Build and run (from the repository root):
 *   make build/libag.a && cc -O2 -fopenmp -Iinclude -I. bench/bench_conv.c build/libag.a \
 *     -lsleef -lz -lm -o build/bench_conv && OMP_NUM_THREADS=2 ./build/bench_conv [PAD] [REPS]
 * Peer: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE \
 *   /usr/bin/python3 bench/peers/conv_peer.py 2 [PAD] [REPS]
 * CLOCK=cpu in the environment times process CPU seconds instead of wall seconds (on a
 * shared machine, the steadier measure for 1 thread; both sides accept it). */
#include <ag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int pad = 0;
static bool cpu_clock = false;

static double now(void) {
    if (!cpu_clock) return ag_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double layer(ag_tensor *x, ag_tensor *w, ag_tensor *b, bool backward) {
    ag_scope_begin();
    double t0 = now();
    ag_tensor *y = ag_max_pool2d(ag_conv2d(x, w, b, (ag_conv_opts){.padding = {pad, pad}}),
                                 (ag_pool_opts){.kernel = {2, 2}});
    if (!y) {
        fprintf(stderr, "bench_conv: %s\n", ag_last_error());
        exit(1);
    }
    if (backward) ag_backward_ex(y, (ag_backward_opts){.grad = ag_ones_like(y)});
    double t = now() - t0;
    ag_scope_end();
    return t;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_ms(ag_tensor *x, ag_tensor *w, ag_tensor *b, bool backward, int reps) {
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (int i = 0; i < 3; i++) layer(x, w, b, backward);
    for (int i = 0; i < reps; i++) t[i] = layer(x, w, b, backward);
    qsort(t, (size_t)reps, sizeof *t, cmp);
    double m = t[reps / 2] * 1e3;
    free(t);
    return m;
}

int main(int argc, char **argv) {
    pad = argc > 1 ? atoi(argv[1]) : 0;
    cpu_clock = getenv("CLOCK") && !strcmp(getenv("CLOCK"), "cpu");
    int reps = argc > 2 ? atoi(argv[2]) : 30;
    ag_manual_seed(0);
    int64_t h = (28 + 2 * pad - 2) / 2;
    ag_tensor *x1 = ag_rand(AG_F32, 4, (int64_t[]){128, 1, 28, 28});
    ag_tensor *w1 = ag_randn(AG_F32, 4, (int64_t[]){32, 1, 3, 3});
    ag_tensor *b1 = ag_zeros(AG_F32, 1, (int64_t[]){32});
    ag_tensor *x2 = ag_rand(AG_F32, 4, (int64_t[]){128, 32, h, h});
    ag_tensor *w2 = ag_randn(AG_F32, 4, (int64_t[]){64, 32, 3, 3});
    ag_tensor *b2 = ag_zeros(AG_F32, 1, (int64_t[]){64});
    ag_set_requires_grad(w1, true), ag_set_requires_grad(b1, true);
    ag_set_requires_grad(w2, true), ag_set_requires_grad(b2, true);
    ag_set_requires_grad(x2, true);
    double f1 = median_ms(x1, w1, b1, false, reps), f2 = median_ms(x2, w2, b2, false, reps);
    double t1 = median_ms(x1, w1, b1, true, reps), t2 = median_ms(x2, w2, b2, true, reps);
    printf(
        "impl,clock,threads,pad,layer1_fwd_ms,layer2_fwd_ms,layer1_fwdbwd_ms,layer2_fwdbwd_ms,total_fwdbwd_ms\n");
    printf("ag,%s,%d,%d,%.3f,%.3f,%.3f,%.3f,%.3f\n", cpu_clock ? "cpu" : "wall",
           ag_get_num_threads(), pad, f1, f2, t1, t2, t1 + t2);
    ag_tensor *all[] = {x1, w1, b1, x2, w2, b2};
    for (int i = 0; i < 6; i++) ag_tensor_free(all[i]);
    return 0;
}
