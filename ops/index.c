/* Indexing: slice (a view), index_select, gather, one_hot. Their backward rules scatter
 * into zeros through ops of their own (slice_backward, index_select_backward,
 * gather_backward) that are in the table too, with backward rules that select again, so
 * gradients of gradients work. Scatter-adds run in the index's row-major order:
 * deterministic. */
#include "ops/ops.h"
#include "ops/iter.h"

static int64_t index_at(const ag_tensor *ix, int64_t i) {
    return ((const int64_t *)ix->storage->data)[ag__flat_offset(ix, i)];
}

static ag_tensor *index_tensor(int ndim, const int64_t *shape, const int64_t *values) {
    return ag_tensor_new(AG_I64, ndim, shape, values);
}

/* Benchmark inputs (size > 0): an [AG_CHECK_BENCH_ROWS, cols] problem, and indices drawn
 * below hi. */
static ag_tensor *bench_input(ag_dtype dtype, int64_t r, int64_t c) {
    return ag__check_input(dtype, 2, (int64_t[]){r, c}, -2, 2);
}

static ag_tensor *random_index(int ndim, const int64_t *shape, int64_t hi) {
    ag_tensor *t = ag_zeros(AG_I64, ndim, shape);
    if (!t) return NULL;
    int64_t *v = ag__ptr(t);
    uint64_t base = ag__rng_reserve((uint64_t)t->numel);
    for (int64_t i = 0; i < t->numel; i++)
        v[i] = (int64_t)(ag__rng_bits(base + (uint64_t)i) % (uint64_t)hi);
    return t;
}

/* ------------------------------------------------------------------ slice */
struct slice_args {
    int dim;
    int ndim;                 /* slice_backward: the sliced tensor's shape */
    int64_t start, step, len; /* normalized: 0 <= start, step > 0 */
    int64_t shape[AG_MAX_DIMS];
};
_Static_assert(sizeof(struct slice_args) <= AG_ARGS_BYTES, "slice_args too big");

static int slice_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                       const char *fn) {
    (void)n, (void)fn;
    const struct slice_args *a = args;
    ag__meta_like(m, in[0]);
    m->shape[a->dim] = a->len;
    return AG_OK;
}

static int slice_view(const struct ag_meta *m, int64_t *strides, int64_t *offset,
                      ag_tensor *const *in, const void *args) {
    const struct slice_args *a = args;
    memcpy(strides, in[0]->strides, sizeof(int64_t) * (size_t)m->ndim);
    strides[a->dim] *= a->step;
    *offset = in[0]->offset + (a->len ? a->start * in[0]->strides[a->dim] : 0);
    return AG_OK;
}

static int slice_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                         ag_tensor **saved) { /* unused: the view always exists */
    (void)n, (void)saved;
    int64_t strides[AG_MAX_DIMS], offset;
    struct ag_meta m;
    ag__meta_like(&m, out);
    slice_view(&m, strides, &offset, in, args);
    const ag_tensor *x = in[0];
    ag__copy_strided(out->dtype, ag__ptr(out), out->strides,
                     (const char *)x->storage->data + (size_t)offset * ag_dtype_size(x->dtype),
                     strides, out->ndim, out->shape, false);
    return AG_OK;
}

static ag_tensor *slice_backward_op(ag_tensor *g, const struct slice_args *a);

/* g added in place into the input's one gradient at the slice's place (sibling slices
 * share it); under create_graph, g padded with zeros by slice_backward, an op of the
 * graph. */
static int slice_backward(struct ag_node *node, ag_tensor *g) {
    struct slice_args a = *AG_ARGS(node, struct slice_args);
    int rc = a.len ? ag__accumulate_place(node, 0, g, a.dim, a.start, a.step) : AG__DECLINED;
    if (rc != AG__DECLINED) return rc;
    a.ndim = node->in[0]->ndim;
    memcpy(a.shape, node->in[0]->shape, sizeof a.shape);
    return ag__accumulate(node, 0, slice_backward_op(g, &a));
}

static int slice_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    struct slice_args *a = args;
    if (size) {
        int64_t c = ag__check_bench_cols(size);
        *a = (struct slice_args){.dim = 1, .start = 0, .step = 2, .len = c / 2};
        in[0] = bench_input(dtype, AG_CHECK_BENCH_ROWS, c);
        return in[0] ? 1 : -1;
    }
    if (variant == 0) {
        *a = (struct slice_args){.dim = 1, .start = 1, .step = 2, .len = 2};
        in[0] = ag__check_input(dtype, 2, (int64_t[]){3, 5}, -2, 2);
    } else {
        *a = (struct slice_args){.dim = 0, .start = 1, .step = 1, .len = 3};
        in[0] =
            ag__check_transposed(ag__check_input(dtype, 2, (int64_t[]){5, 4}, -2, 2)); /* [4,5] */
    }
    return in[0] ? 1 : -1;
}

const struct ag_op_def ag__op_slice = {
    .name = "slice",
    .arity = 1,
    .shape = slice_shape,
    .view = slice_view,
    .forward = slice_forward,
    .backward = slice_backward,
    .check = {.make = slice_make},
};

static ag_tensor *slice_op(ag_tensor *t, const struct slice_args *a) {
    return ag__apply(AG_OP_SLICE, 1, (ag_tensor *const[]){t}, a, sizeof *a);
}

ag_tensor *ag_slice(ag_tensor *t, int dim, int64_t start, int64_t end, int64_t step) {
    if (!t) return NULL;
    const char *fn = "ag_slice";
    if (t->ndim == 0) {
        ag__error(AG_ERR_DIM, fn, "cannot slice a 0-d tensor");
        return NULL;
    }
    int d = ag__norm_dim(dim, t->ndim, fn);
    if (d < 0) return NULL;
    if (step <= 0) {
        ag__error(AG_ERR_ARG, fn, "step %lld must be positive (dim %d of %s)", (long long)step, dim,
                  AG_SHAPE(t));
        return NULL;
    }
    int64_t size = t->shape[d];
    if (start < 0) start += size;
    if (end < 0) end += size;
    start = start < 0 ? 0 : start > size ? size : start;
    end = end < start ? start : end > size ? size : end;
    struct slice_args a = {.dim = d,
                           .start = start,
                           .step = step, /* no overflow (D12) */
                           .len = end == start ? 0 : (end - start - 1) / step + 1};
    return slice_op(t, &a);
}

/* ------------------------------------------------------------------ slice_backward */
/* Zeros of the sliced tensor's shape with g placed where the slice took its elements. */
static int slice_bw_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                          const char *fn) {
    (void)n, (void)fn;
    const struct slice_args *a = args;
    m->dtype = in[0]->dtype;
    m->ndim = a->ndim;
    memcpy(m->shape, a->shape, sizeof(int64_t) * (size_t)a->ndim);
    return AG_OK;
}

static int slice_bw_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                            ag_tensor **saved) {
    (void)n, (void)saved;
    const struct slice_args *a = args;
    memset(ag__ptr(out), 0, (size_t)out->numel * ag_dtype_size(out->dtype));
    if (a->len) ag__place(out, in[0], a->dim, a->start, a->step, false);
    return AG_OK;
}

static int slice_bw_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, slice_op(g, AG_ARGS(node, struct slice_args)));
}

static int slice_bw_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    struct slice_args *a = args;
    if (size) {
        int64_t c = ag__check_bench_cols(size);
        *a = (struct slice_args){.dim = 1,
                                 .start = 0,
                                 .step = 2,
                                 .len = c / 2,
                                 .ndim = 2,
                                 .shape = {AG_CHECK_BENCH_ROWS, c}};
        in[0] = bench_input(dtype, AG_CHECK_BENCH_ROWS, c / 2);
        return in[0] ? 1 : -1;
    }
    *a = (struct slice_args){.dim = 1, .start = 1, .step = 2, .len = 2, .ndim = 2, .shape = {3, 5}};
    in[0] = variant ? ag__check_transposed(ag__check_input(dtype, 2, (int64_t[]){2, 3}, -2, 2))
                    : ag__check_input(dtype, 2, (int64_t[]){3, 2}, -2, 2);
    return in[0] ? 1 : -1;
}

const struct ag_op_def ag__op_slice_backward = {
    .name = "slice_backward",
    .arity = 1,
    .shape = slice_bw_shape,
    .forward = slice_bw_forward,
    .backward = slice_bw_backward,
    .check = {.make = slice_bw_make},
};

static ag_tensor *slice_backward_op(ag_tensor *g, const struct slice_args *a) {
    return ag__apply(AG_OP_SLICE_BACKWARD, 1, (ag_tensor *const[]){g}, a, sizeof *a);
}

/* ------------------------------------------------------------------ index checks */
struct index_args {
    int dim;
    int ndim; /* backward ops: the source tensor's shape */
    int64_t shape[AG_MAX_DIMS];
};

static int check_index(const ag_tensor *ix, int64_t limit, const ag_tensor *t, int dim,
                       const char *fn) {
    if (ix->dtype != AG_I64)
        return ag__error(AG_ERR_DTYPE, fn, "index must be int64, got %s %s",
                         ag_dtype_name(ix->dtype), AG_SHAPE(ix));
    for (int64_t i = 0; i < ix->numel; i++) {
        int64_t v = index_at(ix, i);
        if (v < 0 || v >= limit)
            return ag__error(AG_ERR_INDEX, fn,
                             "index %lld is out of range for dim %d of %s (size %lld)",
                             (long long)v, dim, ag__shape_str(t->ndim, t->shape), (long long)limit);
    }
    return AG_OK;
}

/* t without dim d: shape and strides of one slab, and the slab's stride along d. */
static int drop_dim(const ag_tensor *t, int d, const int64_t *strides, int64_t *shape,
                    int64_t *st) {
    for (int k = 0, j = 0; k < t->ndim; k++)
        if (k != d) shape[j] = t->shape[k], st[j++] = strides[k];
    return t->ndim - 1;
}

/* ------------------------------------------------------------------ index_select */
static int index_select_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                              const char *fn) {
    (void)n;
    const ag_tensor *t = in[0], *ix = in[1];
    int d = ((const struct index_args *)args)->dim;
    if (t->ndim == 0) return ag__error(AG_ERR_DIM, fn, "cannot index a 0-d tensor");
    if (ix->ndim > 1)
        return ag__error(AG_ERR_SHAPE, fn, "index must be 1-D, got %s (input %s)", AG_SHAPE(ix),
                         AG_SHAPE(t));
    if (check_index(ix, t->shape[d], t, d, fn)) return AG_ERR_INDEX;
    ag__meta_like(m, t);
    m->shape[d] = ix->numel;
    return AG_OK;
}

/* out slabs along d (contiguous) <- / += src slabs picked (or placed) by the index. */
static void index_slabs(ag_tensor *out, const ag_tensor *src, const ag_tensor *ix, int d,
                        bool scatter) {
    int64_t os[AG_MAX_DIMS], shape[AG_MAX_DIMS], so[AG_MAX_DIMS], ss[AG_MAX_DIMS];
    ag__contiguous_strides(out->ndim, out->shape, os);
    const ag_tensor *big = scatter ? out : src; /* the tensor the index points into */
    int nd = drop_dim(big, d, scatter ? os : src->strides, shape, scatter ? so : ss);
    drop_dim(big, d, scatter ? src->strides : os, shape, scatter ? ss : so);
    size_t es = ag_dtype_size(out->dtype);
    for (int64_t k = 0; k < ix->numel; k++) {
        int64_t v = index_at(ix, k);
        int64_t o = (scatter ? v : k) * os[d], s = (scatter ? k : v) * src->strides[d];
        ag__copy_strided(out->dtype, (char *)ag__ptr(out) + (size_t)o * es, so,
                         (const char *)ag__ptr(src) + (size_t)s * es, ss, nd, shape, scatter);
    }
}

static int index_select_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                                ag_tensor **saved) {
    (void)n, (void)saved;
    index_slabs(out, in[0], in[1], ((const struct index_args *)args)->dim, false);
    return AG_OK;
}

static ag_tensor *index_op(enum ag_op_id op, ag_tensor *g, ag_tensor *ix, int dim,
                           const ag_tensor *src) {
    struct index_args a = {.dim = dim, .ndim = src->ndim};
    memcpy(a.shape, src->shape, sizeof a.shape);
    return ag__apply(op, 2, (ag_tensor *const[]){g, ix}, &a, sizeof a);
}

static int index_select_backward(struct ag_node *node, ag_tensor *g) {
    int d = AG_ARGS(node, struct index_args)->dim;
    return ag__accumulate(node, 0,
                          index_op(AG_OP_INDEX_SELECT_BACKWARD, g, node->in[1], d, node->in[0]));
}

/* variant 0: [4,3] rows 3,0,3 (a repeat: gradients add); variant 1: a transposed view. */
static int index_select_make(ag_tensor **in, void *args, ag_dtype dtype, int variant,
                             int64_t size) {
    *(struct index_args *)args = (struct index_args){.dim = variant ? 1 : 0};
    if (size) {
        in[0] = bench_input(dtype, AG_CHECK_BENCH_ROWS, ag__check_bench_cols(size));
        in[1] = random_index(1, (int64_t[]){AG_CHECK_BENCH_ROWS}, AG_CHECK_BENCH_ROWS);
        return in[0] && in[1] ? 2 : -1;
    }
    in[0] = variant ? ag__check_transposed(ag__check_input(dtype, 2, (int64_t[]){3, 5}, -2, 2))
                    : ag__check_input(dtype, 2, (int64_t[]){4, 3}, -2, 2);
    in[1] = index_tensor(1, (int64_t[]){3}, variant ? (int64_t[]){2, 0, 2} : (int64_t[]){3, 0, 3});
    return in[0] && in[1] ? 2 : -1;
}

const struct ag_op_def ag__op_index_select = {
    .name = "index_select",
    .arity = 2,
    .shape = index_select_shape,
    .forward = index_select_forward,
    .backward = index_select_backward,
    .check = {.make = index_select_make},
};

ag_tensor *ag_index_select(ag_tensor *t, int dim, ag_tensor *index) {
    if (!t || !index) return NULL;
    int d = ag__norm_dim(dim, t->ndim, "ag_index_select");
    if (d < 0) return NULL;
    struct index_args a = {.dim = d};
    return ag__apply(AG_OP_INDEX_SELECT, 2, (ag_tensor *const[]){t, index}, &a, sizeof a);
}

/* ---- index_select_backward: zeros of the source shape, g's slabs added at the index. */
static int index_bw_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                          const char *fn) {
    (void)n;
    const struct index_args *a = args;
    if (!ag__is_float(in[0]->dtype)) /* sums gradients */
        return ag__error(AG_ERR_DTYPE, fn, "expects float32 or float64, got %s %s",
                         ag_dtype_name(in[0]->dtype), AG_SHAPE(in[0]));
    m->dtype = in[0]->dtype;
    m->ndim = a->ndim;
    memcpy(m->shape, a->shape, sizeof(int64_t) * (size_t)a->ndim);
    return AG_OK;
}

static int index_select_bw_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                                   ag_tensor **saved) {
    (void)n, (void)saved;
    memset(ag__ptr(out), 0, (size_t)out->numel * ag_dtype_size(out->dtype));
    index_slabs(out, in[0], in[1], ((const struct index_args *)args)->dim, true);
    return AG_OK;
}

static int index_select_bw_backward(struct ag_node *node, ag_tensor *g) {
    int d = AG_ARGS(node, struct index_args)->dim;
    return ag__accumulate(node, 0, ag_index_select(g, d, node->in[1]));
}

static int index_select_bw_make(ag_tensor **in, void *args, ag_dtype dtype, int variant,
                                int64_t size) {
    *(struct index_args *)args = (struct index_args){.dim = 0, .ndim = 2, .shape = {4, 3}};
    if (size) {
        int64_t c = ag__check_bench_cols(size);
        *(struct index_args *)args =
            (struct index_args){.dim = 0, .ndim = 2, .shape = {AG_CHECK_BENCH_ROWS, c}};
        in[0] = bench_input(dtype, AG_CHECK_BENCH_ROWS, c);
        in[1] = random_index(1, (int64_t[]){AG_CHECK_BENCH_ROWS}, AG_CHECK_BENCH_ROWS);
        return in[0] && in[1] ? 2 : -1;
    }
    in[0] = variant ? ag__check_transposed(ag__check_input(dtype, 2, (int64_t[]){3, 3}, -2, 2))
                    : ag__check_input(dtype, 2, (int64_t[]){3, 3}, -2, 2);
    in[1] = index_tensor(1, (int64_t[]){3}, (int64_t[]){3, 0, 3});
    return in[0] && in[1] ? 2 : -1;
}

const struct ag_op_def ag__op_index_select_backward = {
    .name = "index_select_backward",
    .arity = 2,
    .shape = index_bw_shape,
    .forward = index_select_bw_forward,
    .backward = index_select_bw_backward,
    .check = {.make = index_select_bw_make},
};

/* ------------------------------------------------------------------ gather */
static int gather_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                        const char *fn) {
    (void)n;
    const ag_tensor *t = in[0], *ix = in[1];
    int d = ((const struct index_args *)args)->dim;
    bool ok = ix->ndim == t->ndim;
    for (int k = 0; ok && k < t->ndim; k++) ok = k == d || ix->shape[k] <= t->shape[k];
    if (!ok)
        return ag__error(AG_ERR_SHAPE, fn,
                         "index %s does not fit input %s along dims other than %d", AG_SHAPE(ix),
                         AG_SHAPE(t), d);
    if (check_index(ix, t->ndim ? t->shape[d] : 1, t, d, fn)) return AG_ERR_INDEX;
    ag__meta_like(m, ix);
    m->dtype = t->dtype;
    return AG_OK;
}

/* For each element i of the index (row-major): dst[i] = src[.., index[i], ..] (gather),
 * or big[.., index[i], ..] += small[i] (scatter, in this fixed order). */
static void gather_elems(ag_tensor *out, const ag_tensor *src, const ag_tensor *ix, int d,
                         bool scatter) {
    const ag_tensor *big = scatter ? out : src, *small = scatter ? src : out;
    int64_t bs[AG_MAX_DIMS];
    if (scatter) ag__contiguous_strides(out->ndim, out->shape, bs);
    else memcpy(bs, src->strides, sizeof bs);
    char *bp = big->storage->data, *sp = small->storage->data;
    size_t es = ag_dtype_size(out->dtype);
    for (int64_t i = 0; i < ix->numel; i++) {
        int64_t rem = i, ob = big->offset;
        for (int k = ix->ndim - 1; k >= 0; k--) {
            int64_t c = rem % ix->shape[k];
            rem /= ix->shape[k];
            ob += (k == d ? index_at(ix, i) : c) * bs[k];
        }
        int64_t osm = scatter ? ag__flat_offset(small, i) : small->offset + i;
        if (!scatter) memcpy(sp + (size_t)osm * es, bp + (size_t)ob * es, es);
        else if (out->dtype == AG_F32) ((float *)(void *)bp)[ob] += ((float *)(void *)sp)[osm];
        else ((double *)(void *)bp)[ob] += ((double *)(void *)sp)[osm];
    }
}

static int gather_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                          ag_tensor **saved) {
    (void)n, (void)saved;
    gather_elems(out, in[0], in[1], ((const struct index_args *)args)->dim, false);
    return AG_OK;
}

static int gather_backward(struct ag_node *node, ag_tensor *g) {
    int d = AG_ARGS(node, struct index_args)->dim;
    return ag__accumulate(node, 0, index_op(AG_OP_GATHER_BACKWARD, g, node->in[1], d, node->in[0]));
}

/* variant 0: [3,4] along dim 1 with repeats; variant 1: a transposed view along dim 0. */
static const int64_t gather_ix0[6] = {0, 3, 2, 2, 1, 1}, gather_ix1[8] = {2, 0, 1, 2, 0, 0, 2, 1};

static int gather_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    *(struct index_args *)args = (struct index_args){.dim = variant ? 0 : 1};
    if (size) {
        int64_t c = ag__check_bench_cols(size);
        *(struct index_args *)args = (struct index_args){.dim = 1};
        in[0] = bench_input(dtype, AG_CHECK_BENCH_ROWS, c);
        in[1] = random_index(2, (int64_t[]){AG_CHECK_BENCH_ROWS, c}, c);
        return in[0] && in[1] ? 2 : -1;
    }
    in[0] = variant ? ag__check_transposed(ag__check_input(dtype, 2, (int64_t[]){4, 3}, -2, 2))
                    : ag__check_input(dtype, 2, (int64_t[]){3, 4}, -2, 2);
    in[1] = variant ? index_tensor(2, (int64_t[]){2, 4}, gather_ix1)
                    : index_tensor(2, (int64_t[]){3, 2}, gather_ix0);
    return in[0] && in[1] ? 2 : -1;
}

const struct ag_op_def ag__op_gather = {
    .name = "gather",
    .arity = 2,
    .shape = gather_shape,
    .forward = gather_forward,
    .backward = gather_backward,
    .check = {.make = gather_make},
};

ag_tensor *ag_gather(ag_tensor *t, int dim, ag_tensor *index) {
    if (!t || !index) return NULL;
    int d = ag__norm_dim(dim, t->ndim, "ag_gather");
    if (d < 0) return NULL;
    struct index_args a = {.dim = d};
    return ag__apply(AG_OP_GATHER, 2, (ag_tensor *const[]){t, index}, &a, sizeof a);
}

/* ---- gather_backward: zeros of the source shape, g scatter-added at the index. */
static int gather_bw_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                             ag_tensor **saved) {
    (void)n, (void)saved;
    memset(ag__ptr(out), 0, (size_t)out->numel * ag_dtype_size(out->dtype));
    gather_elems(out, in[0], in[1], ((const struct index_args *)args)->dim, true);
    return AG_OK;
}

static int gather_bw_backward(struct ag_node *node, ag_tensor *g) {
    int d = AG_ARGS(node, struct index_args)->dim;
    return ag__accumulate(node, 0, ag_gather(g, d, node->in[1]));
}

static int gather_bw_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    *(struct index_args *)args = (struct index_args){.dim = 1, .ndim = 2, .shape = {3, 4}};
    if (size) {
        int64_t c = ag__check_bench_cols(size);
        *(struct index_args *)args =
            (struct index_args){.dim = 1, .ndim = 2, .shape = {AG_CHECK_BENCH_ROWS, c}};
        in[0] = bench_input(dtype, AG_CHECK_BENCH_ROWS, c);
        in[1] = random_index(2, (int64_t[]){AG_CHECK_BENCH_ROWS, c}, c);
        return in[0] && in[1] ? 2 : -1;
    }
    in[0] = variant ? ag__check_transposed(ag__check_input(dtype, 2, (int64_t[]){2, 3}, -2, 2))
                    : ag__check_input(dtype, 2, (int64_t[]){3, 2}, -2, 2);
    in[1] = index_tensor(2, (int64_t[]){3, 2}, gather_ix0);
    return in[0] && in[1] ? 2 : -1;
}

const struct ag_op_def ag__op_gather_backward = {
    .name = "gather_backward",
    .arity = 2,
    .shape = index_bw_shape,
    .forward = gather_bw_forward,
    .backward = gather_bw_backward,
    .check = {.make = gather_bw_make},
};

/* ------------------------------------------------------------------ one_hot */
struct one_hot_args {
    int64_t classes;
    ag_dtype dtype;
};

static int one_hot_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                         const char *fn) {
    (void)n;
    const struct one_hot_args *a = args;
    const ag_tensor *l = in[0];
    if (l->ndim == AG_MAX_DIMS)
        return ag__error(AG_ERR_DIM, fn, "labels %s already have %d dims", AG_SHAPE(l),
                         AG_MAX_DIMS);
    if ((unsigned)a->dtype > AG_I64)
        return ag__error(AG_ERR_DTYPE, fn, "unknown dtype %d", (int)a->dtype);
    if (check_index(l, a->classes, l, 0, fn)) return AG_ERR_INDEX;
    ag__meta_like(m, l);
    m->shape[m->ndim++] = a->classes;
    m->dtype = a->dtype;
    return AG_OK;
}

static int one_hot_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                           ag_tensor **saved) {
    (void)n, (void)saved;
    int64_t C = ((const struct one_hot_args *)args)->classes;
    memset(ag__ptr(out), 0, (size_t)out->numel * ag_dtype_size(out->dtype));
    for (int64_t i = 0; i < in[0]->numel; i++) {
        int64_t at = i * C + index_at(in[0], i);
        if (out->dtype == AG_F32) ((float *)ag__ptr(out))[at] = 1;
        else if (out->dtype == AG_F64) ((double *)ag__ptr(out))[at] = 1;
        else ((int64_t *)ag__ptr(out))[at] = 1;
    }
    return AG_OK;
}

static int one_hot_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    if (variant) return 0;
    if (size) {
        *(struct one_hot_args *)args = (struct one_hot_args){16, dtype};
        in[0] = random_index(1, (int64_t[]){size / 16 > 1 ? size / 16 : 1}, 16);
        return in[0] ? 1 : -1;
    }
    *(struct one_hot_args *)args = (struct one_hot_args){4, dtype};
    in[0] = index_tensor(1, (int64_t[]){5}, (int64_t[]){0, 3, 1, 1, 2});
    return in[0] ? 1 : -1;
}

const struct ag_op_def ag__op_one_hot = {
    .name = "one_hot",
    .arity = 1,
    .shape = one_hot_shape,
    .forward = one_hot_forward,
    .check = {.make = one_hot_make, .no_grad = true},
};

ag_tensor *ag_one_hot(ag_tensor *labels, int64_t num_classes, ag_dtype dtype) {
    if (!labels) return NULL;
    if (labels->dtype != AG_I64) {
        ag__error(AG_ERR_DTYPE, "ag_one_hot", "labels must be int64, got %s %s",
                  ag_dtype_name(labels->dtype), AG_SHAPE(labels));
        return NULL;
    }
    if (num_classes == -1) { /* torch: one more than the largest label */
        num_classes = 0;
        for (int64_t i = 0; i < labels->numel; i++)
            if (index_at(labels, i) + 1 > num_classes) num_classes = index_at(labels, i) + 1;
    }
    if (num_classes < 1) {
        ag__error(AG_ERR_ARG, "ag_one_hot", "num_classes %lld must be positive (labels %s)",
                  (long long)num_classes, AG_SHAPE(labels));
        return NULL;
    }
    struct one_hot_args a = {num_classes, dtype};
    return ag__apply(AG_OP_ONE_HOT, 1, (ag_tensor *const[]){labels}, &a, sizeof a);
}
