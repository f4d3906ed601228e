/* ag_backward gives memory back as it passes: node gradients once consumed, the scratch of
 * each backward rule, and (without retain_graph) the intermediates a Sequential passes
 * between its children once the last node reading them has run. Results stay bitwise those
 * of a walk that keeps everything (ag_autograd_grad), and nothing the caller can still
 * reach is released: .grad, tensors returned to the caller, inputs, what a module of the
 * user's sees, retain_graph, create_graph, hooks. Under ASan (AG_POISON) a released chunk
 * goes to free(), so any read of it fails the suite. */
#include "helpers.h"
#include "leak_check.h"
#include "autograd/node.h"

#include <string.h>

enum { ROWS = 512, COLS = 512, DEPTH = 8 }; /* 1 MiB of float32 per activation */
#define MIB (1024.0 * 1024.0)

static ag_tensor *big_leaf(uint64_t seed) {
    ag_manual_seed(seed);
    ag_tensor *x = ag_randn(AG_F32, 2, (int64_t[]){ROWS, COLS});
    ag_set_requires_grad(x, true);
    return x;
}

/* DEPTH element-wise ops on x, each making a 1 MiB activation and, backward, a 1 MiB
 * gradient and some 1 MiB scratch. */
static ag_tensor *chain(ag_tensor *x) {
    ag_tensor *h = x;
    for (int i = 0; i < DEPTH; i++) h = ag_mul(ag_tanh(h), ag_sin(h));
    return ag_sum(h);
}

static bool same_bits(ag_tensor *a, ag_tensor *b) {
    return a && b && ag_numel(a) == ag_numel(b) &&
           !memcmp(ag_data(a), ag_data(b), (size_t)ag_numel(a) * ag_dtype_size(ag_dtype_of(a)));
}

Test(backward_release, gradients_go_back_as_the_walk_passes) {
    ag_tensor *x = big_leaf(1), *x_ref = big_leaf(1);
    ag_scope_begin();
    ag__backward_release(false); /* the reference: a walk that keeps everything */
    cr_assert_eq(ag_backward(chain(x_ref)), 0, "%s", ag_last_error());
    ag__backward_release(true);
    ag_tensor *loss = chain(x);
    size_t before = ag__arena_stats().live;
    ag__arena_stats_reset_peak();
    cr_assert_eq(ag_backward(loss), 0, "%s", ag_last_error());
    double extra = (double)(ag__arena_stats().peak_live - before) / MIB;
    /* Kept until the walk ends, it would be 3 * DEPTH MiB and more. */
    cr_assert_leq(extra, 8.0, "the backward held %.1f MiB above the forward", extra);
    cr_assert(same_bits(ag_grad(x), ag_grad(x_ref)), "the released walk's gradient differs");
    ag_scope_end();
    ag_tensor_free(x);
    ag_tensor_free(x_ref);
    assert_no_leaks();
}

/* A model whose Sequential passes 2 MiB activations between its children. */
static ag_model *mlp(void) {
    ag_manual_seed(7);
    ag_model *m = ag_model_new();
    ag_model_add(m, ag_linear_layer(COLS, COLS, true));
    ag_model_add(m, ag_activation_layer(AG_ACTIVATION_RELU));
    ag_model_add(m, ag_linear_layer(COLS, COLS, true));
    ag_model_add(m, ag_activation_layer(AG_ACTIVATION_TANH));
    ag_model_add(m, ag_linear_layer(COLS, 4, true));
    return m;
}

static ag_tensor *data(void) {
    ag_manual_seed(3);
    return ag_randn(AG_F32, 2, (int64_t[]){ROWS, COLS});
}

/* The parameters' gradients of sum(m(x)) without any release (ag_autograd_grad), in the
 * current scope. */
static int reference_grads(ag_model *m, ag_tensor *x, ag_tensor **g) {
    int np;
    ag_tensor **p = ag_model_params(m, &np);
    ag_tensor *loss = ag_sum(ag_model_forward(m, x));
    return ag_autograd_grad(1, &loss, NULL, np, p, g, (ag_grad_opts){0});
}

Test(backward_release, module_intermediates_go_back_and_read_as_errors) {
    ag_model *m = mlp();
    ag_tensor *x = data();
    int np;
    ag_tensor **p = ag_model_params(m, &np);
    ag_scope_begin();
    ag_tensor *ref[6];
    cr_assert_eq(reference_grads(m, x, ref), 0, "%s", ag_last_error());
    ag_tensor *y = ag_model_forward(m, x);
    ag_tensor *hidden = y->node->in[0]; /* tanh's output: only the Sequential saw it */
    cr_assert(hidden->storage->solo && hidden->storage->internal);
    cr_assert_eq(ag_backward(ag_sum(y)), 0, "%s", ag_last_error());
    cr_assert(hidden->storage->released, "the intermediate was kept");
    cr_assert(!y->storage->released, "the model's output was released");
    cr_assert_null(ag_sum(hidden), "a released tensor was read");
    cr_assert(strstr(ag_last_error(), "gave back"), "%s", ag_last_error());
    cr_assert(isnan(ag_item(ag_reshape(hidden, 1, (int64_t[]){-1}))));
    cr_assert_null(ag_keep(hidden));
    for (int i = 0; i < np; i++) cr_assert(same_bits(ag_grad(p[i]), ref[i]), "param %d", i);
    cr_assert_float_eq(ag_item(ag_sum(y)), ag_item(ag_sum(ag_model_forward(m, x))), 0);
    ag_scope_end();
    ag_model_free(m);
    ag_tensor_free(x);
    assert_no_leaks();
}

Test(backward_release, retain_graph_keeps_the_graph_for_a_second_backward) {
    ag_model *m = mlp();
    ag_tensor *x = data();
    int np;
    ag_tensor **p = ag_model_params(m, &np);
    ag_scope_begin();
    ag_tensor *ref[6];
    cr_assert_eq(reference_grads(m, x, ref), 0, "%s", ag_last_error());
    ag_tensor *y = ag_model_forward(m, x), *loss = ag_sum(y);
    cr_assert_eq(ag_backward_ex(loss, (ag_backward_opts){.retain_graph = true}), 0);
    cr_assert(!y->node->in[0]->storage->released, "retain_graph: an intermediate went");
    for (int i = 0; i < np; i++) ag_zero_grad(p[i]);
    cr_assert_eq(ag_backward(loss), 0, "%s", ag_last_error()); /* reads the whole graph */
    for (int i = 0; i < np; i++) cr_assert(same_bits(ag_grad(p[i]), ref[i]), "param %d", i);
    cr_assert_neq(ag_backward(loss), 0, "a third backward through a freed graph");
    cr_assert(strstr(ag_last_error(), "retain_graph"), "%s", ag_last_error());
    ag_scope_end();
    ag_model_free(m);
    ag_tensor_free(x);
    assert_no_leaks();
}

/* A module of the user's that keeps what it is given: it must stay readable. */
static ag_tensor *stashed;
static ag_tensor *stash_forward(ag_module *self, int n, ag_tensor *const *in) {
    (void)self, (void)n;
    stashed = in[0];
    return ag_mul_scalar(in[0], 0.5);
}

Test(backward_release, what_the_callers_code_sees_is_never_released) {
    ag_model *m = ag_model_new();
    ag_manual_seed(11);
    ag_model_add(m, ag_flatten_layer()); /* returns a view of its input: the caller's x */
    ag_model_add(m, ag_linear_layer(COLS, COLS, true));
    ag_model_add(m, ag_module_new("Stash", stash_forward, NULL, NULL));
    ag_model_add(m, ag_activation_layer(AG_ACTIVATION_RELU));
    ag_model_add(m, ag_linear_layer(COLS, 2, true));
    ag_tensor *x0 = data();
    ag_scope_begin();
    ag_tensor *x = ag_mul_scalar(x0, 1.0); /* scoped and big, as a batch */
    ag_tensor *copy = ag_clone(x);
    ag_tensor *y = ag_model_forward(m, x);
    ag_tensor *kept = ag_clone(stashed);
    cr_assert_eq(ag_backward(ag_sum(y)), 0, "%s", ag_last_error());
    cr_assert(!x->storage->released && same_bits(x, copy), "the caller's input");
    cr_assert(!stashed->storage->released && same_bits(stashed, kept), "the user's module's");
    cr_assert(!y->storage->released, "the output");
    ag_tensor *again = ag_model_forward(m, x);
    cr_assert(same_bits(again, y), "a second forward on the same input differs");
    ag_scope_end();
    ag_model_free(m);
    ag_tensor_free(x0);
    assert_no_leaks();
}

Test(backward_release, ops_outside_modules_are_the_callers) {
    ag_tensor *x = big_leaf(5);
    ag_scope_begin();
    ag_tensor *h = ag_tanh(ag_mul_scalar(x, 3.0)), *loss = ag_sum(ag_mul(h, h));
    ag_tensor *copy = ag_clone(h);
    cr_assert_eq(ag_backward(loss), 0, "%s", ag_last_error());
    cr_assert(!h->storage->released && same_bits(h, copy));
    ag_scope_end();
    ag_tensor_free(x);
    assert_no_leaks();
}

/* create_graph: the gradient is a graph of its own, kept with its inputs until its own
 * backward, which then may release the module's intermediates. */
Test(backward_release, create_graph_then_backward_of_the_gradient) {
    ag_model *m = mlp();
    ag_tensor *x0 = data();
    ag_scope_begin();
    ag_tensor *x = ag_mul_scalar(x0, 1.0);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_model_forward(m, x), *g[1];
    ag_tensor *root = ag_sum(ag_mul(y, y));
    ag_grad_opts o = {.create_graph = true};
    cr_assert_eq(ag_autograd_grad(1, &root, NULL, 1, &x, g, o), 0, "%s", ag_last_error());
    ag_tensor *gg_ref[1], *r2 = ag_sum(ag_mul(g[0], g[0]));
    cr_assert_eq(
        ag_autograd_grad(1, &r2, NULL, 1, &x, gg_ref, (ag_grad_opts){.retain_graph = true}), 0,
        "%s", ag_last_error());
    ag_tensor *g_copy = ag_clone(g[0]);
    cr_assert_eq(ag_backward(r2), 0, "%s", ag_last_error());
    cr_assert(same_bits(ag_grad(x), gg_ref[0]), "the second-order gradient differs");
    cr_assert(same_bits(g[0], g_copy), "the first gradient, the caller's, changed");
    ag_scope_end();
    ag_model_free(m);
    ag_tensor_free(x0);
    assert_no_leaks();
}

/* Hooks run the caller's code inside the walk: what it makes there stays for the walk. */
struct hook_state {
    ag_tensor *made; /* by the first hook, read by the second */
    double sum_made, sum_read;
    int calls;
};
static void hook(ag_tensor *leaf, void *user) {
    struct hook_state *s = user;
    if (s->calls++ == 0) {
        s->made = ag_mul_scalar(ag_grad(leaf), 2.0); /* 1 MiB: a solo chunk of the walk */
        s->sum_made = ag_item(ag_sum(s->made));
    } else {
        s->sum_read = ag_item(ag_sum(s->made));
    }
}

Test(backward_release, hooks_keep_what_they_make_and_see_their_grads) {
    ag_tensor *a = big_leaf(21), *b = big_leaf(22);
    struct hook_state s = {0};
    ag_register_post_accumulate_grad_hook(a, hook, &s);
    ag_register_post_accumulate_grad_hook(b, hook, &s);
    ag_scope_begin();
    ag_tensor *loss = chain(ag_add(chain(a), ag_mul(b, b))); /* a's hook fires first */
    cr_assert_eq(ag_backward(loss), 0, "%s", ag_last_error());
    cr_assert_eq(s.calls, 2);
    cr_assert(s.sum_made == s.sum_read, "%g then %g", s.sum_made, s.sum_read);
    ag_scope_end();
    ag_tensor_free(a);
    ag_tensor_free(b);
    assert_no_leaks();
}

/* The chunk cache makes a training loop reach a steady state: from the second step on,
 * the arena's memory (in use and cached) stops growing. */
Test(backward_release, a_training_loop_reaches_a_steady_state) {
    ag_model *m = mlp();
    ag_tensor *x = data();
    int np;
    ag_tensor **p = ag_model_params(m, &np);
    ag_sgd_opts so = ag_sgd_defaults();
    so.lr = 1e-3;
    so.momentum = 0.9;
    ag_optim *o = ag_sgd_new(p, np, so);
    size_t peaks[5];
    for (int step = 0; step < 5; step++) {
        ag__arena_stats_reset_peak();
        ag_scope_begin();
        cr_assert_eq(ag_train_step(o, ag_sum(ag_model_forward(m, x))), 0, "%s", ag_last_error());
        ag_scope_end();
        peaks[step] = ag__arena_stats().peak_total;
    }
    for (int step = 2; step < 5; step++)
        cr_assert_eq(peaks[step], peaks[1], "step %d: %.2f MiB, step 1: %.2f MiB", step,
                     (double)peaks[step] / MIB, (double)peaks[1] / MIB);
    ag_optim_free(o);
    ag_model_free(m);
    ag_tensor_free(x);
    assert_no_leaks();
}
