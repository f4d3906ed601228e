/* The sequential model (torch.nn.Sequential): a module whose forward runs its children in
 * order, named "0", "1", ... as ag_model_add appends them. The other ag_model_ functions
 * are the module's under their old names and take any module. */
#include "nn/nn.h"

/* With grad off, each child runs in a scope of its own and its output leaves that scope
 * before it ends: a big one (a solo chunk) moves to the caller's scope without a copy and
 * is given back to the chunk cache once the next child has read it; a small one is copied
 * to the heap and freed likewise.  A deep evaluation so holds two activations at a time
 * instead of every child's output until the caller's scope ends, and the big ones reuse
 * cached chunks (no fresh pages to fault in and zero on every batch). */
static void drop(ag_tensor *t, bool moved) {
    if (moved) ag__storage_release_early(t->storage);
    else ag_tensor_free(t);
}

/* Does child i start a Conv2d + ReLU pair that runs as one op (ag_conv2d_relu: the ReLU in
 * the convolution's epilogue, one activation fewer)? Both children are library layers,
 * so nothing of the user's sees the convolution's own output; not while a summary
 * records each child's call. */
static bool conv_relu_at(const ag_module *m, int i) {
    return i + 1 < m->n_children && ag__is_conv2d_layer(m->children[i].m) &&
           ag__is_relu_layer(m->children[i + 1].m) && !ag__summary_active();
}

/* Child i's output (children i and i+1 when they are a Conv2d + ReLU pair, *i moved on). */
static ag_tensor *child_forward(ag_module *m, int *i, ag_tensor *x) {
    if (!conv_relu_at(m, *i)) return ag_module_forward(m->children[*i].m, x);
    ++*i;
    return ag__conv2d_relu_layer_forward(m->children[*i - 1].m, x);
}

static ag_tensor *forward_no_grad(ag_module *m, ag_tensor *x) {
    ag_tensor *held = NULL; /* the last child's output, ours to drop */
    bool held_moved = false;
    for (int i = 0; i < m->n_children && x; i++) {
        ag_scope_begin();
        ag_tensor *y = child_forward(m, &i, x);
        int err = 0;
        ag_tensor *h = ag__keep_moved(y, &err);
        bool moved = h != NULL;
        if (y && !h && !err) {
            h = ag__empty_in(NULL, y->dtype, y->ndim, y->shape, "ag_module_call");
            if (h && ag_copy_(h, y)) ag_tensor_free(h), h = NULL;
        }
        ag_scope_end();
        if (held) drop(held, held_moved);
        held = x = h, held_moved = moved;
    }
    if (!held || held_moved) return x;
    ag_tensor *out =
        ag__empty_in(ag__current_arena(), held->dtype, held->ndim, held->shape, "ag_module_call");
    if (out && ag_copy_(out, held)) out = NULL;
    ag_tensor_free(held);
    return out;
}

static ag_tensor *sequential_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    if (!ag_is_grad_enabled() && ag_scope_depth() > 0) return forward_no_grad(m, x);
    for (int i = 0; i < m->n_children && x; i++) {
        if (i > 0)
            ag__mark_internal(x); /* only the children see it: the backward may
                                          * release it once it passed (ag_module_call) */
        x = child_forward(m, &i, x);
    }
    return x;
}

static const struct ag_module_type sequential_type = {"Sequential", sequential_forward, NULL};

ag_model *ag_model_new(void) { return ag__module_make(&sequential_type, NULL, "ag_model_new"); }

int ag_model_add(ag_model *m, ag_layer *l) {
    const char *fn = "ag_model_add";
    if (!m || !l || m->type != &sequential_type) {
        if (!l || !l->parent) ag_module_free(l);
        if (!m || !l) return ag__error(AG_ERR_NULL, fn, "model and layer must not be NULL");
        return ag__error(AG_ERR_ARG, fn,
                         "a %s is not a model from ag_model_new: use ag_module_add_child",
                         m->type->name);
    }
    char name[16];
    snprintf(name, sizeof name, "%d", m->n_children);
    return ag_module_add_child(m, name, l) ? AG_OK : ag__last_error_code();
}

ag_tensor *ag_model_forward(ag_model *m, ag_tensor *x) {
    if (!m) {
        ag__error(AG_ERR_NULL, "ag_model_forward", "model is NULL");
        return NULL;
    }
    return ag_module_forward(m, x);
}

void ag_model_train(ag_model *m, bool training) { ag_module_train(m, training); }

ag_tensor **ag_model_params(ag_model *m, int *n) {
    if (n) *n = 0;
    return m ? ag_module_parameters(m, n) : NULL;
}

/* Only m's cached parameter list may change under the const: the tree does not. */
const char *ag_model_param_name(const ag_model *m, int i) {
    return ag_module_param_name((ag_model *)m, i);
}

int64_t ag_model_num_elements(const ag_model *m) {
    int n = 0;
    ag_tensor **p = m ? ag_module_parameters((ag_model *)m, &n) : NULL;
    int64_t s = 0;
    for (int i = 0; p && i < n; i++) s += p[i]->numel;
    return s;
}

void ag_model_free(ag_model *m) { ag_module_free(m); }
