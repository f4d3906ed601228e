/* Slice gradients go in place into one shared gradient of the sliced tensor (a node's
 * gradient sum, a leaf's .grad or an ag_autograd_grad slot): the same values as the
 * zero-padded path that create_graph takes, and no full-size tensor per slice (bytes
 * counted through tensor/alloc.c's hook). */
#include "helpers.h"
#include "tensor/alloc.h"

#define ROWS 16
#define COLS 131072 /* [16, 131072] float32: 8 MiB, far above the arena's 1 MiB chunks */

/* Sum over four slices of p (rows 0-3, 4-7 twice, every other row from 8): the gradient of
 * p is 1 on rows 0-3 and 8, 10, 12, 14, 2 on rows 4-7, 0 elsewhere. */
static ag_tensor *four_slices(ag_tensor *p) {
    ag_tensor *s[4] = {ag_slice(p, 0, 0, 4, 1), ag_slice(p, 0, 4, 8, 1), ag_slice(p, 0, 4, 8, 1),
                       ag_slice(p, 0, 8, ROWS, 2)};
    ag_tensor *loss = ag_sum(s[0]);
    for (int i = 1; i < 4; i++) loss = ag_add(loss, ag_sum(s[i]));
    return loss;
}

static double row_weight(int64_t r) { return r < 4 ? 1 : r < 8 ? 2 : r % 2 == 0 ? 1 : 0; }

static void expect_row_weights(ag_tensor *g, double scale) {
    cr_assert(g, "%s", ag_last_error() ? ag_last_error() : "no gradient");
    ag_tensor *c = ag_contiguous(g);
    const float *v = ag_data(c);
    for (int64_t r = 0; r < ROWS; r++) {
        cr_expect_eq(v[r * COLS], scale * row_weight(r), "row %lld", (long long)r);
        cr_expect_eq(v[r * COLS + COLS - 1], scale * row_weight(r), "row %lld", (long long)r);
    }
}

/* Heap bytes the backward from loss allocates: the walk's scope takes fresh chunks when
 * no scope has ended yet in the test's process (else the freed ones are reused). */
static int64_t backward_bytes(ag_tensor *loss) {
    ag__alloc_fail_nth(INT64_MAX); /* count, never fail */
    int rc = ag_backward(loss);
    int64_t bytes = ag__alloc_bytes();
    ag__alloc_fail_nth(0);
    cr_assert_eq(rc, 0, "%s", ag_last_error());
    return bytes;
}

Test(slice_grad, slices_of_a_node_share_one_gradient_and_no_padded_tensor_each) {
    ag_scope_begin();
    const int64_t S = (int64_t)ROWS * COLS * 4;
    ag_tensor *x = ag_ones(AG_F32, 2, (int64_t[]){ROWS, COLS});
    ag_set_requires_grad(x, true);
    ag_tensor *p = ag_mul_scalar(x, 3); /* a node: its gradient is the walk's */
    int64_t bytes = backward_bytes(four_slices(p));
    expect_row_weights(ag_grad(x), 3);
    /* one shared zero gradient of p, mul's product and x's .grad: 3 S (and small
     * change); a padded tensor per slice would add 4 S and their sums 3 S more */
    cr_expect_lt(bytes, S * 7 / 2, "backward allocated %lld bytes, %.2f x the tensor",
                 (long long)bytes, (double)bytes / (double)S);
    ag_scope_end();
}

Test(slice_grad, slices_of_a_leaf_write_into_its_grad) {
    ag_scope_begin();
    const int64_t S = (int64_t)ROWS * COLS * 4;
    ag_tensor *x = ag_ones(AG_F32, 2, (int64_t[]){ROWS, COLS});
    ag_set_requires_grad(x, true);
    int64_t bytes = backward_bytes(four_slices(x));
    expect_row_weights(ag_grad(x), 1);
    cr_expect_lt(bytes, S * 3 / 2, "backward allocated %lld bytes, %.2f x the tensor",
                 (long long)bytes, (double)bytes / (double)S);
    ag_zero_grad(x); /* the marked-zero .grad is cleared before the first slice writes */
    cr_assert_eq(ag_backward(four_slices(x)), 0, "%s", ag_last_error());
    expect_row_weights(ag_grad(x), 1);
    ag_scope_end();
}

/* p used by slices (strided, overlapping) and by ops that are not slices, so that its
 * gradient sum starts as another op's tensor (copied before any slice writes into it). */
static ag_tensor *mixed_uses(ag_tensor *x) {
    ag_tensor *p = ag_reshape(ag_mul(x, x), 2, (int64_t[]){4, 6});
    ag_tensor *a = ag_slice(p, 1, 1, 6, 2), *b = ag_slice(p, 1, 0, 4, 1),
              *c = ag_slice(p, 0, 2, 4, 1);
    ag_tensor *t = ag_add(ag_sum(ag_mul(a, a)), ag_sum(ag_sin(b)));
    t = ag_add(t, ag_sum(ag_mul(ag_exp(p), ag_scalar(AG_F64, 0.5))));
    return ag_add(t, ag_sum(ag_mul(c, c)));
}

Test(slice_grad, in_place_gradients_equal_the_padded_ones) {
    ag_scope_begin();
    ag_manual_seed(5);
    ag_tensor *x = ag_randn(AG_F64, 1, (int64_t[]){24});
    ag_set_requires_grad(x, true);
    ag_tensor *want[1], *got[1], *y = mixed_uses(x);
    /* create_graph: every slice pads its gradient with ops (the path known to be right) */
    cr_assert_eq(ag_autograd_grad(1, &y, NULL, 1, &x, want, (ag_grad_opts){.create_graph = true}),
                 0, "%s", ag_last_error());
    cr_assert_eq(ag_autograd_grad(1, &y, NULL, 1, &x, got, (ag_grad_opts){.retain_graph = true}), 0,
                 "%s", ag_last_error());
    assert_tensor_close(got[0], ag_data(ag_contiguous(want[0])), 24, 1e-14, 1e-14);
    cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){.retain_graph = true}), 0);
    cr_assert_eq(ag_backward(y), 0, "%s", ag_last_error()); /* twice: the walk starts afresh */
    ag_tensor *twice = ag_mul_scalar(want[0], 2);
    assert_tensor_close(ag_grad(x), ag_data(ag_contiguous(twice)), 24, 1e-14, 1e-14);
    ag_scope_end();
}

Test(slice_grad, an_input_listed_twice_gets_its_slices_in_each_slot) {
    ag_scope_begin();
    ag_tensor *x = T64(1, SHAPE(5), 1, 2, 3, 4, 5);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_add(ag_sum(ag_slice(x, 0, 0, 3, 1)), ag_sum(ag_slice(x, 0, 1, 5, 2)));
    y = ag_add(y, ag_sum(ag_mul(x, x)));
    ag_tensor *g[2];
    cr_assert_eq(ag_autograd_grad(1, &y, NULL, 2, (ag_tensor *[]){x, x}, g, (ag_grad_opts){0}), 0,
                 "%s", ag_last_error());
    double want[5] = {1 + 2, 1 + 1 + 4, 1 + 6, 1 + 8, 10};
    assert_tensor_close(g[0], want, 5, 1e-15, 0);
    assert_tensor_close(g[1], want, 5, 1e-15, 0);
    cr_expect(g[0] != g[1], "each slot has its own buffer");
    ag_scope_end();
}
