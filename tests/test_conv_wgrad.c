/* The convolution weight-gradient kernel (ops/kernels/conv_wgrad.h): against its naive
 * twin on both tile variants (kcol < 32: pixels along the lanes; else taps broadcast,
 * channels along the lanes), odd shapes, on every vector ISA the CPU has, bitwise the same
 * with 1 and 2 threads and across AVX2 / AVX-512 where the tile allows, and the
 * weight-gradient op gradchecked in float64 at sizes that reach the vector tiles. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "ops/conv_adjoint.h"
#include "ops/kernels/conv_wgrad.h"
#include "ops/kernels/gemm.h"

/* N, G, Cg, H, W, Og, KH, KW, stride, pad, dilation (square pairs unless noted). */
static const int64_t cases[][11] = {
    {3, 1, 1, 9, 8, 5, 3, 3, 1, 1, 1},   /* 1 channel: lanes tile, masked tail */
    {2, 1, 7, 6, 7, 13, 3, 3, 1, 1, 1},  /* kcol 63: broadcast tile, 13 = 8 + 5 channels */
    {5, 2, 4, 9, 7, 6, 3, 3, 2, 1, 2},   /* groups, stride 2, dilation 2 */
    {4, 1, 16, 8, 8, 32, 1, 1, 2, 0, 1}, /* 1x1 stride 2 (the ResNet projection) */
    {17, 1, 4, 5, 5, 3, 3, 3, 1, 2, 1},  /* 17 images: chunks of 2; padding 2 */
    {2, 3, 12, 7, 5, 17, 3, 2, 1, 0, 1}, /* 3x2 kernel, kcol 72, 17 channels */
    {3, 1, 32, 6, 6, 64, 3, 3, 1, 1, 1}, /* the CNN's layer 2 shape, smaller image */
};

static struct ag__conv_wgrad geom(const int64_t *c) {
    struct ag__conv_wgrad p = {.s.N = c[0],
                               .s.G = c[1],
                               .s.Cg = c[2],
                               .s.H = c[3],
                               .s.W = c[4],
                               .s.Og = c[5],
                               .s.KH = c[6],
                               .s.KW = c[7],
                               .s.sh = c[8],
                               .s.sw = c[8],
                               .s.ph = c[9],
                               .s.pw = c[9],
                               .s.dh = c[10],
                               .s.dw = c[10]};
    p.s.OH = (p.s.H + 2 * p.s.ph - p.s.dh * (p.s.KH - 1) - 1) / p.s.sh + 1;
    p.s.OW = (p.s.W + 2 * p.s.pw - p.s.dw * (p.s.KW - 1) - 1) / p.s.sw + 1;
    return p;
}

static int64_t wsize(const struct ag__conv_wgrad *p) {
    return p->s.G * p->s.Og * p->s.Cg * p->s.KH * p->s.KW;
}

/* The kernel on case p with random x and gy (fixed seed) into a new buffer. */
static void *run_kernel(struct ag__conv_wgrad p, bool f32, void **x, void **gy) {
    unsigned st = 11;
    *x = random_buf(p.s.N * p.s.G * p.s.Cg * p.s.H * p.s.W, f32, &st);
    *gy = random_buf(p.s.N * p.s.G * p.s.Og * p.s.OH * p.s.OW, f32, &st);
    p.x = *x, p.gy = *gy;
    p.out = random_buf(wsize(&p), f32, &st); /* garbage: the kernel must overwrite it */
    cr_assert_eq(f32 ? ag__conv_wgrad_f32(&p) : ag__conv_wgrad_f64(&p), 0);
    return p.out;
}

/* The vector ISAs this CPU has, one at a time (AVX2 and AVX-512 have their own tiles);
 * n is how many; the ISA dispatched before is restored by isa_restore. */
static const char *const vector_isas[] = {"avx2", "avx512"};
static char isa_before[16];
static int isa_each(int i) {
    if (i == 0) snprintf(isa_before, sizeof isa_before, "%s", ag__gemm_isa());
    for (; i < 2; i++)
        if (ag__gemm_set_isa(vector_isas[i]) == 0) return i;
    ag__gemm_set_isa(isa_before);
    return -1;
}
#define FOR_EACH_ISA(i) for (int i = isa_each(0); i >= 0; i = isa_each(i + 1))

static void naive_twin_case(size_t i, int f) {
    struct ag__conv_wgrad p = geom(cases[i]);
    void *x, *gy, *out = run_kernel(p, f, &x, &gy), *ref = malloc((size_t)wsize(&p) * 8);
    p.x = x, p.gy = gy, p.out = ref;
    if (f) ag__conv_wgrad_f32_naive(&p);
    else ag__conv_wgrad_f64_naive(&p);
    double tol = (f ? 1e-5 : 1e-12) * (double)(1 + p.s.N * p.s.OH * p.s.OW);
    for (int64_t j = 0; j < wsize(&p); j++) {
        double u = f ? ((float *)out)[j] : ((double *)out)[j];
        double v = f ? ((float *)ref)[j] : ((double *)ref)[j];
        cr_assert(fabs(u - v) <= tol, "%s case %zu %s: dw[%lld] %.9g vs naive %.9g", ag__gemm_isa(),
                  i, f ? "f32" : "f64", (long long)j, u, v);
    }
    free(x), free(gy), free(out), free(ref);
}

Test(conv_wgrad, matches_naive_twin) {
    if (!ag__conv_wgrad_ok()) cr_skip_test("no AVX2+FMA on this CPU");
    int n = 0;
    FOR_EACH_ISA(isa) {
        n++;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int f = 0; f < 2; f++) naive_twin_case(i, f);
    }
    if (n < 2) cr_log_warn("conv_wgrad: no AVX-512 on this CPU, its tile not tested");
}

/* The broadcast tile's sums do not depend on the vector width (conv_wgrad_tmpl.h): AVX2
 * and AVX-512 give the same bits wherever kcol >= 32. */
Test(conv_wgrad, same_bits_on_avx2_and_avx512) {
    if (!ag__conv_wgrad_ok()) cr_skip_test("no AVX2+FMA on this CPU");
    const char *before = ag__gemm_isa();
    char keep[16];
    snprintf(keep, sizeof keep, "%s", before);
    if (ag__gemm_set_isa("avx512") != 0) cr_skip_test("no AVX-512 on this CPU");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int f = 0; f < 2; f++) {
            struct ag__conv_wgrad p = geom(cases[i]);
            if (p.s.Cg * p.s.KH * p.s.KW < 32) continue; /* the lane-sum tile */
            void *out[2], *x, *gy;
            for (int k = 0; k < 2; k++) {
                cr_assert_eq(ag__gemm_set_isa(vector_isas[k]), 0);
                out[k] = run_kernel(p, f, &x, &gy);
                free(x), free(gy);
            }
            cr_expect(!memcmp(out[0], out[1], (size_t)wsize(&p) * (f ? 4 : 8)),
                      "case %zu %s differs between AVX2 and AVX-512", i, f ? "f32" : "f64");
            free(out[0]), free(out[1]);
        }
    ag__gemm_set_isa(keep);
}

/* Every case at 32 images (above the threading threshold), bitwise, 1 vs 2 threads. */
Test(conv_wgrad, same_bits_for_one_and_two_threads) {
    if (!ag__conv_wgrad_ok()) cr_skip_test("no AVX2+FMA on this CPU");
    FOR_EACH_ISA(isa)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int f = 0; f < 2; f++) {
            int64_t c[11];
            memcpy(c, cases[i], sizeof c);
            c[0] = 32;
            void *out[2], *x, *gy;
            for (int t = 0; t < 2; t++) {
                ag_set_num_threads(t + 1);
                out[t] = run_kernel(geom(c), f, &x, &gy);
                free(x), free(gy);
            }
            struct ag__conv_wgrad p = geom(c);
            cr_expect(!memcmp(out[0], out[1], (size_t)wsize(&p) * (f ? 4 : 8)),
                      "%s case %zu %s differs between 1 and 2 threads", ag__gemm_isa(), i,
                      f ? "f32" : "f64");
            free(out[0]), free(out[1]);
        }
    ag_set_num_threads(2);
}

/* The weight-gradient op in float64 through ag_gradcheck: d/dx and d/dgy of <K, dw>. */
struct wg_ctx {
    int s, p, d, g;
    int64_t K;
};
static ag_tensor *weight_grad_fn(ag_tensor **in, void *ctx) {
    const struct wg_ctx *c = ctx;
    ag_tensor *dw = ag__conv2d_weight_grad(in[0], in[1], (int[]){c->s, c->s}, (int[]){c->p, c->p},
                                           (int[]){c->d, c->d}, c->g, c->K, c->K);
    return ag_sum(ag_mul(dw, in[2]));
}

static void gradcheck_case(int64_t N, int64_t C, int64_t H, int64_t O, struct wg_ctx c) {
    ag_scope_begin();
    ag_manual_seed(21);
    int64_t OH = (H + 2 * c.p - c.d * (c.K - 1) - 1) / c.s + 1;
    ag_tensor *in[3] = {ag_randn(AG_F64, 4, (int64_t[]){N, C, H, H}),
                        ag_randn(AG_F64, 4, (int64_t[]){N, O, OH, OH}),
                        ag_randn(AG_F64, 4, (int64_t[]){O, C / c.g, c.K, c.K})};
    for (int i = 0; i < 3; i++) ag_set_requires_grad(in[i], true);
    ag_gradcheck_result r = ag_gradcheck(weight_grad_fn, &c, 3, in, (ag_gradcheck_opts){0});
    cr_expect(r.ok, "C %lld O %lld: input %d element %lld abs err %g: %s", (long long)C,
              (long long)O, r.input, (long long)r.index, r.max_abs_err,
              ag_last_error() ? ag_last_error() : "");
    ag_scope_end();
}

Test(conv_wgrad, op_passes_float64_gradcheck) {
    /* kcol 72, 6 channels (f64: 4 + 2 lanes), 25 pixels; then groups, stride, dilation on
     * the lanes tile; then a 1x1 stride 2 */
    gradcheck_case(2, 8, 5, 6, (struct wg_ctx){.s = 1, .p = 1, .d = 1, .g = 1, .K = 3});
    gradcheck_case(3, 4, 7, 6, (struct wg_ctx){.s = 2, .p = 1, .d = 2, .g = 2, .K = 3});
    gradcheck_case(2, 6, 6, 5, (struct wg_ctx){.s = 2, .p = 0, .d = 1, .g = 1, .K = 1});
}
