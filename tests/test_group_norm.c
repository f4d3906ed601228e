/* ag_group_norm: torch's values and gradients, the fused kernels against ops at odd sizes,
 * second derivatives, errors. */
#include "ops9_helpers.h"

Test(group_norm, matches_torch) {
    ag_scope_begin();
    ag_tensor *x = gold(4, (int64_t[]){2, 6, 3, 2}, gn1_x, true),
              *w = gold(1, (int64_t[]){6}, gn1_w, true), *b = gold(1, (int64_t[]){6}, gn1_b, true);
    ag_tensor *y = ag_group_norm(x, 3, w, b, 1e-5);
    expect_gold(y, gn1_y, NELEM(gn1_y), "y");
    backward_gold(y, gn1_gy);
    expect_gold(ag_grad(x), gn1_dx, NELEM(gn1_dx), "dx");
    expect_gold(ag_grad(w), gn1_dw, NELEM(gn1_dw), "dw");
    expect_gold(ag_grad(b), gn1_db, NELEM(gn1_db), "db");
    ag_tensor *x2 = gold(3, (int64_t[]){3, 4, 5}, gn2_x, true);
    ag_tensor *y2 = ag_group_norm(x2, 1, NULL, NULL, 1e-3);
    expect_gold(y2, gn2_y, NELEM(gn2_y), "y2");
    backward_gold(y2, gn2_gy);
    expect_gold(ag_grad(x2), gn2_dx, NELEM(gn2_dx), "dx2");
    ag_tensor *x3 = gold(2, (int64_t[]){2, 4}, gn3_x, true),
              *w3 = gold(1, (int64_t[]){4}, gn3_w, true);
    ag_tensor *y3 = ag_group_norm(x3, 2, w3, NULL, 1e-5);
    expect_gold(y3, gn3_y, NELEM(gn3_y), "y3");
    backward_gold(y3, gn3_gy);
    expect_gold(ag_grad(x3), gn3_dx, NELEM(gn3_dx), "dx3");
    expect_gold(ag_grad(w3), gn3_dw, NELEM(gn3_dw), "dw3");
    ag_scope_end();
}

static ag_tensor *gn_of(ag_tensor *x, void *ctx) {
    ag_tensor **wb = ctx;
    return ag_group_norm(x, 2, wb[0], wb[1], 1e-5);
}

/* The composite path (create_graph) is the naive twin of the fused one. */
Test(group_norm, fused_matches_the_ops_path_in_float32) {
    ag_scope_begin();
    ag_manual_seed(14);
    ag_tensor *x = ag_randn(AG_F32, 4, (int64_t[]){3, 6, 7, 5}),
              *w = ag_rand(AG_F32, 1, (int64_t[]){6});
    ag_tensor *b = ag_rand(AG_F32, 1, (int64_t[]){6}),
              *u = ag_randn(AG_F32, 4, (int64_t[]){3, 6, 7, 5});
    ag_set_requires_grad(x, true), ag_set_requires_grad(w, true), ag_set_requires_grad(b, true);
    ag_tensor *in[3] = {x, w, b}, *fused[3], *ops[3];
    ag_tensor *loss = ag_sum(ag_mul(ag_group_norm(x, 3, w, b, 1e-5), u));
    cr_assert_eq(
        ag_autograd_grad(1, &loss, NULL, 3, in, fused, (ag_grad_opts){.retain_graph = true}), 0);
    cr_assert_eq(ag_autograd_grad(1, &loss, NULL, 3, in, ops, (ag_grad_opts){.create_graph = true}),
                 0);
    for (int i = 0; i < 3; i++) {
        ag_tensor *e = ag_contiguous(ag_cast(ops[i], AG_F64));
        assert_tensor_close(ag_cast(fused[i], AG_F64), ag_data(e), ag_numel(e), 2e-4, 2e-4);
    }
    ag_scope_end();
}

Test(group_norm, second_derivative_through_create_graph) {
    ag_scope_begin();
    ag_manual_seed(15);
    ag_tensor *wb[2] = {ag_rand(AG_F64, 1, (int64_t[]){4}), ag_rand(AG_F64, 1, (int64_t[]){4})};
    expect_second_derivative(gn_of, wb, ag_randn(AG_F64, 3, (int64_t[]){2, 4, 3}), 1e-6);
    ag_scope_end();
}

Test(group_norm, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 3, (int64_t[]){2, 6, 4});
    expect_error(ag_group_norm(x, 4, NULL, NULL, 1e-5), "ag_group_norm", "[2,6,4]");
    expect_error(ag_group_norm(x, 3, ag_zeros(AG_F32, 1, (int64_t[]){3}), NULL, 1e-5),
                 "ag_group_norm", "[3]");
    expect_error(ag_group_norm(ag_zeros(AG_F32, 1, (int64_t[]){6}), 3, NULL, NULL, 1e-5),
                 "ag_group_norm", "[6]");
    expect_error(ag_group_norm(x, 3, NULL, NULL, -1), "ag_group_norm", "eps");
    ag_scope_end();
}
