/* threads_busy.c — a small GEMM-heavy training step (MLP 784-256-128-10, batch 128,
 * forward + backward), or with the argument `gemm` one float32 GEMM n=256, timed at the
 * default thread count (AG_NUM_THREADS, else OMP_NUM_THREADS), for bench/threads_busy.sh,
 * which runs it under wait settings with and without a competing busy-loop process.
 * Prints the median and the mean milliseconds per step over 60 steps (gemm: 600) after
 * 10 warm-up steps, wall time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ag.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* n=256 float32 GEMMs: ms each, median and mean. */
static int gemm_main(void) {
    enum { STEPS = 600, WARM = 10 };
    ag_manual_seed(1);
    ag_tensor *a = ag_randn(AG_F32, 2, (int64_t[]){256, 256}),
              *b = ag_randn(AG_F32, 2, (int64_t[]){256, 256});
    static double t[STEPS];
    for (int s = 0; s < WARM + STEPS; s++) {
        double t0 = ag_now();
        ag_scope_begin();
        ag_matmul(a, b);
        ag_scope_end();
        if (s >= WARM) t[s - WARM] = ag_now() - t0;
    }
    double mean = 0;
    for (int s = 0; s < STEPS; s++) mean += t[s] / STEPS;
    qsort(t, STEPS, sizeof *t, cmp_d);
    printf("%.4f %.4f\n", t[STEPS / 2] * 1e3, mean * 1e3);
    ag_tensor_free(a), ag_tensor_free(b);
    return 0;
}

int main(int argc, char **argv) {
    enum { STEPS = 60, WARM = 10 };
    if (argc > 1 && !strcmp(argv[1], "gemm")) return gemm_main();
    ag_manual_seed(1);
    ag_tensor *x = ag_randn(AG_F32, 2, (int64_t[]){128, 784});
    ag_tensor *y = ag_randn(AG_F32, 2, (int64_t[]){128, 10});
    ag_tensor *w[3] = {ag_randn(AG_F32, 2, (int64_t[]){256, 784}),
                       ag_randn(AG_F32, 2, (int64_t[]){128, 256}),
                       ag_randn(AG_F32, 2, (int64_t[]){10, 128})};
    for (int i = 0; i < 3; i++) ag_set_requires_grad(w[i], true);
    static double t[STEPS];
    for (int s = 0; s < WARM + STEPS; s++) {
        double t0 = ag_now();
        ag_scope_begin();
        ag_tensor *h = ag_relu(ag_linear(x, w[0], NULL));
        h = ag_relu(ag_linear(h, w[1], NULL));
        ag_backward(ag_mse_loss(ag_linear(h, w[2], NULL), y));
        for (int i = 0; i < 3; i++) ag_zero_grad(w[i]);
        ag_scope_end();
        if (s >= WARM) t[s - WARM] = ag_now() - t0;
    }
    double mean = 0;
    for (int s = 0; s < STEPS; s++) mean += t[s] / STEPS;
    qsort(t, STEPS, sizeof *t, cmp_d);
    printf("%.3f %.3f\n", t[STEPS / 2] * 1e3, mean * 1e3);
    for (int i = 0; i < 3; i++) ag_tensor_free(w[i]);
    ag_tensor_free(x), ag_tensor_free(y);
    return 0;
}
