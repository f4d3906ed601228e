/* Reductions against PyTorch (golden values and gradients, ties included), and the edge
 * cases: empty and 0-d tensors, NaN, thread-count independence. */
#include "golden_run.h"

Test(reduce, matches_torch_values_and_gradients) {
    const char *ops[] = {"max_dim", "argmax_dim", "max", "logsumexp_dim", "var_dim", "sum",
                         "mean",    "mean_dim",   NULL};
    cr_assert_geq(run_golden(ops), 14);
}

Test(reduce, max_over_everything_shares_ties_evenly) {
    ag_scope_begin();
    ag_tensor *x = T64(1, SHAPE(4), 3, 1, 3, 3);
    ag_set_requires_grad(x, true);
    cr_assert_eq(ag_backward(ag_max(x)), 0);
    assert_tensor_close(ag_grad(x), (double[]){1. / 3, 0, 1. / 3, 1. / 3}, 4, 1e-15, 0);
    ag_scope_end();
}

Test(reduce, max_dim_gradient_goes_to_the_first_maximum) {
    ag_scope_begin();
    ag_tensor *x = T64(2, SHAPE(2, 3), 2, 5, 5, 7, 7, 1);
    ag_set_requires_grad(x, true);
    ag_tensor *v = ag_max_dim(x, -1, false);
    assert_tensor_close(v, (double[]){5, 7}, 2, 0, 0);
    assert_tensor_close(ag_argmax_dim(x, 1, false), (double[]){1, 0}, 2, 0, 0);
    cr_assert_eq(ag_dtype_of(ag_argmax_dim(x, 1, true)), AG_I64);
    cr_assert_eq(ag_backward(ag_sum(v)), 0);
    assert_tensor_close(ag_grad(x), (double[]){0, 1, 0, 1, 0, 0}, 6, 0, 0);
    ag_scope_end();
}

Test(reduce, nan_wins_max_and_argmax) {
    ag_scope_begin();
    ag_tensor *x = T64(1, SHAPE(4), 1, NAN, 9, NAN);
    cr_expect(isnan(ag_item(ag_max(x))));
    cr_expect(isnan(ag_item(ag_max_dim(x, 0, false))));
    assert_close(ag_item(ag_argmax_dim(x, 0, false)), 1, 0, 0);
    ag_scope_end();
}

Test(reduce, empty_and_zero_dim_tensors_behave_like_torch) {
    ag_scope_begin();
    ag_tensor *e = ag_zeros(AG_F64, 1, (int64_t[]){0});
    assert_close(ag_item(ag_sum(e)), 0, 0, 0);
    cr_expect(isnan(ag_item(ag_mean(e))), "mean of empty is nan");
    cr_expect(isinf(ag_item(ag_logsumexp_dim(e, 0, false))) &&
              ag_item(ag_logsumexp_dim(e, 0, false)) < 0);
    cr_expect(isnan(ag_item(ag_var_dim(e, 0, false, 1))));
    ag_tensor *e2 = ag_zeros(AG_F32, 2, (int64_t[]){0, 3});
    ag_tensor *m = ag_mean_dim(e2, 0, false);
    cr_assert_eq(ag_numel(m), 3);
    cr_expect(isnan(ag_get(m, (int64_t[]){0})));
    cr_assert_eq(ag_numel(ag_sum_dim(e2, 1, false)), 0);
    ag_clear_error();
    cr_expect_null(ag_max(e));
    cr_expect(strstr(ag_last_error(), "ag_max") && strstr(ag_last_error(), "[0]"));
    cr_expect_null(ag_max_dim(e2, 0, false));
    cr_expect(strstr(ag_last_error(), "ag_max_dim") && strstr(ag_last_error(), "[0,3]"));
    ag_tensor *s = ag_scalar(AG_F64, 2.5); /* 0-d: dim 0 and -1 are the tensor itself */
    assert_close(ag_item(ag_sum(s)), 2.5, 0, 0);
    assert_close(ag_item(ag_mean(s)), 2.5, 0, 0);
    assert_close(ag_item(ag_max_dim(s, -1, false)), 2.5, 0, 0);
    assert_close(ag_item(ag_argmax_dim(s, 0, true)), 0, 0, 0);
    assert_close(ag_item(ag_logsumexp_dim(s, 0, false)), 2.5, 0, 0);
    assert_close(ag_item(ag_var_dim(s, 0, false, 0)), 0, 0, 0);
    cr_expect(isnan(ag_item(ag_var_dim(s, 0, false, 1))));
    ag_scope_end();
}

Test(reduce, logsumexp_is_stable_for_large_inputs) {
    ag_scope_begin();
    ag_tensor *x = ag_cast(T64(1, SHAPE(2), 1000, 1000), AG_F32);
    assert_close(ag_item(ag_logsumexp_dim(x, 0, false)), 1000 + log(2.0), 1e-4,
                 0); /* < 2 ulp at 1000 */
    ag_scope_end();
}

Test(reduce, results_do_not_depend_on_thread_count) {
    ag_scope_begin();
    ag_manual_seed(3);
    ag_tensor *x = ag_randn(AG_F32, 2, (int64_t[]){300, 700});
    double r[2][4];
    for (int k = 0; k < 2; k++) {
        ag_set_num_threads(k + 1);
        r[k][0] = ag_item(ag_sum(ag_var_dim(x, 1, false, 1)));
        r[k][1] = ag_item(ag_sum(ag_logsumexp_dim(x, 0, false)));
        r[k][2] = ag_item(ag_sum(ag_max_dim(x, 1, false)));
        r[k][3] = ag_item(ag_sum(x));
    }
    ag_set_num_threads(2);
    for (int i = 0; i < 4; i++) cr_expect_eq(r[0][i], r[1][i], "reduction %d differs", i);
    ag_scope_end();
}

/* The leading-dims path (bias gradients): against a naive loop, and bitwise the same
 * for 1 and 2 threads. */
Test(reduce, sum_over_leading_dims_matches_naive_and_thread_counts) {
    ag_scope_begin();
    ag_manual_seed(3);
    int64_t shape[] = {3, 100, 1000};
    ag_tensor *x = ag_randn(AG_F32, 3, shape);
    ag_set_num_threads(1);
    ag_tensor *a = ag_sum_dim(ag_reshape(x, 2, (int64_t[]){300, 1000}), 0, false);
    ag_set_num_threads(2);
    ag_tensor *b = ag_sum_dim(ag_reshape(x, 2, (int64_t[]){300, 1000}), 0, false);
    const float *px = ag_data(x), *pa = ag_data(a), *pb = ag_data(b);
    for (int64_t j = 0; j < 1000; j++) {
        double s = 0;
        for (int64_t i = 0; i < 300; i++) s += px[i * 1000 + j];
        cr_assert(fabs(pa[j] - s) <= 1e-6 * (1 + fabs(s)), "column %lld: %g vs %g", (long long)j,
                  pa[j], s);
        cr_assert(pa[j] == pb[j], "column %lld differs between thread counts", (long long)j);
    }
    ag_scope_end();
}
