/* Helpers for the tests of the issue-9 ops: golden cases of tests/golden/ops9_golden.h
 * (made by gen_ops9.py from torch), a second-derivative check, and error expectations. */
#ifndef AG_TEST_OPS9_HELPERS_H
#define AG_TEST_OPS9_HELPERS_H

#include <string.h>

#include "golden/ops9_golden.h"
#include "helpers.h"

#define NELEM(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

/* A float64 leaf from golden data (requires_grad when grad). */
static inline ag_tensor *gold(int ndim, const int64_t *shape, const double *v, bool grad) {
    ag_tensor *t = ag_tensor_new(AG_F64, ndim, shape, v);
    if (grad) ag_set_requires_grad(t, true);
    return t;
}
static inline ag_tensor *gold_i64(int ndim, const int64_t *shape, const int64_t *v) {
    return ag_tensor_new(AG_I64, ndim, shape, v);
}

/* Every element of t (any dtype) within 1e-12 relative of want; NaN equal to NaN. */
static inline void expect_gold(ag_tensor *t, const double *want, int64_t n, const char *what) {
    cr_assert(t, "%s: NULL (%s)", what, ag_last_error() ? ag_last_error() : "");
    cr_assert_eq(ag_numel(t), n, "%s: numel %lld, torch %lld", what, (long long)ag_numel(t),
                 (long long)n);
    ag_tensor *c = ag_contiguous(ag_cast(t, AG_F64));
    const double *got = ag_data(c);
    for (int64_t i = 0; i < n; i++) {
        double v = got[i], w = want[i];
        bool ok = isnan(w) ? isnan(v) : isinf(w) ? v == w : fabs(v - w) <= 1e-12 + 1e-12 * fabs(w);
        cr_expect(ok, "%s element %lld: %.17g, torch %.17g", what, (long long)i, v, w);
    }
}

/* Backward from y with the golden upstream gradient gy. */
static inline void backward_gold(ag_tensor *y, const double *gy) {
    cr_assert(y, "%s", ag_last_error() ? ag_last_error() : "");
    ag_tensor *seed = ag_tensor_new(ag_dtype_of(y), ag_ndim(y), ag_shape(y), NULL);
    ag_tensor *g = ag_tensor_new(AG_F64, ag_ndim(y), ag_shape(y), gy);
    ag_copy_(seed, ag_cast(g, ag_dtype_of(y)));
    cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){.grad = seed}), 0, "%s", ag_last_error());
}

/* The last error names fn and contains part. */
static inline void expect_error(const void *result, const char *fn, const char *part) {
    cr_expect(result == NULL, "%s: expected NULL", fn);
    const char *e = ag_last_error();
    cr_assert(e, "%s: no error message", fn);
    cr_expect(strncmp(e, fn, strlen(fn)) == 0 && strstr(e, part),
              "error '%s' should name %s "
              "and say '%s'",
              e, fn, part);
    cr_expect(!strchr(e, '\n'), "error '%s' is one line", e);
}

/* Second derivatives: for f(x) with one input, the gradient of <v, grad(sum(f(x) * u))>
 * through create_graph against central differences of that first gradient. */
typedef ag_tensor *(*ops9_fn)(ag_tensor *x, void *ctx);
static inline void expect_second_derivative(ops9_fn f, void *ctx, ag_tensor *x0, double tol) {
    int64_t n = ag_numel(x0);
    ag_manual_seed(99);
    ag_tensor *u = ag_rand(AG_F64, ag_ndim(f(x0, ctx)), ag_shape(f(x0, ctx)));
    ag_tensor *v = ag_rand(AG_F64, ag_ndim(x0), ag_shape(x0));
    ag_tensor *x = ag_clone(x0);
    x = ag_detach(x);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_sum(ag_mul(f(x, ctx), u)), *g[1], *h[1];
    cr_assert_eq(ag_autograd_grad(1, &y, NULL, 1, &x, g, (ag_grad_opts){.create_graph = true}), 0,
                 "%s", ag_last_error());
    ag_tensor *gv = ag_sum(ag_mul(g[0], v));
    cr_assert_eq(ag_autograd_grad(1, &gv, NULL, 1, &x, h, (ag_grad_opts){0}), 0, "%s",
                 ag_last_error());
    double eps = 1e-6;
    for (int64_t i = 0; i < n; i++) { /* d/dx_i <v, g(x)> by central differences */
        double fx[2];
        for (int s = 0; s < 2; s++) {
            ag_tensor *xp = ag_detach(ag_clone(x0));
            double *d = ag_data(xp);
            d[i] += s ? -eps : eps;
            ag_set_requires_grad(xp, true);
            ag_tensor *yp = ag_sum(ag_mul(f(xp, ctx), u)), *gp[1];
            cr_assert_eq(ag_autograd_grad(1, &yp, NULL, 1, &xp, gp, (ag_grad_opts){0}), 0, "%s",
                         ag_last_error());
            fx[s] = ag_item(ag_sum(ag_mul(gp[0], v)));
        }
        double want = (fx[0] - fx[1]) / (2 * eps);
        double got = ((const double *)ag_data(ag_contiguous(h[0])))[i];
        cr_expect(fabs(got - want) <= tol + tol * fabs(want),
                  "second derivative %lld: %.12g, "
                  "differences %.12g",
                  (long long)i, got, want);
    }
}

#endif
