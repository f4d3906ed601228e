/* Benchmark: forward+backward of the ResNet block's memory-bound ops, float32, one shape
 * [128,16,28,28] (the issue-12 ResNet's first stage), against bench/peers/resnet_ops_peer.py
 * (same ops, same CSV columns):
 *   bn_train  batch_norm2d training (weight, bias, running stats), x needs grad
 *   bn_eval   batch_norm2d eval (running stats), x needs grad
 *   add       x + y (the residual add), both need grad
 * It also reports the peak arena bytes one bn_train forward+backward adds (ag_mem_peak-
 * style: RSS high-water mark before and after, in MiB, from /proc/self/status).
 * Build and run (from the repository root):
 *   make build/libag.a && cc -O2 -fopenmp -Iinclude -I. bench/bench_resnet_ops.c \
 *     build/libag.a -lsleef -lz -lm -o build/bench_resnet_ops && \
 *     OMP_NUM_THREADS=1 ./build/bench_resnet_ops [REPS]
 * Peer: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/peers/resnet_ops_peer.py 1 [REPS] */
#include <ag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ag_tensor *x, *y, *w, *b, *rm, *rv;

static double run(const char *op) {
    ag_scope_begin();
    double t0 = ag_now();
    ag_tensor *out;
    if (!strcmp(op, "add")) out = ag_add(x, y);
    else out = ag_batch_norm(x, rm, rv, w, b, !strcmp(op, "bn_train"), 0.1, 1e-5);
    if (!out || ag_backward_ex(out, (ag_backward_opts){.grad = ag_ones_like(out)})) {
        fprintf(stderr, "bench_resnet_ops: %s\n", ag_last_error());
        exit(1);
    }
    double t = ag_now() - t0;
    ag_scope_end();
    return t;
}

static int cmp(const void *p, const void *q) {
    double a = *(const double *)p, c = *(const double *)q;
    return (a > c) - (a < c);
}

static double median_ms(const char *op, int reps) {
    double t[101];
    if (reps > 101) reps = 101;
    for (int i = 0; i < 2; i++) run(op);
    for (int i = 0; i < reps; i++) t[i] = run(op);
    qsort(t, (size_t)reps, sizeof *t, cmp);
    return t[reps / 2] * 1e3;
}

static double peak_mib(void) { /* VmHWM */
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 21;
    ag_manual_seed(0);
    int64_t xs[4] = {128, 16, 28, 28}, c = 16;
    x = ag_randn(AG_F32, 4, xs), y = ag_randn(AG_F32, 4, xs);
    w = ag_rand(AG_F32, 1, &c), b = ag_randn(AG_F32, 1, &c);
    rm = ag_zeros(AG_F32, 1, &c), rv = ag_ones(AG_F32, 1, &c);
    ag_set_requires_grad(x, true), ag_set_requires_grad(y, true);
    ag_set_requires_grad(w, true), ag_set_requires_grad(b, true);
    double p0 = peak_mib();
    run("bn_train");
    double p1 = peak_mib();
    const char *ops[] = {"bn_train", "bn_eval", "add"};
    printf("impl,threads,op,fwdbwd_ms\n");
    for (int i = 0; i < 3; i++)
        printf("ag,%d,%s,%.3f\n", ag_get_num_threads(), ops[i], median_ms(ops[i], reps));
    printf("ag,%d,bn_train_peak_added_MiB,%.1f\n", ag_get_num_threads(), p1 - p0);
    ag_tensor *all[] = {x, y, w, b, rm, rv};
    for (int i = 0; i < 6; i++) ag_tensor_free(all[i]);
    return 0;
}
