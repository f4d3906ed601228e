/* Masking: masked_fill and tril/triu, torch's semantics.
 *   masked_fill(x, mask)   mask != 0 ? value : x, x and mask broadcast together; the mask
 *                          is any dtype (float32, float64, int64; NaN counts as set) and
 *                          gets no gradient. Backward: masked_fill(g, mask, 0).
 *   tril(x), triu(x)       x [..., R, C]: keeps j - i <= diagonal (tril) or >= diagonal
 *                          (triu), zeros elsewhere. Backward: the same op on g.
 * Both backward rules are the op itself, so they are differentiable any number of times. */
#include "ops/iter.h"

struct fill_args {
    double value;
};

/* ------------------------------------------------------------------ masked_fill */
/* Row kernels z = m != 0 ? value : x for mask types of x's element size (the iterator
 * steps every operand by one element size); other masks are made 0/1 in x's dtype. */
#define DEF_FILL_ROW(name, T, M)                                                                  \
    static void name(char *z_, const char *x_, int64_t sx, const char *m_, int64_t sm, int64_t n, \
                     const void *args) {                                                          \
        T v = (T)((const struct fill_args *)args)->value;                                         \
        T *z = (T *)(void *)z_;                                                                   \
        const T *x = (const T *)(const void *)x_;                                                 \
        const M *m = (const M *)(const void *)m_;                                                 \
        if (sx == 1 && sm == 1)                                                                   \
            for (int64_t i = 0; i < n; i++) z[i] = m[i] != 0 ? v : x[i];                          \
        else                                                                                      \
            for (int64_t i = 0; i < n; i++) z[i] = m[i * sm] != 0 ? v : x[i * sx];                \
    }
DEF_FILL_ROW(fill_f32_by_f32, float, float)
DEF_FILL_ROW(fill_f64_by_f64, double, double)
DEF_FILL_ROW(fill_f64_by_i64, double, int64_t)

static ag_row2_fn fill_row(ag_dtype x, ag_dtype m) {
    if (x == AG_F32) return fill_f32_by_f32;
    return m == AG_F64 ? fill_f64_by_f64 : fill_f64_by_i64;
}

/* mask as 1/0 in dtype, same shape (a float64 mask of 1e-300 stays set in float32). */
#define DEF_MASK_TO(name, M)                                                              \
    static void name(ag_tensor *c, const ag_tensor *mask) {                               \
        const M *m = ag__ptr(mask);                                                       \
        if (c->dtype == AG_F32)                                                           \
            for (int64_t i = 0; i < c->numel; i++) ((float *)ag__ptr(c))[i] = m[i] != 0;  \
        else                                                                              \
            for (int64_t i = 0; i < c->numel; i++) ((double *)ag__ptr(c))[i] = m[i] != 0; \
    }
DEF_MASK_TO(mask_from_f32, float)
DEF_MASK_TO(mask_from_f64, double)
DEF_MASK_TO(mask_from_i64, int64_t)
DEF_MASK_TO(mask_from_u8, uint8_t)

static ag_tensor *mask_as(const ag_tensor *mask, ag_dtype dtype) {
    ag_tensor *c = ag__empty(dtype, mask->ndim, mask->shape, "ag_masked_fill");
    if (c && ag_is_contiguous(mask)) {
        if (mask->dtype == AG_F32) mask_from_f32(c, mask);
        else if (mask->dtype == AG_F64) mask_from_f64(c, mask);
        else if (mask->dtype == AG_U8) mask_from_u8(c, mask);
        else mask_from_i64(c, mask);
        return c;
    }
    for (int64_t i = 0; c && i < c->numel; i++) {
        bool on = ag__get_flat(mask, i) != 0;
        if (dtype == AG_F32) ((float *)ag__ptr(c))[i] = on;
        else ((double *)ag__ptr(c))[i] = on;
    }
    return c;
}

static int fill_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                      const char *fn) {
    (void)n, (void)args;
    const ag_tensor *x = in[0], *mask = in[1];
    if (!ag__is_float(x->dtype))
        return ag__error(AG_ERR_DTYPE, fn, "x must be float32 or float64, got %s %s",
                         ag_dtype_name(x->dtype), AG_SHAPE(x));
    m->dtype = x->dtype;
    if (ag__broadcast_shapes(x->ndim, x->shape, mask->ndim, mask->shape, &m->ndim, m->shape))
        return ag__error(AG_ERR_SHAPE, fn, "mask %s does not broadcast with x %s", AG_SHAPE(mask),
                         AG_SHAPE(x));
    return AG_OK;
}

static int fill_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n, (void)saved;
    ag_tensor *m = in[1];
    if (ag_dtype_size(m->dtype) != ag_dtype_size(out->dtype) ||
        (m->dtype == AG_F32) != (out->dtype == AG_F32))
        m = mask_as(in[1], out->dtype);
    if (!m) return AG_ERR_NOMEM;
    ag__map2(out, in[0], m, fill_row(out->dtype, m->dtype), args);
    if (m != in[1] && !m->arena) ag_tensor_free(m);
    return AG_OK;
}

static ag_tensor *fill_op(ag_tensor *x, ag_tensor *mask, double value) {
    struct fill_args a = {value};
    return AG_APPLY_ARGS(AG_OP_MASKED_FILL, 2, ((ag_tensor *const[]){x, mask}), a);
}

static int fill_backward(struct ag_node *node, ag_tensor *g) {
    if (!ag__needs_grad(node, 0)) return AG_OK;
    return ag__accumulate(node, 0, fill_op(g, node->in[1], 0.0)); /* summed to x's shape */
}

/* A 0/1 mask of the given dtype and shape from the seeded stream. */
static ag_tensor *random_mask(ag_dtype dt, int ndim, const int64_t *shape) {
    ag_tensor *m = ag_zeros(dt, ndim, shape);
    for (int64_t i = 0; m && i < m->numel; i++) {
        bool on = ag_random_u64() % 3 == 0;
        if (dt == AG_F32) ((float *)ag__ptr(m))[i] = on;
        else if (dt == AG_F64) ((double *)ag__ptr(m))[i] = on;
        else ((int64_t *)ag__ptr(m))[i] = on;
    }
    return m;
}

/* variant 0: x and an int64 mask [3,4]; variant 1: x [3,1] broadcast against a float mask
 * [4] (the gradient sums back), value -inf would break gradcheck so 2.5. */
static int fill_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    ((struct fill_args *)args)->value = 2.5;
    if (size) {
        in[0] = ag__check_input(dt, 1, &size, -2, 2);
        in[1] = random_mask(AG_I64, 1, &size);
        return 2;
    }
    if (variant == 0) {
        in[0] = ag__check_input(dt, 2, (int64_t[]){3, 4}, -2, 2);
        in[1] = random_mask(AG_I64, 2, (int64_t[]){3, 4});
        return 2;
    }
    in[0] = ag__check_input(dt, 2, (int64_t[]){3, 1}, -2, 2);
    in[1] = random_mask(dt, 1, (int64_t[]){4});
    return 2;
}

const struct ag_op_def ag__op_masked_fill = {
    .name = "masked_fill",
    .arity = 2,
    .shape = fill_shape,
    .forward = fill_forward,
    .backward = fill_backward,
    .check = {.make = fill_make},
};

/* ------------------------------------------------------------------ tril, triu */
struct tri_args {
    int64_t diagonal;
};

static int tri_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                     const char *fn) {
    if (in[0]->ndim < 2)
        return ag__error(AG_ERR_SHAPE, fn, "x %s must have at least 2 dims", AG_SHAPE(in[0]));
    return ag__shape_same(m, in, n, args, fn);
}

/* out = x with the elements outside the kept triangle zeroed; keep(i, j): j - i <= d
 * (lower) or >= d (upper). */
static int tri_forward_as(ag_tensor *out, ag_tensor *const *in, const struct tri_args *a,
                          bool lower) {
    ag_tensor *x = in[0];
    if (!ag_is_contiguous(x)) {
        bool prev = ag_set_grad_enabled(false);
        x = ag_contiguous(x);
        ag_set_grad_enabled(prev);
        if (!x) return AG_ERR_NOMEM;
    }
    int64_t R = out->shape[out->ndim - 2], C = out->shape[out->ndim - 1];
    int64_t mats = (R && C) ? out->numel / (R * C) : 0;
    size_t es = ag_dtype_size(out->dtype);
    const char *src = ag__ptr(x);
    char *dst = ag__ptr(out);
    for (int64_t b = 0; b < mats; b++)
        for (int64_t i = 0; i < R; i++) {
            /* kept columns [lo, hi): lower j <= i + d, upper j >= i + d */
            int64_t lo = lower ? 0 : i + a->diagonal, hi = lower ? i + a->diagonal + 1 : C;
            lo = lo < 0 ? 0 : lo > C ? C : lo;
            hi = hi < lo ? lo : hi > C ? C : hi;
            size_t row = (size_t)((b * R + i) * C) * es;
            memset(dst + row, 0, (size_t)lo * es);
            memcpy(dst + row + (size_t)lo * es, src + row + (size_t)lo * es,
                   (size_t)(hi - lo) * es);
            memset(dst + row + (size_t)hi * es, 0, (size_t)(C - hi) * es);
        }
    if (x != in[0] && !x->arena) ag_tensor_free(x);
    return AG_OK;
}
static int tril_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n, (void)saved;
    return tri_forward_as(out, in, args, true);
}
static int triu_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n, (void)saved;
    return tri_forward_as(out, in, args, false);
}

static int tri_backward(struct ag_node *node, ag_tensor *g) {
    enum ag_op_id op = node->def == &ag__op_tril ? AG_OP_TRIL : AG_OP_TRIU;
    return ag__accumulate(
        node, 0, ag__apply(op, 1, (ag_tensor *const[]){g}, node->args, sizeof(struct tri_args)));
}

/* variant 0: [2,3,4] diagonal 1; variant 1: a transposed [4,3] diagonal -1. */
static int tri_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct tri_args *a = args;
    if (size) {
        int64_t r = 64, c = size / 64 > 1 ? size / 64 : 1;
        a->diagonal = 0;
        in[0] = ag__check_input(dt, 2, (int64_t[]){r, c}, -2, 2);
        return 1;
    }
    if (variant == 0) {
        a->diagonal = 1;
        in[0] = ag__check_input(dt, 3, (int64_t[]){2, 3, 4}, -2, 2);
        return 1;
    }
    a->diagonal = -1;
    ag_tensor *base = ag__check_input(dt, 2, (int64_t[]){3, 4}, -2, 2);
    bool prev = ag_set_grad_enabled(false);
    in[0] = ag_transpose(base, 0, 1);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(in[0], true);
    return 1;
}

const struct ag_op_def ag__op_tril = {
    .name = "tril",
    .arity = 1,
    .shape = tri_shape,
    .forward = tril_forward,
    .backward = tri_backward,
    .check = {.make = tri_make},
};
const struct ag_op_def ag__op_triu = {
    .name = "triu",
    .arity = 1,
    .shape = tri_shape,
    .forward = triu_forward,
    .backward = tri_backward,
    .check = {.make = tri_make},
};

/* ------------------------------------------------------------------ public functions */
ag_tensor *ag_masked_fill(ag_tensor *x, ag_tensor *mask, double value) {
    if (!x || !mask) return NULL;
    return fill_op(x, mask, value);
}

ag_tensor *ag_tril(ag_tensor *x, int64_t diagonal) {
    struct tri_args a = {diagonal};
    return x ? AG_APPLY_ARGS(AG_OP_TRIL, 1, (ag_tensor *const[]){x}, a) : NULL;
}

ag_tensor *ag_triu(ag_tensor *x, int64_t diagonal) {
    struct tri_args a = {diagonal};
    return x ? AG_APPLY_ARGS(AG_OP_TRIU, 1, (ag_tensor *const[]){x}, a) : NULL;
}
