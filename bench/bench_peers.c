/* The peers that run inside the bench process (OpenBLAS sgemm, loaded at run time so a
 * machine without it skips it) and the end-to-end training steps, written with the public
 * API (include/ag.h) like a user's program. */
#include "bench/bench.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ OpenBLAS */
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *,
                         int, float, float *, int);
static sgemm_fn cblas_sgemm_p;
static void (*set_threads_p)(int);
static char *(*corename_p)(void);

const char *bench_openblas_core(void) {
    static int tried;
    if (!tried) {
        tried = 1;
        void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
        if (h) {
            cblas_sgemm_p = (sgemm_fn)(uintptr_t)dlsym(h, "cblas_sgemm");
            set_threads_p = (void (*)(int))(uintptr_t)dlsym(h, "openblas_set_num_threads");
            corename_p = (char *(*)(void))(uintptr_t)dlsym(h, "openblas_get_corename");
        }
    }
    return cblas_sgemm_p && set_threads_p ? (corename_p ? corename_p() : "?") : NULL;
}

struct gemm_ctx {
    int64_t m, n, k;
    ag_tensor *a, *b;
    float *pa, *pb, *pc;
};

static void ours_gemm(void *p) { /* the op: apply path, allocation, kernel */
    struct gemm_ctx *c = p;
    ag_matmul(c->a, c->b);
}
static void blas_gemm(void *p) {
    struct gemm_ctx *c = p;
    cblas_sgemm_p(101, 111, 111, (int)c->m, (int)c->n, (int)c->k, 1.0f, c->pa, (int)c->k, c->pb,
                  (int)c->n, 0.0f, c->pc, (int)c->n); /* row-major, no transposes */
}

/* C[m,n] = A[m,k] B[k,n], float32: ours (ag_matmul) then OpenBLAS, one row each. */
int bench_gemm_shape(const char *label, int64_t m, int64_t n, int64_t k, int threads, bool quick,
                     struct bench_rows *out) {
    struct bench_row *r = bench_rows_add(out);
    if (!r) return -1;
    snprintf(r->what, sizeof r->what, "%s", label);
    strcpy(r->dir, "fwd");
    r->size = n, r->threads = threads;
    snprintf(r->shapes, sizeof r->shapes, "%lldx%lld;%lldx%lld", (long long)m, (long long)k,
             (long long)k, (long long)n);
    r->flops = 2.0 * (double)m * (double)n * (double)k;
    r->bytes = 4.0 * (double)(m * k + k * n + m * n);
    double min_s = quick ? 0.02 : 0.2;
    ag_manual_seed(99);
    ag_scope_begin();
    struct gemm_ctx c = {m,
                         n,
                         k,
                         ag_rand(AG_F32, 2, (int64_t[]){m, k}),
                         ag_rand(AG_F32, 2, (int64_t[]){k, n}),
                         NULL,
                         NULL,
                         NULL};
    if (!c.a || !c.b) {
        ag_scope_end();
        return -1;
    }
    c.pa = ag_data(c.a), c.pb = ag_data(c.b);
    c.pc = calloc((size_t)(m * n), sizeof(float));
    bool prev = ag_set_grad_enabled(false);
    ag_set_num_threads(threads);
    if (ag_matmul(c.a, c.b)) r->ours_s = ag_bench_time(ours_gemm, &c, quick ? 3 : 7, min_s);
    ag_set_grad_enabled(prev);
    ag_clear_error();
    if (bench_openblas_core() && c.pc) {
        usleep(100000); /* let our OpenMP threads go to sleep before OpenBLAS spins up */
        set_threads_p(threads);
        r->peer_s = ag_bench_time(blas_gemm, &c, quick ? 3 : 7, min_s);
        usleep(100000);
    }
    free(c.pc);
    ag_scope_end();
    return 0;
}

/* ------------------------------------------------------------------ end-to-end steps */
struct step_ctx {
    bool cnn;
    ag_tensor *x, *y, *p[10];
    int np;
    ag_optim *opt;
};

static ag_tensor *param(int ndim, const int64_t *shape, double scale) {
    ag_tensor *t = ag_randn(AG_F32, ndim, shape);
    if (!t) return NULL;
    float *d = ag_data(t);
    for (int64_t i = 0; i < ag_numel(t); i++) d[i] *= (float)scale;
    ag_set_requires_grad(t, true);
    return t;
}

static void train_step(void *p) {
    struct step_ctx *c = p;
    ag_tensor *h = c->x, **w = c->p;
    if (c->cnn) {
        ag_pool_opts pool = {.kernel = {2, 2}};
        ag_conv_opts same = {.padding = {1, 1}};
        h = ag_max_pool2d(ag_relu(ag_conv2d(h, w[0], w[1], same)), pool);
        h = ag_max_pool2d(ag_relu(ag_conv2d(h, w[2], w[3], same)), pool);
        h = ag_relu(ag_linear(ag_flatten(h, 1, -1), w[4], w[5]));
        h = ag_linear(h, w[6], w[7]);
    } else {
        h = ag_relu(ag_linear(h, w[0], w[1]));
        h = ag_relu(ag_linear(h, w[2], w[3]));
        h = ag_linear(h, w[4], w[5]);
    }
    ag_optim_zero_grad(c->opt);
    ag_backward(ag_cross_entropy_loss(h, c->y));
    ag_optim_step(c->opt);
}

/* Seconds per training step (batch 128, random data of Fashion-MNIST's shapes), or -1
 * with *missing set to the error that stopped it. Same model as the torch peers'. */
double bench_train_step(bool cnn, int threads, bool quick, const char **missing) {
    ag_set_num_threads(threads);
    ag_manual_seed(5);
    struct step_ctx c = {.cnn = cnn};
    int64_t B = 128;
    static const int64_t mlp[][4] = {{256, 784}, {256}, {128, 256}, {128}, {10, 128}, {10}};
    static const int64_t cnnw[][4] = {{32, 1, 3, 3},     {32},  {64, 32, 3, 3}, {64},
                                      {128, 64 * 7 * 7}, {128}, {10, 128},      {10}};
    static const int mlp_nd[] = {2, 1, 2, 1, 2, 1}, cnn_nd[] = {4, 1, 4, 1, 2, 1, 2, 1};
    c.np = cnn ? 8 : 6;
    for (int i = 0; i < c.np; i++) {
        const int64_t *s = cnn ? cnnw[i] : mlp[i];
        int nd = cnn ? cnn_nd[i] : mlp_nd[i];
        double fan_in = nd == 1 ? 100 : (double)(s[1] * (nd == 4 ? 9 : 1));
        c.p[i] = param(nd, s, 1.0 / (fan_in > 0 ? fan_in : 1) * 0.5);
    }
    c.x = cnn ? ag_rand(AG_F32, 4, (int64_t[]){B, 1, 28, 28})
              : ag_rand(AG_F32, 2, (int64_t[]){B, 784});
    c.y = ag_zeros(AG_I64, 1, &B);
    if (c.y)
        for (int64_t i = 0; i < B; i++) ((int64_t *)ag_data(c.y))[i] = i % 10;
    c.opt = ag_adam_new(c.p, c.np,
                        (ag_adam_opts){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8});
    double t = c.opt ? ag_bench_time(train_step, &c, quick ? 3 : 10, quick ? 0.05 : 1.0) : -1;
    if (ag_last_error()) *missing = ag_last_error();
    else if (t < 0) *missing = "the optimizer could not be made";
    ag_optim_free(c.opt);
    for (int i = 0; i < c.np; i++) ag_tensor_free(c.p[i]);
    ag_tensor_free(c.x), ag_tensor_free(c.y);
    return t;
}
