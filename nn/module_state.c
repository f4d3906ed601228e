/* A module's tensors by dotted name: the recursive parameter list (what optimizers take)
 * and the state_dict (parameters and buffers, what save/load write and read), both in
 * torch's order: a module's own parameters, its own buffers, then each child's, with
 * names "<child>.<child>...<name>". */
#include "nn/nn.h"

#include <string.h>

struct list {
    ag_tensor **t;
    char **names;
    int n, cap;
};

static int push(struct list *l, const char *prefix, const char *name, ag_tensor *t) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        ag_tensor **p = ag__realloc(l->t, sizeof *p * (size_t)cap);
        if (p) l->t = p;
        char **q = ag__realloc(l->names, sizeof *q * (size_t)cap);
        if (q) l->names = q;
        if (!p || !q) return AG_ERR_NOMEM;
        l->cap = cap;
    }
    size_t len = strlen(prefix) + strlen(name) + 1;
    char *s = ag__malloc(len);
    if (!s) return AG_ERR_NOMEM;
    snprintf(s, len, "%s%s", prefix, name);
    l->t[l->n] = t;
    l->names[l->n++] = s;
    return AG_OK;
}

/* prefix is "" or "a.b." */
static int collect(const ag_module *m, const char *prefix, bool buffers, struct list *l) {
    int rc = AG_OK;
    for (int i = 0; i < m->n_params && !rc; i++)
        rc = push(l, prefix, m->params[i].name, m->params[i].t);
    for (int i = 0; buffers && i < m->n_buffers && !rc; i++)
        rc = push(l, prefix, m->buffers[i].name, m->buffers[i].t);
    for (int i = 0; i < m->n_children && !rc; i++) {
        size_t len = strlen(prefix) + strlen(m->children[i].name) + 2;
        char *sub = ag__malloc(len);
        if (!sub) return AG_ERR_NOMEM;
        snprintf(sub, len, "%s%s.", prefix, m->children[i].name);
        rc = collect(m->children[i].m, sub, buffers, l);
        free(sub);
    }
    return rc;
}

static int build(const ag_module *m, bool buffers, struct list *l, const char *fn) {
    *l = (struct list){0};
    int rc = collect(m, "", buffers, l);
    if (rc) {
        ag__state_free(l->n, l->t, l->names);
        *l = (struct list){0};
        return ag__error(rc, fn, "out of memory");
    }
    return AG_OK;
}

/* Rebuilds m's flat parameter list when the tree below changed. */
static int refresh(ag_module *m, const char *fn) {
    if (m->flat_valid) return AG_OK;
    struct list l;
    int rc = build(m, false, &l, fn);
    if (rc) return rc;
    ag__state_free(m->n_flat, (ag_tensor **)m->flat, m->flat_names);
    m->flat = l.t;
    m->flat_names = l.names;
    m->n_flat = l.n;
    m->flat_valid = true;
    return AG_OK;
}

ag_tensor **ag_module_parameters(ag_module *m, int *n) {
    if (n) *n = 0;
    if (!m) {
        ag__error(AG_ERR_NULL, "ag_module_parameters", "module is NULL");
        return NULL;
    }
    if (refresh(m, "ag_module_parameters")) return NULL;
    if (n) *n = m->n_flat;
    return m->flat;
}

const char *ag_module_param_name(ag_module *m, int i) {
    if (!m || refresh(m, "ag_module_param_name") || i < 0 || i >= m->n_flat) return NULL;
    return m->flat_names[i];
}

int ag__model_state(ag_model *m, ag_tensor ***tensors, char ***names) {
    struct list l;
    int rc = build(m, true, &l, "ag_model_state");
    *tensors = l.t;
    *names = l.names;
    return rc ? -rc : l.n;
}

void ag__state_free(int n, ag_tensor **tensors, char **names) {
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(tensors);
    free(names);
}

int ag_module_save(ag_module *m, const char *path) { return ag_model_save(m, path); }
int ag_module_load(ag_module *m, const char *path) { return ag_model_load(m, path); }
