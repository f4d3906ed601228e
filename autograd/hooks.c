/* Post-accumulate-grad hooks (torch.Tensor.register_post_accumulate_grad_hook).
 *
 * A hook on a leaf runs once per ag_backward, right after the last contribution to the
 * leaf's .grad has been added: the walk runs nodes in reverse topological order, so the
 * leaf is final once every node listing it as an input has run. At the start of a walk
 * the hooked leaves of the graph get a count of such edges; each finished node counts its
 * edges down, and a count reaching zero fires the leaf's hooks (in registration order),
 * while the walk goes on with the rest of the graph. ag_autograd_grad accumulates into no
 * .grad and fires nothing, as in torch.
 *
 * The registry is process-wide (a mutex guards it); a walk works on a snapshot, so a hook
 * may register or remove hooks, and walks in other threads are not disturbed. */
#include "autograd/hooks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct hook {
    ag_tensor *leaf;
    ag_grad_hook fn;
    void *user;
    size_t seq; /* snapshot: position in the registry */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct hook *hooks;
static size_t n_hooks, cap_hooks;
static _Atomic size_t n_live; /* n_hooks, read without the lock by every walk */

/* ------------------------------------------------------------------ registry */
static void forget_scoped(void *t) { ag__hooks_forget(t); }

int ag_register_post_accumulate_grad_hook(ag_tensor *leaf, ag_grad_hook fn, void *user) {
    const char *f = "ag_register_post_accumulate_grad_hook";
    if (!leaf || !fn) return ag__error(AG_ERR_NULL, f, "needs a leaf and a function");
    if (leaf->node)
        return ag__error(AG_ERR_STATE, f, "tensor %s is not a leaf (it was made by %s)",
                         AG_SHAPE(leaf), leaf->node->def->name);
    if (!leaf->requires_grad)
        return ag__error(AG_ERR_STATE, f, "tensor %s does not require grad", AG_SHAPE(leaf));
    if (leaf->arena && ag__arena_on_free(leaf->arena, forget_scoped, leaf))
        return ag__error(AG_ERR_NOMEM, f, "out of memory");
    pthread_mutex_lock(&lock);
    if (n_hooks == cap_hooks) {
        size_t c = cap_hooks ? 2 * cap_hooks : 64;
        struct hook *p = ag__realloc(hooks, c * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&lock);
            return ag__error(AG_ERR_NOMEM, f, "out of memory");
        }
        hooks = p;
        cap_hooks = c;
    }
    hooks[n_hooks++] = (struct hook){leaf, fn, user, 0};
    ag__set_free_observer(ag__hooks_forget); /* a freed leaf's hooks go with it */
    atomic_store(&n_live, n_hooks);
    pthread_mutex_unlock(&lock);
    return AG_OK;
}

/* Removes the hooks matching leaf (and fn/user unless fn is NULL); returns how many. */
static size_t remove_matching(const ag_tensor *leaf, ag_grad_hook fn, const void *user) {
    pthread_mutex_lock(&lock);
    size_t kept = 0, n = n_hooks;
    for (size_t i = 0; i < n; i++) {
        struct hook h = hooks[i];
        if (h.leaf == leaf && (!fn || (h.fn == fn && h.user == user))) continue;
        hooks[kept++] = h;
    }
    n_hooks = kept;
    atomic_store(&n_live, n_hooks);
    if (!n_hooks) {
        free(hooks);
        hooks = NULL;
        cap_hooks = 0;
    }
    pthread_mutex_unlock(&lock);
    return n - kept;
}

int ag_remove_post_accumulate_grad_hook(ag_tensor *leaf, ag_grad_hook fn, void *user) {
    const char *f = "ag_remove_post_accumulate_grad_hook";
    if (!leaf || !fn) return ag__error(AG_ERR_NULL, f, "needs a leaf and a function");
    if (!remove_matching(leaf, fn, user)) /* leaf is not read: it may be gone already */
        return ag__error(AG_ERR_ARG, f, "no such hook (or its tensor was freed)");
    return AG_OK;
}

void ag__hooks_forget(ag_tensor *t) {
    if (atomic_load(&n_live)) remove_matching(t, NULL, NULL);
}

/* ------------------------------------------------------------------ one walk */
struct entry { /* a hooked leaf of this walk's graph */
    ag_tensor *leaf;
    int64_t pending;     /* edges still to bring gradient */
    size_t first, count; /* its hooks: snap[first .. first+count) */
};

struct ag__hook_walk {
    struct hook *snap; /* the registry, grouped by leaf */
    struct entry *e;
    size_t n_e;
    size_t mask; /* table: open addressing over entry indices + 1 (0: empty) */
    size_t *table;
};

static size_t slot_of(const struct ag__hook_walk *hw, const ag_tensor *t) {
    size_t h = (size_t)(((uintptr_t)t >> 4) * 0x9e3779b97f4a7c15ULL) & hw->mask;
    while (hw->table[h] && hw->e[hw->table[h] - 1].leaf != t) h = (h + 1) & hw->mask;
    return h;
}

static struct entry *find(const struct ag__hook_walk *hw, const ag_tensor *t) {
    size_t s = hw->table[slot_of(hw, t)];
    return s ? &hw->e[s - 1] : NULL;
}

static int by_leaf(const void *a, const void *b) { /* then by registration: stable */
    const struct hook *x = a, *y = b;
    uintptr_t p = (uintptr_t)x->leaf, q = (uintptr_t)y->leaf;
    if (p != q) return p < q ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Copies the registry (grouped by leaf, registration order within a leaf) into hw. */
static int snapshot(struct ag__hook_walk *hw) {
    pthread_mutex_lock(&lock);
    size_t n = n_hooks;
    hw->snap = n ? ag__malloc(n * sizeof *hw->snap) : NULL;
    if (hw->snap) memcpy(hw->snap, hooks, n * sizeof *hw->snap);
    pthread_mutex_unlock(&lock);
    if (!hw->snap) return -1;
    for (size_t i = 0; i < n; i++) hw->snap[i].seq = i;
    qsort(hw->snap, n, sizeof *hw->snap, by_leaf);
    size_t size = 16;
    while (size < 2 * n) size *= 2;
    hw->mask = size - 1;
    hw->table = ag__calloc(size, sizeof *hw->table);
    hw->e = ag__malloc(n * sizeof *hw->e);
    if (!hw->table || !hw->e) return -1;
    for (size_t i = 0; i < n; i++) {
        if (i && hw->snap[i].leaf == hw->snap[i - 1].leaf) {
            hw->e[hw->n_e - 1].count++;
            continue;
        }
        hw->e[hw->n_e] = (struct entry){hw->snap[i].leaf, 0, i, 1};
        hw->table[slot_of(hw, hw->snap[i].leaf)] = ++hw->n_e;
    }
    return 0;
}

void ag__hooks_walk_end(struct ag__hook_walk *hw) {
    if (!hw) return;
    free(hw->snap);
    free(hw->e);
    free(hw->table);
    free(hw);
}

static void count_edge(struct ag__hook_walk *hw, ag_tensor *t, int64_t d) {
    if (t->node || !t->requires_grad) return;
    struct entry *e = find(hw, t);
    if (!e) return;
    e->pending += d;
    if (d < 0 && e->pending == 0)
        for (size_t k = 0; k < e->count; k++)
            hw->snap[e->first + k].fn(t, hw->snap[e->first + k].user);
}

struct ag__hook_walk *ag__hooks_walk_begin(struct ag_node *const *order, size_t n, int n_roots,
                                           ag_tensor *const *roots) {
    if (!atomic_load(&n_live)) return NULL;
    struct ag__hook_walk *hw = calloc(1, sizeof *hw);
    if (!hw || snapshot(hw)) { /* out of memory: the walk goes on without hooks */
        ag__hooks_walk_end(hw);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < order[i]->n_in; k++) count_edge(hw, order[i]->in[k], 1);
    for (int r = 0; r < n_roots; r++) count_edge(hw, roots[r], 1);
    return hw;
}

void ag__hooks_roots_done(struct ag__hook_walk *hw, int n_roots, ag_tensor *const *roots) {
    if (!hw) return;
    for (int r = 0; r < n_roots; r++) count_edge(hw, roots[r], -1);
}

void ag__hooks_node_done(struct ag__hook_walk *hw, const struct ag_node *x) {
    if (!hw) return;
    for (int k = 0; k < x->n_in; k++) count_edge(hw, x->in[k], -1);
}
