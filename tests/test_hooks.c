/* Post-accumulate-grad hooks: when they fire (once, with .grad final, before the walk
 * reaches the leaves made earlier), order, removal, and their errors. */
#include "helpers.h"

#include <string.h>

#define MAX_CALLS 16
struct log {
    int n;
    ag_tensor *leaf[MAX_CALLS];
    double grad0[MAX_CALLS];        /* element 0 of the leaf's .grad when the hook ran */
    bool other_had_grad[MAX_CALLS]; /* whether log->other had a .grad yet */
    ag_tensor *other;
    int tag[MAX_CALLS];
};

static void record(ag_tensor *leaf, void *user) {
    struct log *l = user;
    cr_assert(l->n < MAX_CALLS);
    l->leaf[l->n] = leaf;
    l->grad0[l->n] = ag_grad(leaf) ? ag_get(ag_grad(leaf), (int64_t[]){0}) : NAN;
    l->other_had_grad[l->n] = l->other && ag_grad(l->other);
    l->tag[l->n] = -1;
    l->n++;
}

static void record_tag1(ag_tensor *leaf, void *user) {
    struct log *l = user;
    record(leaf, user);
    l->tag[l->n - 1] = 1;
}

static void record_tag2(ag_tensor *leaf, void *user) {
    struct log *l = user;
    record(leaf, user);
    l->tag[l->n - 1] = 2;
}

static ag_tensor *leaf64(double v) {
    ag_tensor *t = T64(1, SHAPE(1), v);
    ag_set_requires_grad(t, true);
    return t;
}

Test(hooks, fire_once_with_every_contribution_summed) {
    ag_tensor *x = leaf64(3);
    struct log l = {0};
    cr_assert_eq(ag_register_post_accumulate_grad_hook(x, record, &l), 0, "%s", ag_last_error());
    ag_scope_begin(); /* y = x*x + exp(x)*x + 5x: three paths of different depths */
    ag_tensor *y =
        ag_add(ag_add(ag_mul(x, x), ag_mul(ag_exp(x), x)), ag_mul(x, ag_scalar(AG_F64, 5)));
    cr_assert_eq(ag_backward(ag_sum(y)), 0, "%s", ag_last_error());
    ag_scope_end();
    double want = 2 * 3 + exp(3) * 3 + exp(3) + 5;
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.leaf[0], x);
    assert_close(l.grad0[0], want, 0, 1e-15);
    assert_close(ag_get(ag_grad(x), (int64_t[]){0}), want, 0, 1e-15);
    ag_tensor_free(x);
}

/* A two-layer chain: the last layer's weight is final before the first layer's gradient
 * exists, so its hook runs while the walk still has work left (the overlap DDP needs). */
Test(hooks, later_layers_fire_before_earlier_leaves_get_gradients) {
    ag_tensor *w0 = leaf64(2), *w1 = leaf64(-1.5);
    struct log l0 = {0}, l1 = {0};
    l1.other = w0;
    l0.other = w1;
    cr_assert_eq(ag_register_post_accumulate_grad_hook(w0, record, &l0), 0);
    cr_assert_eq(ag_register_post_accumulate_grad_hook(w1, record, &l1), 0);
    ag_scope_begin();
    ag_tensor *x = T64(1, SHAPE(1), 0.5);
    ag_tensor *h = ag_tanh(ag_mul(ag_exp(ag_mul(x, w0)), ag_scalar(AG_F64, 1.25)));
    cr_assert_eq(ag_backward(ag_sum(ag_mul(ag_sin(h), w1))), 0, "%s", ag_last_error());
    ag_scope_end();
    cr_assert_eq(l1.n, 1);
    cr_assert_eq(l0.n, 1);
    cr_assert_not(l1.other_had_grad[0], "w1's hook ran after w0 had a gradient");
    cr_assert(l0.other_had_grad[0]);
    ag_tensor_free(w0);
    ag_tensor_free(w1);
}

Test(hooks, several_hooks_run_in_registration_order_once_per_backward) {
    ag_tensor *x = leaf64(1);
    struct log l = {0};
    cr_assert_eq(ag_register_post_accumulate_grad_hook(x, record_tag2, &l), 0);
    cr_assert_eq(ag_register_post_accumulate_grad_hook(x, record_tag1, &l), 0);
    for (int k = 0; k < 2; k++) {
        ag_scope_begin();
        cr_assert_eq(ag_backward(ag_sum(ag_mul(x, ag_scalar(AG_F64, 4)))), 0);
        ag_scope_end();
    }
    cr_assert_eq(l.n, 4);
    int want[4] = {2, 1, 2, 1};
    for (int i = 0; i < 4; i++) cr_assert_eq(l.tag[i], want[i], "call %d", i);
    assert_close(l.grad0[0], 4, 0, 0);
    assert_close(l.grad0[2], 8, 0, 0); /* grads accumulate across backward calls */
    ag_tensor_free(x);
}

Test(hooks, a_zeroed_grad_is_replaced_before_the_hook_runs) {
    ag_tensor *x = leaf64(1);
    struct log l = {0};
    cr_assert_eq(ag_register_post_accumulate_grad_hook(x, record, &l), 0);
    for (int k = 0; k < 2; k++) {
        ag_zero_grad(x);
        ag_scope_begin();
        cr_assert_eq(ag_backward(ag_sum(ag_mul(x, ag_scalar(AG_F64, 3)))), 0);
        ag_scope_end();
    }
    cr_assert_eq(l.n, 2);
    assert_close(l.grad0[1], 3, 0, 0);
    ag_tensor_free(x);
}

Test(hooks, a_leaf_root_fires_and_unused_leaves_do_not) {
    ag_tensor *x = leaf64(7), *unused = leaf64(1);
    struct log l = {0}, lu = {0};
    cr_assert_eq(ag_register_post_accumulate_grad_hook(x, record, &l), 0);
    cr_assert_eq(ag_register_post_accumulate_grad_hook(unused, record, &lu), 0);
    cr_assert_eq(ag_backward(x), 0, "%s", ag_last_error());
    cr_assert_eq(l.n, 1);
    assert_close(l.grad0[0], 1, 0, 0);
    cr_assert_eq(lu.n, 0);
    ag_tensor_free(x);
    ag_tensor_free(unused);
}

Test(hooks, autograd_grad_accumulates_nothing_and_fires_nothing) {
    ag_tensor *x = leaf64(2);
    struct log l = {0};
    cr_assert_eq(ag_register_post_accumulate_grad_hook(x, record, &l), 0);
    ag_scope_begin();
    ag_tensor *g[1];
    cr_assert_eq(ag_autograd_grad(1, (ag_tensor *[]){ag_sum(ag_mul(x, x))}, NULL, 1, &x, g,
                                  (ag_grad_opts){0}),
                 0);
    assert_close(ag_item(g[0]), 4, 0, 0);
    ag_scope_end();
    cr_assert_eq(l.n, 0);
    ag_tensor_free(x);
}

Test(hooks, removed_hooks_stop_and_scoped_leaves_take_theirs_along) {
    ag_tensor *x = leaf64(2);
    struct log l = {0};
    cr_assert_eq(ag_register_post_accumulate_grad_hook(x, record, &l), 0);
    cr_assert_eq(ag_remove_post_accumulate_grad_hook(x, record, &l), 0);
    cr_assert_neq(ag_remove_post_accumulate_grad_hook(x, record, &l), 0);
    cr_assert(strstr(ag_last_error(), "ag_remove_post_accumulate_grad_hook: no such hook"), "%s",
              ag_last_error());
    ag_scope_begin();
    cr_assert_eq(ag_backward(ag_sum(ag_mul(x, x))), 0);
    ag_tensor *s = leaf64(1); /* a scoped leaf: its hook goes at ag_scope_end */
    cr_assert_eq(ag_register_post_accumulate_grad_hook(s, record, &l), 0);
    ag_scope_end();
    cr_assert_eq(l.n, 0);
    ag_tensor *y = leaf64(1); /* hooks are live again: a walk must not meet a stale leaf */
    cr_assert_eq(ag_register_post_accumulate_grad_hook(y, record, &l), 0);
    ag_scope_begin();
    cr_assert_eq(ag_backward(ag_sum(ag_mul(y, x))), 0);
    ag_scope_end();
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.leaf[0], y);
    ag_tensor_free(y);
    ag_tensor_free(x);
}

Test(hooks, bad_arguments_are_errors_naming_the_function) {
    struct log l = {0};
    ag_tensor *x = leaf64(1), *c = T64(1, SHAPE(1), 1);
    cr_assert_neq(ag_register_post_accumulate_grad_hook(NULL, record, &l), 0);
    cr_assert(strstr(ag_last_error(), "ag_register_post_accumulate_grad_hook: needs a leaf"));
    cr_assert_neq(ag_register_post_accumulate_grad_hook(x, NULL, &l), 0);
    cr_assert_neq(ag_register_post_accumulate_grad_hook(c, record, &l), 0);
    cr_assert(strstr(ag_last_error(), "[1] does not require grad"), "%s", ag_last_error());
    ag_scope_begin();
    cr_assert_neq(ag_register_post_accumulate_grad_hook(ag_mul(x, x), record, &l), 0);
    cr_assert(strstr(ag_last_error(), "is not a leaf"), "%s", ag_last_error());
    ag_scope_end();
    cr_assert_neq(ag_remove_post_accumulate_grad_hook(NULL, record, &l), 0);
    ag_tensor_free(x);
    ag_tensor_free(c);
}
