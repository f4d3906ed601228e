/* split and chunk: pieces of x along one dim, as views, whose gradients land in ONE
 * shared gradient of x instead of a zero-padded tensor per piece.
 *   split_pack(x)       x itself (a view), recorded once per split: the pieces' parent
 *   split_piece(p)      p[..., start:start+len, ...] (a view)
 * The backward walk visits every piece before their parent (it is their input). Each
 * piece adds its gradient into its region of the parent's gradient in place
 * (ag__accumulate_place, autograd/tape.c): the first one gives the parent a zero
 * gradient of x's shape, the others write into that one. The parent's backward passes it
 * on to x: one zero-fill and one pass per piece in all. With create_graph (grad mode on
 * during the walk) a piece pads its gradient with zeros by ag_cat instead: ordinary ops,
 * differentiable again. */
#include "ops/ops.h"

struct piece_args {
    int dim;
    int64_t start, len;
};

/* ------------------------------------------------------------------ split_pack */
static int pack_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                      const char *fn) {
    (void)n, (void)args, (void)fn;
    m->dtype = in[0]->dtype;
    m->ndim = in[0]->ndim;
    memcpy(m->shape, in[0]->shape, sizeof(int64_t) * (size_t)m->ndim);
    return AG_OK;
}

static int pack_view(const struct ag_meta *m, int64_t *strides, int64_t *offset,
                     ag_tensor *const *in, const void *args) {
    (void)args;
    memcpy(strides, in[0]->strides, sizeof(int64_t) * (size_t)m->ndim);
    *offset = in[0]->offset;
    return AG_OK;
}

/* out (contiguous) = t, any strides. Used only if a view could not be made. */
static int copy_forward(ag_tensor *out, const ag_tensor *t, int64_t offset,
                        const int64_t *strides) {
    size_t es = ag_dtype_size(t->dtype);
    ag_tensor v = *t;
    v.offset = offset;
    memcpy(v.strides, strides, sizeof v.strides);
    v.ndim = out->ndim;
    memcpy(v.shape, out->shape, sizeof v.shape);
    for (int64_t i = 0; i < out->numel; i++)
        memcpy((char *)ag__ptr(out) + (size_t)i * es,
               (const char *)t->storage->data + (size_t)ag__flat_offset(&v, i) * es, es);
    return AG_OK;
}

static int pack_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    return copy_forward(out, in[0], in[0]->offset, in[0]->strides);
}

static int pack_backward(struct ag_node *node, ag_tensor *g) { return ag__accumulate(node, 0, g); }

const struct ag_op_def ag__op_split_pack = {
    .name = "split_pack",
    .arity = 1,
    .shape = pack_shape,
    .view = pack_view,
    .forward = pack_forward,
    .backward = pack_backward,
    .check = {.lo = -2, .hi = 2},
};

/* ------------------------------------------------------------------ split_piece */
static int piece_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                       const char *fn) {
    const struct piece_args *a = args;
    pack_shape(m, in, n, args, fn);
    if (a->dim < 0 || a->dim >= in[0]->ndim || a->start < 0 || a->len < 0 ||
        a->start + a->len > in[0]->shape[a->dim])
        return ag__error(AG_ERR_INDEX, fn, "piece [%lld, %lld) of dim %d is outside %s",
                         (long long)a->start, (long long)(a->start + a->len), a->dim,
                         AG_SHAPE(in[0]));
    m->shape[a->dim] = a->len;
    return AG_OK;
}

static int piece_view(const struct ag_meta *m, int64_t *strides, int64_t *offset,
                      ag_tensor *const *in, const void *args) {
    const struct piece_args *a = args;
    memcpy(strides, in[0]->strides, sizeof(int64_t) * (size_t)m->ndim);
    *offset = in[0]->offset + (a->len ? a->start * in[0]->strides[a->dim] : 0);
    return AG_OK;
}

static int piece_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                         ag_tensor **saved) {
    (void)n, (void)saved;
    int64_t strides[AG_MAX_DIMS], offset;
    struct ag_meta m = {out->dtype, out->ndim, {0}};
    piece_view(&m, strides, &offset, in, args);
    return copy_forward(out, in[0], offset, strides);
}

/* g padded with zeros to the parent's shape: ordinary, differentiable ops. */
static ag_tensor *padded(ag_tensor *g, const ag_tensor *p, const struct piece_args *a) {
    ag_tensor *parts[3];
    int k = 0;
    int64_t shape[AG_MAX_DIMS];
    memcpy(shape, p->shape, sizeof shape);
    if (a->start > 0) {
        shape[a->dim] = a->start;
        parts[k++] = ag_zeros(g->dtype, p->ndim, shape);
    }
    parts[k++] = g;
    int64_t rest = p->shape[a->dim] - a->start - a->len;
    if (rest > 0) {
        shape[a->dim] = rest;
        parts[k++] = ag_zeros(g->dtype, p->ndim, shape);
    }
    return k == 1 ? g : ag_cat(parts, k, a->dim);
}

static int piece_backward(struct ag_node *node, ag_tensor *g) {
    const struct piece_args *a = AG_ARGS(node, struct piece_args);
    int rc = a->len ? ag__accumulate_place(node, 0, g, a->dim, a->start, 1) : AG__DECLINED;
    return rc != AG__DECLINED ? rc : ag__accumulate(node, 0, padded(g, node->in[0], a));
}

/* variant 0: the middle of [3,5] along dim 1; variant 1: the first rows of a transposed
 * [4,3] (a leaf: the gradcheck's slot gets the piece in place). */
static int piece_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct piece_args *a = args;
    if (size) {
        int64_t c = size / 64 > 2 ? size / 64 : 2;
        *a = (struct piece_args){.dim = 1, .start = c / 2, .len = c - c / 2};
        in[0] = ag__check_input(dt, 2, (int64_t[]){64, c}, -2, 2);
        return 1;
    }
    if (variant == 0) {
        *a = (struct piece_args){.dim = 1, .start = 1, .len = 3};
        in[0] = ag__check_input(dt, 2, (int64_t[]){3, 5}, -2, 2);
        return 1;
    }
    *a = (struct piece_args){.dim = 0, .start = 0, .len = 2};
    ag_tensor *base = ag__check_input(dt, 2, (int64_t[]){3, 4}, -2, 2);
    bool prev = ag_set_grad_enabled(false);
    in[0] = ag_transpose(base, 0, 1);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(in[0], true);
    return 1;
}

const struct ag_op_def ag__op_split_piece = {
    .name = "split_piece",
    .arity = 1,
    .shape = piece_shape,
    .view = piece_view,
    .forward = piece_forward,
    .backward = piece_backward,
    .check = {.make = piece_make},
};

/* ------------------------------------------------------------------ public functions */
/* Pieces of the given sizes (summing to x's size along dim) into out. */
static int split_sizes(ag_tensor *x, int n, const int64_t *sizes, int dim, ag_tensor **out,
                       const char *fn) {
    int d = ag__norm_dim(dim, x->ndim, fn);
    if (d < 0) return -1;
    ag_tensor *p = AG_APPLY1(AG_OP_SPLIT_PACK, x);
    if (!p) return -1;
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        struct piece_args a = {d, at, sizes[i]};
        out[i] = AG_APPLY_ARGS(AG_OP_SPLIT_PIECE, 1, (ag_tensor *const[]){p}, a);
        if (!out[i]) return -1;
        at += sizes[i];
    }
    return n;
}

static int check_split_input(ag_tensor *x, ag_tensor **out, const char *fn) {
    if (!x || !out) return ag__error(AG_ERR_NULL, fn, "x and out must not be NULL");
    if (x->ndim == 0) return ag__error(AG_ERR_DIM, fn, "cannot split a 0-d tensor");
    return AG_OK;
}

int ag_split(ag_tensor *x, int64_t size, int dim, ag_tensor **out, int max_out) {
    const char *fn = "ag_split";
    if (check_split_input(x, out, fn)) return -1;
    int d = ag__norm_dim(dim, x->ndim, fn);
    if (d < 0) return -1;
    int64_t len = x->shape[d];
    if (size <= 0 && !(size == 0 && len == 0)) {
        ag__error(AG_ERR_ARG, fn, "split size %lld must be positive (dim %d of %s)",
                  (long long)size, dim, AG_SHAPE(x));
        return -1;
    }
    int64_t count = len == 0 ? 1 : (len + size - 1) / size;
    if (count > max_out) {
        ag__error(AG_ERR_ARG, fn,
                  "%s splits into %lld pieces of %lld along dim %d, more than "
                  "max_out %d",
                  AG_SHAPE(x), (long long)count, (long long)size, dim, max_out);
        return -1;
    }
    int64_t *sizes = malloc(sizeof(int64_t) * (size_t)count);
    if (!sizes) return ag__error(AG_ERR_NOMEM, fn, "out of memory (x %s)", AG_SHAPE(x)), -1;
    for (int64_t i = 0; i < count; i++) sizes[i] = len - i * size < size ? len - i * size : size;
    int rc = split_sizes(x, (int)count, sizes, d, out, fn);
    free(sizes);
    return rc;
}

int ag_split_with_sizes(ag_tensor *x, int n, const int64_t *sizes, int dim, ag_tensor **out) {
    const char *fn = "ag_split_with_sizes";
    if (check_split_input(x, out, fn)) return -1;
    int d = ag__norm_dim(dim, x->ndim, fn);
    if (d < 0) return -1;
    int64_t total = 0;
    bool ok = n >= 1 && sizes;
    for (int i = 0; ok && i < n; i++) ok = sizes[i] >= 0, total += sizes[i];
    if (!ok || total != x->shape[d]) {
        ag__error(AG_ERR_ARG, fn, "sizes %s must be >= 0 and sum to %lld (dim %d of %s)",
                  sizes && n >= 1 ? ag__shape_str(n < AG_MAX_DIMS ? n : AG_MAX_DIMS, sizes) : "[]",
                  (long long)x->shape[d], dim, AG_SHAPE(x));
        return -1;
    }
    return split_sizes(x, n, sizes, d, out, fn);
}

int ag_chunk(ag_tensor *x, int chunks, int dim, ag_tensor **out) {
    const char *fn = "ag_chunk";
    if (check_split_input(x, out, fn)) return -1;
    if (chunks < 1) {
        ag__error(AG_ERR_ARG, fn, "chunks %d must be positive (x %s)", chunks, AG_SHAPE(x));
        return -1;
    }
    int d = ag__norm_dim(dim, x->ndim, fn);
    if (d < 0) return -1;
    int64_t len = x->shape[d], size = (len + chunks - 1) / chunks;
    if (len == 0) return split_sizes(x, 1, (int64_t[]){0}, d, out, fn);
    return ag_split(x, size, d, out, chunks);
}
