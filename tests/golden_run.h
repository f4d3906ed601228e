/* Runs the PyTorch golden cases of tests/golden/core_golden.h (made by gen_core.py):
 * value and gradient (of sum(out * [1, 2, 3, ...])) of each case, in float64. */
#ifndef AG_TEST_GOLDEN_RUN_H
#define AG_TEST_GOLDEN_RUN_H

#include <string.h>

#include "golden/core_golden.h"
#include "helpers.h"

static ag_tensor *golden_call(const struct golden_op *c, ag_tensor **x) {
    const char *op = c->op;
    const double *a = c->arg;
    if (!strcmp(op, "pow")) return ag_pow(x[0], a[0]);
    if (!strcmp(op, "sqrt")) return ag_sqrt(x[0]);
    if (!strcmp(op, "abs")) return ag_abs(x[0]);
    if (!strcmp(op, "sin")) return ag_sin(x[0]);
    if (!strcmp(op, "cos")) return ag_cos(x[0]);
    if (!strcmp(op, "sign")) return ag_sign(x[0]);
    if (!strcmp(op, "add_scalar")) return ag_add_scalar(x[0], a[0]);
    if (!strcmp(op, "mul_scalar")) return ag_mul_scalar(x[0], a[0]);
    if (!strcmp(op, "maximum")) return ag_maximum(x[0], x[1]);
    if (!strcmp(op, "minimum")) return ag_minimum(x[0], x[1]);
    if (!strcmp(op, "clamp")) return ag_clamp(x[0], a[0], a[1]);
    if (!strcmp(op, "where")) return ag_where(x[0], x[1], x[2]);
    if (!strcmp(op, "eq")) return ag_eq(x[0], x[1]);
    if (!strcmp(op, "gt")) return ag_gt(x[0], x[1]);
    if (!strcmp(op, "max_dim")) return ag_max_dim(x[0], (int)a[0], a[1] != 0);
    if (!strcmp(op, "argmax_dim")) return ag_argmax_dim(x[0], (int)a[0], a[1] != 0);
    if (!strcmp(op, "max")) return ag_max(x[0]);
    if (!strcmp(op, "logsumexp_dim")) return ag_logsumexp_dim(x[0], (int)a[0], a[1] != 0);
    if (!strcmp(op, "var_dim")) return ag_var_dim(x[0], (int)a[0], a[1] != 0, (int)a[2]);
    if (!strcmp(op, "sum")) return ag_sum(x[0]);
    if (!strcmp(op, "mean")) return ag_mean(x[0]);
    if (!strcmp(op, "mean_dim")) return ag_mean_dim(x[0], (int)a[0], a[1] != 0);
    cr_assert_fail("golden op %s has no call", op);
    return NULL;
}

/* Equal within 1e-12 relative, NaN equal to NaN, infinities exactly. */
static void golden_expect(ag_tensor *t, const double *want, int64_t n, const char *what, int k) {
    cr_assert(t, "%s %d: no tensor", what, k);
    cr_assert_eq(ag_numel(t), n, "%s %d: numel", what, k);
    const double *got = ag_data(ag_contiguous(ag_cast(t, AG_F64)));
    for (int64_t i = 0; i < n; i++) {
        double v = got[i], w = want[i];
        bool ok = isnan(w) ? isnan(v) : isinf(w) ? v == w : fabs(v - w) <= 1e-12 + 1e-12 * fabs(w);
        cr_expect(ok, "%s of case %d element %lld: %.17g, torch %.17g", what, k, (long long)i, v,
                  w);
    }
}

/* Runs every case whose op is one of ops (NULL-terminated). Returns how many ran. */
static int run_golden(const char *const *ops) {
    int ran = 0;
    for (size_t k = 0; k < sizeof golden_ops / sizeof golden_ops[0]; k++) {
        const struct golden_op *c = &golden_ops[k];
        bool mine = false;
        for (const char *const *o = ops; *o; o++) mine |= !strcmp(*o, c->op);
        if (!mine) continue;
        ag_scope_begin();
        ag_tensor *x[3] = {0};
        for (int i = 0; i < c->nin; i++) {
            x[i] = ag_tensor_new(AG_F64, c->ndim[i], c->shape[i], c->in[i]);
            if (c->grad[i]) ag_set_requires_grad(x[i], true);
        }
        ag_tensor *y = golden_call(c, x);
        cr_assert(y, "%s case %zu: %s", c->op, k, ag_last_error());
        cr_assert_eq(ag_ndim(y), c->out_ndim, "%s case %zu: ndim", c->op, k);
        for (int d = 0; d < c->out_ndim; d++) cr_assert_eq(ag_shape(y)[d], c->out_shape[d]);
        golden_expect(y, c->out, c->nout, c->op, (int)k);
        bool any_grad = c->grad[0] || c->grad[1] || c->grad[2];
        if (any_grad) {
            ag_tensor *w =
                ag_reshape(ag_arange(AG_F64, 1, (double)c->nout + 1, 1), c->out_ndim, c->out_shape);
            cr_assert_eq(ag_backward(ag_sum(ag_mul(y, w))), 0, "%s", ag_last_error());
            for (int i = 0; i < c->nin; i++)
                if (c->grad[i])
                    golden_expect(ag_grad(x[i]), c->grad[i], ag_numel(x[i]), "grad", (int)k);
        }
        ag_scope_end();
        ran++;
    }
    return ran;
}

#endif
