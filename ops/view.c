/* Views: shape ops that are views where the strides allow: expand, reshape, permute (and transpose,
 * squeeze, unsqueeze, flatten, view built on them). */
#include "ops/iter.h"

AG_ROW1(shape_copy_1, uint8_t, a)
AG_ROW1(shape_copy_4, float, a)
AG_ROW1(shape_copy_8, double, a)

/* Copies in[0] in its own row-major order into out (which may have another shape). */
static int copy_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    ag_tensor as_in = *out; /* out's memory seen with the input's shape */
    as_in.ndim = in[0]->ndim;
    memcpy(as_in.shape, in[0]->shape, sizeof as_in.shape);
    ag__contiguous_strides(as_in.ndim, as_in.shape, as_in.strides);
    size_t es = ag_dtype_size(out->dtype);
    ag__map1(&as_in, in[0], es == 1 ? shape_copy_1 : es == 4 ? shape_copy_4 : shape_copy_8, NULL);
    return AG_OK;
}

struct shape_args {
    int ndim;
    int64_t shape[AG_MAX_DIMS];
};

static int meta_from_args(struct ag_meta *m, const ag_tensor *x, const struct shape_args *a) {
    m->dtype = x->dtype;
    m->ndim = a->ndim;
    memcpy(m->shape, a->shape, sizeof(int64_t) * (size_t)a->ndim);
    return AG_OK;
}

/* ------------------------------------------------------------------ expand */
static int expand_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                        const char *fn) {
    (void)n;
    const struct shape_args *a = args;
    const ag_tensor *x = in[0];
    int lead = a->ndim - x->ndim;
    bool ok = lead >= 0;
    for (int d = 0; ok && d < x->ndim; d++)
        ok = x->shape[d] == a->shape[d + lead] || x->shape[d] == 1;
    if (!ok)
        return ag__error(AG_ERR_SHAPE, fn, "%s cannot be expanded to %s", AG_SHAPE(x),
                         ag__shape_str(a->ndim, a->shape));
    return meta_from_args(m, x, a);
}

static int expand_view(const struct ag_meta *m, int64_t *strides, int64_t *offset,
                       ag_tensor *const *in, const void *args) {
    (void)args;
    ag__broadcast_strides(in[0], m->ndim, m->shape, strides);
    *offset = in[0]->offset;
    return AG_OK;
}

static int expand_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, g); /* ag__accumulate sums g back to the input's shape */
}

static int expand_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    if (variant) return 0;
    if (size > 0) { /* benchmark: [1, size/4] -> [4, size/4] */
        int64_t c = size / 4 > 0 ? size / 4 : 1;
        *(struct shape_args *)args = (struct shape_args){2, {4, c}};
        in[0] = ag__check_input(dtype, 2, (int64_t[]){1, c}, -2, 2);
        return 1;
    }
    *(struct shape_args *)args = (struct shape_args){3, {2, 3, 4}};
    in[0] = ag__check_input(dtype, 2, (int64_t[]){1, 4}, -2, 2);
    return 1;
}

const struct ag_op_def ag__op_expand = {
    .name = "expand",
    .arity = 1,
    .shape = expand_shape,
    .view = expand_view,
    .forward = copy_forward,
    .backward = expand_backward,
    .check = {.make = expand_make},
};

/* -1 keeps the input's size (torch), only where the input has that dim. */
ag_tensor *ag_expand(ag_tensor *t, int ndim, const int64_t *shape) {
    if (!t) return NULL;
    const char *fn = "ag_expand";
    if (ndim < t->ndim || ndim > AG_MAX_DIMS || (ndim && !shape)) {
        ag__error(AG_ERR_DIM, fn, "%s cannot be expanded to %d dims", AG_SHAPE(t), ndim);
        return NULL;
    }
    struct shape_args a = {.ndim = ndim};
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++) {
        a.shape[d] = shape[d]; /* shape is not read when ndim is 0 (it may be NULL) */
        if (shape[d] == -1 && d >= lead) a.shape[d] = t->shape[d - lead];
    }
    if (ag__check_shape(ndim, a.shape, fn)) return NULL;
    return AG_APPLY_ARGS(AG_OP_EXPAND, 1, (ag_tensor *const[]){t}, a);
}

/* ------------------------------------------------------------------ reshape */
static int reshape_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                         const char *fn) {
    (void)n;
    const struct shape_args *a = args;
    int64_t count = 1;
    for (int d = 0; d < a->ndim; d++) count *= a->shape[d];
    if (count != in[0]->numel)
        return ag__error(AG_ERR_SHAPE, fn, "%s (%lld elements) cannot be reshaped to %s",
                         AG_SHAPE(in[0]), (long long)in[0]->numel,
                         ag__shape_str(a->ndim, a->shape));
    return meta_from_args(m, in[0], a);
}

/* torch's rule: a view exists when each group of new dims maps onto a run of old dims
 * that are contiguous with one another. */
static int reshape_view(const struct ag_meta *m, int64_t *strides, int64_t *offset,
                        ag_tensor *const *in, const void *args) {
    (void)args;
    const ag_tensor *x = in[0];
    *offset = x->offset;
    if (x->numel == 0 || ag_is_contiguous(x)) {
        ag__contiguous_strides(m->ndim, m->shape, strides);
        return AG_OK;
    }
    int view_d = m->ndim - 1;
    int64_t chunk_base = x->ndim ? x->strides[x->ndim - 1] : 1, tensor_n = 1, view_n = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        tensor_n *= x->shape[d];
        if (d == 0 || (x->shape[d - 1] != 1 && x->strides[d - 1] != tensor_n * chunk_base)) {
            while (view_d >= 0 && (view_n < tensor_n || m->shape[view_d] == 1)) {
                strides[view_d] = view_n * chunk_base;
                view_n *= m->shape[view_d];
                view_d--;
            }
            if (view_n != tensor_n) return 1;
            if (d > 0) {
                chunk_base = x->strides[d - 1];
                tensor_n = view_n = 1;
            }
        }
    }
    return view_d == -1 ? AG_OK : 1;
}

static int reshape_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *x = node->in[0];
    return ag__accumulate(node, 0, ag_reshape(g, x->ndim, x->shape));
}

static int reshape_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    if (size > 0) { /* benchmark: [size/4, 4] -> [4, size/4] (a view) */
        if (variant) return 0;
        int64_t r = size / 4 > 0 ? size / 4 : 1;
        *(struct shape_args *)args = (struct shape_args){2, {4, r}};
        in[0] = ag__check_input(dtype, 2, (int64_t[]){r, 4}, -2, 2);
        return 1;
    }
    *(struct shape_args *)args = (struct shape_args){3, {2, 3, 2}};
    in[0] = ag__check_input(dtype, 2, (int64_t[]){3, 4}, -2, 2);
    if (variant == 1) { /* a transposed input: reshape must copy */
        bool prev = ag_set_grad_enabled(false);
        in[0] = ag_transpose(in[0], 0, 1);
        ag_set_grad_enabled(prev);
        ag_set_requires_grad(in[0], true);
    }
    return 1;
}

const struct ag_op_def ag__op_reshape = {
    .name = "reshape",
    .arity = 1,
    .shape = reshape_shape,
    .view = reshape_view,
    .forward = copy_forward,
    .backward = reshape_backward,
    .check = {.make = reshape_make},
};

ag_tensor *ag_reshape(ag_tensor *t, int ndim, const int64_t *shape) {
    if (!t) return NULL;
    const char *fn = "ag_reshape";
    if (ndim < 0 || ndim > AG_MAX_DIMS || (ndim && !shape)) {
        ag__error(AG_ERR_DIM, fn, "bad target ndim %d for %s", ndim, AG_SHAPE(t));
        return NULL;
    }
    struct shape_args a = {.ndim = ndim};
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < ndim; d++) {
        a.shape[d] = shape[d];
        if (shape[d] == -1 && infer < 0) infer = d;
        else if (shape[d] < 0) {
            ag__error(AG_ERR_SHAPE, fn, "bad target shape %s for %s", ag__shape_str(ndim, shape),
                      AG_SHAPE(t));
            return NULL;
        } else if (shape[d] && known > INT64_MAX / shape[d]) {
            ag__error(AG_ERR_SHAPE, fn, "target shape %s is too large (for %s)",
                      ag__shape_str(ndim, shape), AG_SHAPE(t));
            return NULL;
        } else known *= shape[d];
    }
    if (infer >= 0) {
        if (known == 0 || t->numel % known) {
            ag__error(AG_ERR_SHAPE, fn, "%s cannot be reshaped to %s", AG_SHAPE(t),
                      ag__shape_str(ndim, shape));
            return NULL;
        }
        a.shape[infer] = t->numel / known;
    }
    if (ag__check_shape(a.ndim, a.shape, fn)) return NULL; /* before any product (D13) */
    /* the same shape still makes a node of its own (a view), as torch: a result is never
     * its input, or a gradient taken with respect to it would count the input's paths */
    return AG_APPLY_ARGS(AG_OP_RESHAPE, 1, (ag_tensor *const[]){t}, a);
}

ag_tensor *ag_view(ag_tensor *t, int ndim, const int64_t *shape) {
    ag_tensor *v = ag_reshape(t, ndim, shape);
    if (v && v != t && v->storage != t->storage) {
        ag__error(AG_ERR_ARG, "ag_view",
                  "%s with strides %s cannot be viewed as %s; use ag_reshape", AG_SHAPE(t),
                  ag__shape_str(t->ndim, t->strides), ag__shape_str(ndim, shape));
        return NULL;
    }
    return v;
}

/* ------------------------------------------------------------------ permute */
struct permute_args {
    int ndim;
    int dims[AG_MAX_DIMS];
};

static int permute_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                         const char *fn) {
    (void)n;
    const struct permute_args *a = args;
    const ag_tensor *x = in[0];
    int seen = 0;
    for (int d = 0; d < x->ndim; d++) {
        int k = a->dims[d];
        if (k < 0 || k >= x->ndim || (seen >> k & 1))
            return ag__error(AG_ERR_DIM, fn, "dims are not a permutation of %d dims of %s", x->ndim,
                             AG_SHAPE(x));
        seen |= 1 << k;
        m->shape[d] = x->shape[k];
    }
    m->dtype = x->dtype;
    m->ndim = x->ndim;
    return AG_OK;
}

static int permute_view(const struct ag_meta *m, int64_t *strides, int64_t *offset,
                        ag_tensor *const *in, const void *args) {
    const struct permute_args *a = args;
    for (int d = 0; d < m->ndim; d++) strides[d] = in[0]->strides[a->dims[d]];
    *offset = in[0]->offset;
    return AG_OK;
}

static int permute_backward(struct ag_node *node, ag_tensor *g) {
    const struct permute_args *a = AG_ARGS(node, struct permute_args);
    int inverse[AG_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) inverse[a->dims[d]] = d;
    return ag__accumulate(node, 0, ag_permute(g, inverse));
}

const struct ag_op_def ag__op_permute = {
    .name = "permute",
    .arity = 1,
    .shape = permute_shape,
    .view = permute_view,
    .forward = copy_forward,
    .backward = permute_backward,
    .check = {.args = &(struct permute_args){2, {1, 0}}, .args_size = sizeof(struct permute_args)},
};

ag_tensor *ag_permute(ag_tensor *t, const int *dims) {
    if (!t) return NULL;
    if (!dims && t->ndim) {
        ag__error(AG_ERR_NULL, "ag_permute", "dims is NULL");
        return NULL;
    }
    struct permute_args a = {.ndim = t->ndim};
    for (int d = 0; d < t->ndim; d++) a.dims[d] = dims[d] < 0 ? dims[d] + t->ndim : dims[d];
    return AG_APPLY_ARGS(AG_OP_PERMUTE, 1, (ag_tensor *const[]){t}, a);
}

ag_tensor *ag_transpose(ag_tensor *t, int d0, int d1) {
    if (!t) return NULL;
    int a = ag__norm_dim(d0, t->ndim, "ag_transpose"),
        b = ag__norm_dim(d1, t->ndim, "ag_transpose");
    if (a < 0 || b < 0) return NULL;
    if (t->ndim < 2) return ag_reshape(t, t->ndim, t->shape); /* a node of its own */
    int dims[AG_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) dims[d] = d;
    dims[a] = b;
    dims[b] = a;
    return ag_permute(t, dims);
}

/* ------------------------------------------------------------------ reshapes by name */
ag_tensor *ag_squeeze(ag_tensor *t, int dim) {
    if (!t) return NULL;
    int d = ag__norm_dim(dim, t->ndim, "ag_squeeze");
    if (d < 0) return NULL;
    if (t->ndim == 0 || t->shape[d] != 1) /* torch: no-op when size is not 1, still a node */
        return ag_reshape(t, t->ndim, t->shape);
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0, k = 0; i < t->ndim; i++)
        if (i != d) shape[k++] = t->shape[i];
    return ag_reshape(t, t->ndim - 1, shape);
}

ag_tensor *ag_unsqueeze(ag_tensor *t, int dim) {
    if (!t) return NULL;
    if (t->ndim == AG_MAX_DIMS) {
        ag__error(AG_ERR_DIM, "ag_unsqueeze", "%s already has %d dims", AG_SHAPE(t), AG_MAX_DIMS);
        return NULL;
    }
    int d = dim < 0 ? dim + t->ndim + 1 : dim;
    if (d < 0 || d > t->ndim) {
        ag__error(AG_ERR_DIM, "ag_unsqueeze", "dim %d is out of range for %s", dim, AG_SHAPE(t));
        return NULL;
    }
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0, k = 0; i <= t->ndim; i++) shape[i] = i == d ? 1 : t->shape[k++];
    return ag_reshape(t, t->ndim + 1, shape);
}

ag_tensor *ag_flatten(ag_tensor *t, int start_dim, int end_dim) {
    if (!t) return NULL;
    if (t->ndim == 0) return ag_reshape(t, 1, (int64_t[]){1});
    int s = ag__norm_dim(start_dim, t->ndim, "ag_flatten"),
        e = ag__norm_dim(end_dim, t->ndim, "ag_flatten");
    if (s < 0 || e < 0) return NULL;
    if (s > e) {
        ag__error(AG_ERR_DIM, "ag_flatten", "start_dim %d is after end_dim %d for %s", start_dim,
                  end_dim, AG_SHAPE(t));
        return NULL;
    }
    int64_t shape[AG_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < s; i++) shape[k++] = t->shape[i];
    shape[k] = 1;
    for (int i = s; i <= e; i++) shape[k] *= t->shape[i];
    k++;
    for (int i = e + 1; i < t->ndim; i++) shape[k++] = t->shape[i];
    return ag_reshape(t, k, shape);
}
