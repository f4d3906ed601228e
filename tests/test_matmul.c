/* matmul and linear: torch's numbers for batched/broadcast/1-D cases, a naive loop on
 * shapes crossing the GEMM's block sizes and on strided views, gradchecks, errors. */
#include "helpers.h"
#include "golden/matmul_golden.h"
#include "ops/ops.h"
#include "tensor/alloc.h"

#include <string.h>

static ag_tensor *formula(int ndim, const int64_t *shape, int seed, double scale) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = scale * ((double)((i * 7 + seed) % 11) * 0.1 - 0.5);
    ag_tensor *t = ag_tensor_new(AG_F64, ndim, shape, v);
    free(v);
    return t;
}

Test(matmul, matches_torch_on_batched_broadcast_and_vector_cases) {
    for (size_t c = 0; c < sizeof mm_goldens / sizeof *mm_goldens; c++) {
        const struct mm_golden *g = &mm_goldens[c];
        ag_scope_begin();
        ag_tensor *a = formula(g->na, g->sa, 1, 1), *b = formula(g->nb, g->sb, 4, 1);
        ag_set_requires_grad(a, true);
        ag_set_requires_grad(b, true);
        ag_tensor *out = ag_matmul(a, b);
        cr_assert(out, "%s: %s", g->name, ag_last_error());
        cr_assert_eq(ag_ndim(out), g->no, "%s: ndim %d", g->name, ag_ndim(out));
        for (int d = 0; d < g->no; d++) cr_assert_eq(ag_shape(out)[d], g->so[d], "%s", g->name);
        int64_t n = ag_numel(out);
        assert_tensor_close(out, g->out, n, 1e-12, 1e-12);
        double *w = malloc(sizeof(double) * (size_t)n);
        for (int64_t i = 0; i < n; i++) w[i] = 0.05 * (double)((i * 3) % 7) - 0.1;
        ag_tensor *wt = ag_tensor_new(AG_F64, g->no, g->so, w);
        free(w);
        cr_assert_eq(ag_backward(ag_sum(ag_mul(out, wt))), 0, "%s: %s", g->name, ag_last_error());
        assert_tensor_close(ag_grad(a), g->ga, ag_numel(a), 1e-12, 1e-12);
        assert_tensor_close(ag_grad(b), g->gb, ag_numel(b), 1e-12, 1e-12);
        ag_scope_end();
    }
}

/* C = A·B by the triple loop over any strides, in double. */
static void naive(const ag_tensor *a, const ag_tensor *b, double *c, int64_t M, int64_t N,
                  int64_t K) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += ag_get(a, (int64_t[]){i, k}) * ag_get(b, (int64_t[]){k, j});
            c[i * N + j] = s;
        }
}

static void check_against_naive(ag_dtype dt, int64_t M, int64_t N, int64_t K, bool ta, bool tb) {
    ag_scope_begin();
    ag_tensor *a = ta ? ag_transpose(ag_randn(dt, 2, (int64_t[]){K, M}), 0, 1)
                      : ag_randn(dt, 2, (int64_t[]){M, K});
    ag_tensor *b = tb ? ag_transpose(ag_randn(dt, 2, (int64_t[]){N, K}), 0, 1)
                      : ag_randn(dt, 2, (int64_t[]){K, N});
    ag_tensor *c = ag_matmul(a, b);
    cr_assert(c, "%s", ag_last_error());
    double *ref = malloc(sizeof(double) * (size_t)(M * N));
    naive(a, b, ref, M, N, K);
    double tol = dt == AG_F32 ? 1e-4 * sqrt((double)K) : 1e-12 * (double)K;
    for (int64_t i = 0; i < M * N; i++) {
        double v = ag_get(c, (int64_t[]){i / N, i % N});
        cr_assert(fabs(v - ref[i]) <= tol * (1 + fabs(ref[i])),
                  "%s [%lld,%lld,%lld] ta=%d tb=%d element %lld: %.9g vs %.9g", ag_dtype_name(dt),
                  (long long)M, (long long)N, (long long)K, ta, tb, (long long)i, v, ref[i]);
    }
    free(ref);
    ag_scope_end();
}

Test(matmul, matches_a_naive_loop_across_block_edges_and_strides) {
    ag_manual_seed(3);
    int64_t sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {65, 33, 17}, {70, 530, 300}, {3, 2, 0}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int t = 0; t < 4; t++) {
            check_against_naive(AG_F64, sizes[s][0], sizes[s][1], sizes[s][2], t & 1, t >> 1);
            check_against_naive(AG_F32, sizes[s][0], sizes[s][1], sizes[s][2], t & 1, t >> 1);
        }
}

Test(matmul, batched_fold_and_strided_batches_agree) {
    ag_scope_begin();
    ag_manual_seed(5);
    ag_tensor *a = ag_randn(AG_F64, 3, (int64_t[]){4, 5, 6});
    ag_tensor *b = ag_randn(AG_F64, 2, (int64_t[]){6, 7});
    ag_tensor *folded = ag_matmul(a, b); /* one GEMM */
    ag_tensor *ap = ag_permute(ag_contiguous(ag_permute(a, (int[]){1, 0, 2})), (int[]){1, 0, 2});
    cr_assert(!ag_is_contiguous(ap));
    ag_tensor *looped = ag_matmul(ap, ag_expand(b, 3, (int64_t[]){4, 6, 7})); /* per batch */
    for (int64_t i = 0; i < 4; i++) {
        ag_tensor *one = ag_matmul(ag_slice(a, 0, i, i + 1, 1), b);
        for (int64_t j = 0; j < 35; j++) {
            int64_t ix[3] = {i, j / 7, j % 7};
            double want = ag_get(one, (int64_t[]){0, j / 7, j % 7});
            assert_close(ag_get(folded, ix), want, 1e-12, 1e-12);
            assert_close(ag_get(looped, ix), want, 1e-12, 1e-12);
        }
    }
    ag_scope_end();
}

static ag_tensor *mm_fn(ag_tensor **in, void *ctx) {
    (void)ctx;
    return ag_matmul(in[0], in[1]);
}

Test(matmul, gradcheck_vector_and_broadcast_shapes) {
    int64_t shapes[][2][4] = {
        {{3}, {3, 4}},    {{2, 3}, {3}},    {{3}, {3}},
        {{3}, {2, 3, 2}}, {{2, 2, 3}, {3}}, {{2, 1, 2, 3}, {3, 3, 2}},
    };
    int nd[][2] = {{1, 2}, {2, 1}, {1, 1}, {1, 3}, {3, 1}, {4, 3}};
    for (size_t c = 0; c < sizeof nd / sizeof *nd; c++) {
        ag_scope_begin();
        ag_manual_seed(c);
        ag_tensor *in[2] = {ag__check_input(AG_F64, nd[c][0], shapes[c][0], -2, 2),
                            ag__check_input(AG_F64, nd[c][1], shapes[c][1], -2, 2)};
        ag_gradcheck_result r = ag_gradcheck(mm_fn, NULL, 2, in, (ag_gradcheck_opts){0});
        cr_expect(r.ok, "case %zu: input %d element %lld err %g", c, r.input, (long long)r.index,
                  r.max_abs_err);
        ag_scope_end();
    }
}

Test(matmul, errors_name_both_shapes) {
    ag_scope_begin();
    ag_tensor *a = ag_zeros(AG_F64, 2, (int64_t[]){2, 3}),
              *b = ag_zeros(AG_F64, 2, (int64_t[]){4, 5});
    cr_assert_null(ag_matmul(a, b));
    cr_assert_str_eq(ag_last_error(), "ag_matmul: shapes [2,3] and [4,5] do not fit (3 != 4)");
    cr_assert_null(ag_matmul(ag_zeros(AG_F64, 3, (int64_t[]){2, 2, 3}),
                             ag_zeros(AG_F64, 3, (int64_t[]){3, 3, 1})));
    cr_assert(strstr(ag_last_error(), "batch dims [2] and [3] do not broadcast"), "%s",
              ag_last_error());
    cr_assert_null(ag_matmul(ag_scalar(AG_F64, 1), a));
    cr_assert(strstr(ag_last_error(), "at least 1 dim"), "%s", ag_last_error());
    cr_assert_null(
        ag_matmul(ag_zeros(AG_F32, 2, (int64_t[]){3, 3}), ag_zeros(AG_F64, 2, (int64_t[]){3, 3})));
    cr_assert(strstr(ag_last_error(), "float32 [3,3] and float64 [3,3]"), "%s", ag_last_error());
    cr_assert_null(
        ag_matmul(ag_zeros(AG_I64, 1, (int64_t[]){3}), ag_zeros(AG_I64, 1, (int64_t[]){3})));
    cr_assert_null(ag_matmul(NULL, a));
    ag_scope_end();
}

Test(matmul, empty_inner_dim_gives_zeros) {
    ag_scope_begin();
    ag_tensor *c =
        ag_matmul(ag_zeros(AG_F64, 2, (int64_t[]){2, 0}), ag_zeros(AG_F64, 2, (int64_t[]){0, 3}));
    assert_tensor_close(c, (double[]){0, 0, 0, 0, 0, 0}, 6, 0, 0);
    ag_scope_end();
}

/* ------------------------------------------------------------------ linear */
Test(linear, equals_matmul_with_transposed_weight_plus_bias) {
    ag_scope_begin();
    ag_manual_seed(9);
    ag_tensor *x = ag_randn(AG_F64, 3, (int64_t[]){2, 3, 4});
    ag_tensor *w = ag_randn(AG_F64, 2, (int64_t[]){5, 4}), *b = ag_randn(AG_F64, 1, (int64_t[]){5});
    ag_tensor *y = ag_linear(x, w, b), *ref = ag_add(ag_matmul(x, ag_transpose(w, 0, 1)), b);
    cr_assert(y && ref, "%s", ag_last_error());
    cr_assert_eq(ag_ndim(y), 3);
    cr_assert_eq(ag_shape(y)[2], 5);
    for (int64_t i = 0; i < 30; i++)
        assert_close(ag_get(y, (int64_t[]){i / 15, i / 5 % 3, i % 5}),
                     ag_get(ref, (int64_t[]){i / 15, i / 5 % 3, i % 5}), 1e-12, 1e-12);
    ag_tensor *v = ag_linear(ag_slice(ag_flatten(x, 0, 1), 0, 0, 1, 1), w, NULL); /* [1,4] */
    ag_tensor *x1 = ag_reshape(ag_slice(ag_flatten(x, 0, 1), 0, 0, 1, 1), 1, (int64_t[]){4});
    ag_tensor *v1 = ag_linear(x1, w, NULL); /* 1-D */
    cr_assert_eq(ag_ndim(v1), 1);
    for (int64_t j = 0; j < 5; j++)
        assert_close(ag_get(v1, &j), ag_get(v, (int64_t[]){0, j}), 1e-15, 0);
    ag_scope_end();
}

static ag_tensor *linear_fn(ag_tensor **in, void *ctx) {
    return ag_linear(in[0], in[1], ctx ? in[2] : NULL);
}

Test(linear, gradcheck_with_and_without_bias_and_1d_input) {
    ag_scope_begin();
    ag_manual_seed(11);
    ag_tensor *in[3] = {ag__check_input(AG_F64, 3, (int64_t[]){2, 2, 3}, -2, 2),
                        ag__check_input(AG_F64, 2, (int64_t[]){4, 3}, -2, 2),
                        ag__check_input(AG_F64, 1, (int64_t[]){4}, -2, 2)};
    cr_assert(ag_gradcheck(linear_fn, (void *)1, 3, in, (ag_gradcheck_opts){0}).ok);
    cr_assert(ag_gradcheck(linear_fn, NULL, 2, in, (ag_gradcheck_opts){0}).ok);
    in[0] = ag__check_input(AG_F64, 1, (int64_t[]){3}, -2, 2);
    cr_assert(ag_gradcheck(linear_fn, (void *)1, 3, in, (ag_gradcheck_opts){0}).ok);
    ag_scope_end();
}

Test(linear, errors) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F64, 2, (int64_t[]){2, 3});
    cr_assert_null(ag_linear(x, ag_zeros(AG_F64, 2, (int64_t[]){4, 5}), NULL));
    cr_assert_str_eq(ag_last_error(),
                     "ag_linear: input [2,3] does not fit weight [4,5] (last dim must be 5)");
    cr_assert_null(ag_linear(x, ag_zeros(AG_F64, 1, (int64_t[]){3}), NULL));
    cr_assert(strstr(ag_last_error(), "weight [3] must be [out,in]"), "%s", ag_last_error());
    cr_assert_null(
        ag_linear(x, ag_zeros(AG_F64, 2, (int64_t[]){4, 3}), ag_zeros(AG_F64, 1, (int64_t[]){3})));
    cr_assert(strstr(ag_last_error(), "bias float64 [3] must be [4]"), "%s", ag_last_error());
    cr_assert_null(ag_linear(NULL, x, NULL));
    ag_scope_end();
}

Test(matmul, speed_is_reported) {
    ag_scope_begin();
    int64_t n = 512;
    ag_tensor *a = ag_randn(AG_F32, 2, (int64_t[]){n, n}),
              *b = ag_randn(AG_F32, 2, (int64_t[]){n, n});
    ag_matmul(a, b);
    double t0 = ag_now();
    int reps = 5;
    for (int r = 0; r < reps; r++) cr_assert(ag_matmul(a, b));
    double dt = (ag_now() - t0) / reps;
    cr_log_info("matmul f32 %lldx%lldx%lld: %.2f ms, %.1f GFLOP/s", (long long)n, (long long)n,
                (long long)n, dt * 1e3, 2.0 * (double)(n * n * n) / dt * 1e-9);
    ag_scope_end();
}

Test(matmul, results_are_bitwise_the_same_for_any_thread_count) {
    ag_scope_begin();
    ag_manual_seed(13);
    ag_tensor *a = ag_randn(AG_F32, 3, (int64_t[]){3, 150, 200});
    ag_tensor *b = ag_randn(AG_F32, 2, (int64_t[]){200, 90});
    ag_tensor *sb = ag_randn(AG_F32, 3, (int64_t[]){3, 200, 90});
    int prev = ag_get_num_threads();
    ag_set_num_threads(1);
    ag_tensor *one = ag_matmul(a, b), *one_b = ag_matmul(a, sb);
    ag_set_num_threads(2);
    ag_tensor *two = ag_matmul(a, b), *two_b = ag_matmul(a, sb);
    ag_set_num_threads(prev);
    cr_assert(!memcmp(ag_data(one), ag_data(two), sizeof(float) * (size_t)ag_numel(one)));
    cr_assert(!memcmp(ag_data(one_b), ag_data(two_b), sizeof(float) * (size_t)ag_numel(one_b)));
    ag_scope_end();
}

/* Seconds of one backward of sum(linear(x, w, b)) (a stride-0 gradient) or of linear with
 * a dense seed of ones (the same values): the least of reps interleaved runs. */
static void linear_backward_seconds(ag_tensor *x, ag_tensor *w, ag_tensor *b, int reps,
                                    double *stride0, double *dense) {
    *stride0 = *dense = 1e9;
    for (int r = 0; r < 2 * reps; r++) {
        ag_scope_begin();
        ag_tensor *y = ag_linear(x, w, b);
        ag_tensor *seed = r % 2 ? ag_ones_like(y) : NULL, *root = r % 2 ? y : ag_sum(y);
        double t0 = ag_now();
        cr_assert_eq(ag_backward_ex(root, (ag_backward_opts){.grad = seed}), 0);
        double dt = ag_now() - t0, *best = r % 2 ? dense : stride0;
        *best = dt < *best ? dt : *best;
        ag_scope_end();
    }
}

Test(linear, backward_from_a_stride0_gradient_is_as_fast_as_from_a_dense_one) {
    ag_manual_seed(21);
    ag_tensor *x = ag_randn(AG_F32, 2, (int64_t[]){1024, 64}),
              *w = ag_randn(AG_F32, 2, (int64_t[]){256, 64}),
              *b = ag_randn(AG_F32, 1, (int64_t[]){256});
    ag_tensor *p[3] = {x, w, b}, *g[2][3];
    for (int i = 0; i < 3; i++) ag_set_requires_grad(p[i], true);
    double stride0, dense;
    int prev = ag_get_num_threads();
    ag_set_num_threads(1);
    linear_backward_seconds(x, w, b, 15, &stride0, &dense);
    ag_set_num_threads(prev);
    ag_scope_begin();
    for (int k = 0; k < 2; k++) { /* the same gradients either way */
        for (int i = 0; i < 3; i++) ag_zero_grad(p[i]);
        ag_tensor *y = ag_linear(x, w, b);
        cr_assert_eq(ag_backward_ex(k ? y : ag_sum(y),
                                    (ag_backward_opts){.grad = k ? ag_ones_like(y) : NULL}),
                     0);
        for (int i = 0; i < 3; i++) g[k][i] = ag_clone(ag_grad(p[i]));
    }
    for (int i = 0; i < 3; i++)
        cr_expect(
            !memcmp(ag_data(g[0][i]), ag_data(g[1][i]), sizeof(float) * (size_t)ag_numel(g[0][i])),
            "gradient %d differs", i);
    cr_log_info("linear backward [1024,64]x[256,64]: stride-0 gradient %.3f ms, dense %.3f ms",
                stride0 * 1e3, dense * 1e3);
    /* it was 2x (the GEMMs read the broadcast gradient element by element).  Timed in the
     * optimised build only: the sanitizer build instruments the one copy far more than the
     * vector GEMM kernels (11.8 against 5.7 ms on a Zen 5, where the release build gives
     * 0.53 against 0.43 ms). */
    if (!getenv("AG_SANITIZED"))
        cr_expect_lt(stride0, 1.5 * dense, "stride-0 %.3f ms against dense %.3f ms", stride0 * 1e3,
                     dense * 1e3);
    ag_scope_end();
    for (int i = 0; i < 3; i++) ag_tensor_free(p[i]);
}

/* x·Wᵀ with few rows of x runs as (W·xᵀ)ᵀ (ops/matmul.c, swap_operands): the same sums as
 * with Wᵀ made contiguous first, and a naive loop's values. */
Test(matmul, few_rows_times_a_transposed_weight_match_the_contiguous_product) {
    ag_scope_begin();
    ag_manual_seed(22);
    ag_dtype dts[2] = {AG_F32, AG_F64};
    int64_t rows[3] = {1, 16, 64}, K = 300, N = 129;
    for (int d = 0; d < 2; d++)
        for (int r = 0; r < 3; r++) {
            ag_tensor *x = ag_randn(dts[d], 2, (int64_t[]){rows[r], K});
            ag_tensor *w = ag_randn(dts[d], 2, (int64_t[]){N, K});
            ag_tensor *wt = ag_transpose(w, 0, 1), *y = ag_matmul(x, wt);
            ag_tensor *want = ag_matmul(x, ag_contiguous(wt)), *lin = ag_linear(x, w, NULL);
            size_t bytes = ag_dtype_size(dts[d]) * (size_t)ag_numel(y);
            cr_expect(!memcmp(ag_data(y), ag_data(want), bytes), "%s rows %lld: matmul differs",
                      ag_dtype_name(dts[d]), (long long)rows[r]);
            cr_expect(!memcmp(ag_data(lin), ag_data(want), bytes), "%s rows %lld: linear differs",
                      ag_dtype_name(dts[d]), (long long)rows[r]);
            ag_tensor *xd = ag_cast(x, AG_F64), *wd = ag_cast(w, AG_F64), *yd = ag_cast(y, AG_F64);
            for (int64_t i = 0; i < rows[r]; i += 7)
                for (int64_t j = 0; j < N; j += 5) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++)
                        s += ag_get(xd, (int64_t[]){i, k}) * ag_get(wd, (int64_t[]){j, k});
                    assert_close(ag_get(yd, (int64_t[]){i, j}), s, 1e-3, 1e-4);
                }
        }
    ag_scope_end();
}

/* h = tanh(linear(h, w)) `steps` times from x; the sum of the last h. */
static ag_tensor *recurrent(ag_tensor *x, ag_tensor *w, int steps) {
    ag_tensor *h = x;
    for (int t = 0; t < steps; t++) h = ag_tanh(ag_linear(h, w, NULL));
    return ag_sum(h);
}

/* A weight used at every step (an RNN's) gets its gradient summed by GEMMs straight into
 * its .grad (ag__grad_sink): the values of the composite (create_graph) path, and no
 * product tensor per use (bytes counted through tensor/alloc.c's hook). */
Test(linear, a_weight_used_at_every_step_sums_its_gradient_in_place) {
    /* first, while no scope has ended: the walk's scope then takes fresh heap chunks */
    ag_scope_begin();
    const int64_t n = 512, S = n * n * 4; /* a 1 MiB float32 weight */
    ag_tensor *big = ag_randn(AG_F32, 2, (int64_t[]){n, n}),
              *h0 = ag_randn(AG_F32, 2, (int64_t[]){4, n});
    ag_set_requires_grad(big, true);
    ag_tensor *loss = recurrent(h0, big, 8);
    ag__alloc_fail_nth(INT64_MAX); /* count, never fail */
    int rc = ag_backward(loss);
    int64_t bytes = ag__alloc_bytes();
    ag__alloc_fail_nth(0);
    cr_assert_eq(rc, 0, "%s", ag_last_error());
    /* .grad (S) and the walk's small tensors; a product per use would add 8 S */
    cr_expect_lt(bytes, 3 * S, "backward allocated %lld bytes, %.2f x the weight", (long long)bytes,
                 (double)bytes / (double)S);
    ag_scope_end();
    ag_scope_begin();
    ag_manual_seed(23);
    ag_tensor *x = ag_randn(AG_F64, 2, (int64_t[]){4, 6}),
              *w = ag_randn(AG_F64, 2, (int64_t[]){6, 6});
    ag_set_requires_grad(w, true);
    ag_set_requires_grad(x, true);
    ag_tensor *y = recurrent(x, ag_mul_scalar(w, 0.3), 5), *want[2], *got[2];
    cr_assert_eq(ag_autograd_grad(1, &y, NULL, 2, (ag_tensor *[]){w, x}, want,
                                  (ag_grad_opts){.create_graph = true}),
                 0, "%s", ag_last_error());
    cr_assert_eq(ag_autograd_grad(1, &y, NULL, 2, (ag_tensor *[]){w, x}, got,
                                  (ag_grad_opts){.retain_graph = true}),
                 0, "%s", ag_last_error());
    assert_tensor_close(got[0], ag_data(ag_contiguous(want[0])), 36, 1e-13, 1e-13);
    cr_assert_eq(ag_backward(y), 0, "%s", ag_last_error());
    assert_tensor_close(ag_grad(w), ag_data(ag_contiguous(want[0])), 36, 1e-13, 1e-13);
    assert_tensor_close(ag_grad(x), ag_data(ag_contiguous(want[1])), 24, 1e-13, 1e-13);
    ag_scope_end();
}
