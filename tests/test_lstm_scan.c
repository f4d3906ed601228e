/* ag_lstm_scan: the fused recurrence against the same loop written with ops (the naive
 * twin) in both dtypes and layouts, at odd sizes and on strided states; a float64
 * gradcheck with two threads; the same bits for 1 and 2 threads; second derivatives
 * through create_graph; errors. */
#include <string.h>

#include "ops9_helpers.h"

/* The naive twin: the recurrence step by step with ops, returning what the op returns. */
static ag_tensor *scan_naive(ag_tensor *gx, ag_tensor *w, ag_tensor *b, ag_tensor *h, ag_tensor *c,
                             bool bf) {
    int td = bf ? 1 : 0;
    int64_t T = ag_shape(gx)[td], H = ag_shape(h)[1];
    ag_tensor *seq[64];
    cr_assert(T < 64);
    for (int64_t t = 0; t < T; t++) {
        ag_tensor *pre = ag_add(ag_squeeze(ag_slice(gx, td, t, t + 1, 1), td), ag_linear(h, w, b));
        ag_tensor *q[4];
        for (int k = 0; k < 4; k++) q[k] = ag_slice(pre, 1, k * H, (k + 1) * H, 1);
        c = ag_add(ag_mul(ag_sigmoid(q[1]), c), ag_mul(ag_sigmoid(q[0]), ag_tanh(q[2])));
        seq[t] = h = ag_mul(ag_sigmoid(q[3]), ag_tanh(c));
    }
    seq[T] = c;
    return ag_stack(seq, (int)T + 1, td);
}

static ag_tensor *leaf(ag_dtype dt, int ndim, const int64_t *shape, double scale) {
    ag_tensor *t = ag_detach(ag_mul_scalar(ag_randn(dt, ndim, shape), scale));
    ag_set_requires_grad(t, true);
    return t;
}

static void expect_close(ag_tensor *got, ag_tensor *want, double tol, const char *what) {
    cr_assert(got && want, "%s: NULL (%s)", what, ag_last_error() ? ag_last_error() : "");
    ag_tensor *e = ag_contiguous(ag_cast(want, AG_F64)), *g = ag_contiguous(ag_cast(got, AG_F64));
    cr_assert_eq(ag_numel(g), ag_numel(e), "%s: numel", what);
    const double *x = ag_data(g), *y = ag_data(e);
    for (int64_t i = 0; i < ag_numel(e); i++)
        cr_assert(fabs(x[i] - y[i]) <= tol + tol * fabs(y[i]), "%s element %lld: %.9g, ops %.9g",
                  what, (long long)i, x[i], y[i]);
}

/* Values and the gradients of all five inputs from the op and from the twin; h0, c0 given
 * as transposed views when `strided`. */
static void fused_vs_ops(ag_dtype dt, int64_t B, int64_t T, int64_t H, bool bf, bool strided) {
    ag_scope_begin();
    ag_manual_seed(17 + (uint64_t)H);
    int64_t gs[3] = {bf ? B : T, bf ? T : B, 4 * H};
    ag_tensor *in0[5] = {leaf(dt, 3, gs, 1), leaf(dt, 2, (int64_t[]){4 * H, H}, 0.3),
                         leaf(dt, 1, (int64_t[]){4 * H}, 0.5),
                         leaf(dt, 2, strided ? (int64_t[]){H, B} : (int64_t[]){B, H}, 0.8),
                         leaf(dt, 2, strided ? (int64_t[]){H, B} : (int64_t[]){B, H}, 0.8)};
    int64_t os[3] = {bf ? B : T + 1, bf ? T + 1 : B, H};
    ag_tensor *gy = ag_randn(dt, 3, os), *ys[2], *grads[2][5];
    for (int v = 0; v < 2; v++) {
        ag_tensor *in[5], *x[5];
        for (int i = 0; i < 5; i++) {
            in[i] = ag_detach(ag_clone(in0[i]));
            ag_set_requires_grad(in[i], true);
            x[i] = strided && i >= 3 ? ag_transpose(in[i], 0, 1) : in[i];
        }
        ys[v] = v ? scan_naive(x[0], x[1], x[2], x[3], x[4], bf)
                  : ag_lstm_scan(x[0], x[1], x[2], x[3], x[4], bf);
        cr_assert_eq(ag_backward_ex(ys[v], (ag_backward_opts){.grad = gy}), 0, "%s",
                     ag_last_error());
        for (int i = 0; i < 5; i++) grads[v][i] = ag_grad(in[i]);
    }
    double tol = dt == AG_F32 ? 2e-5 : 1e-12;
    expect_close(ys[0], ys[1], tol, "out");
    const char *names[5] = {"grad gx", "grad w_hh", "grad b_hh", "grad h0", "grad c0"};
    for (int i = 0; i < 5; i++) expect_close(grads[0][i], grads[1][i], tol, names[i]);
    ag_scope_end();
}

Test(lstm_scan, fused_recurrence_matches_ops) {
    ag_dtype dts[2] = {AG_F32, AG_F64};
    for (int k = 0; k < 2; k++) {
        fused_vs_ops(dts[k], 3, 4, 13, true, false); /* odd sizes: vector tails */
        fused_vs_ops(dts[k], 5, 3, 6, false, true);  /* time-major, strided states */
        fused_vs_ops(dts[k], 16, 5, 40, true, true);
        fused_vs_ops(dts[k], 2, 1, 3, false, false); /* one step */
    }
}

static ag_tensor *scan_fn(ag_tensor **in, void *ctx) {
    return ag_lstm_scan(in[0], in[1], in[2], in[3], in[4], ctx != NULL);
}

Test(lstm_scan, gradcheck_f64_two_threads) {
    int threads = ag_get_num_threads();
    ag_set_num_threads(2);
    ag_scope_begin();
    ag_manual_seed(3);
    int64_t B = 6, T = 3, H = 10;
    ag_tensor *in[5] = {
        leaf(AG_F64, 3, (int64_t[]){B, T, 4 * H}, 1), leaf(AG_F64, 2, (int64_t[]){4 * H, H}, 0.5),
        leaf(AG_F64, 1, (int64_t[]){4 * H}, 0.5), leaf(AG_F64, 2, (int64_t[]){B, H}, 1),
        leaf(AG_F64, 2, (int64_t[]){B, H}, 1)};
    ag_gradcheck_result r = ag_gradcheck(scan_fn, (void *)1, 5, in, (ag_gradcheck_opts){0});
    cr_expect(r.ok, "input %d index %lld abs %g rel %g", r.input, (long long)r.index, r.max_abs_err,
              r.max_rel_err);
    ag_scope_end();
    ag_set_num_threads(threads);
}

Test(lstm_scan, same_bits_for_any_thread_count) {
    ag_scope_begin();
    ag_manual_seed(5);
    int64_t B = 64, T = 4, H = 96;
    ag_tensor *in[5] = {
        leaf(AG_F32, 3, (int64_t[]){B, T, 4 * H}, 1), leaf(AG_F32, 2, (int64_t[]){4 * H, H}, 0.2),
        leaf(AG_F32, 1, (int64_t[]){4 * H}, 0.5), leaf(AG_F32, 2, (int64_t[]){B, H}, 1),
        leaf(AG_F32, 2, (int64_t[]){B, H}, 1)};
    float first[4];
    int threads = ag_get_num_threads();
    for (int t = 1; t <= 2; t++) {
        ag_set_num_threads(t);
        ag_tensor *y = ag_lstm_scan(in[0], in[1], in[2], in[3], in[4], true);
        cr_assert_eq(ag_backward(ag_sum(ag_mul(y, y))), 0, "%s", ag_last_error());
        float now[4] = {((float *)ag_data(y))[B * (T + 1) * H - 7],
                        ((float *)ag_data(ag_grad(in[0])))[12345],
                        ((float *)ag_data(ag_grad(in[1])))[4 * H * H - 11],
                        ((float *)ag_data(ag_grad(in[4])))[B * H - 3]};
        if (t == 1) memcpy(first, now, sizeof now);
        else cr_expect(!memcmp(first, now, sizeof now), "results differ with %d threads", t);
        for (int i = 0; i < 5; i++) ag_zero_grad(in[i]);
    }
    ag_set_num_threads(threads);
    ag_scope_end();
}

/* Second derivatives in gx and in w_hh (the composite backward under create_graph). */
static ag_tensor *scan_of_gx(ag_tensor *gx, void *ctx) {
    ag_tensor **p = ctx;
    return ag_lstm_scan(gx, p[0], p[1], p[2], p[3], false);
}
static ag_tensor *scan_of_w(ag_tensor *w, void *ctx) {
    ag_tensor **p = ctx;
    return ag_lstm_scan(p[0], w, p[1], p[2], p[3], true);
}

Test(lstm_scan, second_derivative_through_create_graph) {
    ag_scope_begin();
    ag_manual_seed(11);
    int64_t T = 3, B = 2, H = 2;
    ag_tensor *p[4] = {ag_mul_scalar(ag_randn(AG_F64, 2, (int64_t[]){4 * H, H}), 0.5),
                       ag_randn(AG_F64, 1, (int64_t[]){4 * H}),
                       ag_randn(AG_F64, 2, (int64_t[]){B, H}),
                       ag_randn(AG_F64, 2, (int64_t[]){B, H})};
    ag_set_requires_grad(p[3], true);
    expect_second_derivative(scan_of_gx, p, ag_randn(AG_F64, 3, (int64_t[]){T, B, 4 * H}), 1e-6);
    ag_tensor *q[4] = {ag_randn(AG_F64, 3, (int64_t[]){B, T, 4 * H}), p[1], p[2], p[3]};
    expect_second_derivative(scan_of_w, q,
                             ag_mul_scalar(ag_randn(AG_F64, 2, (int64_t[]){4 * H, H}), 0.5), 1e-6);
    ag_scope_end();
}

Test(lstm_scan, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *gx = ag_zeros(AG_F32, 3, (int64_t[]){2, 3, 8}),
              *w = ag_zeros(AG_F32, 2, (int64_t[]){8, 2}), *b = ag_zeros(AG_F32, 1, (int64_t[]){8}),
              *h = ag_zeros(AG_F32, 2, (int64_t[]){2, 2});
    cr_assert(ag_lstm_scan(gx, w, b, h, h, true), "%s", ag_last_error());
    expect_error(ag_lstm_scan(gx, w, b, h, h, false), "ag_lstm_scan", "[T,B,4H]"); /* B 3 */
    expect_error(ag_lstm_scan(gx, ag_zeros(AG_F32, 2, (int64_t[]){8, 3}), b, h, h, true),
                 "ag_lstm_scan", "[8,3]");
    expect_error(ag_lstm_scan(gx, w, ag_zeros(AG_F32, 1, (int64_t[]){4}), h, h, true),
                 "ag_lstm_scan", "[4]");
    expect_error(ag_lstm_scan(gx, w, b, h, ag_zeros(AG_F32, 2, (int64_t[]){2, 3}), true),
                 "ag_lstm_scan", "[2,3]");
    expect_error(ag_lstm_scan(ag_zeros(AG_F32, 3, (int64_t[]){2, 0, 8}), w, b, h, h, true),
                 "ag_lstm_scan", "[2,0,8]");
    expect_error(ag_lstm_scan(gx, w, b, h, ag_zeros(AG_F64, 2, (int64_t[]){2, 2}), true),
                 "ag_lstm_scan", "float32");
    cr_expect_null(ag_lstm_scan(NULL, w, b, h, h, true));
    cr_expect_null(ag_lstm_scan(gx, w, b, h, NULL, true));
    ag_scope_end();
}
