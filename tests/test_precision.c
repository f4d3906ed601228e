/* test_precision.c — float32 matmul precision (include/ag.h, "Precision"): the bf16
 * rounding against a naive twin; MEDIUM and HIGH GEMMs against a float64 reference
 * within their derived bounds on odd shapes, every transposition and every ISA this CPU
 * has; MEDIUM equal to fp32 on pre-rounded operands; thread-count independence; the
 * per-thread setting; linear and conv2d forward and backward honouring it; an MLP
 * trained in MEDIUM staying close to HIGHEST.  The bf16 numerics run on the emulated
 * path (ops/kernels/gemm_bf16.c) on every machine.  AMX and AVX512-BF16 kernels do not
 * exist yet, so nothing here is skipped for lack of them. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ag.h"
#include "ops/kernels/bf16.h"
#include "ops/kernels/gemm.h"
#include "runtime/cpu.h"
#include "runtime/precision.h"

static const char *const isas[] = {"scalar", "avx2", "avx512"};

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* The naive twin: the two bf16 neighbours of |x| (truncated, and one bf16 ulp above it,
 * which past the largest finite is Inf), the nearer one by exact double distances, ties
 * to the one with an even last bit. */
static float bf16_naive(float x) {
    if (isnan(x)) return x;
    uint32_t u = to_bits(x), lo = u & 0xffff0000u;
    if (lo == u) return x;
    int e = (int)((u >> 23) & 0xff);
    double ulp = ldexp(1.0, (e ? e : 1) - 127 - 7);
    double ax = fabs((double)x), alo = fabs((double)from_bits(lo));
    double d1 = ax - alo, d2 = alo + ulp - ax;
    int up = d2 < d1 || (d1 == d2 && (lo >> 16) & 1);
    return from_bits(up ? lo + 0x10000u : lo);
}

Test(precision, bf16_round_matches_naive_twin) {
    static const uint32_t lows[] = {0, 1, 0x4000, 0x7fff, 0x8000, 0x8001, 0xc000, 0xffff};
    for (uint32_t hi = 0; hi < 0x10000u; hi++)
        for (size_t k = 0; k < sizeof lows / sizeof *lows; k++) {
            float x = from_bits(hi << 16 | lows[k]), r = ag__bf16_round(x), n = bf16_naive(x);
            if (isnan(x)) {
                cr_assert(isnan(r), "NaN %08x became %08x", to_bits(x), to_bits(r));
                continue;
            }
            cr_assert_eq(to_bits(r), to_bits(n), "x %08x: %08x, naive %08x", to_bits(x), to_bits(r),
                         to_bits(n));
        }
    /* the named cases */
    cr_assert_eq(to_bits(ag__bf16_round(from_bits(0x3f808000u))), 0x3f800000u); /* tie, even */
    cr_assert_eq(to_bits(ag__bf16_round(from_bits(0x3f818000u))), 0x3f820000u); /* tie, odd */
    cr_assert(isnan(ag__bf16_round(from_bits(0x7f800001u)))); /* payload only in low bits */
    cr_assert(isinf(ag__bf16_round(INFINITY)) && ag__bf16_round(-INFINITY) < 0);
    cr_assert(isinf(ag__bf16_round(3.4e38f)));                         /* past bf16's max: Inf */
    cr_assert_eq(to_bits(ag__bf16_round(from_bits(0x00008000u))), 0u); /* subnormal tie */
    cr_assert_eq(to_bits(ag__bf16_round(from_bits(0x00018000u))), 0x00020000u);
}

Test(precision, bf16x3_split_parts) {
    /* three panels of 5 values each: parts as the orders say, hi + lo close to x */
    float buf[45], x[15];
    for (int i = 0; i < 15; i++) x[i] = buf[i] = (float)(0.1 + i * 1.234567);
    x[14] = buf[14] = 3.4e38f; /* hi would round to Inf: kept finite */
    ag__bf16_split3(buf, 3, 5, "lhh");
    for (int p = 0; p < 3; p++)
        for (int e = 0; e < 5; e++) {
            float v = x[p * 5 + e], l = buf[15 * p + e], h = buf[15 * p + 5 + e];
            cr_assert_eq(to_bits(h), to_bits(buf[15 * p + 10 + e]));
            cr_assert(isfinite(h) && (to_bits(h) & 0xffff) == 0 && (to_bits(l) & 0xffff) == 0);
            cr_assert(fabs((double)v - h - l) <= ldexp(fabs((double)v), -16), "%g", v);
        }
}

/* ---- GEMMs against float64 ------------------------------------------------------- */

static double rnd(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Operand (i,j) of a rows x cols matrix at i*rs + j*cs: row-major, column-major, or
 * row-major with a column stride of 2. */
typedef struct {
    int64_t rs, cs, n;
} lay;
static lay layout(int kind, int64_t rows, int64_t cols) {
    if (kind == 1) return (lay){1, rows, rows * cols};
    if (kind == 2) return (lay){2 * cols + 1, 2, (2 * cols + 1) * rows};
    return (lay){cols, 1, rows * cols};
}

typedef struct {
    int64_t M, N, K;
} shape;
static const shape shapes[] = {{1, 1, 1},      {7, 13, 5},   {37, 29, 300},
                               {130, 17, 257}, {5, 200, 33}, {64, 64, 600}};

/* Max over C of |C - exact| / sum_k |a||b| for C = A·B at this thread's precision,
 * A laid out as la, B as lb, C as lc.  Fails when any element exceeds bound(K). */
static double gemm_err(shape s, int la, int lb, int lc, double (*bound)(int64_t)) {
    lay a = layout(la, s.M, s.K), b = layout(lb, s.K, s.N), c = layout(lc, s.M, s.N);
    float *A = calloc(a.n, 4), *B = calloc(b.n, 4), *C = calloc(c.n, 4);
    uint64_t seed = (uint64_t)(s.M * 131 + s.N * 17 + s.K);
    for (int64_t i = 0; i < a.n; i++) A[i] = (float)rnd(&seed);
    for (int64_t i = 0; i < b.n; i++) B[i] = (float)rnd(&seed);
    ag__gemm_f32(s.M, s.N, s.K, 1.0f, A, a.rs, a.cs, B, b.rs, b.cs, 0.0f, C, c.rs, c.cs);
    double worst = 0;
    for (int64_t i = 0; i < s.M; i++)
        for (int64_t j = 0; j < s.N; j++) {
            double e = 0, m = 0;
            for (int64_t k = 0; k < s.K; k++) {
                double x = A[i * a.rs + k * a.cs], y = B[k * b.rs + j * b.cs];
                e += x * y, m += fabs(x * y);
            }
            double err = fabs(C[i * c.rs + j * c.cs] - e) / m;
            cr_assert(err <= bound(s.K),
                      "%lldx%lldx%lld layouts %d%d%d C[%lld,%lld]: rel err %g > %g", (long long)s.M,
                      (long long)s.N, (long long)s.K, la, lb, lc, (long long)i, (long long)j, err,
                      bound(s.K));
            if (err > worst) worst = err;
        }
    free(A), free(B), free(C);
    return worst;
}

/* Relative to sum_k |a||b|, per element (u = 2^-24, fp32 accumulation of n terms plus
 * the alpha multiply and the merges of kc blocks: at most (n + 2) roundings):
 *   fp32    (K + 2) u
 *   MEDIUM  2^-7 + 2^-16 (each operand within 2^-8 of itself, products exact in fp32)
 *           + (K + 2) u (1 + 2^-7)
 *   HIGH    3.1 * 2^-16 (the dropped a_lo b_lo, and each operand's residual after hi
 *           and lo, at most 2^-16 of it) + (3K + 2) u (1 + 2^-7): 3K terms summed */
static double bound_fp32(int64_t K) { return (double)(K + 2) * 0x1p-24; }
static double bound_medium(int64_t K) {
    return 0x1p-7 + 0x1p-16 + (double)(K + 2) * 0x1p-24 * (1 + 0x1p-7);
}
static double bound_high(int64_t K) {
    return 3.1 * 0x1p-16 + (double)(3 * K + 2) * 0x1p-24 * (1 + 0x1p-7);
}

/* Every shape x every A/B transposition (and a strided one) x both C layouts, on every
 * ISA this CPU has, at precision p; returns the largest relative error seen. */
static double sweep(ag_precision p, double (*bound)(int64_t)) {
    double worst = 0;
    ag_set_float32_matmul_precision(p);
    for (int isa = 0; isa < 3; isa++) {
        if (ag__gemm_set_isa(isas[isa])) continue;
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
            for (int la = 0; la < 3; la++)
                for (int lb = 0; lb < 3; lb++)
                    for (int lc = 0; lc < 2; lc++) {
                        double e = gemm_err(shapes[si], la, lb, lc, bound);
                        if (e > worst) worst = e;
                    }
    }
    return worst;
}

Test(precision, medium_within_bf16_bound) {
    ag__bf16_set_path(AG_BF16_EMULATE);
    double e = sweep(AG_PRECISION_MEDIUM, bound_medium);
    cr_log_info("MEDIUM: worst error %.3g of sum|a||b| (bound at K=600: %.3g)", e,
                bound_medium(600));
    cr_assert(e > 0x1p-12, "MEDIUM error %g: no bf16 rounding happened", e);
}

Test(precision, high_within_bf16x3_bound) {
    ag__bf16_set_path(AG_BF16_EMULATE);
    double eh = sweep(AG_PRECISION_HIGH, bound_high);
    double ef = sweep(AG_PRECISION_HIGHEST, bound_fp32);
    cr_log_info("HIGH: worst error %.3g of sum|a||b|; fp32 (HIGHEST): %.3g; ratio %.1f", eh, ef,
                eh / ef);
    cr_assert(eh < 0x1p-12, "HIGH error %g: not better than bf16", eh);
}

/* MEDIUM rounds exactly the operands and nothing else: equal, bit for bit, to HIGHEST on
 * operands rounded beforehand (same micro-kernel, same kc blocks, same FMA order). */
Test(precision, medium_is_fp32_on_rounded_operands) {
    ag__bf16_set_path(AG_BF16_EMULATE);
    for (int isa = 0; isa < 3; isa++) {
        if (ag__gemm_set_isa(isas[isa])) continue;
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
            for (int la = 0; la < 3; la++) {
                shape s = shapes[si];
                lay a = layout(la, s.M, s.K), b = layout(1 - la % 2, s.K, s.N);
                float *A = malloc(a.n * 4), *B = malloc(b.n * 4), *Ar = malloc(a.n * 4);
                float *Br = malloc(b.n * 4), *C1 = malloc(s.M * s.N * 4),
                      *C2 = malloc(s.M * s.N * 4);
                uint64_t seed = 7 + si;
                for (int64_t i = 0; i < a.n; i++)
                    A[i] = (float)rnd(&seed), Ar[i] = ag__bf16_round(A[i]);
                for (int64_t i = 0; i < b.n; i++)
                    B[i] = (float)rnd(&seed), Br[i] = ag__bf16_round(B[i]);
                ag_set_float32_matmul_precision(AG_PRECISION_MEDIUM);
                ag__gemm_f32(s.M, s.N, s.K, 1.5f, A, a.rs, a.cs, B, b.rs, b.cs, 0.0f, C1, s.N, 1);
                ag_set_float32_matmul_precision(AG_PRECISION_HIGHEST);
                ag__gemm_f32(s.M, s.N, s.K, 1.5f, Ar, a.rs, a.cs, Br, b.rs, b.cs, 0.0f, C2, s.N, 1);
                cr_assert(memcmp(C1, C2, (size_t)(s.M * s.N) * 4) == 0,
                          "%s %lldx%lldx%lld layout %d", isas[isa], (long long)s.M, (long long)s.N,
                          (long long)s.K, la);
                free(A), free(B), free(Ar), free(Br), free(C1), free(C2);
            }
    }
}

Test(precision, bitwise_equal_for_1_and_2_threads) {
    ag__bf16_set_path(AG_BF16_EMULATE);
    const int64_t M = 203, N = 190, K = 530;
    float *A = malloc(M * K * 4), *B = malloc(K * N * 4), *C[2];
    uint64_t seed = 3;
    for (int64_t i = 0; i < M * K; i++) A[i] = (float)rnd(&seed);
    for (int64_t i = 0; i < K * N; i++) B[i] = (float)rnd(&seed);
    const ag_precision ps[] = {AG_PRECISION_MEDIUM, AG_PRECISION_HIGH};
    for (int pi = 0; pi < 2; pi++) {
        ag_set_float32_matmul_precision(ps[pi]);
        for (int t = 0; t < 2; t++) {
            C[t] = malloc(M * N * 4);
            ag_set_num_threads(t + 1);
            ag__gemm_f32(M, N, K, 1.0f, A, K, 1, B, 1, K, 0.0f, C[t], N, 1);
        }
        cr_assert(memcmp(C[0], C[1], M * N * 4) == 0, "precision %d differs by threads", ps[pi]);
        free(C[0]), free(C[1]);
    }
    free(A), free(B);
}

/* ---- the setting and the backend name -------------------------------------------- */

static void *other_thread(void *arg) {
    ag_precision *seen = arg;
    seen[0] = ag_get_float32_matmul_precision();
    ag_set_float32_matmul_precision(AG_PRECISION_HIGH);
    seen[1] = ag_get_float32_matmul_precision();
    return NULL;
}

Test(precision, setting_is_per_thread) {
    cr_assert_eq(ag_get_float32_matmul_precision(), AG_PRECISION_HIGHEST);
    ag_set_float32_matmul_precision(AG_PRECISION_MEDIUM);
    ag_precision seen[2];
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, other_thread, seen), 0);
    pthread_join(th, NULL);
    cr_assert_eq(seen[0], AG_PRECISION_HIGHEST);
    cr_assert_eq(seen[1], AG_PRECISION_HIGH);
    cr_assert_eq(ag_get_float32_matmul_precision(), AG_PRECISION_MEDIUM);
    ag_set_float32_matmul_precision((ag_precision)42); /* ignored */
    cr_assert_eq(ag_get_float32_matmul_precision(), AG_PRECISION_MEDIUM);
}

Test(precision, backend_names_the_path) {
    char want[64];
    const char *isa = ag__gemm_isa();
    snprintf(want, sizeof want, "%s-fp32", isa);
    cr_assert_str_eq(ag_matmul_backend(), want);
    ag__bf16_set_path(AG_BF16_OFF);
    ag_set_float32_matmul_precision(AG_PRECISION_MEDIUM);
    snprintf(want, sizeof want, "%s-fp32 (no bf16 kernel)", isa);
    cr_assert_str_eq(ag_matmul_backend(), want);
    ag__bf16_set_path(AG_BF16_EMULATE);
    snprintf(want, sizeof want, "%s-bf16-emulated", isa);
    cr_assert_str_eq(ag_matmul_backend(), want);
    ag_set_float32_matmul_precision(AG_PRECISION_HIGH);
    snprintf(want, sizeof want, "%s-bf16x3-emulated", isa);
    cr_assert_str_eq(ag_matmul_backend(), want);
}

/* With no bf16 path in use, MEDIUM and HIGH are HIGHEST, bit for bit (torch's rule). */
Test(precision, off_path_runs_fp32) {
    ag__bf16_set_path(AG_BF16_OFF);
    const int64_t M = 33, N = 47, K = 300;
    float *A = malloc(M * K * 4), *B = malloc(K * N * 4), *C[3];
    uint64_t seed = 5;
    for (int64_t i = 0; i < M * K; i++) A[i] = (float)rnd(&seed);
    for (int64_t i = 0; i < K * N; i++) B[i] = (float)rnd(&seed);
    const ag_precision ps[] = {AG_PRECISION_HIGHEST, AG_PRECISION_HIGH, AG_PRECISION_MEDIUM};
    for (int i = 0; i < 3; i++) {
        ag_set_float32_matmul_precision(ps[i]);
        C[i] = malloc(M * N * 4);
        ag__gemm_f32(M, N, K, 1.0f, A, K, 1, B, N, 1, 0.0f, C[i], N, 1);
    }
    cr_assert(memcmp(C[0], C[1], M * N * 4) == 0 && memcmp(C[0], C[2], M * N * 4) == 0);
    for (int i = 0; i < 3; i++) free(C[i]);
    free(A), free(B);
}

/* ---- ops honour it: linear, conv2d, forward and backward --------------------------- */

/* A float32 leaf of the given shape with values in [-1, 1), rounded to bf16 if asked. */
static ag_tensor *leaf(int nd, const int64_t *shape, uint64_t seed, int rounded) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    float *v = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) {
        v[i] = (float)rnd(&seed);
        if (rounded) v[i] = ag__bf16_round(v[i]);
    }
    ag_tensor *t = ag_tensor_new(AG_F32, nd, shape, v);
    ag_set_requires_grad(t, true);
    free(v);
    return t;
}

static int same(ag_tensor *a, ag_tensor *b) {
    return ag_numel(a) == ag_numel(b) &&
           memcmp(ag_data(a), ag_data(b), (size_t)ag_numel(a) * 4) == 0;
}

/* out[0] = op(x, w, bias) and the three leaf grads, at precision p; rounded: the x and
 * w leaves hold bf16 values.  Loss = sum(out): its gradient is all ones (exact in bf16),
 * so MEDIUM on raw leaves must equal HIGHEST on rounded ones everywhere. */
typedef ag_tensor *(*op3)(ag_tensor *, ag_tensor *, ag_tensor *);
static void run_op(op3 op, int nx, const int64_t *sx, int nw, const int64_t *sw, int64_t nb,
                   ag_precision p, int rounded, ag_tensor *res[4]) {
    ag_tensor *x = leaf(nx, sx, 11, rounded), *w = leaf(nw, sw, 12, rounded);
    ag_tensor *b = leaf(1, &nb, 13, 0);
    ag_set_float32_matmul_precision(p);
    ag_scope_begin();
    ag_tensor *y = op(x, w, b);
    cr_assert(y && ag_backward(ag_sum(y)) == 0);
    res[0] = ag_detach(y), res[1] = ag_grad(x), res[2] = ag_grad(w), res[3] = ag_grad(b);
    for (int i = 0; i < 4; i++) res[i] = ag_keep(ag_clone(res[i]));
    ag_scope_end();
    ag_tensor_free(x), ag_tensor_free(w), ag_tensor_free(b);
}

static void check_op_honours(op3 op, int nx, const int64_t *sx, int nw, const int64_t *sw,
                             int64_t nb) {
    ag__bf16_set_path(AG_BF16_EMULATE);
    static const char *const what[4] = {"forward", "grad x", "grad w", "grad bias"};
    for (int threads = 1; threads <= 2; threads++) {
        ag_set_num_threads(threads);
        ag_tensor *med[4], *ref[4], *raw[4];
        run_op(op, nx, sx, nw, sw, nb, AG_PRECISION_MEDIUM, 0, med);
        run_op(op, nx, sx, nw, sw, nb, AG_PRECISION_HIGHEST, 1, ref);
        run_op(op, nx, sx, nw, sw, nb, AG_PRECISION_HIGHEST, 0, raw);
        for (int i = 0; i < 4; i++)
            cr_assert(same(med[i], ref[i]), "%s: MEDIUM is not fp32 on bf16 operands", what[i]);
        cr_assert(!same(med[0], raw[0]), "forward: MEDIUM equals fp32 (no rounding)");
        cr_assert(!same(med[1], raw[1]) && !same(med[2], raw[2]),
                  "backward: MEDIUM equals fp32 (no rounding)");
        for (int i = 0; i < 4; i++)
            ag_tensor_free(med[i]), ag_tensor_free(ref[i]), ag_tensor_free(raw[i]);
    }
}

static ag_tensor *linear3(ag_tensor *x, ag_tensor *w, ag_tensor *b) { return ag_linear(x, w, b); }
static ag_tensor *conv3(ag_tensor *x, ag_tensor *w, ag_tensor *b) {
    return ag_conv2d(x, w, b, (ag_conv_opts){.padding = {1, 1}});
}

Test(precision, linear_forward_and_backward_honour_it) {
    check_op_honours(linear3, 2, (int64_t[]){19, 37}, 2, (int64_t[]){23, 37}, 23);
}

Test(precision, conv2d_forward_and_backward_honour_it) {
    check_op_honours(conv3, 4, (int64_t[]){6, 3, 11, 11}, 4, (int64_t[]){8, 3, 3, 3}, 8);
}

/* ---- an MLP trained in MEDIUM stays close to HIGHEST ------------------------------ */

/* 20 SGD steps of a 20-32-1 tanh MLP on a fixed regression batch; returns the last loss
 * and leaves the first-layer weight in w1_out (caller frees). */
static double train_mlp(ag_precision p, ag_tensor **w1_out) {
    int64_t sx[] = {64, 20}, sy[] = {64, 1}, s1[] = {32, 20}, s2[] = {1, 32}, b1s = 32, b2s = 1;
    ag_tensor *x = leaf(2, sx, 21, 0), *y = leaf(2, sy, 22, 0);
    ag_tensor *w1 = leaf(2, s1, 23, 0), *b1 = leaf(1, &b1s, 24, 0);
    ag_tensor *w2 = leaf(2, s2, 25, 0), *b2 = leaf(1, &b2s, 26, 0);
    ag_tensor *ps[] = {w1, b1, w2, b2};
    ag_set_float32_matmul_precision(p);
    double last = 0;
    for (int step = 0; step < 20; step++) {
        ag_scope_begin();
        ag_tensor *h = ag_tanh(ag_linear(x, w1, b1));
        ag_tensor *loss = ag_mse_loss(ag_linear(h, w2, b2), y);
        cr_assert(ag_backward(loss) == 0);
        last = ((float *)ag_data(loss))[0];
        for (int i = 0; i < 4; i++) {
            float *v = ag_data(ps[i]), *g = ag_data(ag_grad(ps[i]));
            for (int64_t k = 0; k < ag_numel(ps[i]); k++) v[k] -= 0.1f * g[k];
            ag_zero_grad(ps[i]);
        }
        ag_scope_end();
    }
    *w1_out = w1;
    ag_tensor_free(x), ag_tensor_free(y), ag_tensor_free(b1), ag_tensor_free(w2),
        ag_tensor_free(b2);
    return last;
}

Test(precision, mlp_trained_in_medium_stays_close_to_highest) {
    ag__bf16_set_path(AG_BF16_EMULATE);
    ag_tensor *wh, *wm;
    double lh = train_mlp(AG_PRECISION_HIGHEST, &wh), lm = train_mlp(AG_PRECISION_MEDIUM, &wm);
    double dmax = 0;
    const float *a = ag_data(wh), *b = ag_data(wm);
    for (int64_t i = 0; i < ag_numel(wh); i++) dmax = fmax(dmax, fabs((double)a[i] - b[i]));
    cr_log_info("MLP after 20 steps: loss %.6f (highest) %.6f (medium), max |dW1| %.3g", lh, lm,
                dmax);
    /* bf16 perturbs each step's products by ~2^-8 relative; 20 steps of lr 0.1 move W1
     * by O(0.1): a 1% loss difference and 1e-2 in W1 are loose but not vacuous. */
    cr_assert(fabs(lh - lm) <= 0.01 * lh, "loss %g vs %g", lm, lh);
    cr_assert(dmax <= 1e-2 && dmax > 0, "max |dW1| %g", dmax);
    ag_tensor_free(wh), ag_tensor_free(wm);
}

/* No AMX or AVX512-BF16 kernel exists yet: MEDIUM/HIGH there run as fp32 or emulated.
 * This checks the detection is consistent and says what this machine has. */
Test(precision, bf16_hardware_detection) {
    bool amx = ag__cpu_has_amx_bf16(), avx = ag__cpu_has_avx512_bf16();
    cr_log_info("AMX-BF16: %s, AVX512-BF16: %s (no kernel for either yet: not run)",
                amx ? "yes" : "no AMX", avx ? "yes" : "no");
    cr_assert(!avx || ag__cpu_has(AG_ISA_AVX512));
    cr_assert_eq(ag__cpu_has_amx_bf16(), amx);
}
