/* ag_lstm_gates: the fused kernels against the same cell written with ops (the naive twin)
 * in both dtypes, at odd sizes and on strided inputs; float64 gradchecks on sizes that
 * reach the threaded rows; the same bits for 1 and 2 threads; second derivatives through
 * create_graph; errors. */
#include <string.h>

#include "ops9_helpers.h"

/* The naive twin: the cell written with ops, returning [h' | c'] as the fused op does. */
static ag_tensor *gates_naive(ag_tensor *a, ag_tensor *b, ag_tensor *c) {
    int64_t H = ag_shape(c)[1];
    ag_tensor *pre = b ? ag_add(a, b) : a, *q[4];
    for (int k = 0; k < 4; k++) q[k] = ag_slice(pre, 1, k * H, (k + 1) * H, 1);
    ag_tensor *c2 = ag_add(ag_mul(ag_sigmoid(q[1]), c), ag_mul(ag_sigmoid(q[0]), ag_tanh(q[2])));
    ag_tensor *h2 = ag_mul(ag_sigmoid(q[3]), ag_tanh(c2));
    return ag_cat((ag_tensor *[]){h2, c2}, 2, 1);
}

static ag_tensor *leaf(ag_dtype dt, int64_t r, int64_t c, double scale) {
    ag_tensor *t = ag_mul_scalar(ag_randn(dt, 2, (int64_t[]){r, c}), scale);
    t = ag_detach(t);
    ag_set_requires_grad(t, true);
    return t;
}

static void expect_close(ag_tensor *got, ag_tensor *want, double tol, const char *what) {
    cr_assert(got && want, "%s: NULL (%s)", what, ag_last_error() ? ag_last_error() : "");
    ag_tensor *e = ag_contiguous(ag_cast(want, AG_F64));
    ag_tensor *g = ag_contiguous(ag_cast(got, AG_F64));
    cr_assert_eq(ag_numel(g), ag_numel(e), "%s: numel", what);
    const double *x = ag_data(g), *y = ag_data(e);
    for (int64_t i = 0; i < ag_numel(e); i++)
        cr_assert(fabs(x[i] - y[i]) <= tol + tol * fabs(y[i]), "%s element %lld: %.9g, ops %.9g",
                  what, (long long)i, x[i], y[i]);
}

/* Values and the gradients of a, b, c from the fused op and from ops, for one case:
 * H hidden (odd: the vector loops' tails), with or without b, a transposed or not. */
static void fused_vs_ops(ag_dtype dt, int64_t B, int64_t H, bool with_b, bool strided) {
    ag_scope_begin();
    ag_manual_seed(7 + (uint64_t)H);
    ag_tensor *a0 = leaf(dt, strided ? 4 * H : B, strided ? B : 4 * H, 2),
              *b0 = leaf(dt, B, 4 * H, 1), *c0 = leaf(dt, B, H, 1.5),
              *gy = ag_randn(dt, 2, (int64_t[]){B, 2 * H});
    ag_tensor *grads[2][3], *ys[2];
    for (int v = 0; v < 2; v++) {
        ag_tensor *in[3];
        for (int i = 0; i < 3; i++) {
            in[i] = ag_detach(ag_clone((ag_tensor *[]){a0, b0, c0}[i]));
            ag_set_requires_grad(in[i], true);
        }
        ag_tensor *a = strided ? ag_transpose(in[0], 0, 1) : in[0], *b = with_b ? in[1] : NULL;
        ys[v] = v ? gates_naive(a, b, in[2]) : ag_lstm_gates(a, b, in[2]);
        cr_assert_eq(ag_backward_ex(ys[v], (ag_backward_opts){.grad = gy}), 0, "%s",
                     ag_last_error());
        for (int i = 0; i < 3; i++) grads[v][i] = ag_grad(in[i]);
    }
    double tol = dt == AG_F32 ? 1e-5 : 1e-13;
    expect_close(ys[0], ys[1], tol, "out");
    expect_close(grads[0][0], grads[1][0], tol, "grad a");
    if (with_b) expect_close(grads[0][1], grads[1][1], tol, "grad b");
    else cr_expect_null(grads[0][1], "b was not used");
    expect_close(grads[0][2], grads[1][2], tol, "grad c");
    ag_scope_end();
}

Test(lstm_gates, fused_kernels_match_ops_at_odd_sizes) {
    ag_dtype dts[2] = {AG_F32, AG_F64};
    for (int k = 0; k < 2; k++) {
        fused_vs_ops(dts[k], 5, 37, true, false);  /* rows of 37: 8-lane loops and tails */
        fused_vs_ops(dts[k], 3, 3, true, false);   /* below one vector */
        fused_vs_ops(dts[k], 6, 19, false, true);  /* a transposed, no b */
        fused_vs_ops(dts[k], 70, 40, true, false); /* threaded rows */
    }
}

static ag_tensor *gates_fn(ag_tensor **in, void *ctx) {
    (void)ctx;
    return ag_lstm_gates(in[0], in[1], in[2]);
}

/* 40 rows of H = 32 are enough work for the rows to go to threads. */
Test(lstm_gates, gradcheck_f64_on_threaded_rows) {
    int threads = ag_get_num_threads();
    ag_set_num_threads(2);
    ag_scope_begin();
    ag_manual_seed(3);
    int64_t B = 40, H = 32;
    ag_tensor *in[3] = {leaf(AG_F64, B, 4 * H, 1.5), leaf(AG_F64, B, 4 * H, 1.5),
                        leaf(AG_F64, B, H, 1.5)};
    ag_gradcheck_result r = ag_gradcheck(gates_fn, NULL, 3, in, (ag_gradcheck_opts){0});
    cr_expect(r.ok, "input %d index %lld abs %g rel %g", r.input, (long long)r.index, r.max_abs_err,
              r.max_rel_err);
    ag_scope_end();
    ag_set_num_threads(threads);
}

Test(lstm_gates, same_bits_for_any_thread_count) {
    ag_scope_begin();
    ag_manual_seed(5);
    int64_t B = 96, H = 48;
    ag_tensor *a = leaf(AG_F32, B, 4 * H, 2), *c = leaf(AG_F32, B, H, 1);
    float first[3];
    int threads = ag_get_num_threads();
    for (int t = 1; t <= 2; t++) {
        ag_set_num_threads(t);
        ag_tensor *y = ag_lstm_gates(a, NULL, c);
        cr_assert_eq(ag_backward(ag_sum(ag_mul(y, y))), 0, "%s", ag_last_error());
        float now[3] = {((float *)ag_data(y))[B * 2 * H - 5], ((float *)ag_data(ag_grad(a)))[4321],
                        ((float *)ag_data(ag_grad(c)))[B * H - 3]};
        if (t == 1) memcpy(first, now, sizeof now);
        else cr_expect(!memcmp(first, now, sizeof now), "results differ with %d threads", t);
        ag_zero_grad(a), ag_zero_grad(c);
    }
    ag_set_num_threads(threads);
    ag_scope_end();
}

/* Second derivatives in a (the composite backward under create_graph), with b and c fixed. */
static ag_tensor *gates_of_a(ag_tensor *a, void *ctx) {
    ag_tensor **bc = ctx;
    return ag_lstm_gates(a, bc[0], bc[1]);
}
static ag_tensor *gates_of_c(ag_tensor *c, void *ctx) {
    ag_tensor **ab = ctx;
    return ag_lstm_gates(ab[0], ab[1], c);
}

Test(lstm_gates, second_derivative_through_create_graph) {
    ag_scope_begin();
    ag_manual_seed(11);
    ag_tensor *bc[2] = {ag_randn(AG_F64, 2, (int64_t[]){2, 12}),
                        ag_randn(AG_F64, 2, (int64_t[]){2, 3})};
    ag_set_requires_grad(bc[1], true);
    expect_second_derivative(gates_of_a, bc, ag_randn(AG_F64, 2, (int64_t[]){2, 12}), 1e-6);
    ag_tensor *ab[2] = {ag_randn(AG_F64, 2, (int64_t[]){2, 12}), NULL};
    expect_second_derivative(gates_of_c, ab, ag_randn(AG_F64, 2, (int64_t[]){2, 3}), 1e-6);
    ag_scope_end();
}

Test(lstm_gates, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *a = ag_zeros(AG_F32, 2, (int64_t[]){3, 8}),
              *c = ag_zeros(AG_F32, 2, (int64_t[]){3, 2});
    expect_error(ag_lstm_gates(a, NULL, ag_zeros(AG_F32, 2, (int64_t[]){3, 3})), "ag_lstm_gates",
                 "[3,3]");
    expect_error(ag_lstm_gates(a, ag_zeros(AG_F32, 2, (int64_t[]){3, 4}), c), "ag_lstm_gates",
                 "[3,4]");
    expect_error(ag_lstm_gates(ag_zeros(AG_F32, 1, (int64_t[]){8}), NULL, c), "ag_lstm_gates",
                 "[8]");
    expect_error(ag_lstm_gates(a, NULL, ag_zeros(AG_F64, 2, (int64_t[]){3, 2})), "ag_lstm_gates",
                 "float64");
    expect_error(ag_lstm_gates(ag_zeros(AG_I64, 2, (int64_t[]){3, 8}), NULL, c), "ag_lstm_gates",
                 "int64");
    cr_expect_null(ag_lstm_gates(NULL, NULL, c));
    cr_expect_null(ag_lstm_gates(a, NULL, NULL));
    ag_scope_end();
}
