/* ag_cross_entropy_loss_nd: torch's K-dimensional cross-entropy with ignore_index and label
 * smoothing (golden), agreement with ag_cross_entropy_loss on [N,C], second derivatives,
 * all-ignored MEAN, errors. */
#include "ops9_helpers.h"

static void run(int nd, const int64_t *xs, const double *x0, const int64_t *t0,
                ag_cross_entropy_nd_opts o, const double *y0, int64_t ny, const double *gy,
                const double *dx) {
    ag_tensor *x = gold(nd, xs, x0, true);
    int64_t ts[AG_MAX_DIMS] = {xs[0]};
    for (int d = 2; d < nd; d++) ts[d - 1] = xs[d];
    ag_tensor *y = ag_cross_entropy_loss_nd(x, gold_i64(nd - 1, ts, t0), o);
    expect_gold(y, y0, ny, "loss");
    backward_gold(y, gy);
    expect_gold(ag_grad(x), dx, ag_numel(x), "dx");
}

Test(cross_entropy_nd, matches_torch) {
    ag_scope_begin();
    run(4, (int64_t[]){2, 4, 3, 2}, ce1_x, ce1_t,
        (ag_cross_entropy_nd_opts){.use_ignore_index = true, .ignore_index = 1}, ce1_y, 1, ce1_gy,
        ce1_dx);
    run(2, (int64_t[]){5, 3}, ce2_x, ce2_t,
        (ag_cross_entropy_nd_opts){AG_REDUCTION_SUM, 0.1, true, -100}, ce2_y, 1, ce2_gy, ce2_dx);
    run(3, (int64_t[]){2, 3, 4}, ce3_x, ce3_t,
        (ag_cross_entropy_nd_opts){AG_REDUCTION_NONE, 0.3, true, 5}, ce3_y, 8, ce3_gy, ce3_dx);
    run(3, (int64_t[]){2, 3, 2}, ce4_x, ce4_t, (ag_cross_entropy_nd_opts){.label_smoothing = 0.25},
        ce4_y, 1, ce4_gy, ce4_dx);
    ag_scope_end();
}

Test(cross_entropy_nd, agrees_with_the_two_dim_loss_in_float32) {
    ag_scope_begin();
    ag_manual_seed(6);
    ag_tensor *x = ag_randn(AG_F32, 2, (int64_t[]){37, 11});
    int64_t lab[37];
    for (int i = 0; i < 37; i++) lab[i] = (i * 7) % 11;
    ag_tensor *t = gold_i64(1, (int64_t[]){37}, lab);
    double a =
        ag_item(ag_cross_entropy_loss_nd(x, t, (ag_cross_entropy_nd_opts){.label_smoothing = 0.1}));
    double b =
        ag_item(ag_cross_entropy_loss_ex(x, t, (ag_cross_entropy_opts){.label_smoothing = 0.1}));
    assert_close(a, b, 1e-6, 1e-6);
    ag_scope_end();
}

static ag_tensor *ce_of(ag_tensor *x, void *ctx) {
    return ag_cross_entropy_loss_nd(x, ctx,
                                    (ag_cross_entropy_nd_opts){AG_REDUCTION_NONE, 0.2, true, 0});
}

Test(cross_entropy_nd, second_derivative_through_create_graph) {
    ag_scope_begin();
    ag_manual_seed(9);
    ag_tensor *t = gold_i64(2, (int64_t[]){2, 3}, (int64_t[]){1, 0, 2, 3, 1, 0});
    expect_second_derivative(ce_of, t, ag_randn(AG_F64, 3, (int64_t[]){2, 4, 3}), 1e-6);
    ag_scope_end();
}

Test(cross_entropy_nd, all_ignored_mean_is_nan_as_torch) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F64, 2, (int64_t[]){2, 3});
    ag_tensor *t = gold_i64(1, (int64_t[]){2}, (int64_t[]){-100, -100});
    cr_expect(isnan(ag_item(ag_cross_entropy_loss_nd(
        x, t, (ag_cross_entropy_nd_opts){.use_ignore_index = true, .ignore_index = -100}))));
    ag_scope_end();
}

Test(cross_entropy_nd, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    const char *fn = "ag_cross_entropy_loss_nd";
    ag_tensor *x = ag_zeros(AG_F32, 3, (int64_t[]){2, 3, 4});
    ag_cross_entropy_nd_opts o = {0};
    expect_error(ag_cross_entropy_loss_nd(x, ag_zeros(AG_I64, 2, (int64_t[]){2, 3}), o), fn,
                 "[2,3]");
    expect_error(ag_cross_entropy_loss_nd(x, ag_zeros(AG_F32, 2, (int64_t[]){2, 4}), o), fn,
                 "int64");
    ag_tensor *bad = ag_full(AG_I64, 2, (int64_t[]){2, 4}, 3);
    expect_error(ag_cross_entropy_loss_nd(x, bad, o), fn,
                 "label 3 at position 0 is out of range [0, 3)");
    expect_error(ag_cross_entropy_loss_nd(ag_zeros(AG_F32, 1, (int64_t[]){3}), bad, o), fn, "[3]");
    expect_error(ag_cross_entropy_loss_nd(x, bad, (ag_cross_entropy_nd_opts){.label_smoothing = 2}),
                 fn, "label_smoothing");
    ag_scope_end();
}
