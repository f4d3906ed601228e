/* ag_conv2d_relu (the ReLU in the convolution's epilogue, ops/conv.c) and the Sequential
 * that runs a Conv2d layer followed by a ReLU layer as that one op (nn/sequential.c): the
 * same bits as relu(conv2d) forward and backward, on the implicit GEMM and on the im2col
 * path, a float64 gradcheck, NaN kept, unbatched input, and the summary still showing both
 * layers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "ops/kernels/gemm.h"

/* N, C, H, W, O, K, stride, pad, groups */
static const int64_t geoms[][9] = {
    {4, 8, 12, 11, 16, 3, 1, 1, 1}, /* the implicit GEMM's shape class, 16 channels */
    {3, 6, 9, 10, 9, 3, 2, 1, 3},   /* stride 2, groups 3, odd sizes */
};

static bool same(ag_tensor *a, ag_tensor *b) {
    return a && b && ag_numel(a) == ag_numel(b) &&
           !memcmp(ag_data(a), ag_data(b), ag_dtype_size(ag_dtype_of(a)) * (size_t)ag_numel(a));
}

/* y, dx, dw, db of the fused op (fused) or relu(conv2d) for geometry g, seeded the same. */
static void run(const int64_t *g, ag_dtype dt, bool fused, ag_tensor *out[4]) {
    ag_manual_seed(7);
    ag_tensor *x = ag_randn(dt, 4, (int64_t[]){g[0], g[1], g[2], g[3]});
    ag_tensor *w = ag_randn(dt, 4, (int64_t[]){g[4], g[1] / g[8], g[5], g[5]});
    ag_tensor *b = ag_randn(dt, 1, (int64_t[]){g[4]});
    ag_tensor *leaves[3] = {x, w, b};
    for (int i = 0; i < 3; i++) ag_set_requires_grad(leaves[i], true);
    ag_conv_opts o = {
        .stride = {(int)g[6], (int)g[6]}, .padding = {(int)g[7], (int)g[7]}, .groups = (int)g[8]};
    ag_tensor *y = fused ? ag_conv2d_relu(x, w, b, o) : ag_relu(ag_conv2d(x, w, b, o));
    cr_assert(y, "%s", ag_last_error());
    ag_tensor *k = ag_randn(dt, 4, ag_shape(y)); /* a loss that weighs every output */
    cr_assert_eq(ag_backward(ag_sum(ag_mul(y, k))), 0, "%s", ag_last_error());
    out[0] = ag_keep(y);
    for (int i = 0; i < 3; i++) out[1 + i] = ag_keep(ag_grad(leaves[i]));
    for (int i = 0; i < 3; i++) ag_tensor_free(leaves[i]);
}

static void compare_all(const char *path) {
    static const char *const what[4] = {"y", "dx", "dw", "db"};
    for (size_t gi = 0; gi < sizeof geoms / sizeof geoms[0]; gi++)
        for (int d = 0; d < 2; d++) {
            ag_dtype dt = d ? AG_F64 : AG_F32;
            ag_scope_begin();
            ag_tensor *f[4], *u[4];
            ag_scope_begin();
            run(geoms[gi], dt, true, f);
            run(geoms[gi], dt, false, u);
            ag_scope_end();
            for (int i = 0; i < 4; i++)
                cr_expect(same(f[i], u[i]), "%s, geometry %zu, %s: %s differs from relu(conv2d)",
                          path, gi, ag_dtype_name(dt), what[i]);
            ag_scope_end();
        }
}

Test(conv_relu, same_bits_as_relu_of_conv2d_on_every_path) {
    char keep[16];
    snprintf(keep, sizeof keep, "%s", ag__gemm_isa());
    compare_all(keep); /* the implicit GEMM where the CPU has AVX2 or AVX-512 */
    cr_assert_eq(ag__gemm_set_isa("scalar"), 0);
    compare_all("scalar (im2col)");
    ag__gemm_set_isa(keep);
}

static ag_tensor *conv_relu_fn(ag_tensor **in, void *ctx) {
    (void)ctx;
    ag_tensor *y = ag_conv2d_relu(in[0], in[1], in[2], (ag_conv_opts){.padding = {1, 1}});
    return ag_sum(ag_mul(y, in[3]));
}

Test(conv_relu, passes_float64_gradcheck) {
    ag_scope_begin();
    ag_manual_seed(11);
    ag_tensor *in[4] = {
        ag_randn(AG_F64, 4, (int64_t[]){2, 4, 6, 5}), ag_randn(AG_F64, 4, (int64_t[]){8, 4, 3, 3}),
        ag_randn(AG_F64, 1, (int64_t[]){8}), ag_randn(AG_F64, 4, (int64_t[]){2, 8, 6, 5})};
    for (int i = 0; i < 3; i++) ag_set_requires_grad(in[i], true);
    ag_gradcheck_result r = ag_gradcheck(conv_relu_fn, NULL, 4, in, (ag_gradcheck_opts){0});
    cr_expect(r.ok, "input %d element %lld abs err %g: %s", r.input, (long long)r.index,
              r.max_abs_err, ag_last_error() ? ag_last_error() : "");
    ag_scope_end();
}

Test(conv_relu, keeps_nan_and_takes_unbatched_input) {
    ag_scope_begin();
    ag_tensor *x = ag_full(AG_F32, 3, (int64_t[]){1, 4, 4}, 1.0);
    ((float *)ag_data(x))[5] = NAN;
    ag_tensor *w = ag_full(AG_F32, 4, (int64_t[]){2, 1, 1, 1}, -1.0);
    ag_tensor *y = ag_conv2d_relu(x, w, NULL, (ag_conv_opts){0});
    cr_assert(y, "%s", ag_last_error());
    cr_expect_eq(ag_ndim(y), 3);
    cr_expect(isnan(ag_get(y, (int64_t[]){0, 1, 1})), "NaN must pass the ReLU");
    cr_expect_eq(ag_get(y, (int64_t[]){1, 0, 0}), 0.0); /* -1 -> 0 */
    cr_expect(!signbit(ag_get(y, (int64_t[]){1, 0, 0})), "ReLU of a negative is +0");
    ag_clear_error();
    cr_expect_null(
        ag_conv2d_relu(x, ag_zeros(AG_F32, 4, (int64_t[]){2, 3, 1, 1}), NULL, (ag_conv_opts){0}));
    cr_expect(ag_last_error() && strstr(ag_last_error(), "ag_conv2d"), "%s", ag_last_error());
    ag_scope_end();
}

/* conv, ReLU, pool, flatten, linear: a Sequential (which fuses the first two) against the
 * same layers called one by one, with grad (values and every parameter's gradient) and
 * without. */
Test(conv_relu, sequential_fuses_conv_and_relu_with_the_same_bits) {
    ag_manual_seed(5);
    ag_model *m = ag_model_new();
    ag_model_add(m, ag_conv2d_layer(3, 8, 3, (ag_conv_opts){.padding = {1, 1}}, true));
    ag_model_add(m, ag_activation_layer(AG_ACTIVATION_RELU));
    ag_model_add(m, ag_max_pool2d_layer((ag_pool_opts){.kernel = {2, 2}}));
    ag_model_add(m, ag_flatten_layer());
    ag_model_add(m, ag_linear_layer(8 * 5 * 5, 4, true));
    ag_tensor *x = ag_randn(AG_F32, 4, (int64_t[]){6, 3, 10, 10});
    int np = 0;
    ag_tensor **params = ag_module_parameters(m, &np), *g[2][8], *y[2];
    cr_assert(params && np > 0 && np <= 8);
    ag_scope_begin();
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < np; i++) ag_zero_grad(params[i]);
        ag_tensor *h = x;
        if (k == 0) h = ag_model_forward(m, x);
        else
            for (int c = 0; c < 5; c++) {
                char name[4];
                snprintf(name, sizeof name, "%d", c);
                h = ag_module_forward(ag_module_get_child(m, name), h);
            }
        cr_assert(h, "%s", ag_last_error());
        y[k] = h;
        /* the fused graph has one conv2d node and no relu node; the unfused one has both */
        char path[] = "/tmp/ag_conv_relu_XXXXXX";
        int fd = mkstemp(path);
        cr_assert(fd >= 0);
        close(fd);
        cr_assert_eq(ag_graph_dot(h, path), 0, "%s", ag_last_error());
        FILE *f = fopen(path, "r");
        char dot[16384] = {0};
        size_t got = f ? fread(dot, 1, sizeof dot - 1, f) : 0;
        if (f) fclose(f);
        unlink(path);
        cr_assert(got > 0 && strstr(dot, "conv2d"), "%s", dot);
        cr_expect_eq(strstr(dot, "relu") == NULL, k == 0, "%s graph:\n%s",
                     k ? "layer by layer" : "Sequential", dot);
        cr_assert_eq(ag_backward(ag_sum(h)), 0, "%s", ag_last_error());
        for (int i = 0; i < np; i++) g[k][i] = ag_clone(ag_grad(params[i]));
    }
    cr_expect(same(y[0], y[1]), "the Sequential's output differs from the layers one by one");
    for (int i = 0; i < np; i++) cr_expect(same(g[0][i], g[1][i]), "parameter %d's gradient", i);
    bool prev = ag_set_grad_enabled(false);
    cr_expect(same(ag_model_forward(m, x), y[1]), "the no-grad forward differs");
    ag_set_grad_enabled(prev);
    char buf[4096];
    cr_assert_geq(ag_model_summary(m, 4, (int64_t[]){1, 3, 10, 10}, buf, sizeof buf), 0);
    cr_expect(strstr(buf, "ReLU") && strstr(buf, "Conv2d"), "summary:\n%s", buf);
    ag_scope_end();
    ag_tensor_free(x);
    ag_model_free(m);
}
