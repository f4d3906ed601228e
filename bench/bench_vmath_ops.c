/* bench_vmath_ops: float32 throughput of the public element-wise ops (ag_exp, ag_tanh, ...),
 * forward and backward through autograd, at 1M and 16M elements: what the vector kernels
 * give once op dispatch, allocation and the graph are paid for.
 * Build: make build/bench_vmath_ops
 * Run:   build/bench_vmath_ops THREADS [reps=5] [--cpu] [--ops exp,tanh,...]
 *   or, interleaved with the torch peer and with ratios:
 *          /usr/bin/python3 bench/peers/vmath_ops_cmp.py [rounds=3]
 * Ops: exp tanh sigmoid gelu softplus relu add (x U[-5,5)), softmax and log_softmax over
 * rows of 1024. Forward: y = op(x) with grad off. Backward: ag_autograd_grad of y with a
 * seed g for x, graph retained (the forward is outside the timing).
 * --cpu: with one thread, per-thread CPU time (CLOCK_THREAD_CPUTIME_ID) instead of wall.
 * Prints CSV: ours,op,dir,n,threads,Gelem_s (median of reps). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ag.h"

static int cpu_time;

static double now(void) {
    struct timespec ts;
    clock_gettime(cpu_time && ag_get_num_threads() == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC,
                  &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *op;
    int bwd;
    ag_tensor *x, *x2, *y, *g;
} job;

static ag_tensor *apply(const char *op, ag_tensor *x, ag_tensor *x2) {
    if (!strcmp(op, "exp")) return ag_exp(x);
    if (!strcmp(op, "tanh")) return ag_tanh(x);
    if (!strcmp(op, "sigmoid")) return ag_sigmoid(x);
    if (!strcmp(op, "gelu")) return ag_gelu(x);
    if (!strcmp(op, "softplus")) return ag_softplus(x);
    if (!strcmp(op, "relu")) return ag_relu(x);
    if (!strcmp(op, "add")) return ag_add(x, x2);
    if (!strcmp(op, "softmax")) return ag_softmax(x, 1);
    if (!strcmp(op, "log_softmax")) return ag_log_softmax(x, 1);
    return NULL;
}

static void once(const job *j) {
    ag_scope_begin();
    if (j->bwd) {
        ag_tensor *gr[2];
        ag_tensor *in[2] = {j->x, j->x2};
        ag_autograd_grad(1, &j->y, &j->g, j->x2 ? 2 : 1, in, gr,
                         (ag_grad_opts){.retain_graph = true});
    } else {
        bool prev = ag_set_grad_enabled(false);
        apply(j->op, j->x, j->x2);
        ag_set_grad_enabled(prev);
    }
    ag_scope_end();
}

static double rate(const job *j, int64_t n, int reps) {
    once(j);
    int calls = 1;
    double dt;
    for (;;) {
        double t0 = now();
        for (int c = 0; c < calls; c++) once(j);
        dt = now() - t0;
        if (dt > 0.02) break;
        calls *= 2;
    }
    int k = (int)(calls * 0.05 / dt) + 1;
    double r[64];
    if (reps > 64) reps = 64;
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        for (int c = 0; c < k; c++) once(j);
        r[i] = (double)n * k / (now() - t0) / 1e9;
    }
    qsort(r, (size_t)reps, sizeof(double), cmp_d);
    return r[reps / 2];
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, reps = 5;
    const char *ops = "exp,tanh,sigmoid,gelu,softplus,relu,add,softmax,log_softmax";
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--cpu")) cpu_time = 1;
        else if (!strcmp(argv[i], "--ops") && i + 1 < argc) ops = argv[++i];
        else if (atoi(argv[i]) > 0) reps = atoi(argv[i]);
    }
    ag_set_num_threads(threads);
    ag_manual_seed(0);
    printf("lib,op,dir,n,threads,Gelem_s\n");
    for (int si = 0; si < 2; si++) {
        int64_t n = si ? (int64_t)1 << 24 : (int64_t)1 << 20;
        int64_t shape[2] = {n / 1024, 1024};
        ag_tensor *x = ag_rand(AG_F32, 2, shape), *x2 = ag_rand(AG_F32, 2, shape);
        ag_tensor *g = ag_rand(AG_F32, 2, shape);
        ag_tensor *xs = ag_add_scalar(ag_mul_scalar(x, 10.0), -5.0);
        ag_set_requires_grad(xs, true);
        ag_set_requires_grad(x2, true);
        char buf[256];
        snprintf(buf, sizeof buf, "%s", ops);
        for (char *op = strtok(buf, ","); op; op = strtok(NULL, ",")) {
            for (int d = 0; d < 2; d++) {
                job j = {op, d, xs, strcmp(op, "add") ? NULL : x2, NULL, g};
                if (d) j.y = apply(op, xs, j.x2);
                else if (!apply(op, xs, j.x2)) continue;
                printf("ours,%s,%s,%lld,%d,%.4f\n", op, d ? "bwd" : "fwd", (long long)n, threads,
                       rate(&j, n, reps));
                fflush(stdout);
                if (j.y) ag_tensor_free(j.y);
            }
        }
        ag_tensor_free(xs), ag_tensor_free(x), ag_tensor_free(x2), ag_tensor_free(g);
    }
    return 0;
}
