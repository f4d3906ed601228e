/* ag_cumsum: torch's values and gradients along each dim, second derivative, errors. */
#include "ops9_helpers.h"

Test(scan, cumsum_matches_torch_along_each_dim) {
    ag_scope_begin();
    const double *xs[] = {cs0_x, cs1_x, cs2_x}, *ys[] = {cs0_y, cs1_y, cs2_y};
    const double *gys[] = {cs0_gy, cs1_gy, cs2_gy}, *dxs[] = {cs0_dx, cs1_dx, cs2_dx};
    int dims[] = {0, 1, -1};
    for (int k = 0; k < 3; k++) {
        ag_tensor *x = gold(3, (int64_t[]){3, 4, 5}, xs[k], true);
        ag_tensor *y = ag_cumsum(x, dims[k]);
        expect_gold(y, ys[k], 60, "y");
        backward_gold(y, gys[k]);
        expect_gold(ag_grad(x), dxs[k], 60, "dx");
    }
    ag_scope_end();
}

static ag_tensor *cs_sq(ag_tensor *x, void *ctx) {
    (void)ctx;
    ag_tensor *c = ag_cumsum(x, 1);
    return ag_mul(c, c);
}

Test(scan, second_derivative_and_scalar) {
    ag_scope_begin();
    ag_manual_seed(16);
    expect_second_derivative(cs_sq, NULL, ag_randn(AG_F64, 2, (int64_t[]){2, 5}), 1e-6);
    ag_tensor *s = ag_cumsum(ag_scalar(AG_F32, 2.5), 0);
    cr_assert(s);
    cr_expect_eq(ag_item(s), 2.5);
    ag_scope_end();
}

Test(scan, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    expect_error(ag_cumsum(ag_zeros(AG_F32, 2, (int64_t[]){3, 4}), 2), "ag_cumsum", "dim");
    expect_error(ag_cumsum(ag_zeros(AG_I64, 1, (int64_t[]){3}), 0), "ag_cumsum", "int64");
    ag_scope_end();
}
