/* ag_upsample_nearest2d, ag_upsample_bilinear2d (align_corners both ways),
 * ag_adaptive_avg_pool2d (shrinking, global, growing): torch's values and gradients. */
#include "ops9_helpers.h"

static ag_tensor *near23(ag_tensor *x) { return ag_upsample_nearest2d(x, 2, 3); }
static ag_tensor *bil73(ag_tensor *x) { return ag_upsample_bilinear2d(x, 7, 3, false); }
static ag_tensor *bil911(ag_tensor *x) { return ag_upsample_bilinear2d(x, 9, 11, true); }
static ag_tensor *ada34(ag_tensor *x) { return ag_adaptive_avg_pool2d(x, 3, 4); }
static ag_tensor *ada11(ag_tensor *x) { return ag_adaptive_avg_pool2d(x, 1, 1); }
static ag_tensor *ada1013(ag_tensor *x) { return ag_adaptive_avg_pool2d(x, 10, 13); }

static void check(ag_tensor *(*f)(ag_tensor *), const int64_t *shape, const double *x0,
                  const double *y, int64_t ny, const double *gy, const double *dx) {
    ag_tensor *x = gold(4, shape, x0, true);
    ag_tensor *out = f(x);
    expect_gold(out, y, ny, "y");
    backward_gold(out, gy);
    expect_gold(ag_grad(x), dx, ag_numel(x), "dx");
}

Test(resample, upsampling_matches_torch) {
    ag_scope_begin();
    int64_t s[] = {2, 3, 4, 5};
    check(near23, s, un_x, un_y, NELEM(un_y), un_gy, un_dx);
    check(bil73, s, ub_x, ub_y, NELEM(ub_y), ub_gy, ub_dx);
    check(bil911, s, ua_x, ua_y, NELEM(ua_y), ua_gy, ua_dx);
    ag_scope_end();
}

Test(resample, adaptive_average_pooling_matches_torch) {
    ag_scope_begin();
    int64_t s[] = {2, 3, 7, 10};
    check(ada34, s, aa_x, aa_y, NELEM(aa_y), aa_gy, aa_dx);
    check(ada11, s, ag_x, ag_y, NELEM(ag_y), ag_gy, ag_dx);
    check(ada1013, s, ab_x, ab_y, NELEM(ab_y), ab_gy, ab_dx);
    ag_scope_end();
}

Test(resample, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 2, (int64_t[]){3, 4});
    expect_error(ag_upsample_nearest2d(x, 2, 2), "ag_upsample_nearest2d", "[3,4]");
    ag_tensor *x4 = ag_zeros(AG_F32, 4, (int64_t[]){1, 1, 3, 4});
    expect_error(ag_upsample_nearest2d(x4, 0, 2), "ag_upsample_nearest2d", "[1,1,3,4]");
    expect_error(ag_upsample_bilinear2d(x4, 0, 2, false), "ag_upsample_bilinear2d", "[1,1,3,4]");
    expect_error(ag_adaptive_avg_pool2d(x, 1, 1), "ag_adaptive_avg_pool2d", "[3,4]");
    expect_error(ag_adaptive_avg_pool2d(ag_zeros(AG_I64, 3, (int64_t[]){1, 3, 4}), 1, 1),
                 "ag_adaptive_avg_pool2d", "int64");
    ag_scope_end();
}
