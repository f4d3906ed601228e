/* Lifetime: a long training loop keeps memory flat, ag_keep, nested scopes, freeing heap
 * tensors and views of them (refcounted storage), scope errors, and parameters made
 * outside scopes keeping their .grad across scopes. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

struct mlp {
    ag_tensor *w1, *b1, *w2, *b2;
};

static ag_tensor *param(int ndim, const int64_t *shape, double scale) {
    ag_tensor *t = ag_randn(AG_F32, ndim, shape);
    for (int64_t i = 0; i < ag_numel(t); i++) ((float *)ag_data(t))[i] *= (float)scale;
    ag_set_requires_grad(t, true);
    return t;
}

/* One step: loss = mean((sq(x W1ᵀ + b1) W2ᵀ + b2 - y)^2), backward, SGD by hand. */
static double step(struct mlp *m, ag_tensor *x, ag_tensor *y, double lr) {
    ag_scope_begin();
    ag_tensor *h = ag_linear(x, m->w1, m->b1);
    h = ag_mul(h, h);
    ag_tensor *d = ag_sub(ag_linear(h, m->w2, m->b2), y);
    ag_tensor *loss = ag_mean(ag_mul(d, d));
    cr_assert_eq(ag_backward(loss), 0, "%s", ag_last_error());
    double l = ag_item(loss);
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *ps[4] = {m->w1, m->b1, m->w2, m->b2};
    for (int k = 0; k < 4; k++) {
        float *p = ag_data(ps[k]), *g = ag_data(ag_grad(ps[k]));
        for (int64_t i = 0; i < ag_numel(ps[k]); i++) p[i] -= (float)lr * g[i];
        ag_zero_grad(ps[k]);
    }
    ag_set_grad_enabled(prev);
    ag_scope_end();
    return l;
}

Test(lifetime, a_long_training_loop_keeps_memory_flat, .timeout = 120) {
    bool sanitized = getenv("AG_SANITIZED") != NULL;
    long steps = sanitized ? 5000 : 100000;
    ag_manual_seed(1);
    struct mlp m = {param(2, (int64_t[]){16, 4}, 0.5), param(1, (int64_t[]){16}, 0.1),
                    param(2, (int64_t[]){1, 16}, 0.2), param(1, (int64_t[]){1}, 0.1)};
    ag_tensor *x = ag_randn(AG_F32, 2, (int64_t[]){8, 4});
    ag_tensor *y = ag_randn(AG_F32, 2, (int64_t[]){8, 1});
    double first = step(&m, x, y, 0.01), last = first;
    long rss_1k = 0;
    double t0 = ag_now();
    for (long s = 1; s < steps; s++) {
        last = step(&m, x, y, 0.01);
        if (s == 1000) rss_1k = rss_kib();
    }
    double dt = ag_now() - t0;
    long rss_end = rss_kib();
    cr_log_info(
        "lifetime: %ld steps in %.2f s (%.2f us/step), RSS %ld -> %ld KiB, loss %.4g -> %.4g",
        steps, dt, dt / (double)steps * 1e6, rss_1k, rss_end, first, last);
    cr_assert(last < first, "training did not reduce the loss: %g -> %g", first, last);
    /* After 1,000 steps the scope chunk cache and malloc arenas have reached their steady
     * state; a leak of even 10 bytes per step would add ~1 MiB over 99,000 steps. */
    if (!sanitized)
        cr_assert(rss_end - rss_1k < 1024, "RSS grew %ld KiB between step 1,000 and %ld",
                  rss_end - rss_1k, steps);
    ag_tensor_free(m.w1), ag_tensor_free(m.b1), ag_tensor_free(m.w2), ag_tensor_free(m.b2);
    ag_tensor_free(x), ag_tensor_free(y);
}

Test(lifetime, keep_moves_a_tensor_to_the_enclosing_scope) {
    ag_scope_begin();
    ag_tensor *kept;
    ag_tensor *x = T64(1, SHAPE(3), 1, 2, 3);
    ag_set_requires_grad(x, true);
    ag_scope_begin();
    cr_assert_eq(ag_scope_depth(), 2);
    kept = ag_keep(ag_mul(x, x));
    ag_scope_end();
    cr_assert_eq(ag_scope_depth(), 1);
    assert_tensor_close(kept, (double[]){1, 4, 9}, 3, 0, 0); /* alive after the inner end */
    cr_assert(!ag_requires_grad(kept) && ag_is_leaf(kept), "ag_keep detaches");
    ag_tensor *heap = ag_keep(kept); /* from depth 1: to the heap */
    ag_scope_end();
    assert_tensor_close(heap, (double[]){1, 4, 9}, 3, 0, 0);
    ag_tensor_free(heap);
    cr_assert_null(ag_keep(NULL));
}

Test(lifetime, keep_copies_a_strided_view_in_row_major_order) {
    ag_scope_begin();
    ag_tensor *kept;
    ag_tensor *x = T64(2, SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    ag_set_requires_grad(x, true);
    ag_scope_begin();
    kept = ag_keep(ag_transpose(x, 0, 1)); /* a recorded, non-contiguous view */
    ag_scope_end();
    cr_assert(ag_is_contiguous(kept) && ag_is_leaf(kept) && !ag_requires_grad(kept));
    cr_assert_eq(ag_size(kept, 0), 3);
    assert_tensor_close(kept, (double[]){1, 4, 2, 5, 3, 6}, 6, 0, 0);
    ag_scope_end();
}

/* ag_tensor_free (tensor/) frees a heap result's node and the tensors its op saved for
 * backward (through the node hooks autograd/ installs); ASan's leak check proves it. */
Test(lifetime, freeing_a_heap_result_frees_its_node_and_saved_tensors) {
    ag_tensor *x = T64(2, SHAPE(2, 3), 1, 5, 3, 4, 2, 6);
    ag_set_requires_grad(x, true);
    ag_tensor *m = ag_max_dim(x, 1, false); /* saves its argmax indices */
    cr_assert(m && !ag_is_leaf(m), "%s", ag_last_error() ? ag_last_error() : "");
    char buf[256];
    ag_snprint(buf, sizeof buf, m);
    cr_expect(strstr(buf, "grad_fn=<max_dim>"), "%s", buf);
    ag_scope_begin();
    cr_assert_eq(ag_backward(ag_sum(m)), 0, "%s", ag_last_error());
    ag_scope_end();
    assert_tensor_close(ag_grad(x), (double[]){0, 1, 0, 0, 0, 1}, 6, 0, 0);
    ag_tensor_free(m);
    ag_tensor_free(x);
}

Test(lifetime, keep_outside_every_scope_is_an_error) {
    ag_tensor *t = ag_zeros(AG_F64, 1, (int64_t[]){2});
    cr_assert_null(ag_keep(t));
    cr_assert_str_eq(ag_last_error(), "ag_keep: no open scope");
    ag_tensor_free(t);
}

Test(lifetime, nested_scopes_free_only_their_own_tensors) {
    ag_scope_begin();
    ag_tensor *outer = T64(1, SHAPE(2), 5, 6);
    for (int k = 0; k < 3; k++) {
        ag_scope_begin();
        ag_tensor *inner = ag_mul(outer, outer);
        ag_scope_begin();
        ag_tensor *deeper = ag_add(inner, outer);
        assert_tensor_close(deeper, (double[]){30, 42}, 2, 0, 0);
        ag_scope_end();
        assert_tensor_close(inner, (double[]){25, 36}, 2, 0, 0);
        ag_scope_end();
    }
    assert_tensor_close(outer, (double[]){5, 6}, 2, 0, 0);
    ag_scope_end();
    cr_assert_eq(ag_scope_depth(), 0);
}

Test(lifetime, heap_tensors_and_views_of_them_free_in_any_order) {
    ag_tensor *flat = ag_tensor_new(AG_F64, 1, (int64_t[]){6}, (double[]){1, 2, 3, 4, 5, 6});
    ag_tensor *t = ag_reshape(flat, 2, (int64_t[]){2, 3}); /* a heap view of flat */
    ag_tensor_free(flat);
    ag_tensor *v = ag_transpose(t, 0, 1), *s = ag_slice(t, 1, 1, 3, 1);
    ag_tensor_free(t); /* storage lives on: the views hold references */
    assert_close(ag_get(v, (int64_t[]){2, 1}), 6, 0, 0);
    assert_close(ag_get(s, (int64_t[]){0, 0}), 2, 0, 0);
    ag_tensor_free(v);
    assert_close(ag_get(s, (int64_t[]){1, 1}), 6, 0, 0);
    ag_tensor_free(s);
    /* a parameter with a grad and a recorded heap view of it */
    ag_tensor *p = ag_ones(AG_F64, 1, (int64_t[]){3});
    ag_set_requires_grad(p, true);
    ag_tensor *pv = ag_unsqueeze(p, 0); /* recorded: has a node */
    cr_assert(!ag_is_leaf(pv));
    ag_scope_begin();
    cr_assert_eq(ag_backward(ag_sum(pv)), 0, "%s", ag_last_error());
    ag_scope_end();
    assert_tensor_close(ag_grad(p), (double[]){1, 1, 1}, 3, 0, 0);
    ag_tensor_free(pv);
    ag_tensor_free(p);
    ag_tensor_free(NULL);
}

Test(lifetime, scope_errors_are_errors_not_crashes) {
    ag_clear_error();
    ag_scope_end();
    cr_assert_str_eq(ag_last_error(), "ag_scope_end: no open scope");
    int opened = 0;
    ag_clear_error();
    for (int k = 0; k < 100 && !ag_last_error(); k++) {
        ag_scope_begin();
        if (!ag_last_error()) opened++;
    }
    cr_assert(ag_last_error() && strstr(ag_last_error(), "ag_scope_begin: scopes nest at most"),
              "%s", ag_last_error() ? ag_last_error() : "(none)");
    cr_assert_eq(ag_scope_depth(), opened);
    while (opened--) ag_scope_end();
    cr_assert_eq(ag_scope_depth(), 0);
}

Test(lifetime, parameters_keep_their_grad_across_scopes) {
    ag_tensor *w = T64(1, SHAPE(2), 1, 2);
    ag_set_requires_grad(w, true);
    for (int k = 1; k <= 3; k++) {
        ag_scope_begin();
        ag_tensor *x = T64(1, SHAPE(2), 3, 4);
        cr_assert_eq(ag_backward(ag_sum(ag_mul(w, x))), 0);
        ag_scope_end();
        assert_tensor_close(ag_grad(w), (double[]){3.0 * k, 4.0 * k}, 2, 0, 0);
    }
    ag_tensor_free(w);
}
