/* ag_conv_transpose2d: torch's values and gradients (stride, padding, output_padding,
 * dilation, groups, bias), second derivatives, errors. */
#include "ops9_helpers.h"

static void run(const int64_t *xs, const int64_t *ws, const double *x0, const double *w0,
                const double *b0, ag_conv_transpose_opts o, const double *y, int64_t ny,
                const double *gy, const double *dx, const double *dw, const double *db) {
    ag_tensor *x = gold(4, xs, x0, true), *w = gold(4, ws, w0, true);
    ag_tensor *b = b0 ? gold(1, (int64_t[]){ws[1] * (o.groups ? o.groups : 1)}, b0, true) : NULL;
    ag_tensor *out = ag_conv_transpose2d(x, w, b, o);
    expect_gold(out, y, ny, "y");
    backward_gold(out, gy);
    expect_gold(ag_grad(x), dx, ag_numel(x), "dx");
    expect_gold(ag_grad(w), dw, ag_numel(w), "dw");
    if (b) expect_gold(ag_grad(b), db, ag_numel(b), "db");
}

Test(conv_transpose, matches_torch) {
    ag_scope_begin();
    run((int64_t[]){2, 4, 3, 4}, (int64_t[]){4, 3, 3, 3}, ct1_x, ct1_w, ct1_b,
        (ag_conv_transpose_opts){.stride = {2, 2}, .padding = {1, 1}, .output_padding = {1, 1}},
        ct1_y, NELEM(ct1_y), ct1_gy, ct1_dx, ct1_dw, ct1_db);
    run((int64_t[]){1, 4, 4, 3}, (int64_t[]){4, 1, 2, 3}, ct2_x, ct2_w, NULL,
        (ag_conv_transpose_opts){
            .stride = {1, 2}, .padding = {0, 1}, .dilation = {2, 1}, .groups = 2},
        ct2_y, NELEM(ct2_y), ct2_gy, ct2_dx, ct2_dw, NULL);
    run((int64_t[]){2, 3, 4, 4}, (int64_t[]){3, 2, 4, 4}, ct3_x, ct3_w, ct3_b,
        (ag_conv_transpose_opts){.stride = {2, 2}, .padding = {1, 1}}, ct3_y, NELEM(ct3_y), ct3_gy,
        ct3_dx, ct3_dw, ct3_db);
    ag_scope_end();
}

static ag_tensor *ct_of(ag_tensor *x, void *ctx) {
    ag_tensor *y = ag_conv_transpose2d(
        x, ctx, NULL, (ag_conv_transpose_opts){.stride = {2, 1}, .padding = {1, 0}});
    return ag_mul(y, y);
}

Test(conv_transpose, second_derivative_through_create_graph) {
    ag_scope_begin();
    ag_manual_seed(13);
    ag_tensor *w = ag_randn(AG_F64, 4, (int64_t[]){2, 3, 3, 2});
    expect_second_derivative(ct_of, w, ag_randn(AG_F64, 4, (int64_t[]){1, 2, 2, 3}), 1e-6);
    ag_scope_end();
}

Test(conv_transpose, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    const char *fn = "ag_conv_transpose2d";
    ag_tensor *x = ag_zeros(AG_F32, 4, (int64_t[]){1, 4, 3, 3}),
              *w = ag_zeros(AG_F32, 4, (int64_t[]){4, 2, 3, 3});
    expect_error(ag_conv_transpose2d(x, ag_zeros(AG_F32, 4, (int64_t[]){3, 2, 3, 3}), NULL,
                                     (ag_conv_transpose_opts){0}),
                 fn, "[3,2,3,3]");
    expect_error(
        ag_conv_transpose2d(x, w, ag_zeros(AG_F32, 1, (int64_t[]){3}), (ag_conv_transpose_opts){0}),
        fn, "[3]");
    expect_error(
        ag_conv_transpose2d(x, w, NULL,
                            (ag_conv_transpose_opts){.stride = {2, 2}, .output_padding = {2, 0}}),
        fn, "output_padding");
    expect_error(ag_conv_transpose2d(x, w, NULL, (ag_conv_transpose_opts){.groups = 3}), fn,
                 "groups 3");
    expect_error(ag_conv_transpose2d(x, w, NULL, (ag_conv_transpose_opts){.padding = {3, 3}}), fn,
                 "empty");
    expect_error(ag_conv_transpose2d(ag_zeros(AG_F32, 3, (int64_t[]){4, 3, 3}), w, NULL,
                                     (ag_conv_transpose_opts){0}),
                 fn, "[4,3,3]");
    ag_scope_end();
}
