/* dropout and batch_norm: torch golden values (tests/golden/gen_conv.py), running-stat
 * updates, dropout's statistics and determinism, and the error messages. */
#include <string.h>

#include "golden/conv_golden.h"
#include "helpers.h"
#include "ops/ops.h"

Test(nn_ops, batch_norm_training_matches_torch_and_updates_running_stats) {
    ag_scope_begin();
    int64_t xs[4] = {4, 3, 2, 2}, cs[1] = {3};
    ag_tensor *x = ag_tensor_new(AG_F64, 4, xs, bnt_x), *w = ag_tensor_new(AG_F64, 1, cs, bnt_w);
    ag_tensor *b = ag_tensor_new(AG_F64, 1, cs, bnt_b);
    ag_tensor *rm = ag_tensor_new(AG_F64, 1, cs, bnt_rm0),
              *rv = ag_tensor_new(AG_F64, 1, cs, bnt_rv0);
    ag_set_requires_grad(x, true), ag_set_requires_grad(w, true), ag_set_requires_grad(b, true);
    ag_tensor *y = ag_batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
    assert_tensor_close(y, bnt_y, 48, 1e-12, 1e-10);
    assert_tensor_close(rm, bnt_rm1, 3, 1e-12, 1e-10);
    assert_tensor_close(rv, bnt_rv1, 3, 1e-12, 1e-10);
    ag_tensor *gy = ag_tensor_new(AG_F64, 4, xs, bnt_gy);
    cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){.grad = gy}), 0, "%s", ag_last_error());
    assert_tensor_close(ag_grad(x), bnt_dx, 48, 1e-10, 1e-8);
    assert_tensor_close(ag_grad(w), bnt_dw, 3, 1e-10, 1e-8);
    assert_tensor_close(ag_grad(b), bnt_db, 3, 1e-10, 1e-8);
    ag_scope_end();
}

Test(nn_ops, batch_norm_eval_uses_running_stats_as_torch) {
    ag_scope_begin();
    int64_t xs[2] = {5, 3}, cs[1] = {3};
    ag_tensor *x = ag_tensor_new(AG_F64, 2, xs, bne_x);
    ag_tensor *rm = ag_tensor_new(AG_F64, 1, cs, bne_rm),
              *rv = ag_tensor_new(AG_F64, 1, cs, bne_rv);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_batch_norm(x, rm, rv, NULL, NULL, false, 0.1, 1e-3);
    assert_tensor_close(y, bne_y, 15, 1e-12, 1e-10);
    assert_tensor_close(rm, bne_rm, 3, 0, 0); /* eval leaves them alone */
    cr_assert_eq(
        ag_backward_ex(y, (ag_backward_opts){.grad = ag_tensor_new(AG_F64, 2, xs, bne_gy)}), 0);
    assert_tensor_close(ag_grad(x), bne_dx, 15, 1e-12, 1e-10);
    /* float32 too */
    ag_tensor *y32 = ag_batch_norm(ag_cast(x, AG_F32), ag_cast(rm, AG_F32), ag_cast(rv, AG_F32),
                                   NULL, NULL, false, 0.1, 1e-3);
    assert_tensor_close(y32, bne_y, 15, 1e-5, 1e-5);
    ag_scope_end();
}

static void expect_error(ag_tensor *t, const char *a, const char *b) {
    cr_assert_null(t);
    const char *m = ag_last_error();
    cr_assert(m && strstr(m, a) && (!b || strstr(m, b)), "message: %s", m ? m : "(none)");
}

Test(nn_ops, batch_norm_errors_name_the_shapes) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 4, (int64_t[]){2, 3, 2, 2});
    ag_tensor *c3 = ag_zeros(AG_F32, 1, (int64_t[]){3}), *c4 = ag_zeros(AG_F32, 1, (int64_t[]){4});
    expect_error(ag_batch_norm(x, NULL, NULL, NULL, NULL, false, 0.1, 1e-5), "ag_batch_norm",
                 "eval mode");
    expect_error(ag_batch_norm(x, c3, NULL, NULL, NULL, true, 0.1, 1e-5), "both", NULL);
    expect_error(ag_batch_norm(x, c4, c4, NULL, NULL, true, 0.1, 1e-5), "running_mean", "[4]");
    expect_error(ag_batch_norm(x, NULL, NULL, c4, NULL, true, 0.1, 1e-5), "[3]", "[2,3,2,2]");
    expect_error(
        ag_batch_norm(ag_zeros(AG_F32, 1, (int64_t[]){3}), c3, c3, NULL, NULL, true, 0.1, 1e-5),
        "[N,C]", NULL);
    expect_error(
        ag_batch_norm(ag_zeros(AG_F32, 2, (int64_t[]){1, 3}), c3, c3, NULL, NULL, true, 0.1, 1e-5),
        "more than 1 value per channel", "[1,3]");
    expect_error(ag_batch_norm(x, c3, c3, NULL, NULL, true, 2.0, 1e-5), "momentum", NULL);
    ag_scope_end();
}

Test(nn_ops, dropout_statistics_scaling_and_identity) {
    ag_scope_begin();
    ag_manual_seed(1);
    ag_tensor *x = ag_ones(AG_F64, 1, (int64_t[]){100000});
    ag_tensor *y = ag_dropout(x, 0.3, true);
    int64_t zeros = 0;
    for (int64_t i = 0; i < 100000; i++) {
        double v = ag_get(y, &i);
        if (v == 0) zeros++;
        else assert_close(v, 1 / 0.7, 1e-12, 0);
    }
    cr_expect(fabs(zeros / 1e5 - 0.3) < 0.005, "dropped fraction %g", zeros / 1e5);
    cr_assert_eq(ag_dropout(x, 0.3, false), x, "eval is the identity");
    cr_assert_eq(ag_dropout(x, 0, true), x);
    ag_tensor *z = ag_dropout(x, 1.0, true);
    cr_assert_eq(ag_item(ag_sum(z)), 0.0, "p = 1 gives zeros");
    expect_error(ag_dropout(x, 1.5, true), "ag_dropout", "[0, 1]");
    ag_scope_end();
}

Test(nn_ops, dropout_is_deterministic_and_its_gradient_uses_the_mask) {
    ag_scope_begin();
    ag_tensor *x = ag_randn(AG_F32, 2, (int64_t[]){300, 300});
    ag_set_requires_grad(x, true);
    ag_tensor *y[2];
    for (int t = 0; t < 2; t++) {
        ag_set_num_threads(t + 1);
        ag_manual_seed(9);
        y[t] = ag_dropout(x, 0.5, true);
    }
    ag_set_num_threads(2);
    cr_assert(!memcmp(ag_data(y[0]), ag_data(y[1]), 4 * 90000), "same seed, same mask");
    cr_assert_eq(ag_backward(ag_sum(y[0])), 0);
    float *g = ag_data(ag_grad(x)), *v = ag_data(y[0]);
    for (int i = 0; i < 90000; i++) cr_assert_eq(g[i], v[i] == 0 ? 0.0f : 2.0f, "element %d", i);
    ag_manual_seed(10);
    cr_assert(memcmp(ag_data(ag_dropout(x, 0.5, true)), ag_data(y[0]), 4 * 90000),
              "another seed, another mask");
    ag_scope_end();
}

/* ---- the fused batch_norm backward (two passes, create_graph off) against its naive twin,
 * the rule written with ops (create_graph on), on every mode, dtype and layout. */
static void bn_grads(ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_tensor *rm, ag_tensor *rv,
                     bool training, bool create, ag_tensor **out) {
    ag_tensor *y = ag_batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5);
    cr_assert(y, "%s", ag_last_error());
    ag_manual_seed(5);
    ag_tensor *gy = ag_randn(ag_dtype_of(x), ag_ndim(x), ag_shape(x));
    ag_tensor *wrt[3] = {x, w, b};
    int n = w ? 3 : 1;
    cr_assert_eq(ag_autograd_grad(1, &y, &gy, n, wrt, out, (ag_grad_opts){.create_graph = create}),
                 0, "%s", ag_last_error());
}

static void expect_same_grad(ag_tensor *a, ag_tensor *b, double tol, const char *what) {
    ag_tensor *d = ag_cast(ag_contiguous(a), AG_F64), *e = ag_cast(ag_contiguous(b), AG_F64);
    const double *p = ag_data(d), *q = ag_data(e);
    for (int64_t i = 0; i < ag_numel(d); i++)
        cr_assert(fabs(p[i] - q[i]) <= tol * (1 + fabs(q[i])),
                  "%s element %lld: fused %.17g, "
                  "ops %.17g",
                  what, (long long)i, p[i], q[i]);
}

Test(nn_ops, batch_norm_fused_backward_matches_the_rule_written_with_ops) {
    const int64_t shapes[3][4] = {{8, 5, 0, 0}, {4, 3, 7, 0}, {6, 4, 5, 3}};
    for (int dt = 0; dt < 2; dt++)
        for (int s = 0; s < 3; s++)
            for (int mode = 0; mode < 4; mode++) { /* bit 0: training; bit 1: weight, bias */
                ag_scope_begin();
                ag_dtype d = dt ? AG_F32 : AG_F64;
                int nd = shapes[s][2] ? (shapes[s][3] ? 4 : 3) : 2;
                int64_t C = shapes[s][1];
                ag_manual_seed(3);
                ag_tensor *x = ag_add(ag_randn(d, nd, shapes[s]), ag_scalar(d, 3));
                if (s == 2) x = ag_transpose(ag_contiguous(ag_transpose(x, 2, 3)), 2, 3);
                ag_tensor *w = mode & 2 ? ag_rand(d, 1, &C) : NULL,
                          *b = mode & 2 ? ag_randn(d, 1, &C) : NULL;
                ag_tensor *rm = ag_randn(d, 1, &C),
                          *rv = ag_add(ag_rand(d, 1, &C), ag_scalar(d, 0.5));
                ag_set_requires_grad(x, true);
                if (w) ag_set_requires_grad(w, true), ag_set_requires_grad(b, true);
                ag_tensor *fused[3] = {0}, *ops[3] = {0};
                bn_grads(x, w, b, rm, rv, mode & 1, false, fused);
                bn_grads(x, w, b, rm, rv, mode & 1, true, ops);
                for (int i = 0; i < (w ? 3 : 1); i++)
                    expect_same_grad(fused[i], ops[i], dt ? 2e-5 : 1e-12, i ? "dw/db" : "dx");
                ag_scope_end();
            }
}

/* One pass for the statistics stays accurate on values far from zero (float32, mean 1000,
 * std 0.01): the float64 reference is torch's formula, two passes in float64. */
Test(nn_ops, batch_norm_one_pass_statistics_are_accurate_far_from_zero) {
    ag_scope_begin();
    int64_t xs[3] = {64, 2, 50};
    ag_manual_seed(1);
    ag_tensor *x =
        ag_add(ag_mul(ag_randn(AG_F32, 3, xs), ag_scalar(AG_F32, 0.01)), ag_scalar(AG_F32, 1000));
    ag_tensor *y = ag_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 0);
    const float *px = ag_data(x), *py = ag_data(y);
    for (int c = 0; c < 2; c++) {
        double s = 0, q = 0;
        for (int i = 0; i < 64; i++)
            for (int k = 0; k < 50; k++) s += px[(i * 2 + c) * 50 + k];
        double mean = s / 3200;
        for (int i = 0; i < 64; i++)
            for (int k = 0; k < 50; k++) q += pow(px[(i * 2 + c) * 50 + k] - mean, 2);
        double is = 1 / sqrt(q / 3200);
        for (int i = 0; i < 64; i++)
            for (int k = 0; k < 50; k++) {
                int j = (i * 2 + c) * 50 + k;
                assert_close(py[j], (px[j] - mean) * is, 1e-4, 1e-4);
            }
    }
    ag_scope_end();
}

/* The fused backward ops are never recorded by batch_norm; called directly with grad on,
 * differentiating them is a clear error, not a silent zero. */
Test(nn_ops, batch_norm_fused_backward_ops_say_they_are_not_differentiable) {
    ag_scope_begin();
    int64_t xs[2] = {4, 3}, c = 3;
    ag_tensor *g = ag_randn(AG_F64, 2, xs), *x = ag_randn(AG_F64, 2, xs);
    ag_set_requires_grad(g, true);
    ag_tensor *in[3] = {g, x, ag_zeros(AG_F64, 1, &c)};
    ag_tensor *s = ag_sum(ag__apply(AG_OP_BATCH_NORM_GRAD_SUMS, 3, in, NULL, 0));
    cr_assert(s);
    cr_assert_neq(ag_backward(s), 0);
    cr_assert(strstr(ag_last_error(), "batch_norm_grad_sums is not differentiable"), "%s",
              ag_last_error());
    ag_scope_end();
}
