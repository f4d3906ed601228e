/* batch_norm in eval mode: the one-pass fused backward (batch_norm_eval_backward) against
 * its twins (the two-pass ops it replaces, bit for bit, and the rule written with ops),
 * at sizes that take the vector loops, their tails and the threaded path; the same bits
 * for 1 and 2 threads; a float64 gradcheck through the vector loops; the eval forward's
 * accuracy far from zero; and the new op's errors. */
#include <string.h>

#include "helpers.h"
#include "ops/ops.h"

/* x [N, C, H, W] with S = H * W: 8x5x31x17 (S 527: 131 blocks of 4 and a tail of 3, one
 * thread), 20x3x33x35 (S 1155, 69,300 elements: past the 65,536-element threading
 * threshold, with a tail), 16x3x40x37 (no tail, threaded), 6x4x1x1 (only tails). */
static const int64_t bn_shapes[4][4] = {
    {8, 5, 31, 17}, {20, 3, 33, 35}, {16, 3, 40, 37}, {6, 4, 1, 1}};

struct bn_case {
    ag_tensor *x, *w, *b, *rm, *rv, *gy;
};

static struct bn_case make_case(ag_dtype dt, const int64_t *shape, bool affine) {
    int64_t C = shape[1];
    struct bn_case k;
    ag_manual_seed(21);
    k.x = ag_add_scalar(ag_randn(dt, 4, shape), 2.0);
    k.w = affine ? ag_rand(dt, 1, &C) : NULL;
    k.b = affine ? ag_randn(dt, 1, &C) : NULL;
    k.rm = ag_randn(dt, 1, &C);
    k.rv = ag_add_scalar(ag_rand(dt, 1, &C), 0.5);
    k.gy = ag_randn(dt, 4, shape);
    ag_set_requires_grad(k.x, true);
    if (affine) ag_set_requires_grad(k.w, true), ag_set_requires_grad(k.b, true);
    return k;
}

/* y and the gradients of x (and w, b) in eval mode; create: the rule written with ops. */
static ag_tensor *eval_grads(const struct bn_case *k, bool create, ag_tensor **out) {
    ag_tensor *y = ag_batch_norm(k->x, k->rm, k->rv, k->w, k->b, false, 0.1, 1e-5);
    cr_assert(y, "%s", ag_last_error());
    ag_tensor *wrt[3] = {k->x, k->w, k->b};
    cr_assert_eq(ag_autograd_grad(1, &y, (ag_tensor *[]){k->gy}, k->w ? 3 : 1, wrt, out,
                                  (ag_grad_opts){.create_graph = create}),
                 0, "%s", ag_last_error());
    return y;
}

static void expect_close(ag_tensor *a, ag_tensor *b, double tol, const char *what) {
    ag_tensor *d = ag_contiguous(ag_cast(a, AG_F64)), *e = ag_contiguous(ag_cast(b, AG_F64));
    const double *p = ag_data(d), *q = ag_data(e);
    cr_assert_eq(ag_numel(d), ag_numel(e));
    for (int64_t i = 0; i < ag_numel(d); i++)
        cr_assert(fabs(p[i] - q[i]) <= tol * (1 + fabs(q[i])), "%s element %lld: %.17g vs %.17g",
                  what, (long long)i, p[i], q[i]);
}

static void expect_same_bits(ag_tensor *a, ag_tensor *b, const char *what) {
    ag_tensor *d = ag_contiguous(a), *e = ag_contiguous(b);
    cr_assert(ag_numel(d) == ag_numel(e) && ag_dtype_of(d) == ag_dtype_of(e), "%s", what);
    size_t bytes = (size_t)ag_numel(d) * (ag_dtype_of(d) == AG_F32 ? 4 : 8);
    cr_assert(!memcmp(ag_data(d), ag_data(e), bytes), "%s: the bits differ", what);
}

/* The fused one-pass backward against the rule written with ops (create_graph). */
Test(batch_norm, eval_fused_backward_matches_the_rule_written_with_ops) {
    for (int dt = 0; dt < 2; dt++)
        for (int s = 0; s < 4; s++)
            for (int affine = 0; affine < 2; affine++) {
                ag_scope_begin();
                ag_dtype d = dt ? AG_F32 : AG_F64;
                struct bn_case k = make_case(d, bn_shapes[s], affine);
                ag_tensor *fused[3] = {0}, *ops[3] = {0};
                ag_tensor *y = eval_grads(&k, false, fused);
                eval_grads(&k, true, ops);
                for (int i = 0; i < (affine ? 3 : 1); i++)
                    expect_close(fused[i], ops[i], dt ? 2e-5 : 1e-12, i ? "dw/db" : "dx");
                /* the forward against (x - mean) / sqrt(var + eps) * w + b with ops */
                int64_t cs[4] = {1, bn_shapes[s][1], 1, 1};
                ag_tensor *ref = ag_div(ag_sub(k.x, ag_reshape(k.rm, 4, cs)),
                                        ag_sqrt(ag_add_scalar(ag_reshape(k.rv, 4, cs), 1e-5)));
                if (affine)
                    ref = ag_add(ag_mul(ref, ag_reshape(k.w, 4, cs)), ag_reshape(k.b, 4, cs));
                expect_close(y, ref, dt ? 1e-6 : 1e-13, "y");
                ag_scope_end();
            }
}

/* batch_norm_eval_backward's dx, dw, db are bit for bit those of the two passes it
 * replaced: batch_norm_input_grad (eval) and batch_norm_grad_sums (scalar loops) times
 * invstd. Its vector loops keep their lanes and order. */
Test(batch_norm, eval_backward_op_equals_the_two_pass_ops_bit_for_bit) {
    for (int dt = 0; dt < 2; dt++)
        for (int s = 0; s < 4; s++) {
            ag_scope_begin();
            ag_dtype d = dt ? AG_F32 : AG_F64;
            const int64_t *xs = bn_shapes[s];
            int64_t C = xs[1], n = xs[0] * xs[1] * xs[2] * xs[3];
            ag_manual_seed(4);
            ag_tensor *g = ag_randn(d, 4, xs), *x = ag_add_scalar(ag_randn(d, 4, xs), 1.5);
            ag_tensor *mean = ag_randn(AG_F64, 1, &C),
                      *invstd = ag_add_scalar(ag_rand(AG_F64, 1, &C), 0.5), *w = ag_rand(d, 1, &C);
            ag_tensor *all =
                ag__apply(AG_OP_BATCH_NORM_EVAL_BACKWARD, 5, (ag_tensor *[]){g, x, mean, invstd, w},
                          &(bool[2]){false, true}, 2 * sizeof(bool));
            cr_assert(all, "%s", ag_last_error());
            ag_tensor *sums =
                ag__apply(AG_OP_BATCH_NORM_GRAD_SUMS, 3, (ag_tensor *[]){g, x, mean}, NULL, 0);
            ag_tensor *dx = ag__apply(AG_OP_BATCH_NORM_INPUT_GRAD, 6,
                                      (ag_tensor *[]){g, x, mean, invstd, sums, w},
                                      &(bool[2]){false, true}, 2 * sizeof(bool));
            cr_assert(sums && dx, "%s", ag_last_error());
            ag_tensor *dw =
                ag_cast(ag_mul(ag_reshape(ag_slice(sums, 0, 1, 2, 1), 1, &C), invstd), d);
            ag_tensor *db = ag_cast(ag_reshape(ag_slice(sums, 0, 0, 1, 1), 1, &C), d);
            expect_same_bits(ag_reshape(ag_slice(all, 0, 0, n, 1), 4, xs), dx, "dx");
            expect_same_bits(ag_slice(all, 0, n, n + C, 1), dw, "dw");
            expect_same_bits(ag_slice(all, 0, n + C, n + 2 * C, 1), db, "db");
            ag_scope_end();
        }
}

Test(batch_norm, eval_same_bits_for_one_and_two_threads) {
    int threads = ag_get_num_threads();
    for (int dt = 0; dt < 2; dt++) {
        ag_scope_begin();
        struct bn_case k = make_case(dt ? AG_F32 : AG_F64, bn_shapes[1], true);
        ag_tensor *y[2], *gr[2][3];
        for (int t = 0; t < 2; t++) {
            ag_set_num_threads(t + 1);
            y[t] = eval_grads(&k, false, gr[t]);
        }
        ag_set_num_threads(threads);
        expect_same_bits(y[0], y[1], "y");
        for (int i = 0; i < 3; i++) expect_same_bits(gr[0][i], gr[1][i], "gradient");
        ag_scope_end();
    }
}

static ag_tensor *bn_eval_of(ag_tensor **in, void *ctx) {
    ag_tensor **run = ctx;
    return ag_batch_norm(in[0], run[0], run[1], in[1], in[2], false, 0.1, 1e-5);
}

/* float64 gradcheck of x, w and b through the fused eval path: S = 15 (three blocks of 4
 * and a tail), weight and bias needing gradients too. */
Test(batch_norm, eval_gradcheck_through_the_vector_loops) {
    ag_scope_begin();
    int64_t xs[4] = {2, 3, 3, 5}, C = 3;
    ag_manual_seed(8);
    ag_tensor *x = ag_randn(AG_F64, 4, xs), *w = ag_add_scalar(ag_rand(AG_F64, 1, &C), 0.5),
              *b = ag_randn(AG_F64, 1, &C), *rm = ag_randn(AG_F64, 1, &C),
              *rv = ag_add_scalar(ag_rand(AG_F64, 1, &C), 0.5);
    ag_set_requires_grad(x, true), ag_set_requires_grad(w, true), ag_set_requires_grad(b, true);
    ag_tensor *run[2] = {rm, rv}, *in[3] = {x, w, b};
    ag_gradcheck_result r = ag_gradcheck(bn_eval_of, run, 3, in, (ag_gradcheck_opts){0});
    cr_assert(r.ok, "max error %g", r.max_abs_err);
    ag_scope_end();
}

/* The eval forward stays accurate in float32 on values far from zero (running mean
 * 1000, std 0.01): x - mean is exact there, no large opposite terms cancel. */
Test(batch_norm, eval_float32_forward_is_accurate_far_from_zero) {
    ag_scope_begin();
    int64_t xs[3] = {64, 2, 50}, C = 2;
    ag_manual_seed(1);
    ag_tensor *x = ag_add_scalar(ag_mul_scalar(ag_randn(AG_F32, 3, xs), 0.01), 1000);
    ag_tensor *rm = ag_full(AG_F32, 1, &C, 1000), *rv = ag_full(AG_F32, 1, &C, 1e-4);
    ag_tensor *y = ag_batch_norm(x, rm, rv, NULL, NULL, false, 0.1, 0);
    const float *px = ag_data(x), *py = ag_data(y);
    for (int64_t i = 0; i < ag_numel(x); i++)
        assert_close(py[i], ((double)px[i] - 1000.0) / 0.01, 1e-5, 1e-5);
    ag_scope_end();
}

Test(batch_norm, eval_backward_op_errors_name_the_function_and_shapes) {
    ag_scope_begin();
    int64_t xs[4] = {2, 3, 2, 2}, C = 3, C4 = 4;
    ag_tensor *g = ag_zeros(AG_F32, 4, xs), *x = ag_zeros(AG_F32, 4, xs);
    ag_tensor *mean = ag_zeros(AG_F64, 1, &C), *bad = ag_zeros(AG_F64, 1, &C4);
    bool args[2] = {false, false};
    cr_assert_null(ag__apply(AG_OP_BATCH_NORM_EVAL_BACKWARD, 4, (ag_tensor *[]){g, x, mean, bad},
                             args, sizeof args));
    const char *m = ag_last_error();
    cr_assert(m && strstr(m, "ag_batch_norm_eval_backward") && strstr(m, "invstd") &&
                  strstr(m, "[4]"),
              "%s", m ? m : "(none)");
    cr_assert_null(ag__apply(AG_OP_BATCH_NORM_EVAL_BACKWARD, 3, (ag_tensor *[]){g, x, mean}, args,
                             sizeof args));
    cr_assert(strstr(ag_last_error(), "expects 4 inputs"), "%s", ag_last_error());
    /* never recorded by batch_norm; differentiating it directly is a clear error */
    ag_set_requires_grad(g, true);
    ag_tensor *s = ag_sum(ag__apply(AG_OP_BATCH_NORM_EVAL_BACKWARD, 4,
                                    (ag_tensor *[]){g, x, mean, mean}, args, sizeof args));
    cr_assert(s, "%s", ag_last_error());
    cr_assert_neq(ag_backward(s), 0);
    cr_assert(strstr(ag_last_error(), "batch_norm_eval_backward is not differentiable"), "%s",
              ag_last_error());
    ag_scope_end();
}

/* ---- the row kernels (ops/batch_norm_rows.h) against scalar twins, float32: the same
 * formulas one value at a time, lanes k mod 4 and tails in lane 0, two rows into the same
 * lanes, at lengths around the 4-wide blocks. Bit for bit. */
#include "ops/batch_norm_rows.h"

struct twin_lanes {
    double a[LANES], b[LANES];
};

static void twin_sums(const struct twin_lanes *t, double *sa, double *sb) {
    *sa = *sb = 0;
    for (int l = 0; l < LANES; l++) *sa += t->a[l], *sb += t->b[l];
}

static void expect_lanes(const struct bn_lanes *L, const struct twin_lanes *t, int64_t S,
                         const char *what) {
    double a, b, ta, tb;
    bn_lanes_sums(L, &a, &b);
    twin_sums(t, &ta, &tb);
    cr_assert(!memcmp(&a, &ta, sizeof a) && !memcmp(&b, &tb, sizeof b),
              "%s S %lld: %.17g %.17g vs twin %.17g %.17g", what, (long long)S, a, b, ta, tb);
}

Test(batch_norm, row_kernels_match_scalar_twins_bit_for_bit) {
    const int64_t lengths[] = {0, 1, 3, 4, 5, 8, 13, 527};
    enum { MAXS = 527 };
    static float g[2][MAXS], x[2][MAXS], y[MAXS], ty[MAXS];
    ag_manual_seed(2);
    ag_scope_begin();
    ag_tensor *rg = ag_randn(AG_F32, 1, (int64_t[]){2 * MAXS}),
              *rx = ag_add_scalar(ag_randn(AG_F32, 1, (int64_t[]){2 * MAXS}), 3);
    memcpy(g, ag_data(rg), sizeof g), memcpy(x, ag_data(rx), sizeof x);
    ag_scope_end();
    double K = 2.75, mean = 3.125, p = 0.75, q = -0.3, r = 0.01;
    for (size_t n = 0; n < sizeof lengths / sizeof *lengths; n++) {
        int64_t S = lengths[n];
        struct bn_lanes Ls = {0}, Lg = {0}, Le = {0};
        struct twin_lanes ts = {0}, tg = {0}, te = {0};
        for (int row = 0; row < 2; row++) {
            bn_row_stats_f32(x[row], S, K, &Ls);
            bn_row_grad_sums_f32(g[row], x[row], S, mean, &Lg);
            bn_row_eval_grad_f32(y, g[row], x[row], S, mean, (float)p, &Le);
            for (int64_t k = 0; k < S; k++) {
                int l = k < S / LANES * LANES ? (int)(k % LANES) : 0;
                double v = (double)x[row][k] - K, gv = g[row][k];
                ts.a[l] += v, ts.b[l] += v * v;
                tg.a[l] += gv, tg.b[l] += gv * ((double)x[row][k] - mean);
                te.a[l] += gv, te.b[l] += gv * ((double)x[row][k] - mean);
                ty[k] = (float)p * g[row][k];
            }
            cr_assert(!memcmp(y, ty, sizeof(float) * (size_t)S), "eval dx S %lld", (long long)S);
        }
        expect_lanes(&Ls, &ts, S, "stats");
        expect_lanes(&Lg, &tg, S, "grad sums");
        expect_lanes(&Le, &te, S, "eval grad sums");
        bn_row_affine_f32(y, x[0], S, p, r);
        for (int64_t k = 0; k < S; k++) ty[k] = (float)((double)x[0][k] * p + r);
        cr_assert(!memcmp(y, ty, sizeof(float) * (size_t)S), "affine S %lld", (long long)S);
        bn_row_input_grad_f32(y, g[0], x[0], S, mean, p, q, r);
        for (int64_t k = 0; k < S; k++)
            ty[k] = (float)(p * (double)g[0][k] + q * ((double)x[0][k] - mean) + r);
        cr_assert(!memcmp(y, ty, sizeof(float) * (size_t)S), "input grad S %lld", (long long)S);
        bn_row_eval_f32(y, x[0], S, (float)mean, (float)p, (float)r);
        for (int64_t k = 0; k < S; k++) ty[k] = (x[0][k] - (float)mean) * (float)p + (float)r;
        cr_assert(!memcmp(y, ty, sizeof(float) * (size_t)S), "eval S %lld", (long long)S);
    }
}
