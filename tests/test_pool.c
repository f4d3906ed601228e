/* max_pool2d / avg_pool2d against PyTorch golden values (tests/golden/gen_conv.py): ties go
 * to the first maximum, -inf padding, count_include_pad; and the error messages. */
#include <string.h>

#include "golden/conv_golden.h"
#include "helpers.h"
#include "ops/kernels/gemm.h"

static void run_pool(bool max, const int64_t *xs, const double *x, const double *y,
                     const double *gy, const double *dx, ag_pool_opts o, ag_dtype dt, double tol) {
    ag_scope_begin();
    ag_tensor *t = ag_cast(ag_tensor_new(AG_F64, 4, xs, x), dt);
    ag_set_requires_grad(t, true);
    ag_tensor *out = max ? ag_max_pool2d(t, o) : ag_avg_pool2d(t, o);
    cr_assert(out, "%s", ag_last_error());
    assert_tensor_close(out, y, ag_numel(out), tol, tol);
    ag_tensor *g = ag_cast(ag_tensor_new(AG_F64, 4, ag_shape(out), gy), dt);
    cr_assert_eq(ag_backward_ex(out, (ag_backward_opts){.grad = g}), 0, "%s", ag_last_error());
    assert_tensor_close(ag_grad(t), dx, ag_numel(t), tol, tol);
    ag_scope_end();
}

Test(pool, max_pool_ties_go_to_the_first_max_as_torch) {
    ag_pool_opts o = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
    run_pool(true, (int64_t[]){2, 2, 5, 5}, mpa_x, mpa_y, mpa_gy, mpa_dx, o, AG_F64, 1e-12);
    run_pool(true, (int64_t[]){2, 2, 5, 5}, mpa_x, mpa_y, mpa_gy, mpa_dx, o, AG_F32, 1e-6);
}
Test(pool, max_pool_rectangular_padded_matches_torch) {
    ag_pool_opts o = {.kernel = {2, 3}, .stride = {2, 2}, .padding = {1, 0}};
    run_pool(true, (int64_t[]){2, 3, 6, 7}, mpb_x, mpb_y, mpb_gy, mpb_dx, o, AG_F64, 1e-12);
}
Test(pool, max_pool_stride_defaults_to_kernel) {
    ag_pool_opts o = {.kernel = {2, 2}};
    run_pool(true, (int64_t[]){1, 2, 6, 6}, mpc_x, mpc_y, mpc_gy, mpc_dx, o, AG_F64, 1e-12);
    run_pool(true, (int64_t[]){1, 2, 6, 6}, mpc_x, mpc_y, mpc_gy, mpc_dx, o, AG_F32, 1e-6);
}
Test(pool, avg_pool_counts_padding_as_torch) {
    ag_pool_opts o = {.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 1}};
    run_pool(false, (int64_t[]){2, 2, 5, 5}, apa_x, apa_y, apa_gy, apa_dx, o, AG_F64, 1e-12);
    run_pool(false, (int64_t[]){2, 2, 5, 5}, apa_x, apa_y, apa_gy, apa_dx, o, AG_F32, 1e-6);
}
Test(pool, avg_pool_drops_the_remainder_as_torch) {
    ag_pool_opts o = {.kernel = {3, 3}, .stride = {2, 2}};
    run_pool(false, (int64_t[]){1, 2, 6, 7}, apb_x, apb_y, apb_gy, apb_dx, o, AG_F64, 1e-12);
}

Test(pool, max_pool_propagates_nan) {
    ag_scope_begin();
    ag_tensor *x = T64(4, SHAPE(1, 1, 2, 2), 1, NAN, 3, 2);
    ag_tensor *y = ag_max_pool2d(x, (ag_pool_opts){.kernel = {2, 2}});
    cr_assert(isnan(ag_item(y)));
    ag_scope_end();
}

/* y = max_pool2d(x), dx of sum(y*y), and d/dx of <dx, v> (max_pool2d with a source) for
 * a float32 x full of ties and NaNs, [5,27,23,37]: odd H and W, a 16-wide tail, several
 * thread chunks. */
static void pool_2x2_results(ag_tensor **out) {
    int64_t xs[4] = {5, 27, 23, 37}, n = 5 * 27 * 23 * 37;
    double *d = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = i % 97 == 3 ? NAN : (double)((i * i + i / 3) % 3) - 1;
    ag_tensor *x = ag_cast(ag_tensor_new(AG_F64, 4, xs, d), AG_F32);
    free(d);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_max_pool2d(x, (ag_pool_opts){.kernel = {2, 2}});
    ag_tensor *l = ag_sum(ag_mul(y, y)), *g;
    cr_assert_eq(ag_autograd_grad(1, &l, NULL, 1, &x, &g, (ag_grad_opts){.create_graph = true}), 0);
    ag_tensor *v = ag_cos(ag_detach(x));
    ag_tensor *l2 = ag_sum(ag_mul(g, v)), *gg;
    cr_assert_eq(ag_autograd_grad(1, &l2, NULL, 1, &x, &gg, (ag_grad_opts){0}), 0, "%s",
                 ag_last_error());
    out[0] = y, out[1] = g, out[2] = gg;
}

/* The AVX-512 2x2 kernels give the generic loops' bits, for 1 and 2 threads. */
Test(pool, max_pool_2x2_fast_path_matches_the_generic_loops) {
    const char *isa = ag__gemm_isa();
    if (strcmp(isa, "avx512")) return; /* no fast path on this CPU */
    ag_scope_begin();
    ag_tensor *res[3][3];
    cr_assert_eq(ag__gemm_set_isa("avx2"), 0);
    ag_set_num_threads(1);
    pool_2x2_results(res[0]);
    ag__gemm_set_isa("avx512");
    pool_2x2_results(res[1]);
    ag_set_num_threads(2);
    pool_2x2_results(res[2]);
    for (int r = 1; r < 3; r++)
        for (int k = 0; k < 3; k++)
            cr_expect(
                !memcmp(ag_data(res[0][k]), ag_data(res[r][k]), 4 * (size_t)ag_numel(res[0][k])),
                "result %d differs from the generic loops (run %d)", k, r);
    ag_scope_end();
}

static void expect_error(ag_tensor *t, const char *a, const char *b) {
    cr_assert_null(t);
    const char *m = ag_last_error();
    cr_assert(m && strstr(m, a) && (!b || strstr(m, b)), "message: %s", m ? m : "(none)");
}

Test(pool, errors_name_the_shapes) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 4, (int64_t[]){2, 3, 4, 4});
    expect_error(ag_max_pool2d(x, (ag_pool_opts){.kernel = {5, 2}}), "ag_max_pool2d",
                 "kernel 5x2 is larger than the padded input 4x4 of x [2,3,4,4]");
    expect_error(ag_avg_pool2d(x, (ag_pool_opts){.kernel = {2, 2}, .padding = {2, 0}}),
                 "ag_avg_pool2d", "padding <= kernel/2");
    expect_error(ag_max_pool2d(x, (ag_pool_opts){.kernel = {0, 2}}), "kernel 0x2 must be >= 1",
                 NULL);
    expect_error(
        ag_avg_pool2d(ag_zeros(AG_F32, 2, (int64_t[]){4, 4}), (ag_pool_opts){.kernel = {2, 2}}),
        "[N,C,H,W]", "[4,4]"); /* [C,H,W] is unbatched */
    expect_error(ag_max_pool2d(ag_zeros(AG_I64, 4, (int64_t[]){1, 1, 2, 2}),
                               (ag_pool_opts){.kernel = {2, 2}}),
                 "float32 or float64", "int64");
    cr_assert_null(ag_max_pool2d(NULL, (ag_pool_opts){.kernel = {2, 2}}));
    ag_scope_end();
}
