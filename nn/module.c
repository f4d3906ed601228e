/* The module tree: making modules, registering parameters, buffers and children under
 * checked names, calling forward, finding things by dotted name, the training flag and
 * freeing. The flat parameter list and the state_dict are in module_state.c. */
#include "nn/nn.h"

#include <string.h>

/* ------------------------------------------------------------------ making */
ag_module *ag__module_make(const struct ag_module_type *type, void *ctx, const char *fn) {
    ag_module *m = ag__calloc(1, sizeof *m);
    if (!m) {
        if (type->free_ctx) type->free_ctx(ctx);
        ag__error(AG_ERR_NOMEM, fn, "out of memory");
        return NULL;
    }
    m->type = type;
    m->ctx = ctx;
    m->training = true;
    return m;
}

ag_module *ag__module_make_copy(const struct ag_module_type *type, const void *src, size_t size,
                                const char *fn) {
    void *ctx = ag__malloc(size);
    if (!ctx) {
        ag__error(AG_ERR_NOMEM, fn, "out of memory");
        return NULL;
    }
    memcpy(ctx, src, size);
    return ag__module_make(type, ctx, fn);
}

ag_module *ag_module_new(const char *type_name, ag_module_fn forward, void *ctx,
                         void (*free_ctx)(void *ctx)) {
    const char *fn = "ag_module_new";
    char *name = type_name ? ag__strdup(type_name) : NULL;
    ag_module *m = name ? ag__calloc(1, sizeof *m) : NULL;
    if (!m) {
        free(name);
        if (free_ctx) free_ctx(ctx);
        if (!type_name) ag__error(AG_ERR_NULL, fn, "type_name must not be NULL");
        else ag__error(AG_ERR_NOMEM, fn, "out of memory");
        return NULL;
    }
    m->owned_name = name;
    m->own_type = (struct ag_module_type){name, forward, free_ctx};
    m->type = &m->own_type;
    m->ctx = ctx;
    m->training = true;
    return m;
}

void *ag_module_ctx(ag_module *m) {
    if (!m) ag__error(AG_ERR_NULL, "ag_module_ctx", "module is NULL");
    return m ? m->ctx : NULL;
}

const char *ag_module_type_name(const ag_module *m) { return m ? m->type->name : NULL; }

/* ------------------------------------------------------------------ registering */
static bool taken(const ag_module *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i].name, name)) return true;
    for (int i = 0; i < m->n_buffers; i++)
        if (!strcmp(m->buffers[i].name, name)) return true;
    for (int i = 0; i < m->n_children; i++)
        if (!strcmp(m->children[i].name, name)) return true;
    return false;
}

static int check_name(const ag_module *m, const char *name, const char *fn) {
    if (!name) return ag__error(AG_ERR_NULL, fn, "name must not be NULL");
    if (!name[0] || strchr(name, '.'))
        return ag__error(AG_ERR_ARG, fn, "name '%s' must be non-empty and without '.'", name);
    if (taken(m, name))
        return ag__error(AG_ERR_ARG, fn, "%s already has something named '%s'", m->type->name,
                         name);
    return AG_OK;
}

/* Room for one more element in *arr (n used of *cap). */
static int grow(void **arr, int *cap, int n, size_t elem) {
    if (n < *cap) return AG_OK;
    int c = *cap ? 2 * *cap : 4;
    void *p = ag__realloc(*arr, elem * (size_t)c);
    if (!p) return AG_ERR_NOMEM;
    *arr = p;
    *cap = c;
    return AG_OK;
}

static void changed(ag_module *m) {
    for (; m; m = m->parent) m->flat_valid = false;
}

static int push_tensor(struct ag__named_tensor **arr, int *n, int *cap, const char *name,
                       ag_tensor *t, const char *fn) {
    char *copy = ag__strdup(name);
    if (!copy || grow((void **)arr, cap, *n, sizeof **arr)) {
        free(copy);
        return ag__error(AG_ERR_NOMEM, fn, "out of memory");
    }
    (*arr)[(*n)++] = (struct ag__named_tensor){copy, t};
    /* cppcheck-suppress memleak ; copy is stored in (*arr)[n], freed with the module */
    return AG_OK;
}

/* Checks shared by parameters and buffers: a heap tensor under a free name. */
static int check_tensor(ag_module *m, const char *name, ag_tensor *t, const char *fn) {
    if (!m || !t) return ag__error(AG_ERR_NULL, fn, "module and tensor must not be NULL");
    int rc = check_name(m, name, fn);
    if (rc) return rc;
    if (t->arena)
        return ag__error(AG_ERR_ARG, fn, "'%s' %s lives in a scope: make it outside every scope",
                         name, AG_SHAPE(t));
    return AG_OK;
}

ag_tensor *ag_module_add_param(ag_module *m, const char *name, ag_tensor *t) {
    const char *fn = "ag_module_add_param";
    int rc = check_tensor(m, name, t, fn);
    if (!rc && !ag__is_float(t->dtype))
        rc = ag__error(AG_ERR_DTYPE, fn, "'%s' is %s: a parameter must be float", name,
                       ag_dtype_name(t->dtype));
    if (!rc && t->node)
        rc = ag__error(AG_ERR_ARG, fn, "'%s' %s is the result of an op: detach it first", name,
                       AG_SHAPE(t));
    if (!rc) rc = push_tensor(&m->params, &m->n_params, &m->cap_params, name, t, fn);
    if (rc) {
        ag_tensor_free(t);
        return NULL;
    }
    t->requires_grad = true;
    changed(m);
    return t;
}

ag_tensor *ag_module_add_buffer(ag_module *m, const char *name, ag_tensor *t) {
    const char *fn = "ag_module_add_buffer";
    int rc = check_tensor(m, name, t, fn);
    if (!rc) rc = push_tensor(&m->buffers, &m->n_buffers, &m->cap_buffers, name, t, fn);
    if (rc) {
        ag_tensor_free(t);
        return NULL;
    }
    return t;
}

static bool is_above_or_self(const ag_module *a, const ag_module *m) {
    for (; m; m = m->parent)
        if (m == a) return true;
    return false;
}

ag_module *ag_module_add_child(ag_module *m, const char *name, ag_module *child) {
    const char *fn = "ag_module_add_child";
    if (child && (child->parent || is_above_or_self(child, m))) { /* owned elsewhere: keep */
        ag__error(AG_ERR_ARG, fn, "child %s already belongs to a module (or holds this one)",
                  child->type->name);
        return NULL;
    }
    int rc = !m || !child ? ag__error(AG_ERR_NULL, fn, "module and child must not be NULL")
                          : check_name(m, name, fn);
    char *copy = rc ? NULL : ag__strdup(name);
    if (!rc && (!copy ||
                grow((void **)&m->children, &m->cap_children, m->n_children, sizeof *m->children)))
        rc = ag__error(AG_ERR_NOMEM, fn, "out of memory");
    if (rc) {
        free(copy);
        ag_module_free(child);
        return NULL;
    }
    m->children[m->n_children++] = (struct ag__named_module){copy, child};
    child->parent = m;
    changed(m);
    return child;
}

/* ------------------------------------------------------------------ helpers for built-ins */
int ag__module_param(ag_module *m, const char *name, int ndim, const int64_t *shape,
                     const char *fn) {
    ag_tensor *t = ag__param_new(ndim, shape, fn);
    return t && ag_module_add_param(m, name, t) ? AG_OK : ag__last_error_code();
}

int ag__module_buffer(ag_module *m, const char *name, ag_dtype dtype, int ndim,
                      const int64_t *shape, const char *fn) {
    ag_tensor *t = ag__zeros_in(NULL, dtype, ndim, shape, fn);
    return t && ag_module_add_buffer(m, name, t) ? AG_OK : ag__last_error_code();
}

ag_tensor *ag__one_input(ag_module *m, int n, ag_tensor *const *inputs) {
    if (n == 1 && inputs[0]) return inputs[0];
    if (n == 1 && ag__last_error_code()) return NULL; /* as ops: NULL passes, the error stays */
    if (n == 1) ag__error(AG_ERR_NULL, "ag_module_call", "%s: input is NULL", m->type->name);
    else ag__error(AG_ERR_ARG, "ag_module_call", "%s takes 1 input, got %d", m->type->name, n);
    return NULL;
}

void ag__module_rename(ag_module *m, const char *name) {
    m->own_type = *m->type;
    m->own_type.name = name;
    m->type = &m->own_type;
}

/* ------------------------------------------------------------------ calling */
/* With grad off nothing can read a module's intermediates after its forward returns, so
 * the forward runs in a scope of its own and only its output is kept (copied, ag_keep)
 * into the caller's scope: an evaluation holds one module's temporaries at a time. With
 * grad on (the graph needs them) or nested too deep, the forward runs as it is. */
#define NOGRAD_SCOPE_MAX_DEPTH 32
static ag_tensor *run_forward(ag_module *m, int n, ag_tensor *const *inputs) {
    int d = ag_scope_depth();
    if (ag_is_grad_enabled() || d >= NOGRAD_SCOPE_MAX_DEPTH) return m->type->forward(m, n, inputs);
    ag_scope_begin();
    ag_tensor *y = ag_keep(m->type->forward(m, n, inputs));
    ag_scope_end();
    return y;
}

/* Who can still read a module's tensors, for the backward pass's early release
 * (docs/DESIGN.md, "Memory"): the caller's own code sees the inputs it passes and the
 * output it gets back, and a user's module (ag_module_new) sees its inputs and made its
 * output, so those are marked escaped (never released). Only built-in code runs between
 * the children of a Sequential, which marks what passes between them internal. */
static _Thread_local bool in_builtin; /* the code calling ag_module_call is the library's */

static bool is_user_module(const ag_module *m) { return m->owned_name != NULL; }

static void mark_escaped(int n, ag_tensor *const *t) {
    for (int i = 0; i < n; i++) ag__mark_escaped(t[i]);
}

ag_tensor *ag_module_call(ag_module *m, int n, ag_tensor *const *inputs) {
    const char *fn = "ag_module_call";
    if (!m || n < 0 || (n && !inputs)) {
        ag__error(AG_ERR_NULL, fn, "needs a module and its inputs (n = %d)", n);
        return NULL;
    }
    if (!m->type->forward) {
        ag__error(AG_ERR_ARG, fn, "%s has no forward of tensors (a cell: use its own forward)",
                  m->type->name);
        return NULL;
    }
    bool user = is_user_module(m), seen = user || !in_builtin, prev = in_builtin;
    if (seen) mark_escaped(n, inputs);
    in_builtin = !user;
    int row = ag__summary_enter(m);
    ag_tensor *y = run_forward(m, n, inputs);
    ag__summary_leave(row, y);
    in_builtin = prev;
    if (seen) ag__mark_escaped(y);
    return y;
}

ag_tensor *ag_module_forward(ag_module *m, ag_tensor *x) { return ag_module_call(m, 1, &x); }

/* ------------------------------------------------------------------ finding by name */
static ag_module *child_named(ag_module *m, const char *name, size_t len) {
    for (int i = 0; i < m->n_children; i++)
        if (strlen(m->children[i].name) == len && !strncmp(m->children[i].name, name, len))
            return m->children[i].m;
    return NULL;
}

/* Walks the children along the dotted path up to its last part (*last). */
static ag_module *walk(ag_module *m, const char *dotted, const char **last, const char *fn) {
    if (!m || !dotted) {
        ag__error(AG_ERR_NULL, fn, "module and name must not be NULL");
        return NULL;
    }
    const char *p = dotted, *dot;
    while ((dot = strchr(p, '.'))) {
        ag_module *c = child_named(m, p, (size_t)(dot - p));
        if (!c) {
            ag__error(AG_ERR_ARG, fn, "'%s': %s has no child '%.*s'", dotted, m->type->name,
                      (int)(dot - p), p);
            return NULL;
        }
        m = c;
        p = dot + 1;
    }
    *last = p;
    return m;
}

ag_tensor *ag_module_get(ag_module *m, const char *dotted_name) {
    const char *fn = "ag_module_get", *last;
    if (!(m = walk(m, dotted_name, &last, fn))) return NULL;
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i].name, last)) return m->params[i].t;
    for (int i = 0; i < m->n_buffers; i++)
        if (!strcmp(m->buffers[i].name, last)) return m->buffers[i].t;
    ag__error(AG_ERR_ARG, fn, "'%s': %s has no parameter or buffer '%s'", dotted_name,
              m->type->name, last);
    return NULL;
}

ag_module *ag_module_get_child(ag_module *m, const char *dotted_name) {
    const char *fn = "ag_module_get_child", *last;
    if (!(m = walk(m, dotted_name, &last, fn))) return NULL;
    ag_module *c = child_named(m, last, strlen(last));
    if (!c)
        ag__error(AG_ERR_ARG, fn, "'%s': %s has no child '%s'", dotted_name, m->type->name, last);
    return c;
}

/* ------------------------------------------------------------------ training flag */
void ag_module_train(ag_module *m, bool training) {
    if (!m) return;
    m->training = training;
    for (int i = 0; i < m->n_children; i++) ag_module_train(m->children[i].m, training);
}

bool ag_module_is_training(const ag_module *m) { return m && m->training; }

static int count_modules(const ag_module *m) {
    int n = 1;
    for (int i = 0; i < m->n_children; i++) n += count_modules(m->children[i].m);
    return n;
}

static void modes_walk(ag_module *m, bool *modes, int *k, bool save) {
    if (save) modes[*k] = m->training;
    else m->training = modes[*k];
    ++*k;
    for (int i = 0; i < m->n_children; i++) modes_walk(m->children[i].m, modes, k, save);
}

bool *ag__module_modes_save(ag_module *m, const char *fn) {
    bool *modes = ag__malloc(sizeof *modes * (size_t)count_modules(m));
    if (!modes) {
        ag__error(AG_ERR_NOMEM, fn, "out of memory");
        return NULL;
    }
    int k = 0;
    modes_walk(m, modes, &k, true);
    return modes;
}

void ag__module_modes_restore(ag_module *m, bool *modes) {
    int k = 0;
    modes_walk(m, modes, &k, false);
    free(modes);
}

/* ------------------------------------------------------------------ freeing */
static void free_tree(ag_module *m) {
    for (int i = 0; i < m->n_children; i++) {
        free_tree(m->children[i].m);
        free(m->children[i].name);
    }
    for (int i = 0; i < m->n_params; i++) {
        ag_tensor_free(m->params[i].t);
        free(m->params[i].name);
    }
    for (int i = 0; i < m->n_buffers; i++) {
        ag_tensor_free(m->buffers[i].t);
        free(m->buffers[i].name);
    }
    if (m->type->free_ctx) m->type->free_ctx(m->ctx);
    for (int i = 0; i < m->n_flat; i++) free(m->flat_names[i]);
    free(m->flat);
    free(m->flat_names);
    free(m->children);
    free(m->params);
    free(m->buffers);
    free(m->owned_name);
    free(m);
}

void ag_module_free(ag_module *m) {
    if (!m) return;
    if (m->parent) {
        ag__error(AG_ERR_ARG, "ag_module_free", "%s belongs to a %s: free the root", m->type->name,
                  m->parent->type->name);
        return;
    }
    free_tree(m);
}
