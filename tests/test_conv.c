/* conv2d / conv1d against PyTorch golden values (tests/golden/gen_conv.py), thread-count
 * independence, and the error messages. Gradients are also gradchecked by test_optable. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden/conv_golden.h"
#include "helpers.h"
#include "ops/conv_adjoint.h"
#include "ops/kernels/conv_igemm.h"
#include "ops/kernels/gemm.h"

/* A leaf of dtype dt from float64 data. */
static ag_tensor *leaf(ag_dtype dt, int ndim, const int64_t *shape, const double *data) {
    ag_tensor *t = ag_cast(ag_tensor_new(AG_F64, ndim, shape, data), dt);
    ag_set_requires_grad(t, true);
    return t;
}

struct conv_case {
    int ndim; /* 4: conv2d, 3: conv1d */
    int64_t xs[4], ws[4];
    const double *x, *w, *b, *y, *gy, *dx, *dw, *db;
    ag_conv_opts opts;
};

static void run_case(const struct conv_case *c, ag_dtype dt, double tol) {
    ag_scope_begin();
    ag_tensor *x = leaf(dt, c->ndim, c->xs, c->x), *w = leaf(dt, c->ndim, c->ws, c->w);
    ag_tensor *b = c->b ? leaf(dt, 1, c->ws, c->b) : NULL;
    ag_tensor *y = c->ndim == 4 ? ag_conv2d(x, w, b, c->opts) : ag_conv1d(x, w, b, c->opts);
    cr_assert(y, "%s", ag_last_error());
    int64_t n = ag_numel(y);
    assert_tensor_close(y, c->y, n, tol, tol);
    ag_tensor *gy = ag_cast(ag_tensor_new(AG_F64, ag_ndim(y), ag_shape(y), c->gy), dt);
    cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){.grad = gy}), 0, "%s", ag_last_error());
    assert_tensor_close(ag_grad(x), c->dx, ag_numel(x), tol, tol);
    assert_tensor_close(ag_grad(w), c->dw, ag_numel(w), tol, tol);
    if (b) assert_tensor_close(ag_grad(b), c->db, c->ws[0], tol, tol);
    ag_scope_end();
}

static const struct conv_case c2a = {
    4,      {2, 4, 6, 5}, {4, 2, 3, 3},
    c2a_x,  c2a_w,        c2a_b,
    c2a_y,  c2a_gy,       c2a_dx,
    c2a_dw, c2a_db,       {.stride = {2, 1}, .padding = {1, 2}, .dilation = {2, 1}, .groups = 2}};
static const struct conv_case c2b = {4,      {2, 3, 5, 5}, {2, 3, 3, 3}, c2b_x,
                                     c2b_w,  NULL,         c2b_y,        c2b_gy,
                                     c2b_dx, c2b_dw,       NULL,         {.groups = 1}};
static const struct conv_case c2c = {
    4,      {1, 2, 7, 6}, {3, 2, 2, 3}, c2c_x,
    c2c_w,  c2c_b,        c2c_y,        c2c_gy,
    c2c_dx, c2c_dw,       c2c_db,       {.stride = {2, 2}, .padding = {1, 1}, .dilation = {2, 2}}};
static const struct conv_case c1 = {3,     {2, 3, 7}, {4, 3, 3}, c1_x,
                                    c1_w,  c1_b,      c1_y,      c1_gy,
                                    c1_dx, c1_dw,     c1_db,     {.stride = {2}, .padding = {1}}};

Test(conv, conv2d_groups_stride_padding_dilation_bias_match_torch) {
    run_case(&c2a, AG_F64, 1e-12);
}
Test(conv, conv2d_defaults_without_bias_match_torch) { run_case(&c2b, AG_F64, 1e-12); }
Test(conv, conv2d_stride_and_dilation_2_match_torch) { run_case(&c2c, AG_F64, 1e-12); }
Test(conv, conv1d_matches_torch) { run_case(&c1, AG_F64, 1e-12); }
Test(conv, float32_matches_torch) {
    run_case(&c2a, AG_F32, 1e-5);
    run_case(&c1, AG_F32, 1e-5);
}

/* Forward and both gradients, bitwise, with 1 and with 2 threads (sizes above the
 * parallel threshold, several weight-gradient chunks). */
Test(conv, same_bits_for_any_thread_count) {
    ag_tensor *res[2][3];
    ag_scope_begin();
    for (int t = 0; t < 2; t++) {
        ag_set_num_threads(t + 1);
        ag_manual_seed(3);
        ag_tensor *x = ag_randn(AG_F32, 4, (int64_t[]){20, 8, 12, 12});
        ag_tensor *w = ag_randn(AG_F32, 4, (int64_t[]){16, 4, 3, 3});
        ag_set_requires_grad(x, true), ag_set_requires_grad(w, true);
        ag_tensor *y = ag_conv2d(x, w, NULL, (ag_conv_opts){.padding = {1, 1}, .groups = 2});
        cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){.grad = ag_ones_like(y)}), 0);
        res[t][0] = y, res[t][1] = ag_grad(x), res[t][2] = ag_grad(w);
    }
    ag_set_num_threads(2);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(ag_numel(res[0][k]), ag_numel(res[1][k]));
        cr_expect(!memcmp(ag_data(res[0][k]), ag_data(res[1][k]), 4 * (size_t)ag_numel(res[0][k])),
                  "result %d differs between 1 and 2 threads", k);
    }
    ag_scope_end();
}

/* Gradients of gradients: d/dx of <grad_w(L), v> exists and is checked numerically. */
static ag_tensor *grad_of_grad(ag_tensor **in, void *ctx) {
    (void)ctx;
    bool prev = ag_set_grad_enabled(true); /* gradcheck evaluates under no_grad */
    ag_tensor *y =
        ag_conv2d(in[0], in[1], NULL, (ag_conv_opts){.stride = {2, 1}, .padding = {1, 0}});
    ag_tensor *l = ag_sum(ag_mul(y, y)), *g[2];
    int rc = ag_autograd_grad(1, &l, NULL, 2, in, g, (ag_grad_opts){.create_graph = true});
    ag_tensor *r = rc ? NULL : ag_add(ag_sum(ag_mul(g[0], g[0])), ag_sum(ag_mul(g[1], g[1])));
    ag_set_grad_enabled(prev);
    return r;
}

Test(conv, second_derivatives_pass_gradcheck) {
    ag_scope_begin();
    ag_manual_seed(5);
    ag_tensor *in[2] = {ag_randn(AG_F64, 4, (int64_t[]){2, 2, 5, 4}),
                        ag_randn(AG_F64, 4, (int64_t[]){3, 2, 3, 2})};
    ag_set_requires_grad(in[0], true), ag_set_requires_grad(in[1], true);
    ag_gradcheck_result r = ag_gradcheck(grad_of_grad, NULL, 2, in, (ag_gradcheck_opts){0});
    cr_expect(r.ok, "input %d element %lld abs err %g: %s", r.input, (long long)r.index,
              r.max_abs_err, ag_last_error() ? ag_last_error() : "");
    ag_scope_end();
}

/* The call fails and the message contains every fragment. */
static void expect_error(ag_tensor *t, const char *a, const char *b) {
    cr_assert_null(t);
    const char *m = ag_last_error();
    cr_assert(m && strstr(m, a) && (!b || strstr(m, b)), "message: %s", m ? m : "(none)");
}

Test(conv, errors_name_the_shapes) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 4, (int64_t[]){2, 4, 5, 5});
    ag_tensor *w = ag_zeros(AG_F32, 4, (int64_t[]){6, 3, 3, 3});
    expect_error(ag_conv2d(x, w, NULL, (ag_conv_opts){0}), "ag_conv2d",
                 "[6,3,3,3] expects 3 input channels");
    ag_tensor *w2 = ag_zeros(AG_F32, 4, (int64_t[]){6, 2, 3, 3});
    expect_error(ag_conv2d(x, w2, NULL, (ag_conv_opts){.groups = 3}), "groups 3 must divide",
                 "[2,4,5,5]");
    ag_tensor *big = ag_zeros(AG_F32, 4, (int64_t[]){6, 4, 7, 3});
    expect_error(ag_conv2d(x, big, NULL, (ag_conv_opts){0}),
                 "kernel 7x3 (dilation 1x1) is larger than the padded input 5x5", "[2,4,5,5]");
    ag_tensor *wd = ag_zeros(AG_F32, 4, (int64_t[]){6, 4, 3, 3});
    expect_error(ag_conv2d(x, wd, NULL, (ag_conv_opts){.dilation = {3, 1}}),
                 "larger than the padded input", NULL);
    cr_assert_not_null(
        ag_conv2d(x, wd, NULL, (ag_conv_opts){.dilation = {3, 1}, .padding = {1, 0}}));
    expect_error(ag_conv2d(x, wd, ag_zeros(AG_F32, 1, (int64_t[]){5}), (ag_conv_opts){0}),
                 "bias [5] must be [6]", NULL);
    expect_error(
        ag_conv2d(x, ag_zeros(AG_F64, 4, (int64_t[]){6, 4, 3, 3}), NULL, (ag_conv_opts){0}),
        "dtypes", "use ag_cast");
    expect_error(ag_conv2d(ag_zeros(AG_F32, 2, (int64_t[]){5, 5}), wd, NULL, (ag_conv_opts){0}),
                 "x must be 4-D", "[5,5]"); /* [C,H,W] is unbatched */
    expect_error(ag_conv2d(x, wd, NULL, (ag_conv_opts){.stride = {-1, 1}}), "must be >= 0", NULL);
    expect_error(ag_conv1d(x, wd, NULL, (ag_conv_opts){0}), "ag_conv1d", "[N,C,L]");
    cr_assert_null(ag_conv2d(NULL, wd, NULL, (ag_conv_opts){0}));
    ag_scope_end();
}

/* ------------------------------------------------------------------ implicit GEMM
 * Geometries for the fast kernels: one input channel, output channels and virtual
 * columns that are not multiples of the micro-tile, groups, strides 2 and 3 (one phase
 * unused), dilation, 1x1 stride 2, a depth kcol = 450 above one K block, a single output. */
static const struct ag__conv_shape igemm_cases[] = {
    {.N = 3,
     .G = 1,
     .Cg = 1,
     .H = 9,
     .W = 8,
     .Og = 5,
     .KH = 3,
     .KW = 3,
     .sh = 1,
     .sw = 1,
     .ph = 1,
     .pw = 1,
     .dh = 1,
     .dw = 1},
    {.N = 2,
     .G = 1,
     .Cg = 7,
     .H = 6,
     .W = 7,
     .Og = 13,
     .KH = 3,
     .KW = 3,
     .sh = 1,
     .sw = 1,
     .ph = 1,
     .pw = 1,
     .dh = 1,
     .dw = 1},
    {.N = 2,
     .G = 2,
     .Cg = 3,
     .H = 7,
     .W = 9,
     .Og = 4,
     .KH = 3,
     .KW = 2,
     .sh = 2,
     .sw = 1,
     .ph = 1,
     .pw = 2,
     .dh = 1,
     .dw = 2},
    {.N = 2,
     .G = 1,
     .Cg = 5,
     .H = 8,
     .W = 8,
     .Og = 6,
     .KH = 1,
     .KW = 1,
     .sh = 2,
     .sw = 2,
     .ph = 0,
     .pw = 0,
     .dh = 1,
     .dw = 1},
    {.N = 1,
     .G = 1,
     .Cg = 3,
     .H = 10,
     .W = 7,
     .Og = 7,
     .KH = 3,
     .KW = 3,
     .sh = 3,
     .sw = 2,
     .ph = 2,
     .pw = 0,
     .dh = 2,
     .dw = 1},
    {.N = 2,
     .G = 1,
     .Cg = 50,
     .H = 4,
     .W = 5,
     .Og = 9,
     .KH = 3,
     .KW = 3,
     .sh = 1,
     .sw = 1,
     .ph = 1,
     .pw = 1,
     .dh = 1,
     .dw = 1},
    {.N = 1,
     .G = 1,
     .Cg = 2,
     .H = 5,
     .W = 5,
     .Og = 3,
     .KH = 5,
     .KW = 5,
     .sh = 1,
     .sw = 1,
     .ph = 0,
     .pw = 0,
     .dh = 1,
     .dw = 1},
    {.N = 2, /* 33 and 16 channels: several weight panels, split evenly (11+11+11, 6x5+3) */
     .G = 2,
     .Cg = 3,
     .H = 7,
     .W = 6,
     .Og = 33,
     .KH = 3,
     .KW = 3,
     .sh = 1,
     .sw = 1,
     .ph = 1,
     .pw = 1,
     .dh = 1,
     .dw = 1},
    {.N = 2,
     .G = 1,
     .Cg = 4,
     .H = 5,
     .W = 9,
     .Og = 16,
     .KH = 3,
     .KW = 3,
     .sh = 2,
     .sw = 2,
     .ph = 1,
     .pw = 1,
     .dh = 1,
     .dw = 1},
};

/* The fast kernel against its naive twin on case c (f32: |err| <= 1e-5 * (1 + taps)). */
static void igemm_vs_naive(struct ag__conv_shape shape, bool f32, bool bias) {
    struct ag__conv_igemm c = {.s = shape};
    unsigned st = 7;
    c.s.OH = (c.s.H + 2 * c.s.ph - c.s.dh * (c.s.KH - 1) - 1) / c.s.sh + 1;
    c.s.OW = (c.s.W + 2 * c.s.pw - c.s.dw * (c.s.KW - 1) - 1) / c.s.sw + 1;
    int64_t nx = c.s.N * c.s.G * c.s.Cg * c.s.H * c.s.W,
            nw = c.s.G * c.s.Og * c.s.Cg * c.s.KH * c.s.KW;
    int64_t ny = c.s.N * c.s.G * c.s.Og * c.s.OH * c.s.OW;
    void *x = random_buf(nx, f32, &st), *w = random_buf(nw, f32, &st);
    void *b = bias ? random_buf(c.s.G * c.s.Og, f32, &st) : NULL;
    void *y = random_buf(ny, f32, &st), *r = random_buf(ny, f32, &st);
    c.x = x, c.w = w, c.bias = b, c.y = y;
    cr_assert_eq(f32 ? ag__conv_igemm_f32(&c) : ag__conv_igemm_f64(&c), 0);
    c.y = r;
    if (f32) ag__conv_igemm_f32_naive(&c);
    else ag__conv_igemm_f64_naive(&c);
    double tol = (f32 ? 1e-5 : 1e-12) * (double)(1 + c.s.Cg * c.s.KH * c.s.KW);
    for (int64_t i = 0; i < ny; i++) {
        double u = f32 ? ((float *)y)[i] : ((double *)y)[i];
        double v = f32 ? ((float *)r)[i] : ((double *)r)[i];
        cr_assert(fabs(u - v) <= tol, "Cg %lld KH %lld stride %lld: y[%lld] %g vs naive %g",
                  (long long)c.s.Cg, (long long)c.s.KH, (long long)c.s.sh, (long long)i, u, v);
    }
    free(x), free(w), free(b), free(y), free(r);
}

/* On every vector ISA the CPU has: AVX2's 6-row and AVX-512's 14-row tiles split the
 * output channels differently. */
Test(conv, implicit_gemm_matches_naive_twin) {
    if (!ag__conv_igemm_ok()) cr_skip_test("no AVX2/AVX-512 GEMM micro-kernel on this CPU");
    char keep[16];
    snprintf(keep, sizeof keep, "%s", ag__gemm_isa());
    const char *isas[] = {"avx2", "avx512"};
    for (int k = 0; k < 2; k++) {
        if (ag__gemm_set_isa(isas[k]) != 0) {
            cr_log_warn("implicit GEMM: no %s on this CPU, its tile not tested", isas[k]);
            continue;
        }
        for (size_t i = 0; i < sizeof igemm_cases / sizeof igemm_cases[0]; i++)
            for (int f = 0; f < 2; f++) igemm_vs_naive(igemm_cases[i], f, i % 2 == 0);
    }
    ag__gemm_set_isa(keep);
}

/* dx by the definition: dx[n,c,ih,iw] = sum of gy[n,o,oh,ow] w[o,c,kh,kw] over the taps
 * that read (ih, iw); groups 1. */
static double naive_dx(ag_tensor *gy, ag_tensor *w, int s, int p, int d, int64_t n, int64_t c,
                       int64_t ih, int64_t iw) {
    const double *g = ag_data(gy), *k = ag_data(w);
    int64_t O = ag_shape(w)[0], C = ag_shape(w)[1], K = ag_shape(w)[2];
    int64_t OH = ag_shape(gy)[2], OW = ag_shape(gy)[3];
    double sum = 0;
    for (int64_t o = 0; o < O; o++)
        for (int64_t kh = 0; kh < K; kh++)
            for (int64_t kw = 0; kw < K; kw++) {
                int64_t th = ih + p - kh * d, tw = iw + p - kw * d;
                if (th < 0 || tw < 0 || th % s || tw % s || th / s >= OH || tw / s >= OW) continue;
                sum += g[((n * O + o) * OH + th / s) * OW + tw / s] *
                       k[((o * C + c) * K + kh) * K + kw];
            }
    return sum;
}

/* The input gradient, whichever path runs it (stride 1 with >= 4 channels: a convolution
 * of gy with the flipped kernel), against the definition, in float64. */
Test(conv, input_grad_matches_definition) {
    static const int geo[][5] = {/* C, O, K, pad, dilation; stride 1 */
                                 {5, 7, 3, 1, 1},
                                 {4, 3, 3, 2, 1},
                                 {6, 5, 3, 0, 2},
                                 {4, 9, 1, 0, 1},
                                 {2, 4, 3, 1, 1}};
    ag_scope_begin();
    for (size_t i = 0; i < sizeof geo / sizeof geo[0]; i++) {
        int64_t C = geo[i][0], O = geo[i][1], K = geo[i][2], H = 7, W = 6;
        int p = geo[i][3], d = geo[i][4];
        int64_t OH = H + 2 * p - d * (K - 1), OW = W + 2 * p - d * (K - 1);
        ag_tensor *gy = ag_randn(AG_F64, 4, (int64_t[]){2, O, OH, OW});
        ag_tensor *w = ag_randn(AG_F64, 4, (int64_t[]){O, C, K, K});
        ag_tensor *dx =
            ag__conv2d_input_grad(gy, w, (int[]){1, 1}, (int[]){p, p}, (int[]){d, d}, 1, H, W);
        cr_assert(dx, "%s", ag_last_error());
        const double *v = ag_data(dx);
        for (int64_t j = 0; j < ag_numel(dx); j++) {
            int64_t iw = j % W, ih = j / W % H, c = j / (W * H) % C, n = j / (W * H * C);
            double want = naive_dx(gy, w, 1, p, d, n, c, ih, iw);
            cr_assert(fabs(v[j] - want) <= 1e-12 * (1 + fabs(want)), "case %zu dx[%lld] %g vs %g",
                      i, (long long)j, v[j], want);
        }
    }
    ag_scope_end();
}

/* The ResNet's strided and 1x1 convolutions: forward and both gradients bitwise equal
 * with 1 and 2 threads. */
Test(conv, strided_and_1x1_same_bits_for_any_thread_count) {
    static const int geo[][4] = {{3, 2, 1}, {1, 2, 0}, {3, 1, 1}}; /* K, stride, pad */
    ag_scope_begin();
    for (size_t i = 0; i < sizeof geo / sizeof geo[0]; i++) {
        ag_tensor *res[2][3];
        ag_conv_opts o = {.stride = {geo[i][1], geo[i][1]}, .padding = {geo[i][2], geo[i][2]}};
        for (int t = 0; t < 2; t++) {
            ag_set_num_threads(t + 1);
            ag_manual_seed(11);
            ag_tensor *x = ag_randn(AG_F32, 4, (int64_t[]){24, 8, 14, 14});
            ag_tensor *w = ag_randn(AG_F32, 4, (int64_t[]){16, 8, geo[i][0], geo[i][0]});
            ag_tensor *b = ag_randn(AG_F32, 1, (int64_t[]){16});
            ag_set_requires_grad(x, true), ag_set_requires_grad(w, true);
            ag_tensor *y = ag_conv2d(x, w, b, o);
            cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){.grad = ag_ones_like(y)}), 0);
            res[t][0] = y, res[t][1] = ag_grad(x), res[t][2] = ag_grad(w);
        }
        ag_set_num_threads(2);
        for (int k = 0; k < 3; k++)
            cr_expect(
                !memcmp(ag_data(res[0][k]), ag_data(res[1][k]), 4 * (size_t)ag_numel(res[0][k])),
                "case %zu result %d differs between 1 and 2 threads", i, k);
    }
    ag_scope_end();
}

/* The im2col + GEMM path (the one the scalar ISA and the bf16 precision modes take) and
 * the implicit GEMM agree on forward and both gradients, float64. */
Test(conv, im2col_path_matches_implicit_gemm) {
    if (!ag__conv_igemm_ok()) cr_skip_test("no AVX2/AVX-512 GEMM micro-kernel on this CPU");
    static const int geo[][4] = {{3, 1, 1, 1}, {3, 2, 1, 2}, {1, 2, 0, 1}}; /* K, s, p, G */
    char isa[16];
    snprintf(isa, sizeof isa, "%s", ag__gemm_isa());
    ag_scope_begin();
    for (size_t i = 0; i < sizeof geo / sizeof geo[0]; i++) {
        ag_tensor *res[2][3];
        ag_conv_opts o = {.stride = {geo[i][1], geo[i][1]},
                          .padding = {geo[i][2], geo[i][2]},
                          .groups = geo[i][3]};
        for (int path = 0; path < 2; path++) {
            cr_assert_eq(ag__gemm_set_isa(path ? "scalar" : isa), 0);
            cr_assert_eq(ag__conv_igemm_ok(), path == 0);
            ag_manual_seed(13);
            ag_tensor *x = ag_randn(AG_F64, 4, (int64_t[]){3, 8, 9, 9});
            ag_tensor *w = ag_randn(AG_F64, 4, (int64_t[]){6, 8 / geo[i][3], geo[i][0], geo[i][0]});
            ag_tensor *b = ag_randn(AG_F64, 1, (int64_t[]){6});
            ag_set_requires_grad(x, true), ag_set_requires_grad(w, true);
            ag_tensor *y = ag_conv2d(x, w, b, o);
            cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){.grad = ag_ones_like(y)}), 0);
            res[path][0] = y, res[path][1] = ag_grad(x), res[path][2] = ag_grad(w);
        }
        ag__gemm_set_isa(isa);
        for (int k = 0; k < 3; k++) {
            const double *u = ag_data(res[0][k]), *v = ag_data(res[1][k]);
            for (int64_t j = 0; j < ag_numel(res[0][k]); j++)
                cr_assert(fabs(u[j] - v[j]) <= 1e-12 * (1 + fabs(v[j])),
                          "case %zu result %d [%lld]: %g vs %g", i, k, (long long)j, u[j], v[j]);
        }
    }
    ag_scope_end();
}
