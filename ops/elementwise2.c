/* Element-wise, more: pow sqrt abs sin cos sign add_scalar mul_scalar maximum minimum
 * clamp where eq gt. Gradients follow torch 1.13's derivatives.yaml (ties, kinks, the
 * value at 0); masks that backward needs are constants, so create_graph works through
 * the public ops that use them. */
#include "ops/ew_vm.h"

#include <math.h>

#define UNARY_FORWARD(fname, row_f32, row_f64)                                         \
    static int fname(ag_tensor *out, ag_tensor *const *in, int n, const void *args,    \
                     ag_tensor **saved) {                                              \
        (void)n, (void)saved;                                                          \
        ag__map1(out, in[0], out->dtype == AG_F32 ? row_f32 : row_f64, args);          \
        return AG_OK;                                                                  \
    }
#define BINARY_FORWARD(fname, row_f32, row_f64)                                        \
    static int fname(ag_tensor *out, ag_tensor *const *in, int n, const void *args,    \
                     ag_tensor **saved) {                                              \
        (void)n, (void)saved;                                                          \
        ag__map2(out, in[0], in[1], out->dtype == AG_F32 ? row_f32 : row_f64, args);   \
        return AG_OK;                                                                  \
    }

struct scalar_args { double s; };
struct clamp_args { double lo, hi; };

/* A constant (no history) tensor of x's shape and dtype: row(x) element-wise. */
static ag_tensor *const_map(ag_tensor *x, ag_row1_fn f32, ag_row1_fn f64, const void *args,
                            const char *fn) {
    ag_tensor *m = ag__empty(x->dtype, x->ndim, x->shape, fn);
    if (m) ag__map1(m, x, x->dtype == AG_F32 ? f32 : f64, args);
    return m;
}

/* Test inputs: the generic maker's, with values within w of a kink k moved w away. */
static void push_away(ag_tensor *t, double k, double w) {
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t off = ag__flat_offset(t, i);
        double v = ag__get_flat(t, i);
        if (fabs(v - k) >= w) continue;
        v = v < k ? v - w : v + w;
        if (t->dtype == AG_F32) ((float *)t->storage->data)[off] = (float)v;
        else ((double *)t->storage->data)[off] = v;
    }
}
static int make_away(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size,
                     int arity, const double *kinks, int nk) {
    struct ag_op_def d = {.arity = arity, .check = {.lo = -2, .hi = 2}};
    int n = ag__check_make(&d, in, args, dtype, variant, size);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nk; k++) push_away(in[i], kinks[k], 0.25);
    return n;
}

/* ------------------------------------------------------------------ pow */
/* torch: exponents 0, 1, 2, 3, 0.5, -1, -2 take exact shortcuts; gradient e * x^(e-1)
 * (so inf at 0 for e < 1), zero for e == 0. */
AG_ROW1_ARGS(pow_f32, float, struct scalar_args, powf(a, (float)p.s))
AG_ROW1_ARGS(pow_f64, double, struct scalar_args, pow(a, p.s))
AG_ROW1(pow0_f32, float, ((void)a, 1.0f))
AG_ROW1(pow0_f64, double, ((void)a, 1.0))
AG_ROW1(pow1_f32, float, a)
AG_ROW1(pow1_f64, double, a)
AG_ROW1(pow2_f32, float, a * a)
AG_ROW1(pow2_f64, double, a * a)
AG_ROW1(pow3_f32, float, a * a * a)
AG_ROW1(pow3_f64, double, a * a * a)
AG_ROW1(powh_f32, float, sqrtf(a))
AG_ROW1(powh_f64, double, sqrt(a))
AG_ROW1(powm1_f32, float, 1.0f / a)
AG_ROW1(powm1_f64, double, 1.0 / a)
AG_ROW1(powm2_f32, float, 1.0f / (a * a))
AG_ROW1(powm2_f64, double, 1.0 / (a * a))

static int pow_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)n, (void)saved;
    double e = ((const struct scalar_args *)args)->s;
    bool f = out->dtype == AG_F32;
    ag_row1_fn row = f ? pow_f32 : pow_f64;
    if (e == 0) row = f ? pow0_f32 : pow0_f64;
    else if (e == 1) row = f ? pow1_f32 : pow1_f64;
    else if (e == 2) row = f ? pow2_f32 : pow2_f64;
    else if (e == 3) row = f ? pow3_f32 : pow3_f64;
    else if (e == 0.5) row = f ? powh_f32 : powh_f64;
    else if (e == -1) row = f ? powm1_f32 : powm1_f64;
    else if (e == -2) row = f ? powm2_f32 : powm2_f64;
    ag__map1(out, in[0], row, args);
    return AG_OK;
}
static int pow_backward(struct ag_node *node, ag_tensor *g) {
    double e = AG_ARGS(node, struct scalar_args)->s;
    if (e == 0) return ag__accumulate(node, 0, ag_zeros_like(g));
    ag_tensor *x = node->in[0];
    return ag__accumulate(node, 0, ag_mul(g, ag_mul_scalar(ag_pow(x, e - 1), e)));
}
const struct ag_op_def ag__op_pow = {
    .name = "pow", .arity = 1, .shape = ag__shape_same,
    .forward = pow_forward, .backward = pow_backward,
    .check = {.lo = 0.5, .hi = 2, .args = &(struct scalar_args){2.5},
              .args_size = sizeof(struct scalar_args), .flops_per_elem = 20},
};
/* t ** exponent, t's shape and dtype. */
ag_tensor *ag_pow(ag_tensor *t, double exponent) {
    struct scalar_args a = {exponent};
    return AG_APPLY_ARGS(AG_OP_POW, 1, (ag_tensor *const[]){t}, a);
}

/* ------------------------------------------------------------------ sqrt */
AG_ROW1(sqrt_f32, float, sqrtf(a))
AG_ROW1(sqrt_f64, double, sqrt(a))
AG_EW_UNARY_FORWARD(sqrt_forward, AG_VM_SQRT, sqrt_f32, sqrt_f64)
static int sqrt_backward(struct ag_node *node, ag_tensor *g) {   /* torch: g / (2 sqrt x) */
    return ag__accumulate(node, 0, ag_div(g, ag_mul_scalar(node->out, 2.0)));
}
const struct ag_op_def ag__op_sqrt = {
    .name = "sqrt", .arity = 1, .shape = ag__shape_same,
    .forward = sqrt_forward, .backward = sqrt_backward,
    .check = {.lo = 0.5, .hi = 3, .flops_per_elem = 1},
};
ag_tensor *ag_sqrt(ag_tensor *t) { return AG_APPLY1(AG_OP_SQRT, t); }

/* ------------------------------------------------------------------ abs */
AG_ROW1(abs_f32, float, fabsf(a))
AG_ROW1(abs_f64, double, fabs(a))
AG_EW_UNARY_FORWARD(abs_forward, AG_VM_ABS, abs_f32, abs_f64)
static int abs_backward(struct ag_node *node, ag_tensor *g) {   /* sign(x): 0 at 0 */
    return ag__accumulate(node, 0, ag_mul(g, ag_sign(node->in[0])));
}
static int abs_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    return make_away(in, args, dtype, variant, size, 1, (double[]){0}, 1);
}
const struct ag_op_def ag__op_abs = {
    .name = "abs", .arity = 1, .shape = ag__shape_same,
    .forward = abs_forward, .backward = abs_backward, .check = {.make = abs_make},
};
ag_tensor *ag_abs(ag_tensor *t) { return AG_APPLY1(AG_OP_ABS, t); }

/* ------------------------------------------------------------------ sin, cos */
AG_ROW1(sin_f32, float, sinf(a))
AG_ROW1(sin_f64, double, sin(a))
AG_EW_UNARY_FORWARD(sin_forward, AG_VM_SIN, sin_f32, sin_f64)
static int sin_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_mul(g, ag_cos(node->in[0])));
}
const struct ag_op_def ag__op_sin = {
    .name = "sin", .arity = 1, .shape = ag__shape_same,
    .forward = sin_forward, .backward = sin_backward,
    .check = {.lo = -3, .hi = 3, .flops_per_elem = 15},
};
ag_tensor *ag_sin(ag_tensor *t) { return AG_APPLY1(AG_OP_SIN, t); }

AG_ROW1(cos_f32, float, cosf(a))
AG_ROW1(cos_f64, double, cos(a))
AG_EW_UNARY_FORWARD(cos_forward, AG_VM_COS, cos_f32, cos_f64)
static int cos_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_neg(ag_mul(g, ag_sin(node->in[0]))));
}
const struct ag_op_def ag__op_cos = {
    .name = "cos", .arity = 1, .shape = ag__shape_same,
    .forward = cos_forward, .backward = cos_backward,
    .check = {.lo = -3, .hi = 3, .flops_per_elem = 15},
};
ag_tensor *ag_cos(ag_tensor *t) { return AG_APPLY1(AG_OP_COS, t); }

/* ------------------------------------------------------------------ sign */
/* -1, 0, +1 (NaN stays NaN); the gradient is zero everywhere, as torch. */
AG_ROW1(sign_f32, float, (float)((a > 0) - (a < 0)) + (a - a))
AG_ROW1(sign_f64, double, (double)((a > 0) - (a < 0)) + (a - a))
UNARY_FORWARD(sign_forward, sign_f32, sign_f64)
static int sign_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_zeros_like(g));
}
static int sign_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    return make_away(in, args, dtype, variant, size, 1, (double[]){0}, 1);
}
const struct ag_op_def ag__op_sign = {
    .name = "sign", .arity = 1, .shape = ag__shape_same,
    .forward = sign_forward, .backward = sign_backward, .check = {.make = sign_make},
};
ag_tensor *ag_sign(ag_tensor *t) { return AG_APPLY1(AG_OP_SIGN, t); }

/* ------------------------------------------------------------------ add_scalar, mul_scalar */
AG_ROW1_ARGS(add_scalar_f32, float, struct scalar_args, a + (float)p.s)
AG_ROW1_ARGS(add_scalar_f64, double, struct scalar_args, a + p.s)
UNARY_FORWARD(add_scalar_forward, add_scalar_f32, add_scalar_f64)
static int add_scalar_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, g);
}
const struct ag_op_def ag__op_add_scalar = {
    .name = "add_scalar", .arity = 1, .shape = ag__shape_same,
    .forward = add_scalar_forward, .backward = add_scalar_backward,
    .check = {.args = &(struct scalar_args){1.5}, .args_size = sizeof(struct scalar_args)},
};
/* t + s, t's shape and dtype (s rounded to t's dtype, as torch). */
ag_tensor *ag_add_scalar(ag_tensor *t, double s) {
    struct scalar_args a = {s};
    return AG_APPLY_ARGS(AG_OP_ADD_SCALAR, 1, (ag_tensor *const[]){t}, a);
}

AG_ROW1_ARGS(mul_scalar_f32, float, struct scalar_args, a * (float)p.s)
AG_ROW1_ARGS(mul_scalar_f64, double, struct scalar_args, a * p.s)
UNARY_FORWARD(mul_scalar_forward, mul_scalar_f32, mul_scalar_f64)
static int mul_scalar_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_mul_scalar(g, AG_ARGS(node, struct scalar_args)->s));
}
const struct ag_op_def ag__op_mul_scalar = {
    .name = "mul_scalar", .arity = 1, .shape = ag__shape_same,
    .forward = mul_scalar_forward, .backward = mul_scalar_backward,
    .check = {.args = &(struct scalar_args){-1.5}, .args_size = sizeof(struct scalar_args),
              .flops_per_elem = 1},
};
/* t * s, t's shape and dtype. */
ag_tensor *ag_mul_scalar(ag_tensor *t, double s) {
    struct scalar_args a = {s};
    return AG_APPLY_ARGS(AG_OP_MUL_SCALAR, 1, (ag_tensor *const[]){t}, a);
}

/* ------------------------------------------------------------------ maximum, minimum */
/* NaN propagates (either side), as torch. Gradient (torch 1.13): a gets g where a > b,
 * g/2 where a == b, 0 where a < b; NaN comparisons send g to both. As weights:
 * w_a = 1 - [b > a] - [a == b]/2 for maximum. */
AG_ROW2(maximum_f32, float, (a > b || a != a) ? a : b)
AG_ROW2(maximum_f64, double, (a > b || a != a) ? a : b)
BINARY_FORWARD(maximum_forward, maximum_f32, maximum_f64)
AG_ROW2(minimum_f32, float, (a < b || a != a) ? a : b)
AG_ROW2(minimum_f64, double, (a < b || a != a) ? a : b)
BINARY_FORWARD(minimum_forward, minimum_f32, minimum_f64)

/* g * (1 - [y > x] - [x == y] / 2): the share of g that x gets when x wins on y > x... */
static ag_tensor *tie_weight(ag_tensor *g, ag_tensor *loses_when, ag_tensor *x, ag_tensor *y) {
    ag_tensor *lose = ag_add(loses_when, ag_mul_scalar(ag_eq(x, y), 0.5));
    return ag_mul(g, ag_add_scalar(ag_neg(lose), 1.0));
}
static int maxmin_backward(struct ag_node *node, ag_tensor *g, bool is_max) {
    ag_tensor *a = node->in[0], *b = node->in[1];
    int rc = AG_OK;
    if (ag__needs_grad(node, 0))
        rc = ag__accumulate(node, 0, tie_weight(g, is_max ? ag_gt(b, a) : ag_gt(a, b), a, b));
    if (!rc && ag__needs_grad(node, 1))
        rc = ag__accumulate(node, 1, tie_weight(g, is_max ? ag_gt(a, b) : ag_gt(b, a), a, b));
    return rc;
}
static int maximum_backward(struct ag_node *node, ag_tensor *g) {
    return maxmin_backward(node, g, true);
}
static int minimum_backward(struct ag_node *node, ag_tensor *g) {
    return maxmin_backward(node, g, false);
}
const struct ag_op_def ag__op_maximum = {
    .name = "maximum", .arity = 2, .shape = ag__shape_broadcast,
    .forward = maximum_forward, .backward = maximum_backward, .check = {.lo = -2, .hi = 2},
};
const struct ag_op_def ag__op_minimum = {
    .name = "minimum", .arity = 2, .shape = ag__shape_broadcast,
    .forward = minimum_forward, .backward = minimum_backward, .check = {.lo = -2, .hi = 2},
};
/* Element-wise max / min of a and b, broadcast, same dtype. */
ag_tensor *ag_maximum(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_MAXIMUM, a, b); }
ag_tensor *ag_minimum(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_MINIMUM, a, b); }

/* ------------------------------------------------------------------ clamp */
/* min(max(t, lo), hi) with NaN kept; lo > hi gives hi everywhere (torch). The gradient
 * passes where lo <= t <= hi, both ends inclusive (torch 1.13 clamp_backward). */
AG_ROW1_ARGS(clamp_f32, float, struct clamp_args,
             (a < (float)p.lo ? (float)p.lo : a) > (float)p.hi ? (float)p.hi
                                                             : (a < (float)p.lo ? (float)p.lo : a))
AG_ROW1_ARGS(clamp_f64, double, struct clamp_args,
             (a < p.lo ? p.lo : a) > p.hi ? p.hi : (a < p.lo ? p.lo : a))
UNARY_FORWARD(clamp_forward, clamp_f32, clamp_f64)
AG_ROW1_ARGS(clamp_mask_f32, float, struct clamp_args,
             (float)(a >= (float)p.lo && a <= (float)p.hi))
AG_ROW1_ARGS(clamp_mask_f64, double, struct clamp_args, (double)(a >= p.lo && a <= p.hi))
static int clamp_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *mask = const_map(node->in[0], clamp_mask_f32, clamp_mask_f64, node->args,
                                "ag_clamp");
    return ag__accumulate(node, 0, ag_mul(g, mask));
}
static int clamp_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    *(struct clamp_args *)args = (struct clamp_args){-0.5, 1.0};
    return make_away(in, args, dtype, variant, size, 1, (double[]){-0.5, 1.0}, 2);
}
static int clamp_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                       const char *fn) {
    const struct clamp_args *a = args;
    if (isnan(a->lo) || isnan(a->hi))
        return ag__error(AG_ERR_ARG, fn, "bounds lo=%g hi=%g for %s include NaN", a->lo, a->hi,
                         AG_SHAPE(in[0]));
    return ag__shape_same(m, in, n, args, fn);
}
const struct ag_op_def ag__op_clamp = {
    .name = "clamp", .arity = 1, .shape = clamp_shape,
    .forward = clamp_forward, .backward = clamp_backward, .check = {.make = clamp_make},
};
/* t limited to [lo, hi] (pass -INFINITY / INFINITY for one-sided). */
ag_tensor *ag_clamp(ag_tensor *t, double lo, double hi) {
    struct clamp_args a = {lo, hi};
    return AG_APPLY_ARGS(AG_OP_CLAMP, 1, (ag_tensor *const[]){t}, a);
}

/* ------------------------------------------------------------------ where */
/* cond (any dtype; nonzero and NaN are true) ? a : b, all three broadcast together. */
#define ROW3_WHERE(name, T)                                                            \
    static void name(char *z_, const char *c_, int64_t sc, const char *x_, int64_t sx,  \
                     const char *y_, int64_t sy, int64_t n, const void *args) {        \
        (void)args;                                                                    \
        T *z = (T *)(void *)z_;                                                        \
        const T *c = (const T *)(const void *)c_, *x = (const T *)(const void *)x_;    \
        const T *y = (const T *)(const void *)y_;                                      \
        for (int64_t i = 0; i < n; i++) z[i] = c[i * sc] != 0 ? x[i * sx] : y[i * sy]; \
    }
ROW3_WHERE(where_f32, float)
ROW3_WHERE(where_f64, double)

static int where_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                       const char *fn) {
    if (ag__shape_broadcast(m, in + 1, 2, args, fn)) return AG_ERR_SHAPE;
    int64_t prev[AG_MAX_DIMS];
    int np = m->ndim;
    memcpy(prev, m->shape, sizeof prev);
    (void)n;
    if (ag__broadcast_shapes(in[0]->ndim, in[0]->shape, np, prev, &m->ndim, m->shape))
        return ag__error(AG_ERR_SHAPE, fn, "condition %s does not broadcast with %s",
                         AG_SHAPE(in[0]), ag__shape_str(np, prev));
    return AG_OK;
}

/* The condition as 1/0 in dtype (a float32 cond of 1e-40 stays true in float32). */
static ag_tensor *cond_as(ag_tensor *cond, ag_dtype dtype) {
    ag_tensor *c = ag__empty(dtype, cond->ndim, cond->shape, "ag_where");
    for (int64_t i = 0; c && i < c->numel; i++) {
        double v = ag__get_flat(cond, i);
        if (dtype == AG_F32) ((float *)c->storage->data)[i] = v != 0;
        else ((double *)c->storage->data)[i] = v != 0;
    }
    return c;
}

static int where_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                         ag_tensor **saved) {
    (void)n, (void)saved;
    ag_tensor *c = in[0]->dtype == out->dtype ? in[0] : cond_as(in[0], out->dtype);
    if (!c) return AG_ERR_NOMEM;
    ag__map3(out, c, in[1], in[2], out->dtype == AG_F32 ? where_f32 : where_f64, args);
    if (c != in[0] && !c->arena) ag_tensor_free(c);
    return AG_OK;
}
static int where_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *cond = node->in[0], *zero = ag_scalar(g->dtype, 0.0);
    int rc = AG_OK;
    if (ag__needs_grad(node, 1)) rc = ag__accumulate(node, 1, ag_where(cond, g, zero));
    if (!rc && ag__needs_grad(node, 2)) rc = ag__accumulate(node, 2, ag_where(cond, zero, g));
    if (zero && !zero->arena) ag_tensor_free(zero);
    return rc;
}
/* variant 0: all [3,4]; variant 1: cond [4] (float64 for a float32 op), a transposed,
 * b [3,1]. The condition never requires grad. */
static int where_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    (void)args;
    int64_t s0[] = {3, 4}, s1[] = {4}, sb[] = {3, 1};
    ag_dtype cd = variant ? AG_F64 : dtype;
    ag_tensor *u = size ? ag_rand(cd, 1, &size) : ag_rand(cd, variant ? 1 : 2, variant ? s1 : s0);
    if (!u) return -1;
    for (int64_t i = 0; i < u->numel; i++) {   /* 0/1 in place */
        bool on = ag__get_flat(u, i) >= 0.5;
        if (cd == AG_F32) ((float *)u->storage->data)[i] = on;
        else ((double *)u->storage->data)[i] = on;
    }
    in[0] = u;
    bool prev = ag_set_grad_enabled(false);
    if (size) {
        in[1] = ag__check_input(dtype, 1, &size, -2, 2);
        in[2] = ag__check_input(dtype, 1, &size, -2, 2);
    } else if (variant) {
        in[1] = ag_transpose(ag__check_input(dtype, 2, (int64_t[]){4, 3}, -2, 2), 0, 1);
        in[2] = ag__check_input(dtype, 2, sb, -2, 2);
    } else {
        in[1] = ag__check_input(dtype, 2, s0, -2, 2);
        in[2] = ag__check_input(dtype, 2, s0, -2, 2);
    }
    ag_set_grad_enabled(prev);
    if (!in[0] || !in[1] || !in[2]) return -1;
    ag_set_requires_grad(in[1], true);
    return 3;
}
const struct ag_op_def ag__op_where = {
    .name = "where", .arity = 3, .shape = where_shape,
    .forward = where_forward, .backward = where_backward, .check = {.make = where_make},
};
ag_tensor *ag_where(ag_tensor *cond, ag_tensor *a, ag_tensor *b) {
    return ag__apply(AG_OP_WHERE, 3, (ag_tensor *const[]){cond, a, b}, NULL, 0);
}

/* ------------------------------------------------------------------ eq, gt */
/* 1/0 in a's dtype (float32, float64 or int64), broadcast; not differentiable. */
AG_ROW2(eq_f32, float, (float)(a == b))
AG_ROW2(eq_f64, double, (double)(a == b))
AG_ROW2(eq_i64, int64_t, (int64_t)(a == b))
AG_ROW2(gt_f32, float, (float)(a > b))
AG_ROW2(gt_f64, double, (double)(a > b))
AG_ROW2(gt_i64, int64_t, (int64_t)(a > b))

static int compare_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                         const char *fn) {
    (void)n, (void)args;
    if (in[0]->dtype != in[1]->dtype)
        return ag__error(AG_ERR_DTYPE, fn, "dtypes %s %s and %s %s differ (use ag_cast)",
                         ag_dtype_name(in[0]->dtype), AG_SHAPE(in[0]),
                         ag_dtype_name(in[1]->dtype), AG_SHAPE(in[1]));
    m->dtype = in[0]->dtype;
    if (ag__broadcast_shapes(in[0]->ndim, in[0]->shape, in[1]->ndim, in[1]->shape, &m->ndim,
                             m->shape))
        return ag__error(AG_ERR_SHAPE, fn, "shapes %s and %s do not broadcast",
                         AG_SHAPE(in[0]), AG_SHAPE(in[1]));
    return AG_OK;
}
static int compare_forward(ag_tensor *out, ag_tensor *const *in, bool eq) {
    ag_row2_fn row = out->dtype == AG_F32 ? (eq ? eq_f32 : gt_f32)
                   : out->dtype == AG_F64 ? (eq ? eq_f64 : gt_f64)
                                          : (eq ? eq_i64 : gt_i64);
    ag__map2(out, in[0], in[1], row, NULL);
    return AG_OK;
}
static int eq_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    return compare_forward(out, in, true);
}
static int gt_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    return compare_forward(out, in, false);
}
const struct ag_op_def ag__op_eq = {
    .name = "eq", .arity = 2, .shape = compare_shape, .forward = eq_forward,
    .check = {.lo = -2, .hi = 2, .no_grad = true},
};
const struct ag_op_def ag__op_gt = {
    .name = "gt", .arity = 2, .shape = compare_shape, .forward = gt_forward,
    .check = {.lo = -2, .hi = 2, .no_grad = true},
};
ag_tensor *ag_eq(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_EQ, a, b); }
ag_tensor *ag_gt(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_GT, a, b); }
