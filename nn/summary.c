/* The summary table of any module: run it once (eval mode, no grad) on zeros of the input
 * shape while ag_module_call reports every call to the recorder here, then print one row
 * per module called below the root, in call order: dotted path, type (indented by
 * depth), output shape and parameters below it. */
#include "nn/nn.h"

#include <stdarg.h>
#include <string.h>

struct row {
    ag_module *m;
    int depth;
    char shape[64];
};

struct recorder {
    struct row *rows;
    int n, cap, depth;
    bool nomem;
};

static _Thread_local struct recorder *active;

bool ag__summary_active(void) { return active != NULL; }

int ag__summary_enter(ag_module *m) {
    struct recorder *r = active;
    if (!r) return -1;
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        struct row *p = ag__realloc(r->rows, sizeof *p * (size_t)cap);
        if (!p) {
            r->nomem = true;
            return -1;
        }
        r->rows = p;
        r->cap = cap;
    }
    r->rows[r->n] = (struct row){m, r->depth++, ""};
    return r->n++;
}

void ag__summary_leave(int row, const ag_tensor *out) {
    struct recorder *r = active;
    if (!r || row < 0) return;
    r->depth--;
    if (out) snprintf(r->rows[row].shape, sizeof r->rows[row].shape, "%s", AG_SHAPE(out));
}

/* ------------------------------------------------------------------ printing */
struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room =
        o->buf && o->len < o->size ? o->size - o->len : 0; /* buf NULL: count only (D18) */
    int n = vsnprintf(o->buf ? o->buf + (o->len < o->size ? o->len : 0) : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) o->len += (size_t)n;
}

/* m's dotted path below root ("1.conv1"), "-" when m is not below root. */
static void path_of(const ag_module *root, const ag_module *m, char *buf, size_t size) {
    if (m == root || !m->parent) {
        snprintf(buf, size, "%s", m == root ? "" : "-");
        return;
    }
    path_of(root, m->parent, buf, size);
    const ag_module *p = m->parent;
    for (int i = 0; i < p->n_children; i++)
        if (p->children[i].m == m) {
            size_t len = strlen(buf);
            if (!strcmp(buf, "-")) return;
            snprintf(buf + len, size - len, "%s%s", len ? "." : "", p->children[i].name);
        }
}

static void print_rows(struct out *o, ag_module *root, const struct recorder *r, int ndim,
                       const int64_t *input_shape) {
    int wpath = 4, wtype = 14;
    char path[256];
    for (int i = 0; i < r->n; i++) {
        path_of(root, r->rows[i].m, path, sizeof path);
        int lt = 2 * (r->rows[i].depth > 0 ? r->rows[i].depth - 1 : 0) +
                 (int)strlen(r->rows[i].m->type->name);
        if ((int)strlen(path) > wpath) wpath = (int)strlen(path);
        if (lt > wtype) wtype = lt;
    }
    put(o, "%-*s %-*s %-20s %12s\n", wpath, "#", wtype, "Layer", "Output shape", "Params");
    put(o, "%-*s %-*s %-20s %12s\n", wpath, "", wtype, "Input", ag__shape_str(ndim, input_shape),
        "");
    bool only_root = r->n == 1;
    for (int i = 0; i < r->n; i++) {
        const struct row *w = &r->rows[i];
        if (w->m == root && !only_root) continue;
        path_of(root, w->m, path, sizeof path);
        int indent = 2 * (w->depth > 0 ? w->depth - 1 : 0);
        put(o, "%-*s %*s%-*s %-20s %12lld\n", wpath, path, indent, "", wtype - indent,
            w->m->type->name, w->shape, (long long)ag_model_num_elements(w->m));
    }
    int n;
    ag_module_parameters(root, &n);
    put(o, "Total parameters: %lld in %d tensors\n", (long long)ag_model_num_elements(root), n);
}

/* Runs m on zeros of the input shape with the recorder on; the caller's modes come back. */
static int record(ag_module *m, int ndim, const int64_t *input_shape, struct recorder *r,
                  const char *fn) {
    bool *modes = ag__module_modes_save(m, fn);
    if (!modes) return AG_ERR_NOMEM;
    ag_module_train(m, false);
    bool grad = ag_set_grad_enabled(false);
    int n;
    ag_tensor **p = ag_module_parameters(m, &n);
    struct recorder *outer = active;
    active = r;
    ag_scope_begin();
    ag_tensor *x = ag_zeros(n ? p[0]->dtype : ag_get_default_dtype(), ndim, input_shape);
    ag_tensor *y = x ? ag_module_forward(m, x) : NULL;
    ag_scope_end();
    active = outer;
    ag_set_grad_enabled(grad);
    ag__module_modes_restore(m, modes);
    if (r->nomem) return ag__error(AG_ERR_NOMEM, fn, "out of memory");
    return y ? AG_OK : (ag__last_error_code() ? ag__last_error_code() : AG_ERR_SHAPE);
}

int ag_model_summary(ag_model *m, int ndim, const int64_t *input_shape, char *buf, size_t size) {
    const char *fn = "ag_model_summary";
    if (!m) return -ag__error(AG_ERR_NULL, fn, "model is NULL");
    if (ag__check_shape(ndim, input_shape, fn)) return -AG_ERR_SHAPE;
    if (buf && size) buf[0] = 0;
    struct recorder r = {0};
    int rc = record(m, ndim, input_shape, &r, fn);
    struct out o = {buf, size, 0};
    if (!rc) print_rows(&o, m, &r, ndim, input_shape);
    free(r.rows);
    return rc ? -rc : (int)o.len;
}

int ag_model_print_summary(ag_model *m, int ndim, const int64_t *input_shape) {
    int n = ag_model_summary(m, ndim, input_shape, NULL, 0);
    if (n < 0) return -n;
    char *buf = ag__malloc((size_t)n + 1);
    if (!buf) return ag__error(AG_ERR_NOMEM, "ag_model_print_summary", "out of memory");
    ag_model_summary(m, ndim, input_shape, buf, (size_t)n + 1);
    fputs(buf, stdout);
    free(buf);
    return AG_OK;
}
