/* Second derivatives through ag_autograd_grad(create_graph): closed forms for x^3, exp,
 * log and 1/x, and a Hessian-vector product of a small MLP loss (matmul + a smooth
 * activation) against central differences of its gradient, in float64. */
#include "helpers.h"

typedef ag_tensor *(*unary)(ag_tensor *);

/* d/dx and d2/dx2 of sum(f(x)) at the points xs, element-wise. */
static void second_derivative(unary f, const double *xs, int n, double *d1, double *d2) {
    ag_scope_begin();
    ag_tensor *x = ag_tensor_new(AG_F64, 1, (int64_t[]){n}, xs);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_sum(f(x)), *g[1], *h[1];
    cr_assert_eq(ag_autograd_grad(1, &y, NULL, 1, &x, g, (ag_grad_opts){.create_graph = true}), 0,
                 "%s", ag_last_error());
    cr_assert(ag_requires_grad(g[0]), "create_graph: the gradient must be differentiable");
    ag_tensor *gs = ag_sum(g[0]);
    cr_assert_eq(ag_autograd_grad(1, &gs, NULL, 1, &x, h, (ag_grad_opts){0}), 0, "%s",
                 ag_last_error());
    for (int i = 0; i < n; i++) {
        d1[i] = ag_get(g[0], (int64_t[]){i});
        d2[i] = ag_get(h[0], (int64_t[]){i});
    }
    ag_scope_end();
}

static ag_tensor *cube(ag_tensor *x) { return ag_mul(ag_mul(x, x), x); }
static ag_tensor *recip(ag_tensor *x) { return ag_div(ag_ones_like(x), x); }

Test(hessian, closed_forms_of_second_derivatives) {
    double xs[] = {-1.5, -0.3, 0.7, 2.0}, d1[4], d2[4];
    second_derivative(cube, xs, 4, d1, d2);
    for (int i = 0; i < 4; i++) {
        assert_close(d1[i], 3 * xs[i] * xs[i], 1e-12, 1e-12);
        assert_close(d2[i], 6 * xs[i], 1e-12, 1e-12);
    }
    second_derivative(ag_exp, xs, 4, d1, d2);
    for (int i = 0; i < 4; i++) assert_close(d2[i], exp(xs[i]), 1e-12, 1e-12);
    double pos[] = {0.5, 1.0, 3.0};
    second_derivative(ag_log, pos, 3, d1, d2);
    for (int i = 0; i < 3; i++) assert_close(d2[i], -1 / (pos[i] * pos[i]), 1e-12, 1e-12);
    second_derivative(recip, pos, 3, d1, d2);
    for (int i = 0; i < 3; i++) assert_close(d2[i], 2 / (pos[i] * pos[i] * pos[i]), 1e-12, 1e-12);
}

/* tanh'' = -2 tanh (1 - tanh^2); (x sin x)'' = 2 cos x - x sin x; (x^3 via ag_pow)'' = 6x. */
static ag_tensor *x_sin_x(ag_tensor *x) { return ag_mul(x, ag_sin(x)); }
static ag_tensor *pow3(ag_tensor *x) { return ag_pow(x, 3); }
Test(hessian, closed_forms_of_tanh_x_sin_x_and_pow) {
    double xs[] = {-1.5, -0.3, 0.7, 2.0}, d1[4], d2[4];
    second_derivative(ag_tanh, xs, 4, d1, d2);
    for (int i = 0; i < 4; i++) {
        double t = tanh(xs[i]);
        assert_close(d2[i], -2 * t * (1 - t * t), 1e-12, 1e-12);
    }
    second_derivative(x_sin_x, xs, 4, d1, d2);
    for (int i = 0; i < 4; i++)
        assert_close(d2[i], 2 * cos(xs[i]) - xs[i] * sin(xs[i]), 1e-12, 1e-12);
    second_derivative(pow3, xs, 4, d1, d2);
    for (int i = 0; i < 4; i++) assert_close(d2[i], 6 * xs[i], 1e-12, 1e-12);
}

/* loss(W1, W2) = mean((act(x W1) W2 - y)^2), act(h) = h exp(-h^2): smooth everywhere. */
struct mlp_data {
    ag_tensor *x, *y;
};

static ag_tensor *mlp_loss(const struct mlp_data *d, ag_tensor *w1, ag_tensor *w2) {
    ag_tensor *h = ag_matmul(d->x, w1); /* [4,3] */
    ag_tensor *a = ag_mul(h, ag_exp(ag_neg(ag_mul(h, h))));
    ag_tensor *r = ag_sub(ag_matmul(a, w2), d->y); /* [4,2] */
    return ag_mean(ag_mul(r, r));
}

/* Gradient of the loss at (w1 + t v1, w2 + t v2), as plain numbers. */
static void grad_at(const struct mlp_data *d, ag_tensor *const w[2], ag_tensor *const v[2],
                    double t, double *out) {
    ag_scope_begin();
    ag_tensor *p[2];
    bool prev = ag_set_grad_enabled(false);
    for (int k = 0; k < 2; k++) p[k] = ag_add(w[k], ag_mul(v[k], ag_scalar(AG_F64, t)));
    ag_set_grad_enabled(prev);
    for (int k = 0; k < 2; k++) {
        p[k] = ag_contiguous(ag_detach(p[k]));
        ag_set_requires_grad(p[k], true);
    }
    ag_tensor *loss = mlp_loss(d, p[0], p[1]), *g[2];
    cr_assert_eq(ag_autograd_grad(1, &loss, NULL, 2, p, g, (ag_grad_opts){0}), 0, "%s",
                 ag_last_error());
    int64_t at = 0;
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < ag_numel(g[k]); i++)
            out[at++] = ag_get(g[k], (int64_t[]){i / ag_shape(g[k])[1], i % ag_shape(g[k])[1]});
    ag_scope_end();
}

Test(hessian, hessian_vector_product_of_an_mlp_matches_finite_differences) {
    ag_scope_begin();
    ag_manual_seed(21);
    struct mlp_data d = {ag_randn(AG_F64, 2, (int64_t[]){4, 5}),
                         ag_randn(AG_F64, 2, (int64_t[]){4, 2})};
    ag_tensor *w[2] = {ag_randn(AG_F64, 2, (int64_t[]){5, 3}),
                       ag_randn(AG_F64, 2, (int64_t[]){3, 2})};
    ag_tensor *v[2] = {ag_randn(AG_F64, 2, (int64_t[]){5, 3}),
                       ag_randn(AG_F64, 2, (int64_t[]){3, 2})};
    for (int k = 0; k < 2; k++) ag_set_requires_grad(w[k], true);
    /* Hv = d/dw <grad(w), v> */
    ag_tensor *loss = mlp_loss(&d, w[0], w[1]), *g[2], *hv[2];
    cr_assert_eq(ag_autograd_grad(1, &loss, NULL, 2, w, g, (ag_grad_opts){.create_graph = true}), 0,
                 "%s", ag_last_error());
    ag_tensor *gv = ag_add(ag_sum(ag_mul(g[0], v[0])), ag_sum(ag_mul(g[1], v[1])));
    cr_assert_eq(ag_autograd_grad(1, &gv, NULL, 2, w, hv, (ag_grad_opts){0}), 0, "%s",
                 ag_last_error());
    enum { P = 15 + 6 };
    double hi[P], lo[P], eps = 1e-5;
    grad_at(&d, w, v, eps, hi);
    grad_at(&d, w, v, -eps, lo);
    int64_t at = 0;
    double biggest = 0;
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < ag_numel(hv[k]); i++, at++) {
            double got = ag_get(hv[k], (int64_t[]){i / ag_shape(hv[k])[1], i % ag_shape(hv[k])[1]});
            double fd = (hi[at] - lo[at]) / (2 * eps);
            biggest = fmax(biggest, fabs(got));
            cr_assert(fabs(got - fd) <= 1e-6 + 1e-5 * fabs(fd),
                      "Hv[%lld] = %.12g, differences %.12g", (long long)at, got, fd);
        }
    cr_assert_eq(at, P);
    cr_assert(biggest > 1e-3, "the product is trivially small (%g)", biggest);
    ag_scope_end();
}
