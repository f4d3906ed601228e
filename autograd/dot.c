/* The recorded graph as Graphviz DOT (like torchviz): one box per op with its name and
 * output shape, one ellipse per leaf (parameters, those with requires_grad, shaded), and
 * edges from inputs to the ops that use them. Iterative, like the backward walk, so a
 * graph of any depth is written without deep recursion. */
#include "ops/ops.h"

#include <errno.h>

/* Ids of graph entries (a node, or a leaf tensor), in an open-addressing hash map. */
struct ids {
    const void **key;
    long *id;
    size_t cap, n;
    ag_tensor **todo; /* entries seen but not yet written */
    size_t ntodo, todocap;
};

static size_t slot_of(const struct ids *m, const void *p) {
    size_t h = ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ULL;
    size_t i = h & (m->cap - 1);
    while (m->key[i] && m->key[i] != p) i = (i + 1) & (m->cap - 1);
    return i;
}

static int grow(struct ids *m) {
    struct ids old = *m;
    m->cap = old.cap ? 2 * old.cap : 256;
    m->key = ag__calloc(m->cap, sizeof *m->key);
    m->id = ag__calloc(m->cap, sizeof *m->id);
    if (!m->key || !m->id) {
        free(m->key);
        free(m->id);
        *m = old;
        return AG_ERR_NOMEM;
    }
    for (size_t i = 0; i < old.cap; i++)
        if (old.key[i]) {
            size_t j = slot_of(m, old.key[i]);
            m->key[j] = old.key[i];
            m->id[j] = old.id[i];
        }
    free(old.key);
    free(old.id);
    return AG_OK;
}

/* The id of t's entry; a new one is queued for writing. -1 on out of memory. */
static long id_of(struct ids *m, ag_tensor *t) {
    const void *key = t->node ? (const void *)t->node : (const void *)t;
    if (2 * (m->n + 1) > m->cap && grow(m)) return -1;
    size_t i = slot_of(m, key);
    if (m->key[i]) return m->id[i];
    if (m->ntodo == m->todocap) {
        size_t cap = m->todocap ? 2 * m->todocap : 64;
        ag_tensor **v = ag__realloc(m->todo, cap * sizeof *v);
        if (!v) return -1;
        m->todo = v;
        m->todocap = cap;
    }
    m->key[i] = key;
    m->id[i] = (long)m->n++;
    m->todo[m->ntodo++] = t;
    return m->id[i];
}

static int write_graph(FILE *f, struct ids *m, ag_tensor *root) {
    if (id_of(m, root) < 0) return AG_ERR_NOMEM;
    while (m->ntodo) {
        ag_tensor *t = m->todo[--m->ntodo];
        long id = id_of(m, t);
        if (!t->node) {
            fprintf(f, "  n%ld [shape=ellipse%s, label=\"%s\\n%s\"];\n", id,
                    t->requires_grad ? ", style=filled, fillcolor=lightblue" : "",
                    t->requires_grad ? "param" : "tensor", AG_SHAPE(t));
            continue;
        }
        fprintf(f, "  n%ld [shape=box, label=\"%s\\n%s %s\"];\n", id, t->node->def->name,
                AG_SHAPE(t), ag_dtype_name(t->dtype));
        for (int i = 0; i < t->node->n_in; i++) {
            long in = id_of(m, t->node->in[i]);
            if (in < 0) return AG_ERR_NOMEM;
            fprintf(f, "  n%ld -> n%ld;\n", in, id);
        }
    }
    return AG_OK;
}

int ag_graph_dot(ag_tensor *root, const char *path) {
    const char *fn = "ag_graph_dot";
    if (!root || !path) return ag__error(AG_ERR_NULL, fn, "root and path must not be NULL");
    FILE *f = fopen(path, "w");
    if (!f)
        return ag__error(AG_ERR_IO, fn, "%s: cannot open for writing: %s", path, strerror(errno));
    fprintf(f, "digraph ag {\n  rankdir=BT;\n  node [fontname=\"monospace\", fontsize=10];\n");
    struct ids m = {0};
    int rc = write_graph(f, &m, root);
    free(m.key);
    free(m.id);
    free(m.todo);
    fprintf(f, "}\n");
    if (fclose(f) || rc) return ag__error(rc ? rc : AG_ERR_IO, fn, "%s: write failed", path);
    return AG_OK;
}
