/* Embedding lookup, torch.nn.functional.embedding's semantics (no padding_idx, no max_norm):
 *   embedding(indices, weight)              y[..., :] = weight[indices[...], :]
 *   embedding_backward(g, indices)          dw[num, dim]: rows of g added at their indices
 * The backward is a scatter-add straight into the [num, dim] gradient (no one-hot matrix),
 * in the indices' row-major order, so it is deterministic. embedding_backward's own
 * backward is embedding again: differentiable any number of times. */
#include "ops/ops.h"
#include "runtime/parallel.h"

struct emb_args {
    int64_t num; /* embedding_backward: rows of the weight */
};

static int64_t index_at(const ag_tensor *ix, int64_t i) {
    return ((const int64_t *)ix->storage->data)[ag__flat_offset(ix, i)];
}

/* indices: int64 of any shape with values in [0, num). */
static int check_indices(const ag_tensor *ix, int64_t num, const char *what, const char *fn) {
    if (ix->dtype != AG_I64)
        return ag__error(AG_ERR_DTYPE, fn, "indices must be int64, got %s %s",
                         ag_dtype_name(ix->dtype), AG_SHAPE(ix));
    if (ix->ndim + 1 > AG_MAX_DIMS)
        return ag__error(AG_ERR_SHAPE, fn, "indices %s have too many dims", AG_SHAPE(ix));
    for (int64_t i = 0; i < ix->numel; i++) {
        int64_t k = index_at(ix, i);
        if (k < 0 || k >= num)
            return ag__error(AG_ERR_INDEX, fn,
                             "index %lld at position %lld is out of range "
                             "[0, %lld) for %s",
                             (long long)k, (long long)i, (long long)num, what);
    }
    return AG_OK;
}

/* ------------------------------------------------------------------ embedding */
static int emb_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                     const char *fn) {
    (void)n, (void)args;
    const ag_tensor *ix = in[0], *w = in[1];
    if (!ag__is_float(w->dtype) || w->ndim != 2)
        return ag__error(w->ndim != 2 ? AG_ERR_SHAPE : AG_ERR_DTYPE, fn,
                         "weight must be a float "
                         "[num, dim] tensor, got %s %s",
                         ag_dtype_name(w->dtype), AG_SHAPE(w));
    if (check_indices(ix, w->shape[0], ag__shape_str(w->ndim, w->shape), fn))
        return ag__last_error_code();
    m->dtype = w->dtype;
    m->ndim = ix->ndim + 1;
    memcpy(m->shape, ix->shape, sizeof(int64_t) * (size_t)ix->ndim);
    m->shape[ix->ndim] = w->shape[1];
    return AG_OK;
}

/* One lookup shared out over the rows by ag__parallel_for. */
struct emb_job {
    ag_tensor *out;
    const ag_tensor *ix, *w;
};

static void emb_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct emb_job *jb = ctx;
    const ag_tensor *ix = jb->ix, *w = jb->w;
    int64_t dim = w->shape[1];
    size_t es = ag_dtype_size(w->dtype);
    char *o = ag__ptr(jb->out);
    const char *base = (const char *)w->storage->data;
    bool rowwise = w->strides[1] == 1;
    (void)tid;
    for (int64_t r = lo; r < hi; r++) {
        int64_t k = index_at(ix, r), off = w->offset + k * w->strides[0];
        char *dst = o + (size_t)(r * dim) * es;
        if (rowwise) {
            memcpy(dst, base + (size_t)off * es, (size_t)dim * es);
            continue;
        }
        for (int64_t j = 0; j < dim; j++)
            memcpy(dst + (size_t)j * es, base + (size_t)(off + j * w->strides[1]) * es, es);
    }
}

static int emb_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    const ag_tensor *ix = in[0], *w = in[1];
    int64_t dim = w->shape[1], rows = ix->numel;
    struct emb_job j = {out, ix, w};
    ag__parallel_for(rows, 1, (double)dim, 1 << 16, emb_range, &j);
    return AG_OK;
}

static ag_tensor *emb_backward_op(ag_tensor *g, ag_tensor *ix, int64_t num) {
    struct emb_args a = {num};
    return AG_APPLY_ARGS(AG_OP_EMBEDDING_BACKWARD, 2, ((ag_tensor *const[]){g, ix}), a);
}

static int emb_backward(struct ag_node *node, ag_tensor *g) {
    if (!ag__needs_grad(node, 1)) return AG_OK;
    return ag__accumulate(node, 1, emb_backward_op(g, node->in[0], node->in[1]->shape[0]));
}

/* A [shape] index tensor drawn below hi, repeats likely (so the scatter-add adds). */
static ag_tensor *random_indices(int ndim, const int64_t *shape, int64_t hi) {
    ag_tensor *t = ag_zeros(AG_I64, ndim, shape);
    if (!t) return NULL;
    int64_t *v = ag__ptr(t);
    for (int64_t i = 0; i < t->numel; i++) v[i] = (int64_t)(ag_random_u64() % (uint64_t)hi);
    return t;
}

/* variant 0: indices [2,3] into [5,4]; variant 1: a transposed weight, indices [7].
 * Benchmark: a character GPT's lookup, [size/64] indices into a [65, 64] table. */
static int emb_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    (void)args;
    if (size) {
        int64_t n = size / 64 > 1 ? size / 64 : 1;
        in[0] = random_indices(1, &n, 65);
        in[1] = ag__check_input(dt, 2, (int64_t[]){65, 64}, -1, 1);
        return 2;
    }
    if (variant == 0) {
        in[0] = random_indices(2, (int64_t[]){2, 3}, 5);
        in[1] = ag__check_input(dt, 2, (int64_t[]){5, 4}, -1, 1);
        return 2;
    }
    in[0] = random_indices(1, (int64_t[]){7}, 3);
    ag_tensor *base = ag__check_input(dt, 2, (int64_t[]){4, 3}, -1, 1);
    bool prev = ag_set_grad_enabled(false);
    in[1] = ag_transpose(base, 0, 1);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(in[1], true);
    return 2;
}

const struct ag_op_def ag__op_embedding = {
    .name = "embedding",
    .arity = 2,
    .shape = emb_shape,
    .forward = emb_forward,
    .backward = emb_backward,
    .check = {.make = emb_make},
};

/* ------------------------------------------------------------------ embedding_backward */
static int embb_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                      const char *fn) {
    (void)n;
    const struct emb_args *a = args;
    const ag_tensor *g = in[0], *ix = in[1];
    if (!ag__is_float(g->dtype) || g->ndim != ix->ndim + 1 ||
        memcmp(g->shape, ix->shape, sizeof(int64_t) * (size_t)ix->ndim))
        return ag__error(AG_ERR_SHAPE, fn,
                         "grad_output %s %s must be float [indices..., dim] "
                         "for indices %s",
                         ag_dtype_name(g->dtype), AG_SHAPE(g), AG_SHAPE(ix));
    if (check_indices(ix, a->num, "the weight's rows", fn)) return ag__last_error_code();
    *m = (struct ag_meta){g->dtype, 2, {a->num, g->shape[g->ndim - 1]}};
    return AG_OK;
}

#define DEF_SCATTER(T, name)                                                                  \
    static void name(T *restrict dw, const T *restrict g, const ag_tensor *ix, int64_t dim) { \
        for (int64_t r = 0; r < ix->numel; r++) {                                             \
            T *restrict d = dw + index_at(ix, r) * dim;                                       \
            const T *restrict s = g + r * dim;                                                \
            for (int64_t j = 0; j < dim; j++) d[j] += s[j];                                   \
        }                                                                                     \
    }
DEF_SCATTER(float, scatter_rows_f32)
DEF_SCATTER(double, scatter_rows_f64)

static int embb_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    ag_tensor *g = in[0];
    if (!ag_is_contiguous(g)) {
        bool prev = ag_set_grad_enabled(false);
        g = ag_contiguous(g);
        ag_set_grad_enabled(prev);
        if (!g) return AG_ERR_NOMEM;
    }
    memset(ag__ptr(out), 0, (size_t)out->numel * ag_dtype_size(out->dtype));
    int64_t dim = out->shape[1];
    if (out->dtype == AG_F32) scatter_rows_f32(ag__ptr(out), ag__ptr(g), in[1], dim);
    else scatter_rows_f64(ag__ptr(out), ag__ptr(g), in[1], dim);
    if (g != in[0] && !g->arena) ag_tensor_free(g);
    return AG_OK;
}

static int embb_backward(struct ag_node *node, ag_tensor *gg) {
    if (!ag__needs_grad(node, 0)) return AG_OK;
    ag_tensor *const in[] = {node->in[1], gg};
    return ag__accumulate(node, 0, ag__apply(AG_OP_EMBEDDING, 2, in, NULL, 0));
}

static int embb_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    ag_tensor *pair[2];
    emb_make(pair, args, dt, variant, size);
    ((struct emb_args *)args)->num = pair[1]->shape[0];
    in[1] = pair[0];
    int64_t shape[AG_MAX_DIMS];
    memcpy(shape, pair[0]->shape, sizeof(int64_t) * (size_t)pair[0]->ndim);
    shape[pair[0]->ndim] = pair[1]->shape[1];
    in[0] = ag__check_input(dt, pair[0]->ndim + 1, shape, -1, 1);
    return 2;
}

const struct ag_op_def ag__op_embedding_backward = {
    .name = "embedding_backward",
    .arity = 2,
    .shape = embb_shape,
    .forward = embb_forward,
    .backward = embb_backward,
    .check = {.make = embb_make},
};

/* ------------------------------------------------------------------ public function */
ag_tensor *ag_embedding(ag_tensor *indices, ag_tensor *weight) {
    if (!indices || !weight) return NULL;
    return ag__apply(AG_OP_EMBEDDING, 2, (ag_tensor *const[]){indices, weight}, NULL, 0);
}
