/* The op table and ag__apply, the single path every op runs through. */
#include "ops/ops.h"

const struct ag_op_def *const ag__ops[AG_OP_COUNT] = {
#define OP(ID, name) [AG_OP_##ID] = &ag__op_##name,
#include "ops/ops.def"
#undef OP
};

const char *const ag__op_fnames[AG_OP_COUNT] = {
#define OP(ID, name) [AG_OP_##ID] = "ag_" #name,
#include "ops/ops.def"
#undef OP
};

static ag_tensor *make_output(const struct ag_op_def *def, const struct ag_meta *m,
                              ag_tensor *const *in, int n, const void *args, ag_tensor **saved,
                              const char *fn) {
    if (def->view) {
        int64_t strides[AG_MAX_DIMS], offset = 0;
        if (def->view(m, strides, &offset, in, args) == 0)
            return ag__view_of(in[0], m->ndim, m->shape, strides, offset, fn);
    }
    ag_tensor *out = ag__empty(m->dtype, m->ndim, m->shape, fn);
    if (!out) return NULL;
    if (def->forward(out, in, n, args, saved)) {
        if (!out->arena) ag_tensor_free(out);
        return NULL;
    }
    return out;
}

/* A tensor the forward made only to save for backward is read by nothing but the node:
 * the backward pass may release it once the node has run (docs/DESIGN.md, "Memory"). */
static void mark_saved_private(const ag_tensor *out, ag_tensor *const *in, int n,
                               ag_tensor *const *saved) {
    for (int i = 0; i < AG_MAX_SAVED; i++) {
        bool own = saved[i] && saved[i]->storage != out->storage;
        for (int j = 0; j < n && own; j++) own = saved[i]->storage != in[j]->storage;
        if (own) ag__mark_internal(saved[i]);
    }
}

ag_tensor *ag__apply(enum ag_op_id op, int n, ag_tensor *const *in, const void *args,
                     size_t args_size) {
    const struct ag_op_def *def = ag__ops[op];
    const char *fn = ag__op_fnames[op];
    AG_ASSERT(args_size <= AG_ARGS_BYTES && n >= 0);
    bool needs_grad = false;
    for (int i = 0; i < n; i++) {
        if (!in[i]) return NULL; /* a NULL input passes through silently */
        if (ag__tensor_gone(in[i]))
            return (ag__scope_ended(in[i]) ? ag__scope_ended_error(in[i], fn, i)
                                           : ag__released_error(in[i], fn, i)),
                   NULL;
        needs_grad |= in[i]->requires_grad;
    }

    needs_grad = needs_grad && def->backward && ag_is_grad_enabled();
    struct ag_meta m = {0};
    if (def->shape(&m, in, n, args, fn)) return NULL;
    ag_tensor *saved[AG_MAX_SAVED] = {0};
    ag_tensor *out = make_output(def, &m, in, n, args, saved, fn);
    if (!out) return NULL;
    int64_t index = ag__anomaly ? ag__anomaly_index() : -1;
    if (index >= 0 && ag__anomaly_forward(fn, out, in, n, index)) {
        if (!out->arena) ag_tensor_free(out);
        for (int i = 0; i < AG_MAX_SAVED; i++)
            if (saved[i] && !saved[i]->arena) ag_tensor_free(saved[i]);
        return NULL;
    }
    if (needs_grad) {
        out->node = ag__node_new(def, out, in, n, args, args_size, saved, fn);
        if (!out->node) {
            if (!out->arena) ag_tensor_free(out);
            return NULL;
        }
        out->node->tape_index = index;
        out->requires_grad = true;
        mark_saved_private(out, in, n, saved);
    } else {
        for (int i = 0; i < AG_MAX_SAVED; i++)
            if (saved[i] && !saved[i]->arena) ag_tensor_free(saved[i]);
    }
    return out;
}

/* ------------------------------------------------------------------ shared shape rules */
int ag__shape_same(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                   const char *fn) {
    (void)n, (void)args;
    if (!ag__is_float(in[0]->dtype))
        return ag__error(AG_ERR_DTYPE, fn, "expects float32 or float64, got %s %s",
                         ag_dtype_name(in[0]->dtype), AG_SHAPE(in[0]));
    m->dtype = in[0]->dtype;
    m->ndim = in[0]->ndim;
    memcpy(m->shape, in[0]->shape, sizeof(int64_t) * (size_t)m->ndim);
    return AG_OK;
}

int ag__broadcast_shapes(int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                         int64_t *out) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t x = i < n - na ? 1 : a[i - (n - na)];
        int64_t y = i < n - nb ? 1 : b[i - (n - nb)];
        if (x != y && x != 1 && y != 1) return AG_ERR_SHAPE;
        out[i] = x == 1 ? y : x;
    }
    *nout = n;
    return AG_OK;
}

int ag__shape_broadcast(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                        const char *fn) {
    (void)args;
    m->dtype = in[0]->dtype;
    m->ndim = in[0]->ndim;
    memcpy(m->shape, in[0]->shape, sizeof(int64_t) * (size_t)m->ndim);
    int same = 1; /* fast path: every input has in[0]'s dtype and shape */
    for (int i = 1; i < n && same; i++) {
        same = in[i]->dtype == m->dtype && in[i]->ndim == m->ndim;
        for (int d = 0; d < m->ndim && same; d++) same = in[i]->shape[d] == m->shape[d];
    }
    if (same && ag__is_float(m->dtype)) return AG_OK;
    for (int i = 1; i < n; i++) {
        if (in[i]->dtype != in[0]->dtype)
            return ag__error(AG_ERR_DTYPE, fn, "dtypes %s %s and %s %s differ (use ag_cast)",
                             ag_dtype_name(in[0]->dtype), AG_SHAPE(in[0]),
                             ag_dtype_name(in[i]->dtype), AG_SHAPE(in[i]));
        int64_t prev[AG_MAX_DIMS];
        int np = m->ndim;
        memcpy(prev, m->shape, sizeof prev);
        if (ag__broadcast_shapes(np, prev, in[i]->ndim, in[i]->shape, &m->ndim, m->shape))
            return ag__error(AG_ERR_SHAPE, fn, "shapes %s and %s do not broadcast",
                             ag__shape_str(np, prev), AG_SHAPE(in[i]));
    }
    if (!ag__is_float(m->dtype))
        return ag__error(AG_ERR_DTYPE, fn, "expects float32 or float64, got %s %s",
                         ag_dtype_name(m->dtype), AG_SHAPE(in[0]));
    return AG_OK;
}

void ag__broadcast_strides(const ag_tensor *t, int ndim, const int64_t *shape, int64_t *strides) {
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int j = i - lead;
        strides[i] = (j < 0 || (t->shape[j] == 1 && shape[i] != 1)) ? 0 : t->strides[j];
    }
}

void ag__meta_like(struct ag_meta *m, const ag_tensor *t) {
    m->dtype = t->dtype;
    m->ndim = t->ndim;
    memcpy(m->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
}
