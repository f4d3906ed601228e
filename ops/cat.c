/* cat and stack: tensors joined along a dim (stack along a new one). The backward rule
 * slices the gradient, so gradients of gradients work. */
#include "ops/ops.h"
#include "ops/iter.h"

struct cat_args {
    int dim;
    bool stack;
};

/* Benchmark input: one of three parts, together about `size` elements. */
static ag_tensor *bench_part(ag_dtype dtype, int64_t size) {
    int64_t shape[2] = {AG_CHECK_BENCH_ROWS, ag__check_bench_cols(size) / 3};
    return ag__check_input(dtype, 2, shape, -2, 2);
}

/* t seen with a size-1 dim inserted at d (stack's inputs): a struct copy, no data. */
static ag_tensor unsqueezed(const ag_tensor *t, int d) {
    ag_tensor u = *t;
    u.ndim = t->ndim + 1;
    for (int k = 0, j = 0; k < u.ndim; k++) {
        u.shape[k] = k == d ? 1 : t->shape[j];
        u.strides[k] = k == d ? 0 : t->strides[j++];
    }
    return u;
}

static int cat_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                     const char *fn) {
    const struct cat_args *a = args;
    int d = a->dim;
    if (n < 1) return ag__error(AG_ERR_ARG, fn, "needs at least one tensor");
    const ag_tensor *t0 = in[0];
    if (d < 0 || d >= t0->ndim + a->stack)
        return ag__error(AG_ERR_DIM, fn, "dim %d is out of range for tensor 0 %s", d, AG_SHAPE(t0));
    for (int i = 1; i < n; i++) {
        const ag_tensor *t = in[i];
        bool ok = t->ndim == t0->ndim;
        for (int k = 0; ok && k < t0->ndim; k++)
            ok = (k == d && !a->stack) || t->shape[k] == t0->shape[k];
        if (!ok && a->stack)
            return ag__error(AG_ERR_SHAPE, fn, "tensor %d %s differs from tensor 0 %s", i,
                             AG_SHAPE(t), AG_SHAPE(t0));
        if (!ok)
            return ag__error(AG_ERR_SHAPE, fn,
                             "tensor %d %s does not match tensor 0 %s outside dim %d", i,
                             AG_SHAPE(t), AG_SHAPE(t0), d);
        if (t->dtype != t0->dtype)
            return ag__error(AG_ERR_DTYPE, fn, "tensor %d is %s %s, tensor 0 is %s %s", i,
                             ag_dtype_name(t->dtype), AG_SHAPE(t), ag_dtype_name(t0->dtype),
                             AG_SHAPE(t0));
    }
    if (a->stack) {
        ag_tensor u = unsqueezed(t0, d);
        ag__meta_like(m, &u);
        m->shape[d] = n;
        return AG_OK;
    }
    ag__meta_like(m, t0);
    for (int i = 1; i < n; i++) m->shape[d] += in[i]->shape[d];
    return AG_OK;
}

static int cat_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)saved;
    const struct cat_args *a = args;
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        ag_tensor u = a->stack ? unsqueezed(in[i], a->dim) : *in[i];
        ag__place(out, &u, a->dim, at, 1, false);
        at += u.shape[a->dim];
    }
    return AG_OK;
}

static int cat_backward(struct ag_node *node, ag_tensor *g) {
    const struct cat_args *ca = AG_ARGS(node, struct cat_args);
    int d = ca->dim;
    int64_t at = 0;
    int rc = AG_OK;
    for (int i = 0; i < node->n_in && !rc; i++) {
        int64_t len = ca->stack ? 1 : node->in[i]->shape[d];
        if (ag__needs_grad(node, i)) {
            ag_tensor *gi = ag_slice(g, d, at, at + len, 1);
            rc = ag__accumulate(node, i, ca->stack ? ag_squeeze(gi, d) : gi);
        }
        at += len;
    }
    return rc;
}

/* variant 0: [2,3] [2,1] [2,2] along dim 1; variant 1: transposed views along dim 0. */
static int cat_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    *(struct cat_args *)args = (struct cat_args){variant ? 0 : 1, false};
    for (int i = 0; size && i < 3; i++)
        if (!(in[i] = bench_part(dtype, size))) return -1;
    if (size) return 3;
    int64_t w[3] = {3, 1, 2};
    for (int i = 0; i < 3; i++) {
        in[i] = variant
                    ? ag__check_transposed(ag__check_input(dtype, 2, (int64_t[]){2, w[i]}, -2, 2))
                    : ag__check_input(dtype, 2, (int64_t[]){2, w[i]}, -2, 2);
        if (!in[i]) return -1;
    }
    return 3;
}

const struct ag_op_def ag__op_cat = {
    .name = "cat",
    .arity = -1,
    .shape = cat_shape,
    .forward = cat_forward,
    .backward = cat_backward,
    .check = {.make = cat_make},
};

/* variant 0: three [2,3] along dim 1; variant 1: transposed views along dim 2. */
static int stack_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    *(struct cat_args *)args = (struct cat_args){variant ? 2 : 1, true};
    for (int i = 0; size && i < 3; i++)
        if (!(in[i] = bench_part(dtype, size))) return -1;
    if (size) return 3;
    for (int i = 0; i < 3; i++) {
        in[i] = variant ? ag__check_transposed(ag__check_input(dtype, 2, (int64_t[]){3, 2}, -2, 2))
                        : ag__check_input(dtype, 2, (int64_t[]){2, 3}, -2, 2);
        if (!in[i]) return -1;
    }
    return 3;
}

const struct ag_op_def ag__op_stack = {
    .name = "stack",
    .arity = -1,
    .shape = cat_shape,
    .forward = cat_forward,
    .backward = cat_backward,
    .check = {.make = stack_make},
};

static bool tensors_ok(ag_tensor *const *ts, int n, const char *fn) {
    if (!ts || n < 1) {
        ag__error(AG_ERR_ARG, fn, "needs an array of at least one tensor (got %d)", n);
        return false;
    }
    for (int i = 0; i < n; i++)
        if (!ts[i]) return false; /* a NULL input passes through silently */
    return true;
}

ag_tensor *ag_cat(ag_tensor *const *ts, int n, int dim) {
    const char *fn = "ag_cat";
    if (!tensors_ok(ts, n, fn)) return NULL;
    if (ts[0]->ndim == 0) {
        ag__error(AG_ERR_DIM, fn, "cannot concatenate 0-d tensors (use ag_stack)");
        return NULL;
    }
    int d = ag__norm_dim(dim, ts[0]->ndim, fn);
    if (d < 0) return NULL;
    struct cat_args a = {d, false};
    return ag__apply(AG_OP_CAT, n, ts, &a, sizeof a);
}

ag_tensor *ag_stack(ag_tensor *const *ts, int n, int dim) {
    const char *fn = "ag_stack";
    if (!tensors_ok(ts, n, fn)) return NULL;
    int nd = ts[0]->ndim;
    if (nd == AG_MAX_DIMS) { /* the result would need one dim more (D11) */
        ag__error(AG_ERR_DIM, fn, "stacking %s tensors needs %d dims (at most %d)", AG_SHAPE(ts[0]),
                  nd + 1, AG_MAX_DIMS);
        return NULL;
    }
    if (dim < -(nd + 1) || dim > nd) {
        ag__error(AG_ERR_DIM, fn, "dim %d is out of range for stacking %s tensors", dim,
                  AG_SHAPE(ts[0]));
        return NULL;
    }
    struct cat_args a = {dim < 0 ? dim + nd + 1 : dim, true};
    return ag__apply(AG_OP_STACK, n, ts, &a, sizeof a);
}
