/* Benchmark: the issue-12 ResNet's and the Fashion-MNIST CNN's ops, float32, batch 128,
 * against bench/peers/resnet_ops_peer.py (same ops, same CSV columns).
 * Memory-bound ops, forward+backward at [128,16,28,28] (the ResNet's first stage):
 *   bn_train  batch_norm2d training (weight, bias, running stats), x needs grad
 *   bn_eval   batch_norm2d eval (running stats), x needs grad
 *   add       x + y (the residual add), both need grad
 * layer_norm forward+backward over the last dim (weight, bias; x, w, b need grad), float32:
 *   ln_gpt    [512, 64]     char_gpt's (batch 16 x context 32, d 64)
 *   ln_4k     [4096, 64]    a GPT batch of 4,096 tokens
 *   ln_large  [262144, 64]  16M elements (the op table's largest size)
 *   ln_wide   [8192, 1024]  8M elements in long rows
 * OPS=name,name,... runs only those rows ("conv" for all the convolution rows).
 * After each timed call the leaves' gradients are zeroed (ag_zero_grad, untimed), as a
 * training loop does and as the peer sets them to None: each call writes its gradients
 * afresh instead of adding them to the sum of all earlier calls.
 * Convolutions (conv_cases below), each pass on its own: fwd (conv2d with bias, no grad
 * recorded), dx (the input gradient), dw (the weight gradient), as ms and GFLOP/s.
 * It also reports the peak arena bytes one bn_train forward+backward adds (ag_mem_peak-
 * style: RSS high-water mark before and after, in MiB, from /proc/self/status).
 * CLOCK=cpu times process CPU seconds; STAT=min reports the fastest call, not the median.
 * Build and run (from the repository root):
 *   make build/bench_resnet_ops && OMP_NUM_THREADS=1 ./build/bench_resnet_ops [REPS] [OUT.csv]
 * Peer: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/peers/resnet_ops_peer.py 1 [REPS]
 * Side by side, both thread counts, as a table: bench/conv_ops_table.py. */
#include <ag.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/conv_adjoint.h"

static ag_tensor *x, *y, *w, *b, *rm, *rv;

/* The layer_norm cases: rows R of M elements. */
struct ln_case {
    const char *name;
    int64_t R, M;
};
static const struct ln_case ln_cases[] = {
    {"ln_gpt", 512, 64}, {"ln_4k", 4096, 64}, {"ln_large", 262144, 64}, {"ln_wide", 8192, 1024}};
enum { NLN = sizeof ln_cases / sizeof ln_cases[0] };
static ag_tensor *lx, *lw, *lb; /* the current layer_norm case's input, weight, bias */

/* One convolution: x [128, C, H, H], w [O, C, K, K], stride s, padding p. */
struct conv_case {
    const char *name;
    int64_t C, H, O, K;
    int s, p;
};
static const struct conv_case conv_cases[] = {
    {"resnet_stem_1x16_28", 1, 28, 16, 3, 1, 1},  {"resnet_16x16_28", 16, 28, 16, 3, 1, 1},
    {"resnet_16x32_s2_28", 16, 28, 32, 3, 2, 1},  {"resnet_32x32_14", 32, 14, 32, 3, 1, 1},
    {"resnet_1x1_16x32_s2", 16, 28, 32, 1, 2, 0}, {"cnn_1x32_28", 1, 28, 32, 3, 1, 1},
    {"cnn_32x64_14", 32, 14, 64, 3, 1, 1},
};
enum { NCASES = sizeof conv_cases / sizeof conv_cases[0], BATCH = 128 };
static ag_tensor *cx, *cw, *cb, *cg; /* the current case's input, weight, bias, grad */

/* One pass of the current convolution case (grad recording off). */
static ag_tensor *conv_pass(const struct conv_case *c, const char *op) {
    int st[2] = {c->s, c->s}, pd[2] = {c->p, c->p}, dl[2] = {1, 1};
    if (!strcmp(op, "fwd"))
        return ag_conv2d(cx, cw, cb,
                         (ag_conv_opts){.stride = {c->s, c->s}, .padding = {c->p, c->p}});
    if (!strcmp(op, "dx")) return ag__conv2d_input_grad(cg, cw, st, pd, dl, 1, c->H, c->H);
    return ag__conv2d_weight_grad(cx, cg, st, pd, dl, 1, c->K, c->K);
}

static const struct conv_case *cur;

/* Seconds: wall, or this process's CPU time with CLOCK=cpu in the environment (steadier
 * for one thread on a shared machine; the peer reads the same variable). With
 * STAT=min, the timing is the fastest call instead of the median. */
static bool cpu_clock, stat_min;
static double now(void) {
    if (!cpu_clock) return ag_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double run(const char *op) {
    ag_scope_begin();
    double t0 = now();
    ag_tensor *out;
    if (cur) {
        bool prev = ag_set_grad_enabled(false);
        out = conv_pass(cur, op);
        ag_set_grad_enabled(prev);
        if (!out) {
            fprintf(stderr, "bench_resnet_ops: %s\n", ag_last_error());
            exit(1);
        }
        double t = now() - t0;
        ag_scope_end();
        return t;
    }
    if (!strcmp(op, "add")) out = ag_add(x, y);
    else if (!strncmp(op, "ln_", 3)) out = ag_layer_norm(lx, 1, &lx->shape[1], lw, lb, 1e-5);
    else out = ag_batch_norm(x, rm, rv, w, b, !strcmp(op, "bn_train"), 0.1, 1e-5);
    if (!out || ag_backward_ex(out, (ag_backward_opts){.grad = ag_ones_like(out)})) {
        fprintf(stderr, "bench_resnet_ops: %s\n", ag_last_error());
        exit(1);
    }
    double t = now() - t0;
    ag_scope_end();
    ag_tensor *leaves[] = {x, y, w, b, lx, lw, lb}; /* the peer sets .grad to None */
    for (int i = 0; i < 7; i++)
        if (leaves[i]) ag_zero_grad(leaves[i]);
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
    return t[stat_min ? 0 : reps / 2] * 1e3;
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

/* OPS (comma-separated names) given and name not in it. */
static bool skipped(const char *name) {
    const char *ops = getenv("OPS");
    if (!ops || !*ops) return false;
    size_t n = strlen(name);
    for (const char *p = ops; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, name, n) && (p[n] == ',' || !p[n])) return false;
    return true;
}

static void print_row(FILE *csv, const char *op, double ms) {
    char row[128];
    snprintf(row, sizeof row, "ag,%d,%s,%.3f,\n", ag_get_num_threads(), op, ms);
    fputs(row, stdout);
    if (csv) fputs(row, csv);
}

/* Median ms of each layer_norm case's forward+backward. */
static void ln_rows(int reps, FILE *csv) {
    for (int i = 0; i < NLN; i++) {
        const struct ln_case *c = &ln_cases[i];
        if (skipped(c->name)) continue;
        lx = ag_randn(AG_F32, 2, (int64_t[]){c->R, c->M});
        lw = ag_rand(AG_F32, 1, &c->M), lb = ag_randn(AG_F32, 1, &c->M);
        ag_tensor *all[] = {lx, lw, lb};
        for (int k = 0; k < 3; k++) ag_set_requires_grad(all[k], true);
        print_row(csv, c->name, median_ms(c->name, reps));
        for (int k = 0; k < 3; k++) ag_tensor_free(all[k]);
        lx = lw = lb = NULL;
    }
}

/* Median ms of each pass of each convolution case, one CSV row each (also to csv). */
static void conv_rows(int reps, FILE *csv) {
    for (int i = 0; i < NCASES; i++) {
        const struct conv_case *c = &conv_cases[i];
        int64_t OH = (c->H + 2 * c->p - c->K) / c->s + 1;
        cx = ag_randn(AG_F32, 4, (int64_t[]){BATCH, c->C, c->H, c->H});
        cw = ag_randn(AG_F32, 4, (int64_t[]){c->O, c->C, c->K, c->K});
        cb = ag_randn(AG_F32, 1, (int64_t[]){c->O});
        cg = ag_randn(AG_F32, 4, (int64_t[]){BATCH, c->O, OH, OH});
        double flops = 2.0 * BATCH * (double)(c->O * OH * OH * c->C * c->K * c->K);
        const char *passes[] = {"fwd", "dx", "dw"};
        cur = c;
        for (int k = 0; k < 3; k++) {
            double ms = median_ms(passes[k], reps);
            char row[256];
            snprintf(row, sizeof row, "ag,%d,conv_%s_%s,%.3f,%.2f\n", ag_get_num_threads(), c->name,
                     passes[k], ms, flops / ms * 1e-6);
            fputs(row, stdout);
            if (csv) fputs(row, csv);
        }
        cur = NULL;
        ag_tensor *all[] = {cx, cw, cb, cg};
        for (int k = 0; k < 4; k++) ag_tensor_free(all[k]);
    }
}

int main(int argc, char **argv) {
    int reps = 21;
    FILE *csv = NULL; /* `make bench` passes the CSV path to write */
    for (int i = 1; i < argc; i++) {
        if (isdigit((unsigned char)argv[i][0])) reps = atoi(argv[i]);
        else if (!(csv = fopen(argv[i], "w"))) perror(argv[i]);
    }
    if (reps < 1) reps = 1;
    cpu_clock = getenv("CLOCK") && !strcmp(getenv("CLOCK"), "cpu");
    stat_min = getenv("STAT") && !strcmp(getenv("STAT"), "min");
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
    printf("impl,threads,op,ms,gflops\n");
    if (csv) fputs("impl,threads,op,ms,gflops\n", csv);
    for (int i = 0; i < 3; i++)
        if (!skipped(ops[i])) print_row(csv, ops[i], median_ms(ops[i], reps));
    ln_rows(reps, csv);
    if (!skipped("conv")) conv_rows(reps, csv);
    printf("ag,%d,bn_train_peak_added_MiB,%.1f,\n", ag_get_num_threads(), p1 - p0);
    if (csv) fclose(csv);
    ag_tensor *all[] = {x, y, w, b, rm, rv};
    for (int i = 0; i < 6; i++) ag_tensor_free(all[i]);
    return 0;
}
