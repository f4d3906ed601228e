/* More unary math: erf rsqrt reciprocal square log1p expm1 tan atan, torch's values and
 * its derivatives.yaml gradients (written with ops, from x or from the result, so they are
 * differentiable again):
 *   erf' = 2/sqrt(pi) exp(-x^2)     rsqrt' = -y^3 / 2       reciprocal' = -y^2
 *   square' = 2x                    log1p' = 1 / (1 + x)    expm1' = y + 1
 *   tan' = 1 + y^2                  atan' = 1 / (1 + x^2)
 * log1p and expm1 take the vector kernels (ops/kernels/vmath.h) on contiguous inputs. */
#include "ops/ew_vm.h"

#include <math.h>

#define MAP_FORWARD(fname, row_f32, row_f64)                                            \
    static int fname(ag_tensor *out, ag_tensor *const *in, int n, const void *args,    \
                     ag_tensor **saved) {                                              \
        (void)n, (void)saved;                                                          \
        ag__map1(out, in[0], out->dtype == AG_F32 ? row_f32 : row_f64, args);          \
        return AG_OK;                                                                  \
    }

/* ------------------------------------------------------------------ erf */
AG_ROW1(erf_f32, float, erff(a))
AG_ROW1(erf_f64, double, erf(a))
MAP_FORWARD(erf_forward, erf_f32, erf_f64)
static int erf_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *x = node->in[0];
    ag_tensor *d = ag_mul_scalar(ag_exp(ag_neg(ag_mul(x, x))), 2.0 / sqrt(M_PI));
    return ag__accumulate(node, 0, ag_mul(g, d));
}
const struct ag_op_def ag__op_erf = {
    .name = "erf", .arity = 1, .shape = ag__shape_same,
    .forward = erf_forward, .backward = erf_backward, .check = {.lo = -2, .hi = 2},
};
ag_tensor *ag_erf(ag_tensor *x) { return AG_APPLY1(AG_OP_ERF, x); }

/* ------------------------------------------------------------------ rsqrt */
AG_ROW1(rsqrt_f32, float, 1.0f / sqrtf(a))
AG_ROW1(rsqrt_f64, double, 1.0 / sqrt(a))
MAP_FORWARD(rsqrt_forward, rsqrt_f32, rsqrt_f64)
static int rsqrt_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *y = node->out;
    return ag__accumulate(node, 0, ag_mul(g, ag_mul_scalar(ag_mul(ag_mul(y, y), y), -0.5)));
}
const struct ag_op_def ag__op_rsqrt = {
    .name = "rsqrt", .arity = 1, .shape = ag__shape_same,
    .forward = rsqrt_forward, .backward = rsqrt_backward, .check = {.lo = 0.5, .hi = 2},
};
ag_tensor *ag_rsqrt(ag_tensor *x) { return AG_APPLY1(AG_OP_RSQRT, x); }

/* ------------------------------------------------------------------ reciprocal */
AG_ROW1(reciprocal_f32, float, 1.0f / a)
AG_ROW1(reciprocal_f64, double, 1.0 / a)
MAP_FORWARD(reciprocal_forward, reciprocal_f32, reciprocal_f64)
static int reciprocal_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *y = node->out;
    return ag__accumulate(node, 0, ag_neg(ag_mul(g, ag_mul(y, y))));
}
const struct ag_op_def ag__op_reciprocal = {
    .name = "reciprocal", .arity = 1, .shape = ag__shape_same,
    .forward = reciprocal_forward, .backward = reciprocal_backward, .check = {.lo = 0.5, .hi = 2},
};
ag_tensor *ag_reciprocal(ag_tensor *x) { return AG_APPLY1(AG_OP_RECIPROCAL, x); }

/* ------------------------------------------------------------------ square */
AG_ROW1(square_f32, float, a * a)
AG_ROW1(square_f64, double, a * a)
MAP_FORWARD(square_forward, square_f32, square_f64)
static int square_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_mul(g, ag_mul_scalar(node->in[0], 2.0)));
}
const struct ag_op_def ag__op_square = {
    .name = "square", .arity = 1, .shape = ag__shape_same,
    .forward = square_forward, .backward = square_backward, .check = {.lo = -2, .hi = 2},
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
    .name = "log1p", .arity = 1, .shape = ag__shape_same,
    .forward = log1p_forward, .backward = log1p_backward, .check = {.lo = -0.5, .hi = 2},
};
ag_tensor *ag_log1p(ag_tensor *x) { return AG_APPLY1(AG_OP_LOG1P, x); }

AG_ROW1(expm1_f32, float, expm1f(a))
AG_ROW1(expm1_f64, double, expm1(a))
AG_EW_UNARY_FORWARD(expm1_forward, AG_VM_EXPM1, expm1_f32, expm1_f64)
static int expm1_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_mul(g, ag_add_scalar(node->out, 1.0)));
}
const struct ag_op_def ag__op_expm1 = {
    .name = "expm1", .arity = 1, .shape = ag__shape_same,
    .forward = expm1_forward, .backward = expm1_backward, .check = {.lo = -2, .hi = 2},
};
ag_tensor *ag_expm1(ag_tensor *x) { return AG_APPLY1(AG_OP_EXPM1, x); }

/* ------------------------------------------------------------------ tan, atan */
AG_ROW1(tan_f32, float, tanf(a))
AG_ROW1(tan_f64, double, tan(a))
MAP_FORWARD(tan_forward, tan_f32, tan_f64)
static int tan_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *y = node->out;
    return ag__accumulate(node, 0, ag_mul(g, ag_add_scalar(ag_mul(y, y), 1.0)));
}
const struct ag_op_def ag__op_tan = {
    .name = "tan", .arity = 1, .shape = ag__shape_same,
    .forward = tan_forward, .backward = tan_backward, .check = {.lo = -1.2, .hi = 1.2},
};
ag_tensor *ag_tan(ag_tensor *x) { return AG_APPLY1(AG_OP_TAN, x); }

AG_ROW1(atan_f32, float, atanf(a))
AG_ROW1(atan_f64, double, atan(a))
MAP_FORWARD(atan_forward, atan_f32, atan_f64)
static int atan_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *x = node->in[0];
    return ag__accumulate(node, 0, ag_div(g, ag_add_scalar(ag_mul(x, x), 1.0)));
}
const struct ag_op_def ag__op_atan = {
    .name = "atan", .arity = 1, .shape = ag__shape_same,
    .forward = atan_forward, .backward = atan_backward, .check = {.lo = -2, .hi = 2},
};
ag_tensor *ag_atan(ag_tensor *x) { return AG_APPLY1(AG_OP_ATAN, x); }
