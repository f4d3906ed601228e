/* The tape: grad mode, leaves and their .grad, and the backward walk.
 *
 * The walk is iterative: a depth-first post-order over nodes with an explicit stack gives
 * a topological order, then nodes run their backward rules in reverse. A node's incoming
 * gradients are summed in node->grad; leaves sum theirs into .grad (ag_backward) or into
 * the caller's slots (ag_autograd_grad). Backward rules are written with the public ops,
 * so with create_graph on (grad mode on during the walk) the backward pass is recorded. */
#include "autograd/hooks.h"
#include "ops/iter.h"
#include "ops/ops.h"

#include <stdatomic.h>

static _Thread_local bool grad_disabled;
static _Atomic uint64_t walk_generation;

bool ag_set_grad_enabled(bool on) {
    bool prev = !grad_disabled;
    grad_disabled = !on;
    return prev;
}
bool ag_is_grad_enabled(void) { return !grad_disabled; }

void ag_set_requires_grad(ag_tensor *t, bool on) {
    if (!t) return;
    if (t->node) {
        ag__error(AG_ERR_STATE, "ag_set_requires_grad",
                  "tensor %s is not a leaf (it was made by %s); detach it first", AG_SHAPE(t),
                  t->node->def->name);
        return;
    }
    if (on && !ag__is_float(t->dtype)) {
        ag__error(AG_ERR_DTYPE, "ag_set_requires_grad",
                  "only float tensors can require gradients, got %s %s", ag_dtype_name(t->dtype),
                  AG_SHAPE(t));
        return;
    }
    t->requires_grad = on;
}

bool ag_requires_grad(const ag_tensor *t) { return t && t->requires_grad; }
bool ag_is_leaf(const ag_tensor *t) { return t && !t->node; }
ag_tensor *ag__grad_ready(ag_tensor *t) {
    if (t && t->grad && t->grad_zero) {
        ag_fill_(t->grad, 0.0);
        t->grad_zero = false;
    }
    return t ? t->grad : NULL;
}

ag_tensor *ag_grad(const ag_tensor *t) { return ag__grad_ready((ag_tensor *)t); }

/* Marks the gradient as zero without writing it: a training loop's next backward then
 * copies into the buffer instead of filling it with zeros and adding. */
void ag_zero_grad(ag_tensor *t) {
    if (t && t->grad) t->grad_zero = true;
}

ag_tensor *ag_detach(ag_tensor *t) {
    if (!t) return NULL;
    return ag__view_of(t, t->ndim, t->shape, t->strides, t->offset, "ag_detach");
}

/* ------------------------------------------------------------------ accumulation */
struct walk {
    int n_in; /* ag_autograd_grad: the requested inputs and their slots */
    ag_tensor *const *inputs;
    ag_tensor **slots;
    uint64_t owned; /* bit k: slot k (k < 64) holds a buffer of this walk (see sum_add) */
    bool collect;   /* false: leaves accumulate into .grad */
};
static _Thread_local struct walk *current_walk;

/* ------------------------------------------------------------------ early release
 * ag_backward gives memory back as the walk passes (docs/DESIGN.md, "Memory"). Each big
 * storage (a solo arena chunk) it may release counts its readers still to come in
 * storage->holds: the node gradient sums holding it, plus, without retain_graph, the
 * nodes still to run that list it as an input, output or saved tensor. A count reaching
 * zero releases it; after each rule, the rule's own scratch that no sum holds goes too. */
enum release { KEEP_ALL, RELEASE_TEMPS, RELEASE_GRAPH };
static _Thread_local enum release release_mode;
static _Thread_local bool release_off; /* ag__backward_release(false): tests compare */

bool ag__backward_release(bool on) {
    bool prev = !release_off;
    release_off = !on;
    return prev;
}

/* A forward storage the walk may release: library-internal and never handed out. */
static bool graph_releasable(const struct ag_storage *s) {
    return s->solo && s->internal && !s->escaped && !s->released;
}

static void release_if_unread(struct ag_storage *s) {
    if (s->holds > 0 || release_mode == KEEP_ALL) return;
    if (s->walk_temp || (release_mode == RELEASE_GRAPH && graph_releasable(s)))
        ag__storage_release_early(s);
}

/* A gradient sum starts or stops holding t's storage. */
static void hold(ag_tensor *t) {
    if (t) t->storage->holds++;
}
static void drop(ag_tensor *t) {
    if (!t) return;
    t->storage->holds--;
    release_if_unread(t->storage);
}

bool ag__needs_grad(const struct ag_node *node, int i) {
    return i < node->n_in && node->in[i]->requires_grad;
}

/* dst (contiguous, dst's dtype) += src (same shape, any strides). No graph: the walk runs
 * with grad mode off unless create_graph, and .grad accumulates only in ag_backward. */
static void add_into(ag_tensor *dst, ag_tensor *src) {
    if (!ag_is_contiguous(src)) { /* broadcast or strided: through the iterator */
        ag_tensor *sum = ag_add(dst, src);
        if (sum) memcpy(ag__ptr(dst), ag__ptr(sum), (size_t)dst->numel * ag_dtype_size(dst->dtype));
        return;
    }
    if (dst->dtype == AG_F32) {
        float *restrict d = ag__ptr(dst);
        const float *restrict s = ag__ptr(src);
        for (int64_t i = 0; i < dst->numel; i++) d[i] += s[i];
    } else {
        double *restrict d = ag__ptr(dst);
        const double *restrict s = ag__ptr(src);
        for (int64_t i = 0; i < dst->numel; i++) d[i] += s[i];
    }
}

/* A gradient sum (a node's, or a caller's slot): the first gradient is kept as given (it
 * may be shared: a view of another gradient); the second makes a fresh sum, which the sum
 * then owns, so that later ones are added into it in place (not under create_graph, where
 * every sum must be an op of the graph). */
static int sum_add(ag_tensor **sum, bool *owned, ag_tensor *g) {
    if (!*sum) {
        *sum = g;
        *owned = false;
        hold(g);
        return AG_OK;
    }
    if (*owned && !ag_is_grad_enabled()) {
        add_into(*sum, g);
        return AG_OK;
    }
    ag_tensor *prev = *sum;
    *sum = ag_add(prev, g);
    *owned = *sum && !ag_is_grad_enabled() && ag_is_contiguous(*sum);
    hold(*sum);
    drop(prev);
    return *sum ? AG_OK : ag__last_error_code();
}

/* The sum as a contiguous buffer this walk may write into (zeros of t's shape, or a copy
 * of what it held, the first time); NULL (an error set) when out of memory. */
static ag_tensor *sum_writable(ag_tensor **sum, bool *owned, const ag_tensor *t) {
    if (!*owned) {
        ag_tensor *prev = *sum;
        *sum = prev ? ag_clone(prev) : ag_zeros(t->dtype, t->ndim, t->shape);
        *owned = *sum != NULL;
        hold(*sum);
        drop(prev);
    }
    return *sum;
}

static bool slot_owned(const struct walk *w, int k) { return k < 64 && (w->owned >> k & 1); }
static void set_slot_owned(struct walk *w, int k, bool on) {
    if (k < 64) w->owned = on ? w->owned | (uint64_t)1 << k : w->owned & ~((uint64_t)1 << k);
}

static int leaf_accumulate(ag_tensor *t, ag_tensor *g) {
    struct walk *w = current_walk;
    if (w && w->collect) {
        int rc = AG_OK;
        for (int k = 0; k < w->n_in && !rc; k++) {
            if (w->inputs[k] != t) continue;
            bool owned = slot_owned(w, k);
            rc = sum_add(&w->slots[k], &owned, g);
            set_slot_owned(w, k, owned && k < 64);
        }
        return rc;
    }
    if (!t->grad && ag_is_contiguous(g) && g->dtype == t->dtype && g->ndim == t->ndim &&
        !memcmp(g->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim)) {
        /* the first gradient, as it is: one copy instead of zeros plus an add */
        t->grad = ag__empty_in(t->arena, t->dtype, t->ndim, t->shape, "ag_backward");
        return t->grad ? ag_copy_(t->grad, g) : AG_ERR_NOMEM;
    }
    if (!t->grad) {
        t->grad = ag__zeros_in(t->arena, t->dtype, t->ndim, t->shape, "ag_backward");
        if (!t->grad) return AG_ERR_NOMEM;
    } else if (t->grad_zero) { /* zeroed by ag_zero_grad: this gradient replaces it */
        t->grad_zero = false;
        if (ag_is_contiguous(g)) return ag_copy_(t->grad, g);
        ag_fill_(t->grad, 0.0);
    }
    add_into(t->grad, g);
    return AG_OK;
}

/* A leaf's .grad, ready to be written into in place (made of zeros the first time). */
static ag_tensor *leaf_grad_writable(ag_tensor *t) {
    if (!t->grad) t->grad = ag__zeros_in(t->arena, t->dtype, t->ndim, t->shape, "ag_backward");
    else if (t->grad_zero) ag_fill_(t->grad, 0.0);
    t->grad_zero = false;
    return t->grad;
}

/* Whether a gradient of dtype dt can go into t's gradient in place (see
 * ag__accumulate_place). */
static bool place_possible(const ag_tensor *t, ag_dtype dt) {
    if (ag_is_grad_enabled() || dt != t->dtype) return false;
    const struct walk *w = current_walk;
    if (t->node) return true;
    if (!(w && w->collect)) return !t->grad || ag_is_contiguous(t->grad);
    for (int k = 64; k < w->n_in; k++)
        if (w->inputs[k] == t) return false; /* no ownership bit for it */
    return true;
}

/* The buffer t's gradient is summed in, writable (place_possible(t) holds): a node's
 * gradient sum, a leaf's .grad, or the ag_autograd_grad slot of t (the first if t is
 * listed more than once: *more says so). NULL (an error set) when out of memory. */
static ag_tensor *sink_of(ag_tensor *t, int from, int *next) {
    struct walk *w = current_walk;
    *next = -1;
    if (t->node) return sum_writable(&t->node->grad, &t->node->grad_owned, t);
    if (!(w && w->collect)) return leaf_grad_writable(t);
    for (int k = from; k < w->n_in; k++) {
        if (w->inputs[k] != t) continue;
        bool owned = slot_owned(w, k);
        ag_tensor *G = sum_writable(&w->slots[k], &owned, t);
        set_slot_owned(w, k, owned);
        *next = k + 1;
        return G;
    }
    return NULL;
}

int ag__accumulate_place(struct ag_node *node, int i, ag_tensor *g, int dim, int64_t at,
                         int64_t step) {
    ag_tensor *t = node->in[i];
    if (!t->requires_grad) return AG_OK;
    if (!g) return ag__last_error_code() ? ag__last_error_code() : AG_ERR_STATE;
    if (!place_possible(t, g->dtype)) return AG__DECLINED;
    if (ag__anomaly) {
        int rc = ag__anomaly_backward(node, i, g);
        if (rc) return rc;
    }
    int from = 0;
    do { /* every slot of t (ag_autograd_grad), else its one gradient */
        ag_tensor *G = sink_of(t, from, &from);
        if (!G)
            return from < 0 && current_walk && current_walk->collect && !t->node ? AG_OK
                                                                                 : AG_ERR_NOMEM;
        ag__place(G, g, dim, at, step, true);
    } while (from > 0);
    return AG_OK;
}

ag_tensor *ag__grad_sink(struct ag_node *node, int i) {
    ag_tensor *t = node->in[i];
    if (!t->requires_grad || ag__anomaly || !place_possible(t, t->dtype)) return NULL;
    const struct walk *w = current_walk;
    if (w && w->collect && !t->node) { /* exactly one slot, or the sum goes the usual way */
        int n = 0;
        for (int k = 0; k < w->n_in; k++) n += w->inputs[k] == t;
        if (n != 1) return NULL;
    }
    int next;
    return sink_of(t, 0, &next);
}

static int accumulate_tensor(ag_tensor *t, ag_tensor *g) {
    if (!t->requires_grad) return AG_OK;
    if (!g) return ag__last_error_code() ? ag__last_error_code() : AG_ERR_STATE;
    bool same = g->ndim == t->ndim;
    for (int d = 0; d < t->ndim && same; d++) same = g->shape[d] == t->shape[d];
    if (!same) g = ag_sum_to(g, t->ndim, t->shape);
    if (g && g->dtype != t->dtype) g = ag_cast(g, t->dtype);
    if (!g) return ag__last_error_code();
    if (!t->node) return leaf_accumulate(t, g);
    return sum_add(&t->node->grad, &t->node->grad_owned, g);
}

int ag__accumulate(struct ag_node *node, int i, ag_tensor *g) {
    if (g && ag__anomaly) {
        int rc = ag__anomaly_backward(node, i, g);
        if (rc) return rc;
    }
    return accumulate_tensor(node->in[i], g);
}

/* ------------------------------------------------------------------ the walk */
struct order {
    struct ag_node **v;
    size_t n, cap;
};

struct frame {
    struct ag_node *node;
    int next; /* the next input to look at */
};

static int grow(void **v, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return AG_OK;
    size_t c = *cap ? 2 * *cap : 256;
    while (c < need) c *= 2;
    void *p = ag__realloc(*v, c * elem);
    if (!p) return AG_ERR_NOMEM;
    *v = p;
    *cap = c;
    return AG_OK;
}

static struct ag_node *unvisited_child(struct frame *f, uint64_t gen) {
    struct ag_node *x = f->node;
    while (f->next < x->n_in) {
        ag_tensor *in = x->in[f->next++];
        if (in->requires_grad && in->node && in->node->visit != gen) return in->node;
    }
    return NULL;
}

/* Marks x seen by this walk and clears its gradient; fails on a released graph. */
static int enter(struct ag_node *x, uint64_t gen, const char *fn) {
    x->visit = gen;
    x->grad = NULL;
    x->grad_owned = false;
    if (x->released)
        return ag__error(AG_ERR_STATE, fn,
                         "the graph through %s %s was freed by an earlier backward; "
                         "pass retain_graph to go backward twice",
                         x->def->name, AG_SHAPE(x->out));
    return AG_OK;
}

/* Post-order DFS from the roots' nodes: inputs' nodes before the nodes that use them.
 * One pass over the graph: it also clears the gradients and checks for released nodes. */
static int topo_order(int n, ag_tensor *const *roots, struct order *out, const char *fn) {
    uint64_t gen = atomic_fetch_add(&walk_generation, 1) + 1;
    struct frame *stack = NULL;
    size_t depth = 0, cap = 0;
    int rc = AG_OK;
    for (int r = 0; r < n && rc == AG_OK; r++) {
        struct ag_node *root = roots[r]->node;
        if (!root || root->visit == gen) continue;
        if ((rc = enter(root, gen, fn))) break;
        if ((rc = grow((void **)&stack, &cap, 1, sizeof *stack))) break;
        stack[depth++] = (struct frame){root, 0};
        while (depth && rc == AG_OK) {
            struct ag_node *child = unvisited_child(&stack[depth - 1], gen);
            if (!child) {
                if ((rc = grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v))) break;
                out->v[out->n++] = stack[--depth].node;
                continue;
            }
            if ((rc = enter(child, gen, fn))) break;
            if ((rc = grow((void **)&stack, &cap, depth + 1, sizeof *stack))) break;
            stack[depth++] = (struct frame){child, 0};
        }
    }
    free(stack);
    if (rc == AG_ERR_NOMEM) ag__error(rc, fn, "out of memory ordering the graph");
    return rc;
}

static int check_root(ag_tensor *root, ag_tensor *seed, const char *fn) {
    if (!root->requires_grad)
        return ag__error(AG_ERR_STATE, fn, "tensor %s does not require grad and has no grad_fn",
                         AG_SHAPE(root));
    if (!seed && root->numel != 1)
        return ag__error(AG_ERR_SHAPE, fn,
                         "root %s has %lld elements; pass a seed gradient of its shape",
                         AG_SHAPE(root), (long long)root->numel);
    if (seed && (seed->ndim != root->ndim || seed->dtype != root->dtype ||
                 memcmp(seed->shape, root->shape, sizeof(int64_t) * (size_t)root->ndim)))
        return ag__error(AG_ERR_SHAPE, fn, "seed %s %s does not match root %s %s",
                         ag_dtype_name(seed->dtype), AG_SHAPE(seed), ag_dtype_name(root->dtype),
                         AG_SHAPE(root));
    return AG_OK;
}

/* The tensors node x lists (inputs, output, saved), for fn(storage, step). */
static void each_read(struct ag_node *x, void (*fn)(struct ag_storage *s, int step), int step) {
    for (int i = 0; i < x->n_in; i++) fn(x->in[i]->storage, step);
    fn(x->out->storage, step);
    for (int i = 0; i < AG_MAX_SAVED; i++)
        if (x->saved[i]) fn(x->saved[i]->storage, step);
}
static void zero_reads(struct ag_storage *s, int step) {
    (void)step;
    if (graph_releasable(s)) s->holds = 0;
}
static void count_read(struct ag_storage *s, int step) {
    if (graph_releasable(s)) {
        s->holds += step;
        if (step < 0) release_if_unread(s);
    }
}

/* What this walk releases, and the graph's readers counted when it releases those. */
static enum release release_begin(const struct order *o, bool retain, bool create,
                                  const struct walk *w) {
    if (w || create || ag__anomaly || release_off) return KEEP_ALL; /* results reach out */
    if (retain) return RELEASE_TEMPS;
    for (size_t i = 0; i < o->n; i++) each_read(o->v[i], zero_reads, 0);
    for (size_t i = 0; i < o->n; i++) each_read(o->v[i], count_read, 1);
    return RELEASE_GRAPH;
}

/* Node x is done: its gradient sum and its reads are over; then the scratch of its rule
 * that no sum holds goes. */
static void release_after(struct ag_node *x, struct ag_arena *walk_arena) {
    if (release_mode == KEEP_ALL) return;
    ag_tensor *g = x->grad;
    x->grad = NULL;
    drop(g);
    if (release_mode == RELEASE_GRAPH) each_read(x, count_read, -1);
    if (walk_arena) ag__arena_release_unheld(walk_arena);
}

/* Runs x's backward rule; what it allocates is walk scratch when the walk releases. */
static int run_rule(struct ag_node *x, bool anomaly) {
    const struct ag_node *outer = anomaly ? ag__anomaly_set_backward(x) : NULL;
    bool prev = ag__walk_temps;
    ag__walk_temps = release_mode != KEEP_ALL;
    int rc = x->def->backward(x, x->grad);
    ag__walk_temps = prev;
    if (anomaly) ag__anomaly_set_backward(outer);
    return rc;
}

/* Seeds each root, then runs every node's backward rule in reverse topological order. */
static int walk(int n, ag_tensor *const *roots, ag_tensor *const *seeds, bool retain, bool create,
                struct walk *w, const char *fn) {
    for (int r = 0; r < n; r++) {
        if (!roots[r]) return ag__error(AG_ERR_NULL, fn, "root %d is NULL", r);
        int rc = check_root(roots[r], seeds ? seeds[r] : NULL, fn);
        if (rc) return rc;
    }
    struct order order = {0};
    int rc = topo_order(n, roots, &order, fn);
    bool prev_mode = ag_set_grad_enabled(create);
    struct walk *prev_walk = current_walk;
    current_walk = w;
    enum release prev_release = release_mode;
    release_mode = rc ? KEEP_ALL : release_begin(&order, retain, create, w);
    struct ag_arena *walk_arena = ag__current_arena();
    struct ag__hook_walk *hw = rc || w ? NULL : ag__hooks_walk_begin(order.v, order.n, n, roots);
    for (int r = 0; r < n && rc == AG_OK; r++) {
        ag_tensor *root = roots[r];
        ag_tensor *seed = seeds && seeds[r] ? seeds[r] : ag_ones_like(root);
        rc = accumulate_tensor(root, seed);
    }
    if (rc == AG_OK) ag__hooks_roots_done(hw, n, roots);
    bool anomaly = ag__anomaly;
    for (size_t i = order.n; i-- > 0 && rc == AG_OK;) {
        struct ag_node *x = order.v[i];
        if (x->grad) {
            rc = run_rule(x, anomaly);
            if (rc && !ag_last_error()) ag__error(rc, fn, "backward of %s failed", x->def->name);
            if (!retain) x->released = true;
        }
        if (rc == AG_OK) ag__hooks_node_done(hw, x);
        if (rc == AG_OK) release_after(x, walk_arena);
    }
    ag__hooks_walk_end(hw);
    release_mode = prev_release;
    current_walk = prev_walk;
    ag_set_grad_enabled(prev_mode);
    free(order.v);
    return rc;
}

/* ------------------------------------------------------------------ public entry points */
int ag_backward_ex(ag_tensor *root, ag_backward_opts opts) {
    if (!root) return ag__error(AG_ERR_NULL, "ag_backward", "root is NULL");
    ag_tensor *seeds[1] = {opts.grad};
    /* The walk's temporaries (node gradients, products) live in a scope of their own:
     * only the leaves' .grad (kept with the leaves) outlives it. */
    ag_scope_begin();
    int rc = walk(1, &root, seeds, opts.retain_graph, false, NULL, "ag_backward");
    ag_scope_end();
    return rc;
}

int ag_backward(ag_tensor *root) { return ag_backward_ex(root, (ag_backward_opts){0}); }

static int check_grad_args(int n_out, ag_tensor *const *outputs, int n_in, ag_tensor *const *inputs,
                           ag_tensor **grads, const char *fn) {
    if (n_out < 1 || n_in < 1 || !outputs || !inputs || !grads)
        return ag__error(AG_ERR_NULL, fn, "needs outputs (%d), inputs (%d) and a grads array",
                         n_out, n_in);
    for (int j = 0; j < n_in; j++) {
        if (!inputs[j]) return ag__error(AG_ERR_NULL, fn, "input %d is NULL", j);
        if (!inputs[j]->requires_grad)
            return ag__error(AG_ERR_STATE, fn, "input %d %s does not require grad", j,
                             AG_SHAPE(inputs[j]));
    }
    return AG_OK;
}

int ag_autograd_grad(int n_out, ag_tensor *const *outputs, ag_tensor *const *grad_outputs, int n_in,
                     ag_tensor *const *inputs, ag_tensor **grads, ag_grad_opts opts) {
    const char *fn = "ag_autograd_grad";
    int rc = check_grad_args(n_out, outputs, n_in, inputs, grads, fn);
    if (rc) return rc;
    if (ag_scope_depth() == 0) /* the results and their graph need a scope to live in */
        return ag__error(AG_ERR_STATE, fn, "call it inside ag_scope_begin/ag_scope_end");
    for (int j = 0; j < n_in; j++) {
        grads[j] = NULL;
        if (inputs[j]->node) /* unreachable: stays NULL */
            inputs[j]->node->grad = NULL, inputs[j]->node->grad_owned = false;
    }
    struct walk w = {.n_in = n_in, .inputs = inputs, .slots = grads, .collect = true};
    bool retain = opts.retain_graph || opts.create_graph;
    rc = walk(n_out, outputs, grad_outputs, retain, opts.create_graph, &w, fn);
    for (int j = 0; j < n_in && rc == AG_OK; j++) {
        if (inputs[j]->node) grads[j] = inputs[j]->node->grad; /* a non-leaf input */
        if (!grads[j] && !opts.allow_unused)
            rc = ag__error(AG_ERR_STATE, fn,
                           "input %d %s is not used by the outputs (set allow_unused)", j,
                           AG_SHAPE(inputs[j]));
    }
    if (rc)
        for (int j = 0; j < n_in; j++) grads[j] = NULL;
    return rc;
}
