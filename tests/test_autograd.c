/* The tape: accumulation, no_grad, detach, retain_graph, seeds, autograd_grad, create_graph. */
#include "helpers.h"

Test(autograd, gradients_accumulate_across_backward_calls) {
    ag_tensor *x = T64(1, SHAPE(3), 1, 2, 3);
    ag_set_requires_grad(x, true);
    for (int k = 0; k < 2; k++) {
        ag_scope_begin();
        cr_assert_eq(ag_backward(ag_sum(ag_mul(x, x))), 0, "%s", ag_last_error());
        ag_scope_end();
    }
    assert_tensor_close(ag_grad(x), (double[]){4, 8, 12}, 3, 0, 0);
    ag_zero_grad(x);
    assert_tensor_close(ag_grad(x), (double[]){0, 0, 0}, 3, 0, 0);
    ag_tensor_free(x);
}

Test(autograd, a_tensor_used_twice_sums_both_paths) {
    ag_scope_begin();
    ag_tensor *x = T64(0, SHAPE(0), 3);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_add(ag_mul(x, x), ag_mul(x, ag_scalar(AG_F64, 5))); /* x^2 + 5x */
    cr_assert_eq(ag_backward(y), 0);
    assert_close(ag_item(ag_grad(x)), 11, 0, 0);
    ag_scope_end();
}

Test(autograd, broadcasting_backward_sums_to_input_shape) {
    ag_scope_begin();
    ag_tensor *a = T64(2, SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    ag_tensor *b = T64(1, SHAPE(3), 10, 20, 30);
    ag_set_requires_grad(a, true);
    ag_set_requires_grad(b, true);
    cr_assert_eq(ag_backward(ag_sum(ag_mul(a, b))), 0);
    assert_tensor_close(ag_grad(b), (double[]){5, 7, 9}, 3, 0, 0);
    assert_tensor_close(ag_grad(a), (double[]){10, 20, 30, 10, 20, 30}, 6, 0, 0);
    ag_scope_end();
}

Test(autograd, no_grad_records_nothing) {
    ag_scope_begin();
    ag_tensor *x = T64(1, SHAPE(2), 1, 2);
    ag_set_requires_grad(x, true);
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *y = ag_mul(x, x);
    ag_set_grad_enabled(prev);
    cr_assert(!ag_requires_grad(y));
    cr_assert(ag_is_grad_enabled());
    cr_assert_neq(ag_backward(ag_sum(y)), 0);
    cr_assert(strstr(ag_last_error(), "ag_backward") != NULL);
    ag_scope_end();
}

Test(autograd, detach_stops_gradient) {
    ag_scope_begin();
    ag_tensor *x = T64(0, SHAPE(0), 3);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_mul(x, ag_detach(x)); /* d/dx = detach(x) = 3, not 6 */
    cr_assert_eq(ag_backward(y), 0);
    assert_close(ag_item(ag_grad(x)), 3, 0, 0);
    ag_scope_end();
}

Test(autograd, second_backward_needs_retain_graph) {
    ag_scope_begin();
    ag_tensor *x = T64(0, SHAPE(0), 2);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_exp(x);
    cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){.retain_graph = true}), 0);
    cr_assert_eq(ag_backward(y), 0);
    assert_close(ag_item(ag_grad(x)), 2 * exp(2.0), 1e-12, 1e-12);
    cr_assert_neq(ag_backward(y), 0);
    cr_assert(strstr(ag_last_error(), "retain_graph") != NULL, "%s", ag_last_error());
    ag_scope_end();
}

Test(autograd, non_scalar_root_needs_a_seed) {
    ag_scope_begin();
    ag_tensor *x = T64(1, SHAPE(3), 1, 2, 3);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_mul(x, x);
    cr_assert_neq(ag_backward(y), 0);
    cr_assert(strstr(ag_last_error(), "[3]") != NULL, "%s", ag_last_error());
    ag_tensor *seed = T64(1, SHAPE(3), 1, 0, -1);
    cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){.grad = seed}), 0);
    assert_tensor_close(ag_grad(x), (double[]){2, 0, -6}, 3, 0, 0);
    ag_scope_end();
}

Test(autograd, autograd_grad_leaves_dot_grad_alone) {
    ag_scope_begin();
    ag_tensor *x = T64(1, SHAPE(2), 1, 2), *y = T64(1, SHAPE(2), 3, 4);
    ag_set_requires_grad(x, true);
    ag_set_requires_grad(y, true);
    ag_tensor *out = ag_sum(ag_mul(x, y)), *g[2];
    cr_assert_eq(ag_autograd_grad(1, &out, NULL, 2, (ag_tensor *[]){x, y}, g, (ag_grad_opts){0}),
                 0);
    assert_tensor_close(g[0], (double[]){3, 4}, 2, 0, 0);
    assert_tensor_close(g[1], (double[]){1, 2}, 2, 0, 0);
    cr_assert_null(ag_grad(x));
    ag_tensor *z = T64(1, SHAPE(1), 0);
    ag_set_requires_grad(z, true);
    ag_tensor *out2 = ag_sum(ag_mul(x, x));
    cr_assert_neq(ag_autograd_grad(1, &out2, NULL, 1, &z, g, (ag_grad_opts){0}), 0);
    cr_assert(strstr(ag_last_error(), "allow_unused") != NULL, "%s", ag_last_error());
    ag_tensor *out3 = ag_sum(ag_mul(x, x));
    cr_assert_eq(ag_autograd_grad(1, &out3, NULL, 1, &z, g, (ag_grad_opts){.allow_unused = true}),
                 0);
    cr_assert_null(g[0]);
    ag_scope_end();
}

/* d²/dx² via create_graph against closed forms. */
static double second_derivative(ag_tensor *(*f)(ag_tensor *), double x0) {
    ag_tensor *x = ag_scalar(AG_F64, x0), *g1, *g2;
    ag_set_requires_grad(x, true);
    ag_tensor *y = f(x);
    cr_assert_eq(ag_autograd_grad(1, &y, NULL, 1, &x, &g1, (ag_grad_opts){.create_graph = true}), 0,
                 "%s", ag_last_error());
    cr_assert(ag_requires_grad(g1));
    cr_assert_eq(ag_autograd_grad(1, &g1, NULL, 1, &x, &g2, (ag_grad_opts){0}), 0, "%s",
                 ag_last_error());
    return ag_item(g2);
}
static ag_tensor *cube(ag_tensor *x) { return ag_mul(ag_mul(x, x), x); }
static ag_tensor *expf_(ag_tensor *x) { return ag_exp(x); }

Test(autograd, create_graph_gives_second_derivatives) {
    ag_scope_begin();
    assert_close(second_derivative(cube, 1.5), 6 * 1.5, 1e-12, 1e-12);
    assert_close(second_derivative(expf_, 0.7), exp(0.7), 1e-12, 1e-12);
    ag_scope_end();
}

Test(autograd, chain_of_a_million_ops_does_not_overflow_the_stack) {
    ag_scope_begin();
    ag_tensor *x = ag_scalar(AG_F64, 1.0), *y = x;
    ag_set_requires_grad(x, true);
    ag_tensor *one = ag_scalar(AG_F64, 1e-6);
    for (int i = 0; i < 1000000; i++) y = ag_add(y, one);
    cr_assert_eq(ag_backward(y), 0, "%s", ag_last_error());
    assert_close(ag_item(ag_grad(x)), 1, 0, 0);
    ag_scope_end();
}

static ag_tensor *wrong_square(ag_tensor **in, void *ctx) {
    (void)ctx;
    return ag_sum(ag_mul(in[0], ag_detach(in[0])));
}

Test(autograd, gradcheck_catches_a_wrong_gradient) {
    ag_scope_begin();
    ag_tensor *x = T64(1, SHAPE(3), 0.5, -1, 2);
    ag_set_requires_grad(x, true);
    ag_gradcheck_result r = ag_gradcheck(wrong_square, NULL, 1, &x, (ag_gradcheck_opts){0});
    cr_assert(!r.ok);
    cr_assert_eq(r.input, 0);
    cr_assert_eq(r.index, 2, "worst element %lld", (long long)r.index); /* largest |x| */
    assert_close(r.max_abs_err, 2, 1e-6, 0);
    ag_scope_end();
}

Test(autograd, backward_outside_scopes_frees_its_temporaries) {
    ag_tensor *x = T64(1, SHAPE(3), 1, 2, 3);
    ag_set_requires_grad(x, true);
    ag_tensor *p = ag_mul(x, x), *y = ag_sum(p); /* outside scopes each op's result is ours */
    cr_assert_eq(ag_backward(y), 0, "%s", ag_last_error()); /* ASan's leak check covers this */
    assert_tensor_close(ag_grad(x), (double[]){2, 4, 6}, 3, 0, 0);
    ag_tensor *g;
    cr_assert_neq(ag_autograd_grad(1, &y, NULL, 1, &x, &g, (ag_grad_opts){.retain_graph = true}),
                  0);
    cr_assert(strstr(ag_last_error(), "scope") != NULL, "%s", ag_last_error());
    ag_tensor_free(y);
    ag_tensor_free(p);
    ag_tensor_free(x);
}

/* ag_zero_grad marks the gradient as zero; the next backward replaces it, whether the
 * incoming gradient is contiguous or a broadcast view, and ag_grad reads zeros before. */
Test(autograd, zero_grad_then_backward_replaces_the_gradient) {
    ag_tensor *x = T64(1, SHAPE(3), 1, 2, 3);
    ag_set_requires_grad(x, true);
    for (int k = 0; k < 3; k++) {
        ag_scope_begin();
        cr_assert_eq(ag_backward(ag_sum(ag_mul(x, x))), 0); /* contiguous 2x */
        ag_scope_end();
        assert_tensor_close(ag_grad(x), (double[]){2, 4, 6}, 3, 0, 0);
        ag_zero_grad(x);
        assert_tensor_close(ag_grad(x), (double[]){0, 0, 0}, 3, 0, 0);
        ag_zero_grad(x);
        ag_scope_begin();
        cr_assert_eq(ag_backward(ag_sum(x)), 0); /* an expanded (stride 0) one */
        ag_scope_end();
        assert_tensor_close(ag_grad(x), (double[]){1, 1, 1}, 3, 0, 0);
        ag_zero_grad(x);
    }
    ag_tensor_free(x);
}
