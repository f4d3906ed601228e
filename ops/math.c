/* Element-wise math: exp log pow sqrt abs sin cos sign erf rsqrt reciprocal square log1p
 * expm1 tan atan. Gradients follow torch 1.13's derivatives.yaml (the value at 0, kinks),
 * written with ops (from x or from the result), so they are differentiable again. */
#include "ops/ew_vm.h"

#include <math.h>

struct scalar_args {
    double s;
};

/* ------------------------------------------------------------------ exp */
AG_ROW1(exp_f32, float, expf(a))
AG_ROW1(exp_f64, double, exp(a))
AG_EW_UNARY_FORWARD(exp_forward, AG_VM_EXP, exp_f32, exp_f64)
static int exp_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_mul(g, node->out)); /* d exp = exp */
}
const struct ag_op_def ag__op_exp = {
    .name = "exp",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = exp_forward,
    .backward = exp_backward,
    .check = {.lo = -2, .hi = 2, .flops_per_elem = 10},
};
ag_tensor *ag_exp(ag_tensor *t) { return AG_APPLY1(AG_OP_EXP, t); }

/* ------------------------------------------------------------------ log */
AG_ROW1(log_f32, float, logf(a))
AG_ROW1(log_f64, double, log(a))
AG_EW_UNARY_FORWARD(log_forward, AG_VM_LOG, log_f32, log_f64)
static int log_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_div(g, node->in[0]));
}
const struct ag_op_def ag__op_log = {
    .name = "log",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = log_forward,
    .backward = log_backward,
    .check = {.lo = 0.5, .hi = 3, .flops_per_elem = 10},
};
ag_tensor *ag_log(ag_tensor *t) { return AG_APPLY1(AG_OP_LOG, t); }

/* ------------------------------------------------------------------ pow */
/* torch: exponents 0, 1, 2, 3, 0.5, -1, -2 take exact shortcuts; gradient e * x^(e-1)
 * (so inf at 0 for e < 1), zero for e == 0. */
AG_ROW1_ARGS(pow_f32, float, struct scalar_args, powf(a, (float)p.s))
AG_ROW1_ARGS(pow_f64, double, struct scalar_args, pow(a, p.s))
AG_ROW1(pow0_f32, float, ((void)a, 1.0f))
AG_ROW1(pow0_f64, double, ((void)a, 1.0))
AG_ROW1(pow1_f32, float, a)
AG_ROW1(pow1_f64, double, a)
AG_ROW1(pow2_f32, float, a *a)
AG_ROW1(pow2_f64, double, a *a)
AG_ROW1(pow3_f32, float, a *a *a)
AG_ROW1(pow3_f64, double, a *a *a)
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
    .name = "pow",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = pow_forward,
    .backward = pow_backward,
    .check = {.lo = 0.5,
              .hi = 2,
              .args = &(struct scalar_args){2.5},
              .args_size = sizeof(struct scalar_args),
              .flops_per_elem = 20},
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
static int sqrt_backward(struct ag_node *node, ag_tensor *g) { /* torch: g / (2 sqrt x) */
    return ag__accumulate(node, 0, ag_div(g, ag_mul_scalar(node->out, 2.0)));
}
const struct ag_op_def ag__op_sqrt = {
    .name = "sqrt",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = sqrt_forward,
    .backward = sqrt_backward,
    .check = {.lo = 0.5, .hi = 3, .flops_per_elem = 1},
};
ag_tensor *ag_sqrt(ag_tensor *t) { return AG_APPLY1(AG_OP_SQRT, t); }

/* ------------------------------------------------------------------ abs */
AG_ROW1(abs_f32, float, fabsf(a))
AG_ROW1(abs_f64, double, fabs(a))
AG_EW_UNARY_FORWARD(abs_forward, AG_VM_ABS, abs_f32, abs_f64)
static int abs_backward(struct ag_node *node, ag_tensor *g) { /* sign(x): 0 at 0 */
    return ag__accumulate(node, 0, ag_mul(g, ag_sign(node->in[0])));
}
static int abs_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    return ag__check_make_away(in, args, dtype, variant, size, 1, (double[]){0}, 1);
}
const struct ag_op_def ag__op_abs = {
    .name = "abs",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = abs_forward,
    .backward = abs_backward,
    .check = {.make = abs_make},
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
    .name = "sin",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = sin_forward,
    .backward = sin_backward,
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
    .name = "cos",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = cos_forward,
    .backward = cos_backward,
    .check = {.lo = -3, .hi = 3, .flops_per_elem = 15},
};
ag_tensor *ag_cos(ag_tensor *t) { return AG_APPLY1(AG_OP_COS, t); }

/* ------------------------------------------------------------------ sign */
/* -1, 0, +1 (NaN stays NaN); the gradient is zero everywhere, as torch. */
AG_ROW1(sign_f32, float, (float)((a > 0) - (a < 0)) + (a - a))
AG_ROW1(sign_f64, double, (double)((a > 0) - (a < 0)) + (a - a))
AG_MAP1_FORWARD(sign_forward, sign_f32, sign_f64)
static int sign_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_zeros_like(g));
}
static int sign_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    return ag__check_make_away(in, args, dtype, variant, size, 1, (double[]){0}, 1);
}
const struct ag_op_def ag__op_sign = {
    .name = "sign",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = sign_forward,
    .backward = sign_backward,
    .check = {.make = sign_make},
};
ag_tensor *ag_sign(ag_tensor *t) { return AG_APPLY1(AG_OP_SIGN, t); }

/* ------------------------------------------------------------------ erf */
AG_ROW1(erf_f32, float, erff(a))
AG_ROW1(erf_f64, double, erf(a))
AG_MAP1_FORWARD(erf_forward, erf_f32, erf_f64)
static int erf_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *x = node->in[0];
    ag_tensor *d = ag_mul_scalar(ag_exp(ag_neg(ag_mul(x, x))), 2.0 / sqrt(M_PI));
    return ag__accumulate(node, 0, ag_mul(g, d));
}
const struct ag_op_def ag__op_erf = {
    .name = "erf",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = erf_forward,
    .backward = erf_backward,
    .check = {.lo = -2, .hi = 2},
};
ag_tensor *ag_erf(ag_tensor *x) { return AG_APPLY1(AG_OP_ERF, x); }

/* ------------------------------------------------------------------ rsqrt */
AG_ROW1(rsqrt_f32, float, 1.0f / sqrtf(a))
AG_ROW1(rsqrt_f64, double, 1.0 / sqrt(a))
AG_MAP1_FORWARD(rsqrt_forward, rsqrt_f32, rsqrt_f64)
static int rsqrt_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *y = node->out;
    return ag__accumulate(node, 0, ag_mul(g, ag_mul_scalar(ag_mul(ag_mul(y, y), y), -0.5)));
}
const struct ag_op_def ag__op_rsqrt = {
    .name = "rsqrt",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = rsqrt_forward,
    .backward = rsqrt_backward,
    .check = {.lo = 0.5, .hi = 2},
};
ag_tensor *ag_rsqrt(ag_tensor *x) { return AG_APPLY1(AG_OP_RSQRT, x); }

/* ------------------------------------------------------------------ reciprocal */
AG_ROW1(reciprocal_f32, float, 1.0f / a)
AG_ROW1(reciprocal_f64, double, 1.0 / a)
AG_MAP1_FORWARD(reciprocal_forward, reciprocal_f32, reciprocal_f64)
static int reciprocal_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *y = node->out;
    return ag__accumulate(node, 0, ag_neg(ag_mul(g, ag_mul(y, y))));
}
const struct ag_op_def ag__op_reciprocal = {
    .name = "reciprocal",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = reciprocal_forward,
    .backward = reciprocal_backward,
    .check = {.lo = 0.5, .hi = 2},
};
ag_tensor *ag_reciprocal(ag_tensor *x) { return AG_APPLY1(AG_OP_RECIPROCAL, x); }

/* ------------------------------------------------------------------ square */
AG_ROW1(square_f32, float, a *a)
AG_ROW1(square_f64, double, a *a)
AG_MAP1_FORWARD(square_forward, square_f32, square_f64)
static int square_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_mul(g, ag_mul_scalar(node->in[0], 2.0)));
}
const struct ag_op_def ag__op_square = {
    .name = "square",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = square_forward,
    .backward = square_backward,
    .check = {.lo = -2, .hi = 2},
};
ag_tensor *ag_square(ag_tensor *x) { return AG_APPLY1(AG_OP_SQUARE, x); }

/* ------------------------------------------------------------------ log1p, expm1 */
AG_ROW1(log1p_f32, float, log1pf(a))
AG_ROW1(log1p_f64, double, log1p(a))
AG_EW_UNARY_FORWARD(log1p_forward, AG_VM_LOG1P, log1p_f32, log1p_f64)
static int log1p_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_div(g, ag_add_scalar(node->in[0], 1.0)));
}
const struct ag_op_def ag__op_log1p = {
    .name = "log1p",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = log1p_forward,
    .backward = log1p_backward,
    .check = {.lo = -0.5, .hi = 2},
};
ag_tensor *ag_log1p(ag_tensor *x) { return AG_APPLY1(AG_OP_LOG1P, x); }

AG_ROW1(expm1_f32, float, expm1f(a))
AG_ROW1(expm1_f64, double, expm1(a))
AG_EW_UNARY_FORWARD(expm1_forward, AG_VM_EXPM1, expm1_f32, expm1_f64)
static int expm1_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_mul(g, ag_add_scalar(node->out, 1.0)));
}
const struct ag_op_def ag__op_expm1 = {
    .name = "expm1",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = expm1_forward,
    .backward = expm1_backward,
    .check = {.lo = -2, .hi = 2},
};
ag_tensor *ag_expm1(ag_tensor *x) { return AG_APPLY1(AG_OP_EXPM1, x); }

/* ------------------------------------------------------------------ tan, atan */
AG_ROW1(tan_f32, float, tanf(a))
AG_ROW1(tan_f64, double, tan(a))
AG_MAP1_FORWARD(tan_forward, tan_f32, tan_f64)
static int tan_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *y = node->out;
    return ag__accumulate(node, 0, ag_mul(g, ag_add_scalar(ag_mul(y, y), 1.0)));
}
const struct ag_op_def ag__op_tan = {
    .name = "tan",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = tan_forward,
    .backward = tan_backward,
    .check = {.lo = -1.2, .hi = 1.2},
};
ag_tensor *ag_tan(ag_tensor *x) { return AG_APPLY1(AG_OP_TAN, x); }

AG_ROW1(atan_f32, float, atanf(a))
AG_ROW1(atan_f64, double, atan(a))
AG_MAP1_FORWARD(atan_forward, atan_f32, atan_f64)
static int atan_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *x = node->in[0];
    return ag__accumulate(node, 0, ag_div(g, ag_add_scalar(ag_mul(x, x), 1.0)));
}
const struct ag_op_def ag__op_atan = {
    .name = "atan",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = atan_forward,
    .backward = atan_backward,
    .check = {.lo = -2, .hi = 2},
};
ag_tensor *ag_atan(ag_tensor *x) { return AG_APPLY1(AG_OP_ATAN, x); }
