/* amax, min_dim, argmin_dim, min (ties), std_dim, prod_dim (zeros), lt le ge ne (NaN):
 * torch's values and gradients; prod's second derivative; errors. */
#include "ops9_helpers.h"

static const int64_t S345[] = {3, 4, 5};

Test(reduce_more, extrema_with_ties_match_torch) {
    ag_scope_begin();
    ag_tensor *x = gold(3, S345, amx_x, true);
    ag_tensor *y = ag_amax(x, 1, false);
    expect_gold(y, amx_y, NELEM(amx_y), "amax");
    backward_gold(y, amx_gy);
    expect_gold(ag_grad(x), amx_dx, 60, "amax dx");
    ag_tensor *x2 = gold(3, S345, mnd_x, true);
    ag_tensor *m = ag_min_dim(x2, 2, true);
    expect_gold(m, mnd_y, NELEM(mnd_y), "min_dim");
    backward_gold(m, mnd_gy);
    expect_gold(ag_grad(x2), mnd_dx, 60, "min_dim dx");
    ag_tensor *ix = ag_argmin_dim(gold(3, S345, amx_x, false), 0, false);
    cr_assert(ix);
    for (int i = 0; i < 20; i++)
        cr_expect_eq(((int64_t *)ag_data(ix))[i], amn_i[i], "argmin %d", i);
    ag_tensor *x3 = gold(3, S345, mn_x, true);
    ag_tensor *mn = ag_min(x3);
    expect_gold(mn, mn_y, 1, "min");
    backward_gold(mn, mn_gy);
    expect_gold(ag_grad(x3), mn_dx, 60, "min dx");
    ag_scope_end();
}

Test(reduce_more, std_and_prod_match_torch) {
    ag_scope_begin();
    ag_tensor *x = gold(3, S345, sd1_x, true);
    ag_tensor *y = ag_std_dim(x, 1, false, 1);
    expect_gold(y, sd1_y, NELEM(sd1_y), "std");
    backward_gold(y, sd1_gy);
    expect_gold(ag_grad(x), sd1_dx, 60, "std dx");
    ag_tensor *x0 = gold(3, S345, sd0_x, true);
    ag_tensor *y0 = ag_std_dim(x0, -1, true, 0);
    expect_gold(y0, sd0_y, NELEM(sd0_y), "std0");
    backward_gold(y0, sd0_gy);
    expect_gold(ag_grad(x0), sd0_dx, 60, "std0 dx");
    ag_tensor *xp = gold(3, S345, prd_x, true);
    ag_tensor *p = ag_prod_dim(xp, 2, false);
    expect_gold(p, prd_y, NELEM(prd_y), "prod");
    backward_gold(p, prd_gy);
    expect_gold(ag_grad(xp), prd_dx, 60, "prod dx");
    ag_scope_end();
}

Test(reduce_more, std_of_a_constant_lane_has_zero_gradient) {
    ag_scope_begin();
    ag_tensor *x = ag_ones(AG_F64, 2, (int64_t[]){2, 3});
    ag_set_requires_grad(x, true);
    cr_assert_eq(ag_backward(ag_sum(ag_std_dim(x, 1, false, 1))), 0);
    for (int i = 0; i < 6; i++) cr_expect_eq(((double *)ag_data(ag_grad(x)))[i], 0.0);
    ag_scope_end();
}

static ag_tensor *prod_of(ag_tensor *x, void *ctx) {
    (void)ctx;
    return ag_prod_dim(x, 1, false);
}

Test(reduce_more, prod_second_derivative_without_zeros) {
    ag_scope_begin();
    ag_manual_seed(18);
    expect_second_derivative(prod_of, NULL,
                             ag_add_scalar(ag_rand(AG_F64, 2, (int64_t[]){2, 4}), 0.5), 1e-6);
    ag_scope_end();
}

Test(reduce_more, comparisons_match_torch_with_nan) {
    ag_scope_begin();
    ag_tensor *a = gold(2, (int64_t[]){2, 3}, cmp_a, false),
              *b = gold(1, (int64_t[]){3}, cmp_b, false);
    expect_gold(ag_lt(a, b), cmp_lt, 6, "lt");
    expect_gold(ag_le(a, b), cmp_le, 6, "le");
    expect_gold(ag_ge(a, b), cmp_ge, 6, "ge");
    expect_gold(ag_ne(a, b), cmp_ne, 6, "ne");
    ag_tensor *i = ag_lt(ag_arange(AG_I64, 0, 4, 1), ag_full(AG_I64, 1, (int64_t[]){4}, 2));
    cr_assert(i);
    cr_expect(ag_dtype_of(i) == AG_I64 && ((int64_t *)ag_data(i))[1] == 1 &&
              ((int64_t *)ag_data(i))[2] == 0);
    ag_scope_end();
}

Test(reduce_more, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 2, (int64_t[]){3, 0});
    expect_error(ag_amax(x, 1, false), "ag_amax", "[3,0]");
    expect_error(ag_std_dim(x, 2, false, 1), "ag_std_dim", "dim");
    expect_error(ag_min_dim(ag_zeros(AG_I64, 1, (int64_t[]){3}), 0, false), "ag_min_dim", "int64");
    expect_error(ag_argmin_dim(x, 3, false), "ag_argmin_dim", "dim");
    expect_error(ag_lt(x, ag_zeros(AG_F64, 1, (int64_t[]){1})), "ag_lt", "float64");
    expect_error(ag_ne(ag_zeros(AG_F32, 1, (int64_t[]){2}), ag_zeros(AG_F32, 1, (int64_t[]){3})),
                 "ag_ne", "[3]");
    ag_scope_end();
}
