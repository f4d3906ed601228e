/* erf rsqrt reciprocal square log1p expm1 tan atan: torch's values and gradients, second
 * derivatives, the vector path (long contiguous inputs) against the row path. */
#include "ops9_helpers.h"

typedef ag_tensor *(*un_fn)(ag_tensor *);

Test(unary_math, matches_torch) {
    ag_scope_begin();
    struct {
        un_fn f;
        const double *x, *y, *gy, *dx;
        const char *name;
    } cs[] = {
        {ag_erf, erf_x, erf_y, erf_gy, erf_dx, "erf"},
        {ag_square, sq_x, sq_y, sq_gy, sq_dx, "square"},
        {ag_expm1, em_x, em_y, em_gy, em_dx, "expm1"},
        {ag_atan, at_x, at_y, at_gy, at_dx, "atan"},
        {ag_rsqrt, rs_x, rs_y, rs_gy, rs_dx, "rsqrt"},
        {ag_reciprocal, rc_x, rc_y, rc_gy, rc_dx, "reciprocal"},
        {ag_log1p, lp_x, lp_y, lp_gy, lp_dx, "log1p"},
        {ag_tan, tn_x, tn_y, tn_gy, tn_dx, "tan"},
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        ag_tensor *x = gold(1, (int64_t[]){7}, cs[k].x, true);
        ag_tensor *y = cs[k].f(x);
        cr_assert(y, "%s: %s", cs[k].name, ag_last_error());
        expect_gold(y, cs[k].y, 7, cs[k].name);
        backward_gold(y, cs[k].gy);
        expect_gold(ag_grad(x), cs[k].dx, 7, cs[k].name);
    }
    ag_scope_end();
}

struct boxed {
    un_fn f;
};
static ag_tensor *apply(ag_tensor *x, void *ctx) { return ((struct boxed *)ctx)->f(x); }

Test(unary_math, second_derivatives_through_create_graph) {
    ag_scope_begin();
    un_fn fs[] = {ag_erf, ag_square, ag_expm1, ag_atan, ag_rsqrt, ag_reciprocal, ag_log1p, ag_tan};
    for (size_t k = 0; k < sizeof fs / sizeof fs[0]; k++) {
        ag_tensor *x = ag_tensor_new(AG_F64, 1, (int64_t[]){3}, (double[]){0.4, 0.9, 1.3});
        expect_second_derivative(apply, &(struct boxed){fs[k]}, x, 1e-5);
    }
    ag_scope_end();
}

Test(unary_math, vector_path_matches_row_path) {
    ag_scope_begin();
    ag_manual_seed(17);
    ag_tensor *x = ag_rand(AG_F32, 1, (int64_t[]){1003});
    ag_tensor *strided =
        ag_slice(ag_stack((ag_tensor *[]){x, x}, 2, 1), 1, 0, 1, 1); /* x, stride 2 */
    cr_assert(!ag_is_contiguous(strided));
    un_fn fs[] = {ag_log1p, ag_expm1};
    for (int k = 0; k < 2; k++) {
        ag_tensor *a = fs[k](x), *b = ag_contiguous(fs[k](strided));
        for (int64_t i = 0; i < 1003; i++) {
            float u = ((float *)ag_data(a))[i], v = ((float *)ag_data(b))[i];
            cr_expect(fabsf(u - v) <= 2e-7f * fabsf(v) + 1e-12f, "%d element %lld: %g vs %g", k,
                      (long long)i, u, v);
        }
    }
    ag_scope_end();
}
