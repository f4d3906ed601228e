/* ag_scaled_dot_product_attention: torch's values and gradients (causal, broadcast masks),
 * float32 against float64, second derivatives, NaN rows, errors. */
#include "ops9_helpers.h"

static void run_case(int nd, const int64_t *qs, const int64_t *ks, const int64_t *vs,
                     const double *q0, const double *k0, const double *v0, ag_tensor *mask,
                     bool causal, const double *y0, int64_t ny, const double *gy, const double *dq,
                     const double *dk, const double *dv) {
    ag_tensor *q = gold(nd, qs, q0, true), *k = gold(nd, ks, k0, true), *v = gold(nd, vs, v0, true);
    ag_tensor *y = ag_scaled_dot_product_attention(q, k, v, mask, 0, causal);
    expect_gold(y, y0, ny, "y");
    backward_gold(y, gy);
    expect_gold(ag_grad(q), dq, ag_numel(q), "dq");
    expect_gold(ag_grad(k), dk, ag_numel(k), "dk");
    expect_gold(ag_grad(v), dv, ag_numel(v), "dv");
}

Test(attention, causal_matches_torch) {
    ag_scope_begin();
    run_case(3, (int64_t[]){2, 4, 3}, (int64_t[]){2, 6, 3}, (int64_t[]){2, 6, 5}, at1_q, at1_k,
             at1_v, NULL, true, at1_y, NELEM(at1_y), at1_gy, at1_dq, at1_dk, at1_dv);
    run_case(4, (int64_t[]){2, 3, 5, 4}, (int64_t[]){2, 3, 5, 4}, (int64_t[]){2, 3, 5, 2}, at2_q,
             at2_k, at2_v, NULL, true, at2_y, NELEM(at2_y), at2_gy, at2_dq, at2_dk, at2_dv);
    ag_scope_end();
}

Test(attention, broadcast_mask_matches_torch) {
    ag_scope_begin();
    ag_tensor *m = gold_i64(4, (int64_t[]){2, 1, 4, 6}, at3_m);
    run_case(4, (int64_t[]){2, 2, 4, 3}, (int64_t[]){2, 2, 6, 3}, (int64_t[]){2, 2, 6, 3}, at3_q,
             at3_k, at3_v, m, false, at3_y, NELEM(at3_y), at3_gy, at3_dq, at3_dk, at3_dv);
    ag_scope_end();
}

static ag_tensor *attn_of_q(ag_tensor *q, void *ctx) {
    ag_tensor **kv = ctx;
    return ag_scaled_dot_product_attention(q, kv[0], kv[1], kv[2], 0, kv[2] == NULL);
}

Test(attention, second_derivative_through_create_graph) {
    ag_scope_begin();
    ag_manual_seed(8);
    ag_tensor *kv[3] = {ag_randn(AG_F64, 3, (int64_t[]){2, 4, 3}),
                        ag_randn(AG_F64, 3, (int64_t[]){2, 4, 2}), NULL};
    expect_second_derivative(attn_of_q, kv, ag_randn(AG_F64, 3, (int64_t[]){2, 3, 3}), 1e-6);
    kv[2] = gold_i64(2, (int64_t[]){3, 4}, (int64_t[]){1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0});
    expect_second_derivative(attn_of_q, kv, ag_randn(AG_F64, 3, (int64_t[]){2, 3, 3}), 1e-6);
    ag_scope_end();
}

Test(attention, fully_masked_row_is_nan_as_torch) {
    ag_scope_begin();
    ag_tensor *q = ag_ones(AG_F32, 2, (int64_t[]){2, 2}),
              *k = ag_ones(AG_F32, 2, (int64_t[]){3, 2});
    ag_tensor *m = ag_tensor_new(AG_F32, 2, (int64_t[]){2, 3}, (float[]){1, 0, 1, 0, 0, 0});
    ag_tensor *y = ag_scaled_dot_product_attention(q, k, k, m, 0, false);
    cr_assert(y);
    cr_expect(ag_get(y, (int64_t[]){0, 0}) == 1.0f);
    cr_expect(isnan(ag_get(y, (int64_t[]){1, 0})));
    ag_scope_end();
}

/* With v the identity the output is the dropped probabilities: each entry 0 or P / (1-p),
 * about p of them 0; the same seed gives the same mask; p = 1 drops everything. */
Test(attention, dropout_drops_probabilities) {
    ag_scope_begin();
    ag_manual_seed(21);
    int64_t L = 40, S = 50;
    ag_tensor *q = ag_randn(AG_F64, 2, (int64_t[]){L, 4}),
              *k = ag_randn(AG_F64, 2, (int64_t[]){S, 4});
    ag_tensor *eye = ag_zeros(AG_F64, 2, (int64_t[]){S, S});
    for (int64_t i = 0; i < S; i++) ((double *)ag_data(eye))[i * S + i] = 1;
    ag_tensor *p = ag_scaled_dot_product_attention(q, k, eye, NULL, 0, false);
    ag_manual_seed(5);
    ag_tensor *d1 = ag_scaled_dot_product_attention(q, k, eye, NULL, 0.4, false);
    ag_manual_seed(5);
    ag_tensor *d2 = ag_scaled_dot_product_attention(q, k, eye, NULL, 0.4, false);
    cr_assert(p && d1 && d2, "%s", ag_last_error());
    int64_t zeros = 0;
    for (int64_t i = 0; i < L * S; i++) {
        double a = ((double *)ag_data(d1))[i], b = ((double *)ag_data(p))[i];
        cr_expect(a == 0 || fabs(a - b / 0.6) <= 1e-15 * fabs(a), "element %lld: %g vs %g",
                  (long long)i, a, b);
        zeros += a == 0;
        cr_expect_eq(a, ((double *)ag_data(d2))[i]);
    }
    cr_expect(zeros > 0.3 * L * S && zeros < 0.5 * L * S, "%lld of %lld dropped", (long long)zeros,
              (long long)(L * S));
    ag_tensor *all = ag_scaled_dot_product_attention(q, k, eye, NULL, 1, false);
    for (int64_t i = 0; i < L * S; i++) cr_expect_eq(((double *)ag_data(all))[i], 0.0);
    ag_scope_end();
}

static ag_tensor *attn_drop_of_q(ag_tensor *q, void *ctx) {
    ag_tensor **kv = ctx;
    ag_manual_seed(3); /* the same mask on every call */
    return ag_scaled_dot_product_attention(q, kv[0], kv[1], NULL, 0.3, true);
}

Test(attention, dropout_second_derivative) {
    ag_scope_begin();
    ag_manual_seed(22);
    ag_tensor *kv[2] = {ag_randn(AG_F64, 3, (int64_t[]){2, 4, 3}),
                        ag_randn(AG_F64, 3, (int64_t[]){2, 4, 2})};
    expect_second_derivative(attn_drop_of_q, kv, ag_randn(AG_F64, 3, (int64_t[]){2, 4, 3}), 1e-6);
    ag_scope_end();
}

Test(attention, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *q = ag_zeros(AG_F32, 3, (int64_t[]){2, 4, 8}),
              *k = ag_zeros(AG_F32, 3, (int64_t[]){2, 5, 8});
    ag_tensor *v = ag_zeros(AG_F32, 3, (int64_t[]){2, 5, 3});
    const char *fn = "ag_scaled_dot_product_attention";
    expect_error(ag_scaled_dot_product_attention(q, k, ag_zeros(AG_F32, 3, (int64_t[]){2, 4, 3}),
                                                 NULL, 0, false),
                 fn, "[2,4,3]");
    expect_error(ag_scaled_dot_product_attention(q, ag_zeros(AG_F32, 3, (int64_t[]){2, 5, 7}), v,
                                                 NULL, 0, false),
                 fn, "[2,5,7]");
    expect_error(
        ag_scaled_dot_product_attention(q, k, v, ag_ones(AG_I64, 2, (int64_t[]){4, 4}), 0, false),
        fn, "[4,4]");
    expect_error(
        ag_scaled_dot_product_attention(q, k, v, ag_ones(AG_I64, 2, (int64_t[]){4, 5}), 0, true),
        fn, "not both");
    expect_error(ag_scaled_dot_product_attention(q, k, v, NULL, 1.5, false), fn, "dropout_p");
    expect_error(ag_scaled_dot_product_attention(q, k, ag_zeros(AG_F64, 3, (int64_t[]){2, 5, 3}),
                                                 NULL, 0, false),
                 fn, "float64");
    ag_scope_end();
}
