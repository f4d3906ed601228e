/* conv2d / conv1d against PyTorch golden values (tests/golden/gen_conv.py), thread-count
 * independence, and the error messages. Gradients are also gradchecked by test_optable. */
#include <string.h>

#include "golden/conv_golden.h"
#include "helpers.h"

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
