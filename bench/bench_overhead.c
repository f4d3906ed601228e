/* The micrograd test: per-op overhead of a scalar expression graph.
 *
 * a = x; repeat: a = third(a * w + b) with third = tanh when the op table has it (as
 * /work/shared/peers/autograd_overhead.py does in PyTorch), else neg. All 0-d float32
 * leaves with requires_grad. Timed: the forward (graph recording), ag_backward of the
 * result, and the same forward under no-grad; each divided by the number of ops. */
#include "bench/bench.h"

#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int find_op(const char *name) {
    for (int i = 0; i < AG_OP_COUNT; i++)
        if (!strcmp(ag__ops[i]->name, name)) return i;
    return -1;
}

static ag_tensor *chain(ag_tensor *x, ag_tensor *w, ag_tensor *b, int steps, int third) {
    ag_tensor *a = x;
    for (int s = 0; s < steps; s++) {
        a = ag_add(ag_mul(a, w), b);
        a = third >= 0 ? ag_tanh(a) : ag_neg(a); /* tanh takes its activation args */
    }
    return a;
}

int bench_overhead(int n_ops, int reps, struct overhead_result *r) {
    int third = find_op("tanh");
    int steps = n_ops / 3;
    ag_tensor *w = ag_scalar(AG_F32, 0.9), *b = ag_scalar(AG_F32, 0.1), *x = ag_scalar(AG_F32, 0.5);
    if (!w || !b || !x) return -1;
    ag_set_requires_grad(w, true);
    ag_set_requires_grad(b, true);
    ag_set_requires_grad(x, true);
    double *tf = calloc((size_t)reps, sizeof *tf), *tb = calloc((size_t)reps, sizeof *tb),
           *tn = calloc((size_t)reps, sizeof *tn);
    int rc = tf && tb && tn ? 0 : -1;
    for (int rep = -1; rep < reps && rc == 0; rep++) { /* rep -1: warm-up */
        ag_scope_begin();
        double t0 = ag_now();
        ag_tensor *a = chain(x, w, b, steps, third);
        double t1 = ag_now();
        rc = a ? ag_backward(a) : -1;
        double t2 = ag_now();
        bool prev = ag_set_grad_enabled(false);
        double t3 = ag_now();
        if (!chain(x, w, b, steps, third)) rc = -1;
        double t4 = ag_now();
        ag_set_grad_enabled(prev);
        ag_scope_end();
        ag_zero_grad(w), ag_zero_grad(b), ag_zero_grad(x);
        if (rep >= 0) tf[rep] = t1 - t0, tb[rep] = t2 - t1, tn[rep] = t4 - t3;
    }
    if (rc == 0) {
        int ops = 3 * steps;
        r->n_ops = ops;
        r->third_op = third >= 0 ? "tanh" : "neg";
        r->fwd_us = median(tf, reps) / ops * 1e6;
        r->bwd_us = median(tb, reps) / ops * 1e6;
        r->nograd_us = median(tn, reps) / ops * 1e6;
    }
    free(tf), free(tb), free(tn);
    ag_tensor_free(w), ag_tensor_free(b), ag_tensor_free(x);
    return rc;
}
