/* The internal ops behind the issue-9 functions, called through the table: their shape
 * errors (one line naming the op and shapes) and the clear "not twice differentiable"
 * errors of the fused backward ops that are never recorded by the library itself. */
#include <criterion/criterion.h>
#include <string.h>

#include "ops/ops.h"

static void expect_op_error(ag_tensor *r, const char *fn, const char *part) {
    cr_expect_null(r, "%s: expected NULL", fn);
    const char *e = ag_last_error();
    cr_assert(e, "%s: no error", fn);
    cr_expect(!strncmp(e, fn, strlen(fn)) && strstr(e, part) && !strchr(e, '\n'),
              "error '%s' should be one line naming %s and saying '%s'", e, fn, part);
}

static ag_tensor *z(ag_dtype dt, int nd, const int64_t *shape) { return ag_zeros(dt, nd, shape); }

Test(ops9_internal, backward_ops_check_their_inputs) {
    ag_scope_begin();
    int64_t a4[2] = {3, 4};
    struct {
        int64_t M;
        int nd;
        bool has_w, has_b;
        double eps;
    } ln = {4, 1, false, false, 0};
    ag_tensor *g = z(AG_F32, 2, a4), *x = z(AG_F32, 2, a4), *r3 = z(AG_F32, 1, (int64_t[]){3});
    ag_tensor *r2 = z(AG_F32, 1, (int64_t[]){2});
    expect_op_error(
        ag__apply(AG_OP_LAYER_NORM_BACKWARD, 4, (ag_tensor *const[]){g, x, r2, r3}, &ln, sizeof ln),
        "ag_layer_norm_backward", "[2]");
    expect_op_error(ag__apply(AG_OP_LAYER_NORM_BACKWARD, 4,
                              (ag_tensor *const[]){z(AG_F32, 2, (int64_t[]){4, 3}), x, r3, r3}, &ln,
                              sizeof ln),
                    "ag_layer_norm_backward", "[4,3]");
    struct {
        int64_t num;
    } emb = {5};
    expect_op_error(ag__apply(AG_OP_EMBEDDING_BACKWARD, 2,
                              (ag_tensor *const[]){g, z(AG_I64, 1, (int64_t[]){2})}, &emb,
                              sizeof emb),
                    "ag_embedding_backward", "[3,4]");
    expect_op_error(
        ag__apply(AG_OP_ATTENTION_SOFTMAX_BACKWARD, 2, (ag_tensor *const[]){g, r3}, NULL, 0),
        "ag_attention_softmax_backward", "[3]");
    ag_scope_end();
}

Test(ops9_internal, separable_map_checks_its_plan) {
    ag_scope_begin();
    struct {
        int dim, taps;
        int64_t len;
        bool has_fill;
        double fill;
    } a = {1, 1, 0, false, 0};
    ag_tensor *x = z(AG_F64, 2, (int64_t[]){2, 3});
    ag_tensor *plan = ag_full(AG_F64, 3, (int64_t[]){2, 1, 2}, 3); /* source 3 of 3 */
    expect_op_error(ag__apply(AG_OP_SEP_MAP, 2, (ag_tensor *const[]){x, plan}, &a, sizeof a),
                    "ag_sep_map", "outside [0, 3)");
    expect_op_error(ag__apply(AG_OP_SEP_MAP, 2,
                              (ag_tensor *const[]){x, z(AG_F64, 2, (int64_t[]){2, 2})}, &a,
                              sizeof a),
                    "ag_sep_map", "[2,2]");
    a.dim = 2;
    expect_op_error(ag__apply(AG_OP_SEP_MAP, 2, (ag_tensor *const[]){x, plan}, &a, sizeof a),
                    "ag_sep_map", "dim 2");
    ag_scope_end();
}

/* Recorded on purpose (grad mode on, an input requiring grad): differentiating fails
 * with a message that names the op and says what to do instead. */
Test(ops9_internal, fused_backward_ops_are_not_twice_differentiable) {
    ag_scope_begin();
    int64_t a4[2] = {3, 4};
    struct {
        int64_t M;
        int nd;
        bool has_w, has_b;
        double eps;
    } ln = {4, 1, false, false, 0};
    ag_tensor *g = ag_rand(AG_F64, 2, a4), *x = ag_rand(AG_F64, 2, a4);
    ag_tensor *m = ag_zeros(AG_F64, 1, (int64_t[]){3}), *r = ag_ones(AG_F64, 1, (int64_t[]){3});
    ag_set_requires_grad(g, true);
    ag_tensor *dx =
        ag__apply(AG_OP_LAYER_NORM_BACKWARD, 4, (ag_tensor *const[]){g, x, m, r}, &ln, sizeof ln);
    cr_assert(dx && ag_requires_grad(dx));
    cr_expect_neq(ag_backward(ag_sum(dx)), 0);
    cr_expect(strstr(ag_last_error(), "ag_layer_norm_backward") &&
                  strstr(ag_last_error(), "not twice differentiable"),
              "%s", ag_last_error());
    ag_tensor *p = ag_full(AG_F64, 2, a4, 0.25);
    struct {
        bool causal, has_mask;
        double scale, dropout_p;
        uint64_t base;
    } at = {false, false, 1, 0, 0};
    ag_tensor *ds =
        ag__apply(AG_OP_ATTENTION_SOFTMAX_BACKWARD, 2, (ag_tensor *const[]){g, p}, &at, sizeof at);
    cr_assert(ds);
    cr_expect_neq(ag_backward(ag_sum(ds)), 0);
    cr_expect(strstr(ag_last_error(), "not twice differentiable"), "%s", ag_last_error());
    ag_scope_end();
}

/* prod_dim's create_graph needs x without zeros (its gradient is then written with ops). */
Test(ops9_internal, prod_second_derivative_with_zeros_is_a_clear_error) {
    ag_scope_begin();
    ag_tensor *x = ag_tensor_new(AG_F64, 1, (int64_t[]){3}, (double[]){1, 0, 2}), *gr[1];
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_prod_dim(x, 0, false);
    cr_expect_neq(ag_autograd_grad(1, &y, NULL, 1, &x, gr, (ag_grad_opts){.create_graph = true}),
                  0);
    cr_expect(strstr(ag_last_error(), "ag_prod_dim") && strstr(ag_last_error(), "zeros"), "%s",
              ag_last_error());
    ag_scope_end();
}
