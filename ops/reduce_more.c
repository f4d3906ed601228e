/* More one-dim reductions, torch's semantics and gradients:
 *   amax(x, dim)        largest value (NaN propagates); the gradient is shared evenly by
 *                       the elements equal to it (torch's amax backward)
 *   std_dim(x, dim)     sqrt(var) with a Bessel correction; gradient g (x - mean) /
 *                       ((N - c) std), 0 where std is 0 (torch)
 *   prod_dim(x, dim)    product in double; gradient g * (product of the others), exact
 *                       with zeros, through prod_others (not twice differentiable)
 *   min_dim, argmin_dim, min: the max ops on -x (the same first index, NaN rules, ties)
 * x is seen as [outer, len, inner] around dim; each output element is computed by one
 * thread in a fixed order, so results do not depend on the thread count. */
#include "ops/ops.h"
#include "runtime/parallel.h"

#include <math.h>

struct red_args {
    int dim; /* normalized; 0 for a 0-d input */
    bool keepdim;
    int correction; /* std_dim */
};

/* ------------------------------------------------------------------ shared */
static int red_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                     const char *fn) {
    (void)n;
    const struct red_args *a = args;
    const ag_tensor *x = in[0];
    if (!ag__is_float(x->dtype))
        return ag__error(AG_ERR_DTYPE, fn, "expects float32 or float64, got %s %s",
                         ag_dtype_name(x->dtype), AG_SHAPE(x));
    if (x->ndim && x->shape[a->dim] == 0)
        return ag__error(AG_ERR_SHAPE, fn, "dim %d of %s is empty: no identity to reduce to",
                         a->dim, AG_SHAPE(x));
    m->dtype = x->dtype;
    m->ndim = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != a->dim) m->shape[m->ndim++] = x->shape[d];
        else if (a->keepdim) m->shape[m->ndim++] = 1;
    return AG_OK;
}

struct lanes {
    int64_t outer, len, inner;
};
static struct lanes lanes_of(const ag_tensor *x, int dim) {
    struct lanes l = {1, x->ndim ? x->shape[dim] : 1, 1};
    for (int d = 0; d < dim; d++) l.outer *= x->shape[d];
    for (int d = dim + 1; d < x->ndim; d++) l.inner *= x->shape[d];
    return l;
}

static ag_tensor *dense(ag_tensor *t) {
    if (ag_is_contiguous(t)) return t;
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *c = ag_contiguous(t);
    ag_set_grad_enabled(prev);
    return c;
}

static double elem(const ag_tensor *t, int64_t i) { /* contiguous */
    return t->dtype == AG_F32 ? ((const float *)ag__ptr(t))[i] : ((const double *)ag__ptr(t))[i];
}
static void set_elem(ag_tensor *t, int64_t i, double v) {
    if (t->dtype == AG_F32) ((float *)ag__ptr(t))[i] = (float)v;
    else ((double *)ag__ptr(t))[i] = v;
}

typedef double (*lane_fn)(const ag_tensor *x, int64_t base, int64_t len, int64_t stride,
                          const struct red_args *a);

struct lanes_job {
    ag_tensor *out;
    const ag_tensor *x;
    const struct red_args *a;
    lane_fn f;
    struct lanes l;
};

static void lanes_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct lanes_job *j = ctx;
    struct lanes l = j->l;
    (void)tid;
    for (int64_t i = lo; i < hi; i++) {
        int64_t o = i / l.inner, k = i % l.inner;
        set_elem(j->out, i, j->f(j->x, o * l.len * l.inner + k, l.len, l.inner, j->a));
    }
}

/* out[o, k] = f(lane (o, k)) for every lane. */
static int reduce_lanes(ag_tensor *out, ag_tensor *in, const struct red_args *a, lane_fn f) {
    ag_tensor *x = dense(in);
    if (!x) return AG_ERR_NOMEM;
    struct lanes l = lanes_of(x, a->dim);
    int64_t n = l.outer * l.inner;
    struct lanes_job j = {out, x, a, f, l};
    ag__parallel_for(n, 1, (double)l.len, 1 << 16, lanes_range, &j);
    if (x != in && !x->arena) ag_tensor_free(x);
    return AG_OK;
}

/* t with the reduced dim put back as size 1 (when keepdim was false). */
static ag_tensor *kept(ag_tensor *t, const ag_tensor *x, const struct red_args *a) {
    return (!a->keepdim && x->ndim) ? ag_unsqueeze(t, a->dim) : t;
}

static ag_tensor *apply_red(enum ag_op_id op, ag_tensor *x, int dim, bool keepdim, int correction) {
    if (!x) return NULL;
    int d = ag__norm_dim(dim, x->ndim, ag__op_fnames[op]);
    if (d < 0) return NULL;
    struct red_args a = {d, keepdim, correction};
    return AG_APPLY_ARGS(op, 1, (ag_tensor *const[]){x}, a);
}

/* variant 0: [3,4,2] along dim 1; variant 1: a transposed [4,3] along dim 0, keepdim. */
static int red_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size, double lo,
                    double hi) {
    struct red_args *a = args;
    a->correction = 1;
    if (size) {
        a->dim = 1, a->keepdim = false;
        in[0] = ag__check_input(dt, 2, (int64_t[]){64, size / 64 > 1 ? size / 64 : 1}, lo, hi);
        return 1;
    }
    if (variant == 0) {
        a->dim = 1, a->keepdim = false;
        in[0] = ag__check_input(dt, 3, (int64_t[]){3, 4, 2}, lo, hi);
        return 1;
    }
    a->dim = 0, a->keepdim = true;
    ag_tensor *base = ag__check_input(dt, 2, (int64_t[]){3, 4}, lo, hi);
    bool prev = ag_set_grad_enabled(false);
    in[0] = ag_transpose(base, 0, 1);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(in[0], true);
    return 1;
}

/* ------------------------------------------------------------------ amax */
static double lane_amax(const ag_tensor *x, int64_t base, int64_t len, int64_t stride,
                        const struct red_args *a) {
    (void)a;
    double m = elem(x, base);
    for (int64_t i = 1; i < len && m == m; i++) {
        double v = elem(x, base + i * stride);
        if (v > m || v != v) m = v;
    }
    return m;
}
static int amax_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n, (void)saved;
    return reduce_lanes(out, in[0], args, lane_amax);
}
static int amax_backward(struct ag_node *node, ag_tensor *g) {
    const struct red_args *a = AG_ARGS(node, struct red_args);
    ag_tensor *x = node->in[0];
    ag_tensor *mask = ag_eq(x, kept(node->out, x, a)); /* constant 1/0 */
    ag_tensor *count = x->ndim ? ag_sum_dim(mask, a->dim, true) : mask;
    return ag__accumulate(node, 0, ag_mul(ag_div(kept(g, x, a), count), mask));
}
/* Distinct values (no ties: gradcheck's differences would cross a kink); ties are checked
 * against torch in tests/test_reduce_more.c. */
static int amax_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    return red_make(in, args, dt, variant, size, -2, 2);
}
const struct ag_op_def ag__op_amax = {
    .name = "amax",
    .arity = 1,
    .shape = red_shape,
    .forward = amax_forward,
    .backward = amax_backward,
    .check = {.make = amax_make},
};
ag_tensor *ag_amax(ag_tensor *x, int dim, bool keepdim) {
    return apply_red(AG_OP_AMAX, x, dim, keepdim, 0);
}

/* ------------------------------------------------------------------ std_dim */
static double lane_std(const ag_tensor *x, int64_t base, int64_t len, int64_t stride,
                       const struct red_args *a) {
    double mean = 0, ss = 0;
    for (int64_t i = 0; i < len; i++) mean += elem(x, base + i * stride);
    mean /= (double)len;
    for (int64_t i = 0; i < len; i++) {
        double d = elem(x, base + i * stride) - mean;
        ss += d * d;
    }
    double div = (double)len - a->correction;
    return sqrt(ss / (div > 0 ? div : 0));
}
static int std_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)n, (void)saved;
    return reduce_lanes(out, in[0], args, lane_std);
}
static int std_backward(struct ag_node *node, ag_tensor *g) {
    const struct red_args *a = AG_ARGS(node, struct red_args);
    ag_tensor *x = node->in[0], *s = kept(node->out, x, a);
    int64_t len = x->ndim ? x->shape[a->dim] : 1;
    ag_tensor *zero = ag_eq(s, ag_zeros_like(s));
    ag_tensor *coef =
        ag_masked_fill(ag_div(kept(g, x, a), ag_masked_fill(s, zero, 1.0)), zero, 0.0);
    ag_tensor *dev = ag_sub(x, x->ndim ? ag_mean_dim(x, a->dim, true) : x);
    return ag__accumulate(node, 0,
                          ag_mul_scalar(ag_mul(coef, dev), 1.0 / ((double)len - a->correction)));
}
static int std_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    return red_make(in, args, dt, variant, size, -2, 2);
}
const struct ag_op_def ag__op_std_dim = {
    .name = "std_dim",
    .arity = 1,
    .shape = red_shape,
    .forward = std_forward,
    .backward = std_backward,
    .check = {.make = std_make, .flops_per_elem = 4},
};
ag_tensor *ag_std_dim(ag_tensor *x, int dim, bool keepdim, int correction) {
    return apply_red(AG_OP_STD_DIM, x, dim, keepdim, correction);
}

/* ------------------------------------------------------------------ prod_dim, prod_others */
static double lane_prod(const ag_tensor *x, int64_t base, int64_t len, int64_t stride,
                        const struct red_args *a) {
    (void)a;
    double p = 1;
    for (int64_t i = 0; i < len; i++) p *= elem(x, base + i * stride);
    return p;
}
static int prod_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n, (void)saved;
    return reduce_lanes(out, in[0], args, lane_prod);
}
static int prod_backward(struct ag_node *node, ag_tensor *g) {
    const struct red_args *a = AG_ARGS(node, struct red_args);
    ag_tensor *x = node->in[0];
    if (ag_is_grad_enabled()) { /* create_graph: out / x with ops, where no x is 0 */
        for (int64_t i = 0; i < x->numel; i++)
            if (ag__get_flat(x, i) == 0)
                return ag__error(AG_ERR_STATE, "ag_prod_dim",
                                 "not twice differentiable where x "
                                 "%s has zeros",
                                 AG_SHAPE(x));
        return ag__accumulate(node, 0, ag_div(ag_mul(kept(g, x, a), kept(node->out, x, a)), x));
    }
    ag_tensor *others = AG_APPLY_ARGS(AG_OP_PROD_OTHERS, 1, (ag_tensor *const[]){x}, *a);
    return ag__accumulate(node, 0, ag_mul(kept(g, x, a), others));
}
static int prod_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    return red_make(in, args, dt, variant, size, 0.5, 1.5);
}
const struct ag_op_def ag__op_prod_dim = {
    .name = "prod_dim",
    .arity = 1,
    .shape = red_shape,
    .forward = prod_forward,
    .backward = prod_backward,
    .check = {.make = prod_make},
};
ag_tensor *ag_prod_dim(ag_tensor *x, int dim, bool keepdim) {
    return apply_red(AG_OP_PROD_DIM, x, dim, keepdim, 0);
}

/* others[i] = product of the lane's elements but i: prefix times suffix products, so a
 * zero in the lane needs no division. */
static int others_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                        const char *fn) {
    (void)args;
    return ag__shape_same(m, in, n, NULL, fn);
}
static int others_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                          ag_tensor **saved) {
    (void)n, (void)saved;
    const struct red_args *a = args;
    ag_tensor *x = dense(in[0]);
    if (!x) return AG_ERR_NOMEM;
    struct lanes l = lanes_of(x, a->dim);
    for (int64_t o = 0; o < l.outer; o++)
        for (int64_t k = 0; k < l.inner; k++) {
            int64_t base = o * l.len * l.inner + k;
            double p = 1;
            for (int64_t i = 0; i < l.len; i++) { /* prefix products first */
                set_elem(out, base + i * l.inner, p);
                p *= elem(x, base + i * l.inner);
            }
            p = 1;
            for (int64_t i = l.len - 1; i >= 0; i--) {
                int64_t at = base + i * l.inner;
                set_elem(out, at, elem(out, at) * p);
                p *= elem(x, at);
            }
        }
    if (x != in[0] && !x->arena) ag_tensor_free(x);
    return AG_OK;
}
static int others_no_backward(struct ag_node *node, ag_tensor *g) {
    (void)g;
    return ag__error(AG_ERR_STATE, "ag_prod_others", "not twice differentiable (x %s)",
                     AG_SHAPE(node->in[0]));
}
const struct ag_op_def ag__op_prod_others = {
    .name = "prod_others",
    .arity = 1,
    .shape = others_shape,
    .forward = others_forward,
    .backward = others_no_backward,
    .check = {.make = prod_make, .no_grad = true},
};

/* ------------------------------------------------------------------ min via max */
/* x must be float with dim in range; the errors name fn. */
static bool min_ok(ag_tensor *x, int dim, bool has_dim, const char *fn) {
    if (!x) return false;
    if (!ag__is_float(x->dtype)) {
        ag__error(AG_ERR_DTYPE, fn, "expects float32 or float64, got %s %s",
                  ag_dtype_name(x->dtype), AG_SHAPE(x));
        return false;
    }
    return !has_dim || ag__norm_dim(dim, x->ndim, fn) >= 0;
}
ag_tensor *ag_min_dim(ag_tensor *x, int dim, bool keepdim) {
    return min_ok(x, dim, true, "ag_min_dim") ? ag_neg(ag_max_dim(ag_neg(x), dim, keepdim)) : NULL;
}
ag_tensor *ag_argmin_dim(ag_tensor *x, int dim, bool keepdim) {
    return min_ok(x, dim, true, "ag_argmin_dim") ? ag_argmax_dim(ag_neg(x), dim, keepdim) : NULL;
}
ag_tensor *ag_min(ag_tensor *x) {
    return min_ok(x, 0, false, "ag_min") ? ag_neg(ag_max(ag_neg(x))) : NULL;
}
