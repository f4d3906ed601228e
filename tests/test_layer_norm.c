/* ag_layer_norm: torch's values and gradients (golden), the fused kernels against the
 * same formula written with ops, second derivatives through create_graph, and errors. */
#include <stdlib.h>

#include "ops9_helpers.h"
#include "runtime/cpu.h"

Test(layer_norm, matches_torch_with_weight_and_bias) {
    ag_scope_begin();
    ag_tensor *x = gold(3, (int64_t[]){3, 4, 6}, ln1_x, true),
              *w = gold(1, (int64_t[]){6}, ln1_w, true), *b = gold(1, (int64_t[]){6}, ln1_b, true);
    ag_tensor *y = ag_layer_norm(x, 1, (int64_t[]){6}, w, b, 1e-5);
    expect_gold(y, ln1_y, NELEM(ln1_y), "y");
    backward_gold(y, ln1_gy);
    expect_gold(ag_grad(x), ln1_dx, NELEM(ln1_dx), "dx");
    expect_gold(ag_grad(w), ln1_dw, NELEM(ln1_dw), "dw");
    expect_gold(ag_grad(b), ln1_db, NELEM(ln1_db), "db");
    ag_scope_end();
}

Test(layer_norm, matches_torch_over_two_dims_weight_only_and_plain) {
    ag_scope_begin();
    ag_tensor *x = gold(4, (int64_t[]){2, 3, 4, 5}, ln2_x, true),
              *w = gold(2, (int64_t[]){4, 5}, ln2_w, true);
    ag_tensor *y = ag_layer_norm(x, 2, (int64_t[]){4, 5}, w, NULL, 1e-3);
    expect_gold(y, ln2_y, NELEM(ln2_y), "y");
    backward_gold(y, ln2_gy);
    expect_gold(ag_grad(x), ln2_dx, NELEM(ln2_dx), "dx");
    expect_gold(ag_grad(w), ln2_dw, NELEM(ln2_dw), "dw");
    ag_tensor *x3 = gold(2, (int64_t[]){5, 7}, ln3_x, true);
    ag_tensor *y3 = ag_layer_norm(x3, 1, (int64_t[]){7}, NULL, NULL, 1e-5);
    expect_gold(y3, ln3_y, NELEM(ln3_y), "y3");
    backward_gold(y3, ln3_gy);
    expect_gold(ag_grad(x3), ln3_dx, NELEM(ln3_dx), "dx3");
    ag_scope_end();
}

/* The naive twin: layer norm written with ops. */
static ag_tensor *ln_naive(ag_tensor *x, ag_tensor *w, ag_tensor *b, double eps) {
    ag_tensor *xc = ag_sub(x, ag_mean_dim(x, -1, true));
    ag_tensor *var = ag_mean_dim(ag_mul(xc, xc), -1, true);
    return ag_add(ag_mul(ag_mul(xc, ag_pow(ag_add_scalar(var, eps), -0.5)), w), b);
}

/* Odd sizes (rows of 67: the 8-lane loops and their tails) in both dtypes. */
Test(layer_norm, fused_kernels_match_ops_at_odd_sizes) {
    ag_dtype dts[2] = {AG_F32, AG_F64};
    for (int k = 0; k < 2; k++) {
        ag_scope_begin();
        ag_manual_seed(3);
        ag_tensor *x = ag_randn(dts[k], 2, (int64_t[]){301, 67}),
                  *w = ag_rand(dts[k], 1, (int64_t[]){67}),
                  *b = ag_rand(dts[k], 1, (int64_t[]){67}),
                  *gy = ag_randn(dts[k], 2, (int64_t[]){301, 67});
        ag_tensor *in[2][3];
        ag_tensor *grads[2][3];
        for (int v = 0; v < 2; v++) {
            for (int i = 0; i < 3; i++) {
                in[v][i] = ag_detach(ag_clone((ag_tensor *[]){x, w, b}[i]));
                ag_set_requires_grad(in[v][i], true);
            }
            ag_tensor *y =
                v ? ln_naive(in[v][0], in[v][1], in[v][2], 1e-5)
                  : ag_layer_norm(in[v][0], 1, (int64_t[]){67}, in[v][1], in[v][2], 1e-5);
            cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){.grad = gy}), 0, "%s",
                         ag_last_error());
            for (int i = 0; i < 3; i++) grads[v][i] = ag_grad(in[v][i]);
        }
        double tol = k == 0 ? 2e-4 : 1e-10;
        for (int i = 0; i < 3; i++) {
            ag_tensor *a = ag_cast(grads[0][i], AG_F64),
                      *e = ag_contiguous(ag_cast(grads[1][i], AG_F64));
            assert_tensor_close(a, ag_data(e), ag_numel(e), tol, tol);
        }
        ag_scope_end();
    }
}

/* Every value of y, dx, dw and db, in both dtypes: rows of 67 (vector blocks and a tail)
 * in 6 chunks of 256 rows (threaded, dw/db partials added in order). */
Test(layer_norm, same_bits_for_any_thread_count) {
    int threads = ag_get_num_threads();
    for (int dt = 0; dt < 2; dt++) {
        ag_scope_begin();
        ag_dtype d = dt ? AG_F64 : AG_F32;
        ag_manual_seed(5);
        int64_t M = 67;
        ag_tensor *x = ag_randn(d, 2, (int64_t[]){1500, M}), *w = ag_rand(d, 1, &M),
                  *b = ag_rand(d, 1, &M), *gy = ag_randn(d, 2, (int64_t[]){1500, M});
        ag_set_requires_grad(x, true), ag_set_requires_grad(w, true), ag_set_requires_grad(b, true);
        ag_tensor *out[2][4];
        for (int t = 0; t < 2; t++) {
            ag_set_num_threads(t + 1);
            out[t][0] = ag_layer_norm(x, 1, &M, w, b, 1e-5);
            cr_assert_eq(ag_autograd_grad(1, &out[t][0], &gy, 3, (ag_tensor *[]){x, w, b},
                                          &out[t][1], (ag_grad_opts){0}),
                         0, "%s", ag_last_error());
        }
        ag_set_num_threads(threads);
        for (int i = 0; i < 4; i++) {
            ag_tensor *p = ag_contiguous(out[0][i]), *q = ag_contiguous(out[1][i]);
            cr_assert(!memcmp(ag_data(p), ag_data(q), (size_t)ag_numel(p) * (dt ? 8 : 4)),
                      "output %d differs with 2 threads (%s)", i, ag_dtype_name(d));
        }
        ag_scope_end();
    }
}

static ag_tensor *ln_of(ag_tensor *x, void *ctx) {
    ag_tensor **wb = ctx;
    return ag_layer_norm(x, 1, (int64_t[]){5}, wb[0], wb[1], 1e-5);
}

Test(layer_norm, second_derivative_through_create_graph) {
    ag_scope_begin();
    ag_manual_seed(11);
    ag_tensor *wb[2] = {ag_rand(AG_F64, 1, (int64_t[]){5}), ag_rand(AG_F64, 1, (int64_t[]){5})};
    ag_set_requires_grad(wb[0], true);
    expect_second_derivative(ln_of, wb, ag_randn(AG_F64, 2, (int64_t[]){3, 5}), 1e-6);
    ag_scope_end();
}

Test(layer_norm, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 2, (int64_t[]){3, 4});
    expect_error(ag_layer_norm(x, 1, (int64_t[]){5}, NULL, NULL, 1e-5), "ag_layer_norm", "[3,4]");
    expect_error(ag_layer_norm(x, 3, (int64_t[]){1, 3, 4}, NULL, NULL, 1e-5), "ag_layer_norm",
                 "[3,4]");
    ag_tensor *w = ag_zeros(AG_F32, 1, (int64_t[]){3});
    expect_error(ag_layer_norm(x, 1, (int64_t[]){4}, w, NULL, 1e-5), "ag_layer_norm", "[3]");
    ag_tensor *w64 = ag_zeros(AG_F64, 1, (int64_t[]){4});
    expect_error(ag_layer_norm(x, 1, (int64_t[]){4}, NULL, w64, 1e-5), "ag_layer_norm", "float64");
    expect_error(
        ag_layer_norm(ag_zeros(AG_I64, 1, (int64_t[]){4}), 1, (int64_t[]){4}, NULL, NULL, 1e-5),
        "ag_layer_norm", "int64");
    cr_expect_null(ag_layer_norm(NULL, 1, (int64_t[]){4}, NULL, NULL, 1e-5));
    ag_scope_end();
}

/* The row loops' AVX2 copies (chosen on this CPU) and their baseline copies (AG_ISA=scalar)
 * give the same bits: y, dx, dw, db of layer_norm and group_norm, both dtypes. */
static void norm_outputs(ag_dtype d, bool group, ag_tensor **out) {
    ag_manual_seed(12);
    int64_t xs[4] = {5, 6, 7, 9}, C = 6;
    ag_tensor *x = group ? ag_randn(d, 4, xs) : ag_randn(d, 2, (int64_t[]){301, 67});
    int64_t P = group ? C : 67;
    ag_tensor *w = ag_rand(d, 1, &P), *b = ag_rand(d, 1, &P);
    ag_set_requires_grad(x, true), ag_set_requires_grad(w, true), ag_set_requires_grad(b, true);
    ag_tensor *gy = ag_randn(d, ag_ndim(x), ag_shape(x));
    out[0] = group ? ag_group_norm(x, 3, w, b, 1e-5) : ag_layer_norm(x, 1, &P, w, b, 1e-5);
    cr_assert_eq(
        ag_autograd_grad(1, &out[0], &gy, 3, (ag_tensor *[]){x, w, b}, &out[1], (ag_grad_opts){0}),
        0, "%s", ag_last_error());
}

Test(layer_norm, avx2_and_baseline_row_loops_give_the_same_bits) {
    if (!ag__cpu_has(AG_ISA_AVX2)) cr_skip_test("this CPU has no AVX2: one copy of the loops");
    for (int k = 0; k < 4; k++) {
        ag_scope_begin();
        ag_dtype d = k & 1 ? AG_F64 : AG_F32;
        ag_tensor *fast[4], *base[4];
        unsetenv("AG_ISA");
        norm_outputs(d, k & 2, fast);
        setenv("AG_ISA", "scalar", 1);
        norm_outputs(d, k & 2, base);
        unsetenv("AG_ISA");
        for (int i = 0; i < 4; i++) {
            ag_tensor *p = ag_contiguous(fast[i]), *q = ag_contiguous(base[i]);
            cr_assert(!memcmp(ag_data(p), ag_data(q), (size_t)ag_numel(p) * (k & 1 ? 8 : 4)),
                      "%s output %d (%s) differs between the AVX2 and baseline loops",
                      k & 2 ? "group_norm" : "layer_norm", i, ag_dtype_name(d));
        }
        ag_scope_end();
    }
}
