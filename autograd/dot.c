/* The recorded graph as Graphviz DOT (like torchviz): one box per op with its name and
 * output shape, one ellipse per leaf (parameters, those with requires_grad, shaded), and
 * edges from inputs to the ops that use them. */
#include "ops/ops.h"

#include <errno.h>

struct seen {
    const void **v;
    size_t n, cap;
};

/* Index of p in s, adding it when new (*added set). -1 on out of memory. */
static long find_or_add(struct seen *s, const void *p, bool *added) {
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == p) {
            *added = false;
            return (long)i;
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        const void **v = realloc(s->v, cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n] = p;
    *added = true;
    return (long)s->n++;
}

static long emit(FILE *f, struct seen *s, ag_tensor *t);

/* Writes the node for t (once) and, for op outputs, its inputs and edges. */
static long emit(FILE *f, struct seen *s, ag_tensor *t) {
    const void *key = t->node ? (const void *)t->node : (const void *)t;
    bool added;
    long id = find_or_add(s, key, &added);
    if (id < 0 || !added) return id;
    if (!t->node) {
        fprintf(f, "  n%ld [shape=ellipse%s, label=\"%s\\n%s\"];\n", id,
                t->requires_grad ? ", style=filled, fillcolor=lightblue" : "",
                t->requires_grad ? "param" : "tensor", AG_SHAPE(t));
        return id;
    }
    fprintf(f, "  n%ld [shape=box, label=\"%s\\n%s %s\"];\n", id, t->node->def->name,
            AG_SHAPE(t), ag_dtype_name(t->dtype));
    for (int i = 0; i < t->node->n_in; i++) {
        long in = emit(f, s, t->node->in[i]);
        if (in < 0) return -1;
        fprintf(f, "  n%ld -> n%ld;\n", in, id);
    }
    return id;
}

int ag_graph_dot(ag_tensor *root, const char *path) {
    const char *fn = "ag_graph_dot";
    if (!root || !path) return ag__error(AG_ERR_NULL, fn, "root and path must not be NULL");
    FILE *f = fopen(path, "w");
    if (!f) return ag__error(AG_ERR_IO, fn, "%s: cannot open for writing: %s", path, strerror(errno));
    fprintf(f, "digraph ag {\n  rankdir=BT;\n  node [fontname=\"monospace\", fontsize=10];\n");
    struct seen s = {0};
    long id = emit(f, &s, root);
    free(s.v);
    fprintf(f, "}\n");
    if (fclose(f) || id < 0) return ag__error(AG_ERR_IO, fn, "%s: write failed", path);
    return AG_OK;
}
