/* Numerical stability of activations and losses at |x| up to 1e4, float32 and float64:
 * finite outputs and gradients everywhere torch has them, exact limits (softplus(1000) =
 * 1000), and untaken branches giving exact zero gradients. Values against torch at such
 * points are in tests/test_golden.c. */
#include <criterion/criterion.h>

#include "helpers.h"

typedef ag_tensor *(*unary)(ag_tensor *);
static ag_tensor *s_softplus2(ag_tensor *x) { return ag_softplus_ex(x, 2, 20); }
static ag_tensor *s_leaky(ag_tensor *x) { return ag_leaky_relu(x, 0.01); }
static ag_tensor *s_elu(ag_tensor *x) { return ag_elu(x, 1.0); }
static ag_tensor *s_hardtanh(ag_tensor *x) { return ag_hardtanh(x, -1, 1); }
static ag_tensor *s_softmax(ag_tensor *x) { return ag_softmax(x, 0); }
static ag_tensor *s_log_softmax(ag_tensor *x) { return ag_log_softmax(x, 0); }
static ag_tensor *s_prelu(ag_tensor *x) {
    return ag_prelu(x, ag_full(ag_dtype_of(x), 1, (int64_t[]){1}, 0.25));
}
static ag_tensor *s_bcel(ag_tensor *x) {
    return ag_bce_with_logits_loss_ex(x, ag_full(ag_dtype_of(x), 1, ag_shape(x), 0.3),
                                      AG_REDUCTION_NONE);
}
static ag_tensor *s_huber(ag_tensor *x) {
    return ag_huber_loss_ex(x, ag_zeros_like(x), 1.0, AG_REDUCTION_NONE);
}

static const struct {
    const char *name;
    unary f;
} fns[] = {
    {"sigmoid", ag_sigmoid},
    {"tanh", ag_tanh},
    {"relu", ag_relu},
    {"selu", ag_selu},
    {"softplus", ag_softplus},
    {"softplus_ex", s_softplus2},
    {"gelu", ag_gelu},
    {"gelu_tanh", ag_gelu_tanh},
    {"silu", ag_silu},
    {"leaky_relu", s_leaky},
    {"elu", s_elu},
    {"hardtanh", s_hardtanh},
    {"hardsigmoid", ag_hardsigmoid},
    {"softmax", s_softmax},
    {"log_softmax", s_log_softmax},
    {"prelu", s_prelu},
    {"bce_with_logits", s_bcel},
    {"huber", s_huber},
};

/* 4001 points from -1e4 to 1e4 (spaced more densely near 0), both dtypes. */
static ag_tensor *sweep(ag_dtype dt) {
    int64_t n = 4001;
    ag_tensor *t = ag_tensor_new(AG_F64, 1, &n, NULL);
    double *p = ag_data(t);
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(i - 2000) / 2000.0; /* [-1, 1] */
        p[i] = 1e4 * u * u * u;
    }
    return ag_cast(t, dt);
}

Test(stability, outputs_and_gradients_finite_up_to_1e4) {
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = d ? AG_F64 : AG_F32;
        for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++) {
            ag_scope_begin();
            ag_tensor *x = sweep(dt), *g = NULL;
            ag_set_requires_grad(x, true);
            ag_tensor *y = fns[k].f(x);
            cr_assert(y, "%s: %s", fns[k].name, ag_last_error());
            ag_tensor *w =
                ag_cast(ag_arange(AG_F64, 0, 4001, 1), dt); /* softmax needs a non-flat seed */
            cr_assert_eq(ag_autograd_grad(1, &y, &w, 1, &x, &g, (ag_grad_opts){0}), 0, "%s",
                         ag_last_error());
            ag_tensor *y64 = ag_cast(y, AG_F64), *g64 = ag_cast(g, AG_F64);
            for (int64_t i = 0; i < 4001; i++) {
                double yi = ag_get(y64, &i), gi = ag_get(g64, &i);
                cr_assert(isfinite(yi) && isfinite(gi), "%s %s at x=%g: y=%g dy=%g", fns[k].name,
                          ag_dtype_name(dt), ag_get(x, &i), yi, gi);
            }
            ag_scope_end();
        }
    }
}

Test(stability, exact_limits) {
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = d ? AG_F64 : AG_F32;
        ag_scope_begin();
        ag_tensor *x = ag_cast(T64(1, SHAPE(4), -1e4, -1000, 1000, 1e4), dt);
        ag_tensor *sp = ag_softplus(x), *sg = ag_sigmoid(x), *th = ag_tanh(x);
        double spw[] = {0, 0, 1000, 1e4}, sgw[] = {0, 0, 1, 1}, thw[] = {-1, -1, 1, 1};
        assert_tensor_close(sp, spw, 4, 0, 0); /* softplus(1000) = 1000 exactly */
        assert_tensor_close(sg, sgw, 4, 0, 0);
        assert_tensor_close(th, thw, 4, 0, 0);
        assert_tensor_close(ag_softplus_ex(x, 0.5, 20), spw, 4, 1e-200, 0); /* 2 log1p(e^-500) */
        assert_tensor_close(ag_gelu(x), (double[]){0, 0, 1000, 1e4}, 4, 0, 0);
        assert_tensor_close(ag_silu(x), (double[]){0, 0, 1000, 1e4}, 4, 0, 0);
        /* cross entropy of logits [1e4, 0]: finite, exact */
        ag_tensor *lg = ag_cast(T64(2, SHAPE(2, 2), 1e4, 0, 0, 1e4), dt), *gx = NULL;
        ag_set_requires_grad(lg, true);
        ag_tensor *lab = ag_tensor_new(AG_I64, 1, (int64_t[]){2}, (int64_t[]){1, 1});
        ag_tensor *ce =
            ag_cross_entropy_loss_ex(lg, lab, (ag_cross_entropy_opts){AG_REDUCTION_NONE, 0});
        assert_tensor_close(ce, (double[]){1e4, 0}, 2, 0, 0);
        ag_tensor *m = ag_cross_entropy_loss(lg, lab);
        cr_assert_eq(ag_autograd_grad(1, &m, NULL, 1, &lg, &gx, (ag_grad_opts){0}), 0);
        assert_tensor_close(gx, (double[]){0.5, -0.5, 0, 0}, 4, 0, 0);
        ag_tensor *ls = ag_log_softmax(ag_cast(T64(1, SHAPE(3), 1e4, 0, -1e4), dt), 0);
        assert_tensor_close(ls, (double[]){0, -1e4, -2e4}, 3, 0, 0);
        assert_tensor_close(ag_bce_with_logits_loss_ex(ag_cast(T64(1, SHAPE(2), 1e4, -1e4), dt),
                                                       ag_cast(T64(1, SHAPE(2), 1, 1), dt),
                                                       AG_REDUCTION_NONE),
                            (double[]){0, 1e4}, 2, 0, 0);
        /* bce clamps log at -100: p = 0 with t = 1 gives 100, not inf */
        assert_tensor_close(ag_bce_loss_ex(ag_cast(T64(1, SHAPE(2), 0, 1), dt),
                                           ag_cast(T64(1, SHAPE(2), 1, 0), dt), AG_REDUCTION_NONE),
                            (double[]){100, 100}, 2, 0, 0);
        ag_scope_end();
    }
}

/* relu, elu, hardtanh, leaky_relu, huber: a branch not taken contributes an exact 0 — even
 * with an infinite or NaN upstream gradient where torch also gives 0. */
Test(stability, untaken_branches_give_exact_zero_gradients) {
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = d ? AG_F64 : AG_F32;
        ag_scope_begin();
        ag_tensor *x = ag_cast(T64(1, SHAPE(4), -1e4, -3, 2, 1e4), dt), *g = NULL;
        ag_set_requires_grad(x, true);
        ag_tensor *seed = ag_cast(T64(1, SHAPE(4), INFINITY, INFINITY, 1, 1), dt);
        ag_tensor *y = ag_relu(x);
        cr_assert_eq(ag_autograd_grad(1, &y, &seed, 1, &x, &g, (ag_grad_opts){0}), 0);
        assert_tensor_close(g, (double[]){0, 0, 1, 1}, 4, 0, 0);
        y = ag_hardtanh(x, -1, 1);
        seed = ag_cast(T64(1, SHAPE(4), INFINITY, 1, 1, INFINITY), dt);
        cr_assert_eq(ag_autograd_grad(1, &y, &seed, 1, &x, &g, (ag_grad_opts){0}), 0);
        assert_tensor_close(g, (double[]){0, 0, 0, 0}, 4, 0, 0);
        y = ag_sum(ag_elu(x, 1.0));
        cr_assert_eq(ag_autograd_grad(1, &y, NULL, 1, &x, &g, (ag_grad_opts){0}), 0);
        assert_tensor_close(g, (double[]){0, exp(-3.0), 1, 1}, 4, 0, d ? 1e-15 : 1e-7);
        /* huber: outside |d| < delta the gradient is +-delta exactly, the curvature exactly 0 */
        ag_tensor *t = ag_zeros_like(x), *g1 = NULL, *g2 = NULL;
        ag_tensor *h = ag_huber_loss_ex(x, t, 2.5, AG_REDUCTION_SUM);
        cr_assert_eq(
            ag_autograd_grad(1, &h, NULL, 1, &x, &g1, (ag_grad_opts){.create_graph = true}), 0);
        assert_tensor_close(g1, (double[]){-2.5, -2.5, 2, 2.5}, 4, 0, 0);
        ag_tensor *s = ag_sum(g1);
        cr_assert_eq(ag_autograd_grad(1, &s, NULL, 1, &x, &g2, (ag_grad_opts){0}), 0);
        assert_tensor_close(g2, (double[]){0, 0, 1, 0}, 4, 0, 0);
        /* l1 at a tie: gradient 0, as torch's sign */
        ag_tensor *l = ag_l1_loss_ex(x, x, AG_REDUCTION_SUM);
        ag_tensor *xx = x;
        cr_assert_eq(
            ag_autograd_grad(1, &l, NULL, 1, &xx, &g, (ag_grad_opts){.allow_unused = true}), 0);
        ag_scope_end();
    }
}

Test(stability, softmax_no_nan_with_huge_and_equal_logits) {
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = d ? AG_F64 : AG_F32;
        ag_scope_begin();
        ag_tensor *x = ag_cast(T64(2, SHAPE(2, 3), 1e4, 1e4, -1e4, -1e4, -1e4, -1e4), dt);
        assert_tensor_close(ag_softmax(x, 1), (double[]){0.5, 0.5, 0, 1 / 3.0, 1 / 3.0, 1 / 3.0}, 6,
                            0, 1e-7);
        ag_tensor *ls = ag_log_softmax(x, 1);
        assert_tensor_close(
            ls, (double[]){-log(2.0), -log(2.0), -2e4 - log(2.0), -log(3.0), -log(3.0), -log(3.0)},
            6, 0, 1e-7);
        ag_scope_end();
    }
}
