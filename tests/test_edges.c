/* Integer and argument edges (issue 10, D11-D20): each is an error with a one-line
 * message, UBSan-clean (the ASan/UBSan suite runs these), as torch rejects them. */
#include <limits.h>
#include <string.h>

#include "helpers.h"

static void expect_msg(const char *fn, const char *part) {
    const char *e = ag_last_error();
    cr_assert(e && strstr(e, fn) && strstr(e, part), "message '%s' lacks '%s' / '%s'",
              e ? e : "(null)", fn, part);
}

/* D16: the element count is checked before it becomes an integer. */
Test(edges, arange_counts_and_int64_values_are_checked) {
    ag_scope_begin();
    cr_assert_null(ag_arange(AG_F32, 0, 1e300, 1));
    expect_msg("ag_arange", "too many elements");
    cr_assert_null(ag_arange(AG_I64, 1e19, 1e19 + 4096, 1024));
    expect_msg("ag_arange", "do not fit int64");
    ag_tensor *t = ag_arange(AG_I64, -3, 3, 2);
    assert_tensor_close(t, (double[]){-3, -1, 1}, 3, 0, 0);
    ag_scope_end();
}

/* D17: a value an int64 tensor cannot hold is an error, not a conversion. */
Test(edges, full_int64_with_nan_or_huge_is_an_error) {
    ag_scope_begin();
    cr_assert_null(ag_full(AG_I64, 1, (int64_t[]){2}, NAN));
    expect_msg("ag_full", "nan does not fit int64");
    cr_assert_null(ag_full(AG_I64, 0, NULL, 1e19));
    cr_assert_null(ag_scalar(AG_I64, -INFINITY));
    expect_msg("ag_scalar", "does not fit");
    ag_tensor *t = ag_zeros(AG_I64, 1, (int64_t[]){2});
    cr_assert_neq(ag_fill_(t, 0x1p63), 0);
    cr_assert_eq(ag_fill_(t, -0x1p63), 0);
    cr_assert_eq(((int64_t *)ag_data(t))[1], INT64_MIN);
    ag_scope_end();
}

/* D18: buf NULL counts the length, whatever size says. */
Test(edges, model_summary_with_null_buffer_counts) {
    ag_model *m = ag_model_new();
    ag_model_add(m, ag_linear_layer(2, 3, true));
    int n = ag_model_summary(m, 2, (int64_t[]){1, 2}, NULL, 100);
    cr_assert_gt(n, 0, "%s", ag_last_error());
    char buf[1024];
    cr_assert_eq(ag_model_summary(m, 2, (int64_t[]){1, 2}, buf, sizeof buf), n);
    cr_assert_eq((int)strlen(buf), n);
    ag_model_free(m);
}

static ag_tensor *sqrt_fn(ag_tensor **in, void *ctx) {
    (void)ctx;
    return ag_sqrt(in[0]);
}

/* D20: NaN or inf gradients fail, with infinite errors, naming the element and why. */
Test(edges, gradcheck_fails_on_non_finite_gradients) {
    ag_tensor *x = ag_tensor_new(AG_F64, 1, (int64_t[]){3}, (double[]){-1, 4, 9});
    ag_set_requires_grad(x, true);
    ag_gradcheck_result r = ag_gradcheck(sqrt_fn, NULL, 1, &x, (ag_gradcheck_opts){0});
    cr_assert(!r.ok, "NaN gradients passed");
    cr_assert_eq(r.input, 0);
    cr_assert_eq(r.index, 0); /* the NaN output makes every numeric gradient NaN too */
    cr_assert(isinf(r.max_abs_err));
    cr_assert_str_eq(r.why, "the analytic gradient is not finite");
    expect_msg("ag_gradcheck", "input 0, element 0: the analytic gradient is not finite");
    ag_fill_(x, 0); /* analytic inf, numeric NaN */
    r = ag_gradcheck(sqrt_fn, NULL, 1, &x, (ag_gradcheck_opts){0});
    cr_assert(!r.ok && isinf(r.max_abs_err) && r.index == 0);
    ag_fill_(x, 4);
    r = ag_gradcheck(sqrt_fn, NULL, 1, &x, (ag_gradcheck_opts){0});
    cr_assert(r.ok, "%s", r.why);
    cr_assert_str_eq(r.why, "");
    ag_tensor_free(x);
}

/* D19: counts out of range are an error and change nothing (INT_MAX used to end the
 * process inside libgomp at the next op; 0 and -1 silently became 1). */
Test(edges, set_num_threads_rejects_out_of_range_counts) {
    ag_set_num_threads(2);
    int bad[] = {0, -1, INT_MAX, 1025};
    for (int i = 0; i < 4; i++) {
        ag_clear_error();
        ag_set_num_threads(bad[i]);
        expect_msg("ag_set_num_threads", "1..");
        cr_assert_eq(ag_get_num_threads(), 2);
    }
    ag_scope_begin();
    assert_close(ag_item(ag_sum(ag_ones(AG_F64, 1, (int64_t[]){100000}))), 100000, 0, 0);
    ag_scope_end();
    ag_set_num_threads(1);
    cr_assert_eq(ag_get_num_threads(), 1);
}

/* Anomaly mode: the first op whose output or gradient is not finite fails, named with its
 * input shapes and tape index; off, the same program runs (torch's detect_anomaly). */
Test(edges, anomaly_mode_names_the_first_op_producing_nan_or_inf) {
    ag_scope_begin();
    ag_tensor *x = ag_tensor_new(AG_F64, 1, (int64_t[]){3}, (double[]){1, -1, 4});
    ag_set_requires_grad(x, true);
    cr_assert_eq(ag_set_detect_anomaly(true), false);
    ag_tensor *y = ag_exp(x); /* op #0: fine */
    cr_assert_not_null(y);
    cr_assert_null(ag_log(ag_sub(y, ag_scalar(AG_F64, 1)))); /* #1 sub, #2 log */
    expect_msg("ag_log: anomaly: output [3] holds NaN at element 1",
               "op #2 of the tape, inputs [3])");
    /* backward: sqrt at 0 is finite forward, its gradient is inf */
    ag_tensor *z = ag_tensor_new(AG_F64, 1, (int64_t[]){2}, (double[]){0, 4});
    ag_set_requires_grad(z, true);
    ag_tensor *s = ag_sum(ag_sqrt(z));
    cr_assert_not_null(s, "%s", ag_last_error());
    cr_assert_neq(ag_backward(s), 0);
    expect_msg("ag_backward: anomaly: the backward of sqrt (op #3 of the tape, inputs [2]) made",
               "output [2] hold inf at element 0");
    cr_assert_eq(ag_set_detect_anomaly(false), true);
    cr_assert_not_null(ag_log(ag_sub(y, ag_scalar(AG_F64, 1)))); /* off: NaN flows */
    cr_assert_eq(ag_backward(ag_sum(ag_sqrt(z))), 0);
    ag_scope_end();
}

/* D11-D15: integer edges in shape arithmetic are errors, never overflow. */
Test(edges, shape_arithmetic_edges_are_errors) {
    ag_scope_begin();
    int64_t s8[8] = {1, 1, 1, 1, 1, 1, 1, 2};
    ag_tensor *a = ag_zeros(AG_F32, 8, s8);
    cr_assert_null(ag_stack((ag_tensor *[]){a, a}, 2, 0)); /* D11 */
    expect_msg("ag_stack", "needs 9 dims");
    ag_tensor *v = ag_arange(AG_F64, 0, 5, 1);
    ag_tensor *s = ag_slice(v, 0, 0, 5, INT64_MAX); /* D12: torch [0] */
    assert_tensor_close(s, (double[]){0}, 1, 0, 0);
    s = ag_slice(v, 0, 1, INT64_MAX, INT64_MAX - 1);
    assert_tensor_close(s, (double[]){1}, 1, 0, 0);
    cr_assert_null(ag_reshape(ag_zeros(AG_F32, 1, (int64_t[]){0}), 2, (int64_t[]){INT64_MAX, 2}));
    expect_msg("ag_reshape", "too large"); /* D13 */
    cr_assert_null(ag_reshape(v, 3, (int64_t[]){-1, INT64_MAX, 4}));
    ag_tensor *x = ag_zeros(AG_F32, 4, (int64_t[]){1, 1, 3, 3});
    ag_tensor *w = ag_zeros(AG_F32, 4, (int64_t[]){1, 1, 3, 3});
    cr_assert_null(ag_conv2d(x, w, NULL, (ag_conv_opts){.padding = {1 << 30, 1 << 30}}));
    expect_msg("ag_conv2d", "too large"); /* D14 */
    cr_assert_null(
        ag_max_pool2d(x, (ag_pool_opts){.kernel = {2, 2}, .padding = {INT_MAX, INT_MAX}}));
    expect_msg("ag_max_pool2d", "padding"); /* D15 */
    cr_assert_null(ag_avg_pool2d(x, (ag_pool_opts){.kernel = {2, 2}, .padding = {INT_MAX, 0}}));
    ag_scope_end();
}

/* Ops that change nothing still make a node of their own (torch): a gradient with respect
 * to the result counts only the paths through it. */
Test(edges, no_op_shape_ops_return_a_new_node) {
    ag_scope_begin();
    ag_tensor *a = ag_tensor_new(AG_F64, 1, (int64_t[]){2}, (double[]){1, 0.3});
    ag_set_requires_grad(a, true);
    ag_tensor *same[] = {ag_reshape(a, 1, (int64_t[]){2}), ag_view(a, 1, (int64_t[]){2}),
                         ag_squeeze(a, 0), ag_transpose(a, 0, 0)};
    for (int i = 0; i < 4; i++) cr_assert(same[i] && same[i] != a, "case %d returned its input", i);
    ag_tensor *z = ag_scalar(AG_F64, 2);
    cr_assert_neq(ag_squeeze(z, 0), z);
    cr_assert_neq(ag_transpose(z, 0, 0), z);
    ag_tensor *v = same[0];
    ag_tensor *loss = ag_add(ag_sum(v), ag_sum(ag_exp(a)));
    ag_tensor *g = NULL;
    cr_assert_eq(ag_autograd_grad(1, &loss, NULL, 1, &v, &g, (ag_grad_opts){0}), 0, "%s",
                 ag_last_error());
    assert_tensor_close(g, (double[]){1, 1}, 2, 0, 0); /* torch: [1, 1] */
    ag_scope_end();
}

/* ag_expand: -1 keeps a size (torch), a 0-d input expands (no memcpy from NULL). */
Test(edges, expand_minus_one_and_zero_d) {
    ag_scope_begin();
    ag_tensor *x = ag_tensor_new(AG_F64, 2, (int64_t[]){1, 3}, (double[]){1, 2, 3});
    ag_tensor *e = ag_expand(x, 3, (int64_t[]){2, 2, -1});
    cr_assert(e, "%s", ag_last_error());
    cr_assert_eq(ag_shape(e)[2], 3);
    assert_close(ag_item(ag_sum(e)), 24, 0, 0);
    cr_assert_null(ag_expand(x, 3, (int64_t[]){-1, 2, 3})); /* -1 on a new leading dim */
    expect_msg("ag_expand", "negative size");
    ag_tensor *z = ag_scalar(AG_F64, 2);
    ag_tensor *r = ag_contiguous(ag_expand(z, 1, (int64_t[]){3}));
    assert_tensor_close(r, (double[]){2, 2, 2}, 3, 0, 0);
    cr_assert(ag_expand(z, 0, NULL) != NULL, "%s", ag_last_error());
    ag_scope_end();
}

/* prelu on a 0-d input: the weight's gradient (torch: x * (x < 0)). */
Test(edges, prelu_zero_d_weight_gradient) {
    ag_scope_begin();
    ag_tensor *x = ag_scalar(AG_F64, -2),
              *w = ag_tensor_new(AG_F64, 1, (int64_t[]){1}, (double[]){0.25});
    ag_set_requires_grad(x, true);
    ag_set_requires_grad(w, true);
    ag_tensor *y = ag_prelu(x, w);
    assert_close(ag_item(y), -0.5, 0, 0);
    cr_assert_eq(ag_backward(y), 0, "%s", ag_last_error());
    assert_tensor_close(ag_grad(w), (double[]){-2}, 1, 0, 0);
    assert_close(ag_item(ag_grad(x)), 0.25, 0, 0);
    ag_scope_end();
}

/* ELU and SELU at exactly 0: f' takes the exp branch and f'' is 0, as torch 1.13
 * (torch: grads [1.3, 1.3, 1], second [0, 1.3, 0] at [0, -1e-300, 1e-300] for alpha 1.3). */
Test(edges, elu_selu_second_derivative_at_zero_follows_torch) {
    ag_scope_begin();
    ag_tensor *x = ag_tensor_new(AG_F64, 1, (int64_t[]){3}, (double[]){0, -1e-300, 1e-300});
    ag_set_requires_grad(x, true);
    for (int k = 0; k < 2; k++) {
        ag_tensor *y = ag_sum(k ? ag_selu(x) : ag_elu(x, 1.3));
        ag_tensor *g = NULL, *h = NULL;
        cr_assert_eq(ag_autograd_grad(1, &y, NULL, 1, &x, &g, (ag_grad_opts){.create_graph = true}),
                     0);
        ag_tensor *gs = ag_sum(g);
        cr_assert_eq(ag_autograd_grad(1, &gs, NULL, 1, &x, &h, (ag_grad_opts){0}), 0);
        double a = k ? 1.7580993408473766 : 1.3;
        assert_tensor_close(g, (double[]){a, a, k ? 1.0507009873554805 : 1}, 3, 1e-15, 1e-15);
        assert_tensor_close(h, (double[]){0, a, 0}, 3, 1e-15, 1e-15);
    }
    ag_scope_end();
}

/* Zero-size backward: K = 0 in a batched matmul and in_features 0 in ag_linear (torch:
 * zero gradients of the right shapes, the bias still gets its gradient). */
Test(edges, zero_size_backward) {
    ag_scope_begin();
    ag_tensor *a = ag_zeros(AG_F64, 3, (int64_t[]){3, 2, 0}),
              *b = ag_zeros(AG_F64, 2, (int64_t[]){0, 4});
    ag_set_requires_grad(a, true);
    ag_set_requires_grad(b, true);
    cr_assert_eq(ag_backward(ag_sum(ag_matmul(a, b))), 0, "%s", ag_last_error());
    cr_assert_eq(ag_numel(ag_grad(b)), 0);
    ag_tensor *x = ag_zeros(AG_F64, 2, (int64_t[]){2, 0}),
              *w = ag_zeros(AG_F64, 2, (int64_t[]){3, 0});
    ag_tensor *bias = ag_ones(AG_F64, 1, (int64_t[]){3});
    ag_set_requires_grad(x, true);
    ag_set_requires_grad(w, true);
    ag_set_requires_grad(bias, true);
    ag_tensor *y = ag_linear(x, w, bias);
    assert_tensor_close(y, (double[]){1, 1, 1, 1, 1, 1}, 6, 0, 0);
    cr_assert_eq(ag_backward(ag_sum(y)), 0, "%s", ag_last_error());
    assert_tensor_close(ag_grad(bias), (double[]){2, 2, 2}, 3, 0, 0);
    cr_assert_eq(ag_shape(ag_grad(w))[0], 3);
    ag_scope_end();
}

/* Unbatched conv2d/max_pool2d/avg_pool2d ([C,H,W]) and conv1d ([C,L]), as torch: the
 * batched result without its batch dim, and gradients flow. */
Test(edges, unbatched_conv_and_pool) {
    ag_scope_begin();
    ag_manual_seed(4);
    ag_tensor *x = ag_randn(AG_F64, 3, (int64_t[]){2, 5, 5}),
              *w = ag_randn(AG_F64, 4, (int64_t[]){3, 2, 3, 3});
    ag_set_requires_grad(x, true);
    ag_tensor *xb = ag_unsqueeze(x, 0);
    ag_tensor *x1 = ag_randn(AG_F64, 2, (int64_t[]){2, 7}),
              *w1 = ag_randn(AG_F64, 3, (int64_t[]){3, 2, 3});
    ag_set_requires_grad(x1, true);
    ag_conv_opts pad1 = {.padding = {1, 1}}, none = {0};
    ag_pool_opts k2 = {.kernel = {2, 2}}, k3s1 = {.kernel = {3, 3}, .stride = {1, 1}};
    ag_tensor *un[4] = {ag_conv2d(x, w, NULL, pad1), ag_max_pool2d(x, k2), ag_avg_pool2d(x, k3s1),
                        ag_conv1d(x1, w1, NULL, none)};
    ag_tensor *ba[4] = {ag_conv2d(xb, w, NULL, pad1), ag_max_pool2d(xb, k2),
                        ag_avg_pool2d(xb, k3s1), ag_conv1d(ag_unsqueeze(x1, 0), w1, NULL, none)};
    for (int k = 0; k < 4; k++) {
        ag_tensor *u = un[k], *b = ba[k];
        cr_assert(u && b, "case %d: %s", k, ag_last_error());
        cr_assert_eq(ag_ndim(u) + 1, ag_ndim(b), "case %d", k);
        assert_close(ag_item(ag_sum(ag_abs(ag_sub(ag_unsqueeze(u, 0), b)))), 0, 0, 0);
        cr_assert_eq(ag_backward(ag_sum(u)), 0, "case %d: %s", k, ag_last_error());
    }
    ag_scope_end();
}

/* Element-wise losses broadcast a broadcastable target (torch warns and broadcasts):
 * mse([[0,0,0],[2,2,2]], [1,2,3]) = mean of 1,4,9,1,0,1 = 16/6; gradients flow to both. */
Test(edges, elementwise_losses_broadcast_the_target) {
    ag_scope_begin();
    ag_tensor *p = ag_tensor_new(AG_F64, 2, (int64_t[]){2, 3}, (double[]){0, 0, 0, 2, 2, 2});
    ag_tensor *t = ag_tensor_new(AG_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3});
    ag_set_requires_grad(p, true);
    ag_set_requires_grad(t, true);
    ag_tensor *l = ag_mse_loss(p, t);
    cr_assert(l, "%s", ag_last_error());
    assert_close(ag_item(l), 16.0 / 6, 1e-15, 0);
    cr_assert_eq(ag_backward(l), 0, "%s", ag_last_error());
    /* d/dt = -2/6 * (sum over rows of p - t) = -1/3 * [0, -2, -4] */
    assert_tensor_close(ag_grad(t), (double[]){0, 2.0 / 3, 4.0 / 3}, 3, 1e-15, 0);
    assert_close(ag_item(ag_l1_loss(p, t)), 8.0 / 6, 1e-15, 0);
    cr_assert_null(ag_mse_loss(p, ag_zeros(AG_F64, 1, (int64_t[]){2})));
    expect_msg("ag_mse_loss", "do not broadcast");
    ag_scope_end();
}

/* float32 batch norm takes its statistics in float64 (as torch): a constant channel has
 * mean exactly its value, so the second derivative there is 0, as in float64. */
Test(edges, batch_norm_float32_constant_channel_second_derivative) {
    ag_scope_begin();
    double h64[6];
    for (int k = 0; k < 2; k++) {
        ag_dtype dt = k ? AG_F32 : AG_F64;
        ag_tensor *x = ag_cast(
            ag_tensor_new(AG_F64, 2, (int64_t[]){3, 2}, (double[]){0.1, 1, 0.1, -2, 0.1, 0.5}), dt);
        ag_tensor *c = ag_cast(
            ag_tensor_new(AG_F64, 2, (int64_t[]){3, 2}, (double[]){0.3, -1, 2, 0.7, -0.4, 1.1}),
            dt);
        ag_set_requires_grad(x, true);
        ag_tensor *y =
            ag_sum(ag_mul(ag_mul(ag_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5), c), c));
        ag_tensor *g = NULL, *h = NULL;
        cr_assert_eq(ag_autograd_grad(1, &y, NULL, 1, &x, &g, (ag_grad_opts){.create_graph = true}),
                     0, "%s", ag_last_error());
        ag_tensor *gs = ag_sum(ag_mul(g, c));
        cr_assert_eq(ag_autograd_grad(1, &gs, NULL, 1, &x, &h, (ag_grad_opts){0}), 0, "%s",
                     ag_last_error());
        for (int i = 0; i < 3; i++) {
            double v = ag_get(h, (int64_t[]){i, 0});
            if (!k) h64[i] = v;
            else cr_assert_eq(v, h64[i], "row %d: float32 %g, float64 %g", i, v, h64[i]);
        }
    }
    ag_scope_end();
}

/* cross_entropy / nll_loss in torch's other label forms (values from torch 1.13):
 * [N,C,d] logits with [N,d] labels, and a [C] input with a 0-d label. */
Test(edges, cross_entropy_and_nll_label_forms) {
    ag_scope_begin();
    ag_tensor *x =
        ag_tensor_new(AG_F64, 3, (int64_t[]){2, 3, 2},
                      (double[]){0.1, 0.5, 1.0, -1.0, 0.3, 0.2, 2.0, 0.0, -0.5, 0.4, 0.7, 1.5});
    ag_tensor *t = ag_tensor_new(AG_F64, 2, (int64_t[]){2, 2}, (double[]){0, 2, 1, 1});
    t = ag_cast(t, AG_I64);
    ag_set_requires_grad(x, true);
    ag_tensor *l = ag_cross_entropy_loss_ex(x, t, (ag_cross_entropy_opts){.label_smoothing = 0.1});
    cr_assert(l, "%s", ag_last_error());
    assert_close(ag_item(l), 1.6776936096622654, 1e-14, 0);
    cr_assert_eq(ag_backward(l), 0, "%s", ag_last_error());
    assert_tensor_close(ag_grad(x),
                        (double[]){-0.17992600871562872, 0.11896125467122853, 0.1230274884549421,
                                   0.020069928474152954, 0.05689852026068663, -0.13903118314538146,
                                   0.17622070552072944, 0.027516599472125328, -0.21818421530796264,
                                   -0.17985151816537012, 0.041963509787233226, 0.15233491869324478},
                        12, 1e-14, 0);
    ag_tensor *none =
        ag_cross_entropy_loss_ex(x, t, (ag_cross_entropy_opts){.reduction = AG_REDUCTION_NONE});
    cr_assert_eq(ag_ndim(none), 2);
    assert_tensor_close(
        none,
        (double[]){1.5435130161768185, 0.9749569269138376, 2.803518603748642, 1.5421192251430973},
        4, 1e-14, 0);
    assert_close(ag_item(ag_nll_loss(ag_log_softmax(x, 1), t)), 1.7160269429955988, 1e-14, 0);
    ag_tensor *c = ag_tensor_new(AG_F64, 1, (int64_t[]){3}, (double[]){0.2, -1.0, 0.5});
    ag_tensor *two = ag_cast(ag_scalar(AG_F64, 2), AG_I64),
              *one = ag_cast(ag_scalar(AG_F64, 1), AG_I64);
    assert_close(ag_item(ag_cross_entropy_loss(c, two)), 0.6749569269138377, 1e-14, 0);
    assert_close(ag_item(ag_nll_loss(c, one)), 1.0, 0, 0);
    ag_scope_end();
}

/* gather on a 0-d input with a 0-d index (torch: the value, gradient 1). */
Test(edges, gather_zero_d) {
    ag_scope_begin();
    ag_tensor *x = ag_scalar(AG_F64, 3);
    ag_set_requires_grad(x, true);
    ag_tensor *g = ag_gather(x, 0, ag_zeros(AG_I64, 0, NULL));
    cr_assert(g && ag_ndim(g) == 0, "%s", ag_last_error());
    assert_close(ag_item(g), 3, 0, 0);
    cr_assert_eq(ag_backward(g), 0);
    assert_close(ag_item(ag_grad(x)), 1, 0, 0);
    ag_scope_end();
}
