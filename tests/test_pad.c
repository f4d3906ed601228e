/* ag_pad (constant, reflect, replicate, negative), ag_flip, ag_roll, ag_repeat: torch's
 * values and gradients, second derivatives, errors. */
#include "ops9_helpers.h"

typedef ag_tensor *(*map_fn)(ag_tensor *x);
static ag_tensor *pad_c(ag_tensor *x) {
    return ag_pad(x, 4, (int64_t[]){1, 2, 2, 0}, AG_PAD_CONSTANT, 0.5);
}
static ag_tensor *pad_r(ag_tensor *x) {
    return ag_pad(x, 4, (int64_t[]){3, 1, 2, 2}, AG_PAD_REFLECT, 0);
}
static ag_tensor *pad_p(ag_tensor *x) {
    return ag_pad(x, 4, (int64_t[]){2, 3, 1, 4}, AG_PAD_REPLICATE, 0);
}
static ag_tensor *pad_n(ag_tensor *x) {
    return ag_pad(x, 4, (int64_t[]){-1, 2, 0, -2}, AG_PAD_CONSTANT, -1);
}
static ag_tensor *flip02(ag_tensor *x) { return ag_flip(x, 2, (int[]){0, -1}); }
static ag_tensor *roll_m5(ag_tensor *x) { return ag_roll(x, -5, 1); }
static ag_tensor *rep(ag_tensor *x) { return ag_repeat(x, 4, (int64_t[]){2, 1, 3, 2}); }

static void check(map_fn f, int nd, const int64_t *shape, const double *x0, const double *y,
                  int64_t ny, const double *gy, const double *dx) {
    ag_tensor *x = gold(nd, shape, x0, true);
    ag_tensor *out = f(x);
    expect_gold(out, y, ny, "y");
    backward_gold(out, gy);
    expect_gold(ag_grad(x), dx, ag_numel(x), "dx");
}

Test(pad, pad_modes_match_torch) {
    ag_scope_begin();
    int64_t s[] = {2, 3, 4, 5};
    check(pad_c, 4, s, pc_x, pc_y, NELEM(pc_y), pc_gy, pc_dx);
    check(pad_r, 4, s, pr_x, pr_y, NELEM(pr_y), pr_gy, pr_dx);
    check(pad_p, 4, s, pp_x, pp_y, NELEM(pp_y), pp_gy, pp_dx);
    check(pad_n, 4, s, pn_x, pn_y, NELEM(pn_y), pn_gy, pn_dx);
    ag_scope_end();
}

Test(pad, flip_roll_repeat_match_torch) {
    ag_scope_begin();
    int64_t s[] = {3, 4, 2};
    check(flip02, 3, s, fl_x, fl_y, NELEM(fl_y), fl_gy, fl_dx);
    check(roll_m5, 3, s, ro_x, ro_y, NELEM(ro_y), ro_gy, ro_dx);
    check(rep, 3, s, rp_x, rp_y, NELEM(rp_y), rp_gy, rp_dx);
    ag_tensor *r = rep(gold(3, s, rp_x, false));
    cr_expect(ag_ndim(r) == 4 && ag_shape(r)[0] == 2 && ag_shape(r)[2] == 12 &&
              ag_shape(r)[3] == 4);
    ag_scope_end();
}

static ag_tensor *pad_then_square(ag_tensor *x, void *ctx) {
    (void)ctx;
    ag_tensor *y = ag_pad(x, 2, (int64_t[]){2, 1}, AG_PAD_REFLECT, 0);
    return ag_mul(y, ag_roll(ag_flip(y, 1, (int[]){0}), 1, 1));
}

Test(pad, second_derivative_through_create_graph) {
    ag_scope_begin();
    ag_manual_seed(12);
    expect_second_derivative(pad_then_square, NULL, ag_randn(AG_F64, 2, (int64_t[]){2, 4}), 1e-6);
    ag_scope_end();
}

Test(pad, float32_and_empty_repeats) {
    ag_scope_begin();
    ag_tensor *x = ag_arange(AG_F32, 0, 6, 1);
    ag_tensor *y =
        ag_pad(ag_reshape(x, 2, (int64_t[]){2, 3}), 2, (int64_t[]){1, 1}, AG_PAD_REPLICATE, 0);
    cr_assert(y);
    float want[] = {0, 0, 1, 2, 2, 3, 3, 4, 5, 5};
    for (int i = 0; i < 10; i++) cr_expect_eq(((float *)ag_data(y))[i], want[i]);
    ag_tensor *e = ag_repeat(x, 2, (int64_t[]){0, 2});
    cr_assert(e);
    cr_expect(ag_numel(e) == 0 && ag_shape(e)[1] == 12);
    ag_scope_end();
}

/* The separable map takes strided inputs and plans (as the table's strided checks give). */
Test(pad, strided_plan_and_input) {
    ag_scope_begin();
    ag_tensor *x = ag_arange(AG_F64, 0, 6, 1);
    ag_tensor *y = ag_pad(ag_transpose(ag_reshape(x, 2, (int64_t[]){2, 3}), 0, 1), 2,
                          (int64_t[]){1, 0}, AG_PAD_REFLECT, 0); /* [3,2] -> [3,3] */
    cr_assert(y, "%s", ag_last_error());
    double want[] = {3, 0, 3, 4, 1, 4, 5, 2, 5};
    assert_tensor_close(y, want, 9, 0, 0);
    ag_scope_end();
}

Test(pad, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 2, (int64_t[]){3, 4});
    expect_error(ag_pad(x, 3, (int64_t[]){1, 1, 1}, AG_PAD_CONSTANT, 0), "ag_pad", "[3,4]");
    expect_error(ag_pad(x, 2, (int64_t[]){4, 0}, AG_PAD_REFLECT, 0), "ag_pad", "reflect");
    expect_error(ag_pad(x, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, AG_PAD_CONSTANT, 0), "ag_pad",
                 "[3,4]");
    expect_error(
        ag_pad(ag_zeros(AG_I64, 1, (int64_t[]){3}), 2, (int64_t[]){1, 1}, AG_PAD_CONSTANT, 0),
        "ag_pad", "int64");
    expect_error(ag_flip(x, 2, (int[]){1, -1}), "ag_flip", "twice");
    expect_error(ag_flip(x, 1, (int[]){2}), "ag_flip", "dim");
    expect_error(ag_roll(x, 1, 5), "ag_roll", "dim");
    expect_error(ag_repeat(x, 1, (int64_t[]){2}), "ag_repeat", "[3,4]");
    expect_error(ag_repeat(x, 2, (int64_t[]){2, -1}), "ag_repeat", "[2,-1]");
    ag_scope_end();
}
