/* ag_masked_fill, ag_tril, ag_triu: torch's values and gradients, mask dtypes, errors. */
#include "ops9_helpers.h"

Test(mask, masked_fill_matches_torch_with_broadcast) {
    ag_scope_begin();
    ag_tensor *x = gold(3, (int64_t[]){3, 1, 4}, mf_x, true);
    ag_tensor *y = ag_masked_fill(x, gold_i64(2, (int64_t[]){2, 1}, mf_m), -INFINITY);
    cr_assert(y);
    cr_expect(ag_ndim(y) == 3 && ag_shape(y)[1] == 2);
    expect_gold(y, mf_y, NELEM(mf_y), "y");
    backward_gold(y, mf_gy);
    expect_gold(ag_grad(x), mf_dx, NELEM(mf_dx), "dx");
    ag_scope_end();
}

Test(mask, masked_fill_mask_dtypes) {
    ag_scope_begin();
    ag_dtype xs[2] = {AG_F32, AG_F64}, ms[3] = {AG_F32, AG_F64, AG_I64};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            ag_tensor *x = ag_ones(xs[i], 2, (int64_t[]){2, 3});
            ag_tensor *mt = ag_transpose(ag_zeros(ms[j], 2, (int64_t[]){3, 2}), 0, 1);
            double one = ms[j] == AG_F64 ? 1e-300 : 1; /* tiny but set: still masks in float32 */
            ag_tensor *set = ag_tensor_new(AG_F64, 1, (int64_t[]){3}, (double[]){0, one, 0});
            ag_tensor *m = ms[j] == AG_F64 ? set : ag_cast(set, ms[j]);
            ag_tensor *y = ag_masked_fill(x, m, 7);
            cr_assert(y, "%s", ag_last_error());
            for (int r = 0; r < 2; r++)
                for (int c = 0; c < 3; c++)
                    cr_expect_eq(ag_get(y, (int64_t[]){r, c}), c == 1 ? 7.0 : 1.0, "x %d mask %d",
                                 i, j);
            cr_expect(ag_masked_fill(x, mt, 3) != NULL, "a strided mask");
        }
    ag_scope_end();
}

Test(mask, tril_triu_match_torch) {
    ag_scope_begin();
    struct {
        const double *x, *y, *gy, *dx;
        int64_t shape[3];
        int nd;
        int64_t diag;
        bool lower;
    } cs[] = {
        {tl_x, tl_y, tl_gy, tl_dx, {2, 3, 5}, 3, 1, true},
        {tu_x, tu_y, tu_gy, tu_dx, {2, 3, 5}, 3, -1, false},
        {tl2_x, tl2_y, tl2_gy, tl2_dx, {5, 3}, 2, -2, true},
        {tu2_x, tu2_y, tu2_gy, tu2_dx, {5, 3}, 2, 2, false},
    };
    for (int k = 0; k < 4; k++) {
        ag_tensor *x = gold(cs[k].nd, cs[k].shape, cs[k].x, true);
        ag_tensor *y = cs[k].lower ? ag_tril(x, cs[k].diag) : ag_triu(x, cs[k].diag);
        int64_t n = ag_numel(x);
        expect_gold(y, cs[k].y, n, "y");
        backward_gold(y, cs[k].gy);
        expect_gold(ag_grad(x), cs[k].dx, n, "dx");
    }
    ag_scope_end();
}

Test(mask, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 2, (int64_t[]){3, 4});
    expect_error(ag_masked_fill(x, ag_zeros(AG_I64, 1, (int64_t[]){3}), 0), "ag_masked_fill",
                 "[3]");
    expect_error(ag_masked_fill(ag_zeros(AG_I64, 1, (int64_t[]){3}), x, 0), "ag_masked_fill",
                 "int64");
    expect_error(ag_tril(ag_zeros(AG_F32, 1, (int64_t[]){3}), 0), "ag_tril", "[3]");
    expect_error(ag_triu(ag_scalar(AG_F64, 1), 0), "ag_triu", "2 dims");
    cr_expect_null(ag_masked_fill(NULL, x, 0));
    ag_scope_end();
}
