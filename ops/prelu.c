/* prelu: a point-wise activation with a learned slope per channel,
 * prelu(x) = x > 0 ? x : w[c] x, where c is x's index along dim 1 (or one slope for all). */
#include "ops/iter.h"

/* weight [C] seen as [C,1,...,1] against x's dims 1.. (or [1] as it is). */
static ag_tensor weight_view(const ag_tensor *x, const ag_tensor *w) {
    ag_tensor v = *w;
    if (w->shape[0] == 1 || x->ndim < 2) return v;
    v.ndim = x->ndim - 1;
    for (int d = 0; d < v.ndim; d++) {
        v.shape[d] = d ? 1 : w->shape[0];
        v.strides[d] = d ? 0 : w->strides[0];
    }
    return v;
}

static int prelu_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                       const char *fn) {
    const ag_tensor *x = in[0], *w = in[1];
    if (x->dtype != w->dtype)
        return ag__error(AG_ERR_DTYPE, fn, "input %s %s and weight %s %s dtypes differ",
                         ag_dtype_name(x->dtype), AG_SHAPE(x), ag_dtype_name(w->dtype),
                         AG_SHAPE(w));
    int64_t channels = x->ndim >= 2 ? x->shape[1] : 1;
    if (w->ndim != 1 || (w->shape[0] != 1 && w->shape[0] != channels))
        return ag__error(AG_ERR_SHAPE, fn,
                         "weight %s must be [1] or [%lld] (the channels, "
                         "dim 1 of input %s)",
                         AG_SHAPE(w), (long long)channels, AG_SHAPE(x));
    return ag__shape_same(m, in, n, args, fn);
}

AG_ROW2(prelu_f32, float, a > 0 ? a : b * a)
AG_ROW2(prelu_f64, double, a > 0 ? a : b * a)

static int prelu_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                         ag_tensor **saved) {
    (void)n, (void)saved;
    ag_tensor wv = weight_view(in[0], in[1]);
    ag__map2(out, in[0], &wv, out->dtype == AG_F32 ? prelu_f32 : prelu_f64, args);
    return AG_OK;
}

AG_ROW1(pos_mask_f32, float, a > 0 ? 1.0f : 0.0f)
AG_ROW1(pos_mask_f64, double, a > 0 ? 1.0 : 0.0)
AG_ROW1(nonpos_mask_f32, float, a > 0 ? 0.0f : 1.0f)
AG_ROW1(nonpos_mask_f64, double, a > 0 ? 0.0 : 1.0)

/* A constant (no history) 1/0 tensor shaped like x. */
static ag_tensor *mask_of(ag_tensor *x, bool positive) {
    ag_tensor *m = ag__empty(x->dtype, x->ndim, x->shape, "ag_prelu");
    if (!m) return NULL;
    bool f = x->dtype == AG_F32;
    ag__map1(m, x,
             positive ? (f ? pos_mask_f32 : pos_mask_f64) : (f ? nonpos_mask_f32 : nonpos_mask_f64),
             NULL);
    return m;
}

/* dx = g (x > 0 ? 1 : w);  dw = sum over all but the channel dim of g (x > 0 ? 0 : x). */
static int prelu_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *x = node->in[0], *w = node->in[1];
    ag_tensor wv = weight_view(x, w);
    ag_tensor *wb = ag_reshape(w, wv.ndim, wv.shape), *neg = mask_of(x, false);
    ag_tensor *gneg = ag_mul(g, neg);
    int rc = AG_OK;
    if (ag__needs_grad(node, 0))
        rc = ag__accumulate(node, 0, ag_add(ag_mul(g, mask_of(x, true)), ag_mul(gneg, wb)));
    if (!rc && ag__needs_grad(node, 1)) {
        ag_tensor *p = ag_mul(gneg, x); /* a 0-d x: one element, reshaped to [1] */
        ag_tensor *dw =
            x->ndim == 0 ? ag_reshape(p, wv.ndim, wv.shape) : ag_sum_to(p, wv.ndim, wv.shape);
        rc = ag__accumulate(node, 1, ag_reshape(dw, 1, w->shape));
    }
    return rc;
}

static int prelu_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    (void)args;
    if (size > 0) {
        in[0] = ag__check_input(dtype, 2, (int64_t[]){size / 64 + 1, 64}, -2, 2);
        in[1] = ag__check_input(dtype, 1, (int64_t[]){64}, 0.1, 0.5);
    } else if (variant == 0) { /* per channel, NCHW-like */
        in[0] = ag__check_input(dtype, 3, (int64_t[]){2, 3, 4}, -2, 2);
        in[1] = ag__check_input(dtype, 1, (int64_t[]){3}, 0.1, 0.5);
    } else { /* one weight, transposed input */
        ag_tensor *base = ag__check_input(dtype, 2, (int64_t[]){4, 3}, -2, 2);
        bool prev = ag_set_grad_enabled(false);
        in[0] = ag_transpose(base, 0, 1);
        ag_set_grad_enabled(prev);
        if (in[0]) ag_set_requires_grad(in[0], true);
        in[1] = ag__check_input(dtype, 1, (int64_t[]){1}, 0.1, 0.5);
    }
    if (!in[0] || !in[1]) return -1;
    /* keep |x| away from the kink at 0 */
    for (int64_t i = 0; i < in[0]->numel; i++) {
        int64_t off = ag__flat_offset(in[0], i);
        double v = ag__get_flat(in[0], i);
        v = v >= 0 ? v + 0.1 : v - 0.1;
        if (dtype == AG_F32) ((float *)in[0]->storage->data)[off] = (float)v;
        else ((double *)in[0]->storage->data)[off] = v;
    }
    return 2;
}

const struct ag_op_def ag__op_prelu = {
    .name = "prelu",
    .arity = 2,
    .shape = prelu_shape,
    .forward = prelu_forward,
    .backward = prelu_backward,
    .check = {.make = prelu_make, .flops_per_elem = 1},
};

/* x: any shape; weight: [1], or [C] where C = x's dim 1. */
ag_tensor *ag_prelu(ag_tensor *t, ag_tensor *weight) { return AG_APPLY2(AG_OP_PRELU, t, weight); }
