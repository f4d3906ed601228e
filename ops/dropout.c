/* dropout, torch semantics: y = x * mask, mask = (u >= p) / (1 - p) from the seeded
 * counter-based stream (element i uses counter base + i: the same mask for any thread
 * count); backward multiplies by the saved mask. */
#include "ops/iter.h"

struct dropout_args {
    double p;
    uint64_t base; /* first counter of the mask's block of the stream */
};

AG_ROW2(dropout_mul_f32, float, a *b)
AG_ROW2(dropout_mul_f64, double, a *b)

static int dropout_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                           ag_tensor **saved) {
    (void)n;
    const struct dropout_args *a = args;
    ag_tensor *mask = ag__empty(out->dtype, out->ndim, out->shape, "ag_dropout");
    if (!mask) return AG_ERR_NOMEM;
    double scale = a->p < 1 ? 1.0 / (1.0 - a->p) : 0.0;
    for (int64_t i = 0; i < mask->numel; i++) {
        double m = ag__rng_uniform(a->base + (uint64_t)i) >= a->p ? scale : 0.0;
        if (out->dtype == AG_F32) ((float *)ag__ptr(mask))[i] = (float)m;
        else ((double *)ag__ptr(mask))[i] = m;
    }
    ag__map2(out, in[0], mask, out->dtype == AG_F32 ? dropout_mul_f32 : dropout_mul_f64, NULL);
    saved[0] = mask;
    return AG_OK;
}

static int dropout_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_mul(g, node->saved[0]));
}

static int dropout_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    *(struct dropout_args *)args = (struct dropout_args){0.3, 12345};
    if (size) return (in[0] = ag__check_input(dt, 1, &size, -2, 2)) ? 1 : -1;
    in[0] = ag__check_input(dt, 2, (int64_t[]){4, 5}, -2, 2);
    if (variant == 1) {
        bool prev = ag_set_grad_enabled(false);
        in[0] = ag_transpose(in[0], 0, 1);
        ag_set_grad_enabled(prev);
        ag_set_requires_grad(in[0], true);
    }
    return 1;
}

const struct ag_op_def ag__op_dropout = {
    .name = "dropout",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .check = {.make = dropout_make},
};

/* Zeroes each element with probability p and scales the rest by 1/(1-p) when training;
 * x itself otherwise (and when p is 0). The result belongs to the current scope. */
ag_tensor *ag_dropout(ag_tensor *x, double p, bool training) {
    if (!x) return NULL;
    if (!(p >= 0 && p <= 1)) {
        ag__error(AG_ERR_ARG, "ag_dropout", "p %g must be in [0, 1] (x %s)", p, AG_SHAPE(x));
        return NULL;
    }
    if (!training || p == 0) return x;
    struct dropout_args a = {p, ag__rng_reserve((uint64_t)x->numel)};
    return AG_APPLY_ARGS(AG_OP_DROPOUT, 1, (ag_tensor *const[]){x}, a);
}
