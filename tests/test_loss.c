/* Losses: every public loss function (composites included) gradchecked in float64 through a
 * table, second derivatives of the fused cross-entropy, simple values, and error paths. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"

struct lcase {
    const char *name;
    ag_tensor *(*f)(ag_tensor **in, void *ctx);
    double lo0, hi0, lo1, hi1; /* input ranges; lo1 > hi1: int64 labels in [0, 5) */
    int reduction;
};

#define R(ctx) ((ag_reduction)((const struct lcase *)(ctx))->reduction)
static ag_tensor *l_mse(ag_tensor **in, void *c) { return ag_mse_loss_ex(in[0], in[1], R(c)); }
static ag_tensor *l_l1(ag_tensor **in, void *c) { return ag_l1_loss_ex(in[0], in[1], R(c)); }
static ag_tensor *l_huber(ag_tensor **in, void *c) {
    return ag_huber_loss_ex(in[0], in[1], 0.8, R(c));
}
static ag_tensor *l_bce(ag_tensor **in, void *c) { return ag_bce_loss_ex(in[0], in[1], R(c)); }
static ag_tensor *l_bcel(ag_tensor **in, void *c) {
    return ag_bce_with_logits_loss_ex(in[0], in[1], R(c));
}
static ag_tensor *l_kl(ag_tensor **in, void *c) { return ag_kl_div_loss_ex(in[0], in[1], R(c)); }
static ag_tensor *l_ce(ag_tensor **in, void *c) {
    return ag_cross_entropy_loss_ex(in[0], in[1], (ag_cross_entropy_opts){R(c), 0});
}
static ag_tensor *l_ce_smooth(ag_tensor **in, void *c) {
    return ag_cross_entropy_loss_ex(in[0], in[1], (ag_cross_entropy_opts){R(c), 0.15});
}
static ag_tensor *l_nll(ag_tensor **in, void *c) { return ag_nll_loss_ex(in[0], in[1], R(c)); }
static ag_tensor *l_defaults(ag_tensor **in, void *c) { /* the default-reduction entry points */
    (void)c;
    ag_tensor *p = ag_sigmoid(in[0]), *t = ag_sigmoid(in[1]);
    ag_tensor *s = ag_add(ag_mse_loss(in[0], in[1]), ag_l1_loss(in[0], in[1]));
    s = ag_add(s, ag_huber_loss(in[0], in[1], 1.0));
    s = ag_add(s, ag_bce_loss(p, t));
    s = ag_add(s, ag_bce_with_logits_loss(in[0], t));
    s = ag_add(s, ag_kl_div_loss(ag_log_softmax(in[0], 1), ag_softmax(in[1], 1)));
    return ag_add(s, ag_cross_entropy_loss(in[0], ag_softmax(in[1], 1)));
}

#define LAB 1, 0 /* labels */
static const struct lcase cases[] = {
    {"mse mean", l_mse, -2, 2, -2, 2, 0},
    {"mse sum", l_mse, -2, 2, -2, 2, 1},
    {"mse none", l_mse, -2, 2, -2, 2, 2},
    {"l1 mean", l_l1, -2, 2, -2, 2, 0},
    {"l1 none", l_l1, -2, 2, -2, 2, 2},
    {"huber mean", l_huber, -2, 2, -2, 2, 0},
    {"huber sum", l_huber, -2, 2, -2, 2, 1},
    {"bce mean", l_bce, 0.05, 0.95, 0, 1, 0},
    {"bce none", l_bce, 0.05, 0.95, 0, 1, 2},
    {"bce_logits mean", l_bcel, -4, 4, 0, 1, 0},
    {"bce_logits sum", l_bcel, -4, 4, 0, 1, 1},
    {"kl batchmean", l_kl, -3, 0, 0.05, 1, 0},
    {"kl sum", l_kl, -3, 0, 0.05, 1, 1},
    {"kl none", l_kl, -3, 0, 0.05, 1, 2},
    {"ce labels mean", l_ce, -3, 3, LAB, 0},
    {"ce labels none", l_ce, -3, 3, LAB, 2},
    {"ce labels smoothing sum", l_ce_smooth, -3, 3, LAB, 1},
    {"ce probs mean", l_ce, -3, 3, 0, 1, 0},
    {"ce probs smoothing none", l_ce_smooth, -3, 3, 0, 1, 2},
    {"nll mean", l_nll, -3, 0, LAB, 0},
    {"nll sum", l_nll, -3, 0, LAB, 1},
    {"nll none", l_nll, -3, 0, LAB, 2},
    {"defaults", l_defaults, -2, 2, -2, 2, 0},
};

static ag_tensor *uniform(int64_t r, int64_t c, double lo, double hi) {
    ag_tensor *u = ag_rand(AG_F64, 2, (int64_t[]){r, c});
    return ag_add(ag_mul(u, ag_scalar(AG_F64, hi - lo)), ag_scalar(AG_F64, lo));
}

static ag_tensor *labels(int64_t n, int64_t c) {
    ag_tensor *t = ag_zeros(AG_I64, 1, &n);
    for (int64_t i = 0; i < n; i++) ((int64_t *)ag_data(t))[i] = (int64_t)((i * 3 + 1) % c);
    return t;
}

Test(loss, every_loss_gradchecks_in_float64) {
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const struct lcase *c = &cases[k];
        ag_scope_begin();
        ag_manual_seed(100 + k);
        ag_tensor *in[2] = {uniform(4, 5, c->lo0, c->hi0), NULL};
        in[1] = c->lo1 > c->hi1 ? labels(4, 5) : uniform(4, 5, c->lo1, c->hi1);
        if (strstr(c->name, "probs")) in[1] = ag_softmax(in[1], 1);
        ag_set_requires_grad(in[0], true);
        if (c->lo1 <= c->hi1) ag_set_requires_grad(in[1], true);
        ag_gradcheck_result r = ag_gradcheck(c->f, (void *)c, 2, in, (ag_gradcheck_opts){0});
        cr_expect(r.ok, "%s: gradient wrong at input %d element %lld (abs %g rel %g) %s", c->name,
                  r.input, (long long)r.index, r.max_abs_err, r.max_rel_err,
                  ag_last_error() ? ag_last_error() : "");
        ag_scope_end();
    }
}

/* Gradients of gradients of the fused cross entropy equal the composite's
 * (log_softmax then the one-hot probability form). */
struct ce_ctx {
    ag_tensor *labels;
    double eps;
    ag_reduction r;
    bool fused;
};
static ag_tensor *ce_grad(ag_tensor **in, void *ctx) {
    struct ce_ctx *c = ctx;
    bool prev = ag_set_grad_enabled(true);
    ag_tensor *l =
        ag_cross_entropy_loss_ex(in[0], c->labels, (ag_cross_entropy_opts){c->r, c->eps});
    if (c->r == AG_REDUCTION_NONE) l = ag_sum(ag_mul(l, ag_arange(AG_F64, 1, 5, 1)));
    ag_tensor *g = NULL;
    int rc = ag_autograd_grad(1, &l, NULL, 1, in, &g, (ag_grad_opts){.create_graph = prev});
    ag_set_grad_enabled(prev);
    return rc ? NULL : ag_mul(g, g);
}

Test(loss, cross_entropy_second_derivatives_gradcheck) {
    ag_reduction rs[] = {AG_REDUCTION_MEAN, AG_REDUCTION_SUM, AG_REDUCTION_NONE};
    for (int k = 0; k < 3; k++) {
        ag_scope_begin();
        ag_manual_seed(5);
        ag_tensor *x = uniform(4, 5, -2, 2);
        ag_set_requires_grad(x, true);
        struct ce_ctx c = {labels(4, 5), k == 1 ? 0.2 : 0, rs[k], true};
        ag_gradcheck_result r = ag_gradcheck(ce_grad, &c, 1, &x, (ag_gradcheck_opts){0});
        cr_expect(r.ok, "reduction %d: d2 wrong at %lld (abs %g) %s", k, (long long)r.index,
                  r.max_abs_err, ag_last_error() ? ag_last_error() : "");
        ag_scope_end();
    }
}

Test(loss, values_by_hand) {
    ag_scope_begin();
    ag_tensor *p = T64(1, SHAPE(3), 1, 2, 4), *t = T64(1, SHAPE(3), 0, 2, 1);
    assert_close(ag_item(ag_mse_loss(p, t)), (1 + 0 + 9) / 3.0, 0, 1e-15);
    assert_close(ag_item(ag_mse_loss_ex(p, t, AG_REDUCTION_SUM)), 10, 0, 1e-15);
    assert_close(ag_item(ag_l1_loss(p, t)), 4 / 3.0, 0, 1e-15);
    assert_close(ag_item(ag_huber_loss_ex(p, t, 1.5, AG_REDUCTION_SUM)), 0.5 + 0 + 1.5 * (3 - 0.75),
                 0, 1e-15);
    ag_tensor *x = T64(2, SHAPE(2, 3), 1, 2, 3, 0, 0, 0);
    ag_tensor *y = ag_tensor_new(AG_I64, 1, (int64_t[]){2}, (int64_t[]){2, 1});
    double l0 = log(exp(1) + exp(2) + exp(3)) - 3, l1 = log(3.0);
    assert_close(ag_item(ag_cross_entropy_loss(x, y)), (l0 + l1) / 2, 0, 1e-14);
    assert_close(ag_item(ag_nll_loss(ag_log_softmax(x, 1), y)), (l0 + l1) / 2, 0, 1e-14);
    ag_tensor *none = ag_cross_entropy_loss_ex(x, y, (ag_cross_entropy_opts){AG_REDUCTION_NONE, 0});
    double want[] = {l0, l1};
    assert_tensor_close(none, want, 2, 0, 1e-14);
    /* kl_div batchmean divides by the batch (dim 0), not the element count */
    ag_tensor *li = T64(2, SHAPE(2, 2), -1, -2, -0.5, -1),
              *tp = T64(2, SHAPE(2, 2), 0.5, 0.5, 0.2, 0.8);
    double s =
        0.5 * (log(0.5) + 1) + 0.5 * (log(0.5) + 2) + 0.2 * (log(0.2) + 0.5) + 0.8 * (log(0.8) + 1);
    assert_close(ag_item(ag_kl_div_loss(li, tp)), s / 2, 0, 1e-14);
    assert_close(ag_item(ag_kl_div_loss_ex(li, tp, AG_REDUCTION_SUM)), s, 0, 1e-14);
    /* float32 cross entropy agrees */
    assert_close(ag_item(ag_cross_entropy_loss(ag_cast(x, AG_F32), y)), (l0 + l1) / 2, 0, 1e-6);
    ag_scope_end();
}

#define EXPECT_ERR(call, ...)                                                                      \
    do {                                                                                           \
        ag_clear_error();                                                                          \
        cr_expect_null(call, "%s accepted", #call);                                                \
        const char *e_ = ag_last_error() ? ag_last_error() : "";                                   \
        const char *want_[] = {__VA_ARGS__};                                                       \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof want_[0]; i_++)                             \
            cr_expect(strstr(e_, want_[i_]), "%s: message '%s' lacks '%s'", #call, e_, want_[i_]); \
    } while (0)

Test(loss, errors_name_function_shapes_and_labels) {
    ag_scope_begin();
    ag_tensor *a = ag_zeros(AG_F64, 2, (int64_t[]){2, 3}),
              *b = ag_zeros(AG_F64, 2, (int64_t[]){3, 2});
    ag_tensor *a32 = ag_zeros(AG_F32, 2, (int64_t[]){2, 3});
    ag_tensor *p = ag_full(AG_F64, 2, (int64_t[]){2, 3}, 0.5);
    EXPECT_ERR(ag_mse_loss(a, b), "ag_mse_loss", "[2,3]", "[3,2]");
    EXPECT_ERR(ag_l1_loss(a, b), "ag_l1_loss", "[2,3]", "[3,2]");
    EXPECT_ERR(ag_huber_loss(a, b, 1), "ag_huber_loss", "[3,2]");
    EXPECT_ERR(ag_huber_loss(a, a, 0), "ag_huber_loss", "delta");
    EXPECT_ERR(ag_bce_loss(p, b), "ag_bce_loss", "[3,2]");
    EXPECT_ERR(
        ag_bce_loss(ag_full(AG_F64, 1, (int64_t[]){2}, 1.5), ag_zeros(AG_F64, 1, (int64_t[]){2})),
        "ag_bce_loss", "1.5", "[0, 1]");
    EXPECT_ERR(ag_bce_with_logits_loss(a, b), "ag_bce_with_logits_loss", "[2,3]", "[3,2]");
    EXPECT_ERR(ag_kl_div_loss(a, b), "ag_kl_div_loss", "[3,2]");
    EXPECT_ERR(ag_mse_loss(a, a32), "ag_mse_loss", "float32");
    EXPECT_ERR(ag_mse_loss_ex(a, a, (ag_reduction)7), "ag_mse_loss", "reduction 7");
    /* labels */
    ag_tensor *y = ag_tensor_new(AG_I64, 1, (int64_t[]){2}, (int64_t[]){1, 3});
    EXPECT_ERR(ag_cross_entropy_loss(a, y), "ag_cross_entropy_loss", "label 3", "[0, 3)");
    ag_tensor *yneg = ag_tensor_new(AG_I64, 1, (int64_t[]){2}, (int64_t[]){-1, 0});
    EXPECT_ERR(ag_nll_loss(a, yneg), "ag_nll_loss", "label -1");
    EXPECT_ERR(ag_cross_entropy_loss(a, ag_zeros(AG_I64, 1, (int64_t[]){3})),
               "ag_cross_entropy_loss", "[3]", "[2,3]");
    EXPECT_ERR(ag_cross_entropy_loss(ag_zeros(AG_F64, 1, (int64_t[]){3}),
                                     ag_zeros(AG_I64, 1, (int64_t[]){3})),
               "ag_cross_entropy_loss", "[N,C]");
    EXPECT_ERR(ag_cross_entropy_loss(a, b), "ag_cross_entropy_loss", "[2,3]", "[3,2]");
    EXPECT_ERR(ag_cross_entropy_loss(a, a32), "ag_cross_entropy_loss", "float32");
    EXPECT_ERR(ag_cross_entropy_loss_ex(a, y, (ag_cross_entropy_opts){0, 1.5}), "label_smoothing");
    EXPECT_ERR(
        ag_nll_loss(ag_zeros(AG_I64, 2, (int64_t[]){2, 3}), ag_zeros(AG_I64, 1, (int64_t[]){2})),
        "ag_nll_loss", "int64");
    EXPECT_ERR(ag_nll_loss_ex(a, ag_zeros(AG_I64, 1, (int64_t[]){2}), (ag_reduction)-1),
               "reduction");
    /* NULL passes through silently */
    ag_clear_error();
    cr_expect_null(ag_cross_entropy_loss(NULL, y));
    cr_expect_null(ag_mse_loss(a, NULL));
    cr_expect_null(ag_kl_div_loss(NULL, a));
    cr_expect_null(ag_last_error());
    ag_scope_end();
}
