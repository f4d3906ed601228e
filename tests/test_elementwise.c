/* Element-wise ops against PyTorch (golden values and gradients), plus the cases the
 * golden table cannot express: dtypes, broadcasting, create_graph, NaN. */
#include "golden_run.h"

Test(elementwise, matches_torch_values_and_gradients) {
    const char *ops[] = {"pow",   "sqrt",       "abs",        "sin",     "cos",
                         "sign",  "add_scalar", "mul_scalar", "maximum", "minimum",
                         "clamp", "where",      "eq",         "gt",      NULL};
    cr_assert_geq(run_golden(ops), 20);
}

Test(elementwise, maximum_ties_split_gradient_half_half) {
    ag_scope_begin();
    ag_tensor *a = T64(1, SHAPE(3), 1, 2, 3), *b = T64(1, SHAPE(3), 1, 0, 4);
    ag_set_requires_grad(a, true);
    ag_set_requires_grad(b, true);
    cr_assert_eq(ag_backward(ag_sum(ag_maximum(a, b))), 0);
    assert_tensor_close(ag_grad(a), (double[]){0.5, 1, 0}, 3, 0, 0);
    assert_tensor_close(ag_grad(b), (double[]){0.5, 0, 1}, 3, 0, 0);
    ag_scope_end();
}

Test(elementwise, maximum_and_minimum_propagate_nan) {
    ag_scope_begin();
    ag_tensor *a = T64(1, SHAPE(2), NAN, 1), *b = T64(1, SHAPE(2), 0, NAN);
    ag_tensor *mx = ag_maximum(a, b), *mn = ag_minimum(a, b);
    for (int i = 0; i < 2; i++) {
        cr_expect(isnan(ag_get(mx, (int64_t[]){i})));
        cr_expect(isnan(ag_get(mn, (int64_t[]){i})));
    }
    ag_scope_end();
}

Test(elementwise, float32_kernels_agree_with_float64) {
    ag_scope_begin();
    ag_tensor *x = ag_cast(T64(1, SHAPE(5), -1.5, 0.25, 0.5, 2, 3), AG_F32);
    ag_tensor *y = ag_clamp(ag_pow(ag_abs(x), 1.5), 0.2, 4);
    cr_assert_eq(ag_dtype_of(y), AG_F32);
    double want[] = {pow(1.5, 1.5), 0.2, pow(0.5, 1.5), pow(2, 1.5), 4};
    assert_tensor_close(y, want, 5, 1e-6, 1e-6);
    ag_scope_end();
}

Test(elementwise, pow_second_derivative_through_create_graph) {
    ag_scope_begin();
    ag_tensor *x = T64(0, SHAPE(0), 2);
    ag_set_requires_grad(x, true);
    ag_tensor *g = NULL;
    cr_assert_eq(ag_autograd_grad(1, (ag_tensor *[]){ag_pow(x, 3)}, NULL, 1, &x, &g,
                                  (ag_grad_opts){.create_graph = true}),
                 0);
    assert_close(ag_item(g), 12, 1e-12, 0); /* 3 x^2 */
    ag_tensor *gg = NULL;
    cr_assert_eq(ag_autograd_grad(1, &g, NULL, 1, &x, &gg, (ag_grad_opts){0}), 0, "%s",
                 ag_last_error());
    assert_close(ag_item(gg), 12, 1e-12, 0); /* 6 x */
    ag_scope_end();
}

Test(elementwise, where_takes_a_condition_of_another_dtype_and_broadcasts) {
    ag_scope_begin();
    ag_tensor *c32 = ag_cast(T64(2, SHAPE(2, 1), 1e-40, 0), AG_F32); /* tiny but nonzero */
    ag_tensor *ci = ag_cast(T64(2, SHAPE(2, 1), 1, 0), AG_I64);
    ag_tensor *a = T64(1, SHAPE(2), 1, 2), *b = ag_scalar(AG_F64, -1);
    double want[] = {1, 2, -1, -1};
    assert_tensor_close(ag_where(c32, a, b), want, 4, 0, 0);
    assert_tensor_close(ag_where(ci, a, b), want, 4, 0, 0);
    ag_scope_end();
}

Test(elementwise, comparisons_work_on_int64_and_have_no_gradient) {
    ag_scope_begin();
    ag_tensor *a = ag_cast(T64(1, SHAPE(3), 1, 2, 3), AG_I64);
    ag_tensor *b = ag_cast(T64(1, SHAPE(3), 1, 5, 2), AG_I64);
    ag_tensor *e = ag_eq(a, b), *g = ag_gt(a, b);
    cr_assert_eq(ag_dtype_of(e), AG_I64);
    assert_tensor_close(e, (double[]){1, 0, 0}, 3, 0, 0);
    assert_tensor_close(g, (double[]){0, 0, 1}, 3, 0, 0);
    ag_tensor *x = T64(1, SHAPE(2), 1, 2);
    ag_set_requires_grad(x, true);
    cr_assert(!ag_requires_grad(ag_gt(x, x)));
    cr_assert(ag_requires_grad(ag_sign(x))); /* sign: a zero gradient, as torch */
    ag_scope_end();
}

Test(elementwise, row_kernels_cover_block_tails_and_broadcast_rows) {
    ag_scope_begin();
    for (int64_t n = 1; n < 40; n += 7) { /* around the 16-element blocks */
        ag_tensor *x = ag_arange(AG_F32, 0, (double)n, 1);
        ag_tensor *y = ag_add(x, ag_mul_scalar(x, 2));
        for (int64_t i = 0; i < n; i++) assert_close(ag_get(y, &i), 3.0 * (double)i, 0, 0);
    }
    ag_tensor *m = ag_reshape(ag_arange(AG_F64, 0, 6, 1), 2, (int64_t[]){2, 3});
    ag_tensor *r = ag_sub(ag_transpose(m, 0, 1), T64(2, SHAPE(3, 1), 1, 2, 3));
    assert_tensor_close(r, (double[]){-1, 2, -1, 2, -1, 2}, 6, 0, 0);
    ag_scope_end();
}
