/* Element-wise arithmetic: add sub mul div neg, and add_scalar mul_scalar.
 * Binary ops broadcast; ag__accumulate sums each gradient back to its input's shape. */
#include "ops/ew_vm.h"

struct scalar_args {
    double s;
};

/* ------------------------------------------------------------------ add */
AG_ROW2(add_f32, float, a + b)
AG_ROW2(add_f64, double, a + b)
AG_EW_BINARY_FORWARD(add_forward, AG_VM_ADD, add_f32, add_f64)
static int add_backward(struct ag_node *node, ag_tensor *g) {
    int rc = ag__accumulate(node, 0, g);
    return rc ? rc : ag__accumulate(node, 1, g);
}
const struct ag_op_def ag__op_add = {
    .name = "add",
    .arity = 2,
    .shape = ag__shape_broadcast,
    .forward = add_forward,
    .backward = add_backward,
    .check = {.lo = -2, .hi = 2},
};
ag_tensor *ag_add(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_ADD, a, b); }

/* ------------------------------------------------------------------ sub */
AG_ROW2(sub_f32, float, a - b)
AG_ROW2(sub_f64, double, a - b)
AG_EW_BINARY_FORWARD(sub_forward, AG_VM_SUB, sub_f32, sub_f64)
static int sub_backward(struct ag_node *node, ag_tensor *g) {
    int rc = ag__accumulate(node, 0, g);
    if (rc || !ag__needs_grad(node, 1)) return rc;
    return ag__accumulate(node, 1, ag_neg(g));
}
const struct ag_op_def ag__op_sub = {
    .name = "sub",
    .arity = 2,
    .shape = ag__shape_broadcast,
    .forward = sub_forward,
    .backward = sub_backward,
    .check = {.lo = -2, .hi = 2},
};
ag_tensor *ag_sub(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_SUB, a, b); }

/* ------------------------------------------------------------------ mul */
AG_ROW2(mul_f32, float, a *b)
AG_ROW2(mul_f64, double, a *b)
AG_EW_BINARY_FORWARD(mul_forward, AG_VM_MUL, mul_f32, mul_f64)
static int mul_backward(struct ag_node *node, ag_tensor *g) {
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) rc = ag__accumulate(node, 0, ag_mul(g, node->in[1]));
    if (!rc && ag__needs_grad(node, 1)) rc = ag__accumulate(node, 1, ag_mul(g, node->in[0]));
    return rc;
}
const struct ag_op_def ag__op_mul = {
    .name = "mul",
    .arity = 2,
    .shape = ag__shape_broadcast,
    .forward = mul_forward,
    .backward = mul_backward,
    .check = {.lo = -2, .hi = 2, .flops_per_elem = 1},
};
ag_tensor *ag_mul(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_MUL, a, b); }

/* ------------------------------------------------------------------ div */
AG_ROW2(div_f32, float, a / b)
AG_ROW2(div_f64, double, a / b)
AG_EW_BINARY_FORWARD(div_forward, AG_VM_DIV, div_f32, div_f64)
static int div_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *a = node->in[0], *b = node->in[1];
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) rc = ag__accumulate(node, 0, ag_div(g, b));
    if (!rc && ag__needs_grad(node, 1)) /* d(a/b)/db = -a / b^2 */
        rc = ag__accumulate(node, 1, ag_neg(ag_div(ag_mul(g, a), ag_mul(b, b))));
    return rc;
}
const struct ag_op_def ag__op_div = {
    .name = "div",
    .arity = 2,
    .shape = ag__shape_broadcast,
    .forward = div_forward,
    .backward = div_backward,
    .check = {.lo = 0.5, .hi = 2, .flops_per_elem = 1},
};
ag_tensor *ag_div(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_DIV, a, b); }

/* ------------------------------------------------------------------ neg */
AG_ROW1(neg_f32, float, -a)
AG_ROW1(neg_f64, double, -a)
AG_EW_UNARY_FORWARD(neg_forward, AG_VM_NEG, neg_f32, neg_f64)
static int neg_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_neg(g));
}
const struct ag_op_def ag__op_neg = {
    .name = "neg",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = neg_forward,
    .backward = neg_backward,
    .check = {.lo = -2, .hi = 2},
};
ag_tensor *ag_neg(ag_tensor *t) { return AG_APPLY1(AG_OP_NEG, t); }

/* ------------------------------------------------------------------ add_scalar, mul_scalar */
AG_ROW1_ARGS(add_scalar_f32, float, struct scalar_args, a + (float)p.s)
AG_ROW1_ARGS(add_scalar_f64, double, struct scalar_args, a + p.s)
AG_MAP1_FORWARD(add_scalar_forward, add_scalar_f32, add_scalar_f64)
static int add_scalar_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, g);
}
const struct ag_op_def ag__op_add_scalar = {
    .name = "add_scalar",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = add_scalar_forward,
    .backward = add_scalar_backward,
    .check = {.args = &(struct scalar_args){1.5}, .args_size = sizeof(struct scalar_args)},
};
/* t + s, t's shape and dtype (s rounded to t's dtype, as torch). */
ag_tensor *ag_add_scalar(ag_tensor *t, double s) {
    struct scalar_args a = {s};
    return AG_APPLY_ARGS(AG_OP_ADD_SCALAR, 1, (ag_tensor *const[]){t}, a);
}

AG_ROW1_ARGS(mul_scalar_f32, float, struct scalar_args, a *(float)p.s)
AG_ROW1_ARGS(mul_scalar_f64, double, struct scalar_args, a *p.s)
AG_MAP1_FORWARD(mul_scalar_forward, mul_scalar_f32, mul_scalar_f64)
static int mul_scalar_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, ag_mul_scalar(g, AG_ARGS(node, struct scalar_args)->s));
}
const struct ag_op_def ag__op_mul_scalar = {
    .name = "mul_scalar",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = mul_scalar_forward,
    .backward = mul_scalar_backward,
    .check = {.args = &(struct scalar_args){-1.5},
              .args_size = sizeof(struct scalar_args),
              .flops_per_elem = 1},
};
/* t * s, t's shape and dtype. */
ag_tensor *ag_mul_scalar(ag_tensor *t, double s) {
    struct scalar_args a = {s};
    return AG_APPLY_ARGS(AG_OP_MUL_SCALAR, 1, (ag_tensor *const[]){t}, a);
}
