/* Element-wise comparison and selection: maximum minimum clamp where eq gt lt le ge ne.
 * Gradients follow torch 1.13's derivatives.yaml (ties); masks that backward needs are
 * constants, so create_graph works through the public ops that use them. */
#include "ops/ew_vm.h"

#include <math.h>

struct clamp_args {
    double lo, hi;
};

/* A constant (no history) tensor of x's shape and dtype: row(x) element-wise. */
static ag_tensor *const_map(ag_tensor *x, ag_row1_fn f32, ag_row1_fn f64, const void *args,
                            const char *fn) {
    ag_tensor *m = ag__empty(x->dtype, x->ndim, x->shape, fn);
    if (m) ag__map1(m, x, x->dtype == AG_F32 ? f32 : f64, args);
    return m;
}

/* ------------------------------------------------------------------ maximum, minimum */
/* NaN propagates (either side), as torch. Gradient (torch 1.13): a gets g where a > b,
 * g/2 where a == b, 0 where a < b; NaN comparisons send g to both. As weights:
 * w_a = 1 - [b > a] - [a == b]/2 for maximum. */
AG_ROW2(maximum_f32, float, (a > b || a != a) ? a : b)
AG_ROW2(maximum_f64, double, (a > b || a != a) ? a : b)
AG_MAP2_FORWARD(maximum_forward, maximum_f32, maximum_f64)
AG_ROW2(minimum_f32, float, (a < b || a != a) ? a : b)
AG_ROW2(minimum_f64, double, (a < b || a != a) ? a : b)
AG_MAP2_FORWARD(minimum_forward, minimum_f32, minimum_f64)

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
    .name = "maximum",
    .arity = 2,
    .shape = ag__shape_broadcast,
    .forward = maximum_forward,
    .backward = maximum_backward,
    .check = {.lo = -2, .hi = 2},
};
const struct ag_op_def ag__op_minimum = {
    .name = "minimum",
    .arity = 2,
    .shape = ag__shape_broadcast,
    .forward = minimum_forward,
    .backward = minimum_backward,
    .check = {.lo = -2, .hi = 2},
};
/* Element-wise max / min of a and b, broadcast, same dtype. */
ag_tensor *ag_maximum(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_MAXIMUM, a, b); }
ag_tensor *ag_minimum(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_MINIMUM, a, b); }

/* ------------------------------------------------------------------ clamp */
/* min(max(t, lo), hi) with NaN kept; lo > hi gives hi everywhere (torch). The gradient
 * passes where lo <= t <= hi, both ends inclusive (torch 1.13 clamp_backward). */
AG_ROW1_ARGS(clamp_f32, float, struct clamp_args,
             (a < (float)p.lo ? (float)p.lo : a) > (float)p.hi
                 ? (float)p.hi
                 : (a < (float)p.lo ? (float)p.lo : a))
AG_ROW1_ARGS(clamp_f64, double, struct clamp_args,
             (a < p.lo ? p.lo : a) > p.hi ? p.hi : (a < p.lo ? p.lo : a))
AG_MAP1_FORWARD(clamp_forward, clamp_f32, clamp_f64)
AG_ROW1_ARGS(clamp_mask_f32, float, struct clamp_args,
             (float)(a >= (float)p.lo && a <= (float)p.hi))
AG_ROW1_ARGS(clamp_mask_f64, double, struct clamp_args, (double)(a >= p.lo && a <= p.hi))
static int clamp_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *mask =
        const_map(node->in[0], clamp_mask_f32, clamp_mask_f64, node->args, "ag_clamp");
    return ag__accumulate(node, 0, ag_mul(g, mask));
}
static int clamp_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    *(struct clamp_args *)args = (struct clamp_args){-0.5, 1.0};
    return ag__check_make_away(in, args, dtype, variant, size, 1, (double[]){-0.5, 1.0}, 2);
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
    .name = "clamp",
    .arity = 1,
    .shape = clamp_shape,
    .forward = clamp_forward,
    .backward = clamp_backward,
    .check = {.make = clamp_make},
};
/* t limited to [lo, hi] (pass -INFINITY / INFINITY for one-sided). */
ag_tensor *ag_clamp(ag_tensor *t, double lo, double hi) {
    struct clamp_args a = {lo, hi};
    return AG_APPLY_ARGS(AG_OP_CLAMP, 1, (ag_tensor *const[]){t}, a);
}

/* ------------------------------------------------------------------ where */
/* cond (any dtype; nonzero and NaN are true) ? a : b, all three broadcast together. */
#define ROW3_WHERE(name, T)                                                            \
    static void name(char *z_, const char *c_, int64_t sc, const char *x_, int64_t sx, \
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
    for (int64_t i = 0; i < u->numel; i++) { /* 0/1 in place */
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
    .name = "where",
    .arity = 3,
    .shape = where_shape,
    .forward = where_forward,
    .backward = where_backward,
    .check = {.make = where_make},
};
ag_tensor *ag_where(ag_tensor *cond, ag_tensor *a, ag_tensor *b) {
    return ag__apply(AG_OP_WHERE, 3, (ag_tensor *const[]){cond, a, b}, NULL, 0);
}

/* ------------------------------------------------------------------ eq gt lt le ge ne */
/* 1/0 in a's dtype (float32, float64 or int64), broadcast; not differentiable. NaN
 * compares false except for ne, as torch. */
AG_ROW2(eq_f32, float, (float)(a == b))
AG_ROW2(eq_f64, double, (double)(a == b))
AG_ROW2(eq_i64, int64_t, (int64_t)(a == b))
AG_ROW2(gt_f32, float, (float)(a > b))
AG_ROW2(gt_f64, double, (double)(a > b))
AG_ROW2(gt_i64, int64_t, (int64_t)(a > b))
AG_ROW2(lt_f32, float, (float)(a < b))
AG_ROW2(lt_f64, double, (double)(a < b))
AG_ROW2(lt_i64, int64_t, (int64_t)(a < b))
AG_ROW2(le_f32, float, (float)(a <= b))
AG_ROW2(le_f64, double, (double)(a <= b))
AG_ROW2(le_i64, int64_t, (int64_t)(a <= b))
AG_ROW2(ge_f32, float, (float)(a >= b))
AG_ROW2(ge_f64, double, (double)(a >= b))
AG_ROW2(ge_i64, int64_t, (int64_t)(a >= b))
AG_ROW2(ne_f32, float, (float)(a != b))
AG_ROW2(ne_f64, double, (double)(a != b))
AG_ROW2(ne_i64, int64_t, (int64_t)(a != b))

static int compare_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                         const char *fn) {
    (void)n, (void)args;
    if (in[0]->dtype == AG_U8) /* 1/0 in a's dtype: float or int64 kernels only */
        return ag__error(AG_ERR_DTYPE, fn, "expects float32, float64 or int64, got uint8 %s",
                         AG_SHAPE(in[0]));
    if (in[0]->dtype != in[1]->dtype)
        return ag__error(AG_ERR_DTYPE, fn, "dtypes %s %s and %s %s differ (use ag_cast)",
                         ag_dtype_name(in[0]->dtype), AG_SHAPE(in[0]), ag_dtype_name(in[1]->dtype),
                         AG_SHAPE(in[1]));
    m->dtype = in[0]->dtype;
    if (ag__broadcast_shapes(in[0]->ndim, in[0]->shape, in[1]->ndim, in[1]->shape, &m->ndim,
                             m->shape))
        return ag__error(AG_ERR_SHAPE, fn, "shapes %s and %s do not broadcast", AG_SHAPE(in[0]),
                         AG_SHAPE(in[1]));
    return AG_OK;
}
/* The comparison's row kernel for out's dtype. */
static int compare_forward(ag_tensor *out, ag_tensor *const *in, ag_row2_fn f32, ag_row2_fn f64,
                           ag_row2_fn i64) {
    ag__map2(out, in[0], in[1],
             out->dtype == AG_F32   ? f32
             : out->dtype == AG_F64 ? f64
                                    : i64,
             NULL);
    return AG_OK;
}
static int eq_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    return compare_forward(out, in, eq_f32, eq_f64, eq_i64);
}
static int gt_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    return compare_forward(out, in, gt_f32, gt_f64, gt_i64);
}
static int lt_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    return compare_forward(out, in, lt_f32, lt_f64, lt_i64);
}
static int le_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    return compare_forward(out, in, le_f32, le_f64, le_i64);
}
static int ge_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    return compare_forward(out, in, ge_f32, ge_f64, ge_i64);
}
static int ne_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    return compare_forward(out, in, ne_f32, ne_f64, ne_i64);
}
const struct ag_op_def ag__op_eq = {
    .name = "eq",
    .arity = 2,
    .shape = compare_shape,
    .forward = eq_forward,
    .check = {.lo = -2, .hi = 2, .no_grad = true},
};
const struct ag_op_def ag__op_gt = {
    .name = "gt",
    .arity = 2,
    .shape = compare_shape,
    .forward = gt_forward,
    .check = {.lo = -2, .hi = 2, .no_grad = true},
};
const struct ag_op_def ag__op_lt = {
    .name = "lt",
    .arity = 2,
    .shape = compare_shape,
    .forward = lt_forward,
    .check = {.lo = -2, .hi = 2, .no_grad = true},
};
const struct ag_op_def ag__op_le = {
    .name = "le",
    .arity = 2,
    .shape = compare_shape,
    .forward = le_forward,
    .check = {.lo = -2, .hi = 2, .no_grad = true},
};
const struct ag_op_def ag__op_ge = {
    .name = "ge",
    .arity = 2,
    .shape = compare_shape,
    .forward = ge_forward,
    .check = {.lo = -2, .hi = 2, .no_grad = true},
};
const struct ag_op_def ag__op_ne = {
    .name = "ne",
    .arity = 2,
    .shape = compare_shape,
    .forward = ne_forward,
    .check = {.lo = -2, .hi = 2, .no_grad = true},
};
ag_tensor *ag_eq(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_EQ, a, b); }
ag_tensor *ag_gt(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_GT, a, b); }
ag_tensor *ag_lt(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_LT, a, b); }
ag_tensor *ag_le(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_LE, a, b); }
ag_tensor *ag_ge(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_GE, a, b); }
ag_tensor *ag_ne(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_NE, a, b); }
