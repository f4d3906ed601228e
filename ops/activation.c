/* Point-wise activations: sigmoid tanh relu leaky_relu elu selu softplus gelu gelu_tanh silu
 * hardtanh hardsigmoid, and their backward ops (prelu: ops/prelu.c; softmax: ops/softmax.c).
 *
 * Every activation is one op in the table sharing one forward kernel chosen by the vector
 * function id (ag_vm_fn, one AG_VM_FN_LIST line in ops/kernels/vmath.h) in its argument
 * struct; the op def carries that id, and the public function takes it from there. Backward:
 *  - sigmoid, tanh: sigmoid_backward(g, y) = g y (1 - y), tanh_backward(g, y) = g (1 - y^2),
 *    ops whose own backward is written with ops (any order of derivative works);
 *  - the others: act_backward(g, x) = g f'(x), whose backward uses act_deriv2(x) = f''(x);
 *    act_deriv2 has no derivative of its own (third derivatives are a clear error).
 * Untaken branches give an exact 0 (never NaN * 0). Contiguous float32/float64 inputs of 16
 * elements or more go through the vector kernels (ops/kernels/vmath.h); strided and small
 * ones use the scalar reference math of ops/act_math.h.
 *
 * Adding one (say mish): its AG_VM_FN_LIST line (ops/kernels/vmath.h) with fw_mish/bw_mish
 * in ops/kernels/vmath_tmpl.h and its reference in vmath.c's ref_fwd/ref_bwd (the compiler
 * asks for all three); f, f', f'' in ops/act_math.h; OP(MISH, mish) in ops/ops.def;
 * ag__op_mish = ACT_OP("mish", AG_VM_MISH, ...) and ag_mish() here, declared in ag.h (an
 * AG_ACTIVATION_LIST line there makes it a layer activation too). Proof: the table tests
 * (tests/test_optable.c) and activation/every_activation_has_its_own_vector_kernel. */
#include "ops/act_math.h"
#include "ops/act_vm.h"
#include "ops/iter.h"

/* ------------------------------------------------------------------ row kernels */
#define ACT_ROW1(name, T, F)                                                               \
    static void name(char *z_, const char *x_, int64_t sx, int64_t n, const void *args_) { \
        const struct act_args *p = args_;                                                  \
        T *z = (T *)(void *)z_;                                                            \
        const T *x = (const T *)(const void *)x_;                                          \
        for (int64_t i = 0; i < n; i++) z[i] = (T)F(p->fn, (double)x[i * sx], p->a, p->b); \
    }
ACT_ROW1(act_f_f32, float, ag__act_f)
ACT_ROW1(act_f_f64, double, ag__act_f)
ACT_ROW1(act_d2_f32, float, ag__act_d2)
ACT_ROW1(act_d2_f64, double, ag__act_d2)

/* z = g f'(x); exact 0 where f'(x) is 0 (an untaken branch). */
#define ACT_ROW_BWD(name, T)                                                                      \
    static void name(char *z_, const char *g_, int64_t sg, const char *x_, int64_t sx, int64_t n, \
                     const void *args_) {                                                         \
        const struct act_args *p = args_;                                                         \
        T *z = (T *)(void *)z_;                                                                   \
        const T *g = (const T *)(const void *)g_, *x = (const T *)(const void *)x_;               \
        for (int64_t i = 0; i < n; i++) {                                                         \
            double d = ag__act_d1(p->fn, (double)x[i * sx], p->a, p->b);                          \
            z[i] = d == 0 ? (T)0 : (T)((double)g[i * sg] * d);                                    \
        }                                                                                         \
    }
ACT_ROW_BWD(act_bwd_f32, float)
ACT_ROW_BWD(act_bwd_f64, double)

#define ACT_ARGS(id, a_, b_) \
    &(const struct act_args) { .fn = (id), .a = (a_), .b = (b_) }

/* ------------------------------------------------------------------ forward ops */
static int act_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)n, (void)saved;
    if (ag__act_vm_forward(out, in[0], args)) return AG_OK;
    ag__map1(out, in[0], out->dtype == AG_F32 ? act_f_f32 : act_f_f64, args);
    return AG_OK;
}

static int act_backward(struct ag_node *node, ag_tensor *g);
static int sigmoid_backward(struct ag_node *node, ag_tensor *g);
static int tanh_backward(struct ag_node *node, ag_tensor *g);

/* One activation's op def: its vector function and the parameters the table tests use
 * ride in check.args; act() below runs the public function with that same function. */
#define ACT_OP(name_, fn_, a_, b_, bwd, lo_, hi_, flops)                            \
    {                                                                               \
        .name = name_, .arity = 1, .shape = ag__shape_same, .forward = act_forward, \
        .backward = bwd, .check = {                                                 \
            .lo = lo_,                                                              \
            .hi = hi_,                                                              \
            .args = ACT_ARGS(fn_, a_, b_),                                          \
            .args_size = sizeof(struct act_args),                                   \
            .flops_per_elem = flops                                                 \
        }                                                                           \
    }

/* Gradcheck domains keep away from the kinks (0 for relu-likes, +-1 for hardtanh, +-3). */
const struct ag_op_def ag__op_sigmoid =
    ACT_OP("sigmoid", AG_VM_SIGMOID, 0, 0, sigmoid_backward, -3, 3, 20);
const struct ag_op_def ag__op_tanh = ACT_OP("tanh", AG_VM_TANH, 0, 0, tanh_backward, -3, 3, 20);
const struct ag_op_def ag__op_relu = ACT_OP("relu", AG_VM_RELU, 0, 0, act_backward, 0.1, 2, 1);
const struct ag_op_def ag__op_leaky_relu =
    ACT_OP("leaky_relu", AG_VM_LEAKY_RELU, 0.1, 0, act_backward, -2, -0.1, 1);
const struct ag_op_def ag__op_elu = ACT_OP("elu", AG_VM_ELU, 1.3, 0, act_backward, -2, -0.1, 20);
const struct ag_op_def ag__op_selu = ACT_OP("selu", AG_VM_SELU, 0, 0, act_backward, -2, -0.1, 20);
const struct ag_op_def ag__op_softplus =
    ACT_OP("softplus", AG_VM_SOFTPLUS, 2, 3, act_backward, -2, 2, 30);
const struct ag_op_def ag__op_gelu = ACT_OP("gelu", AG_VM_GELU, 0, 0, act_backward, -3, 3, 30);
const struct ag_op_def ag__op_gelu_tanh =
    ACT_OP("gelu_tanh", AG_VM_GELU_TANH, 0, 0, act_backward, -3, 3, 30);
const struct ag_op_def ag__op_silu = ACT_OP("silu", AG_VM_SILU, 0, 0, act_backward, -3, 3, 20);
const struct ag_op_def ag__op_hardtanh =
    ACT_OP("hardtanh", AG_VM_HARDTANH, -0.5, 0.5, act_backward, -0.4, 0.4, 1);
const struct ag_op_def ag__op_hardsigmoid =
    ACT_OP("hardsigmoid", AG_VM_HARDSIGMOID, 0, 0, act_backward, -2.5, 2.5, 2);

/* Runs activation op with parameters a, b and the vector function its op def carries. */
static ag_tensor *act(enum ag_op_id op, ag_tensor *t, double a, double b) {
    const struct act_args *def = ag__ops[op]->check.args;
    struct act_args args = {def->fn, a, b};
    return AG_APPLY_ARGS(op, 1, (ag_tensor *const[]){t}, args);
}

ag_tensor *ag_sigmoid(ag_tensor *t) { return act(AG_OP_SIGMOID, t, 0, 0); }
ag_tensor *ag_tanh(ag_tensor *t) { return act(AG_OP_TANH, t, 0, 0); }
ag_tensor *ag_relu(ag_tensor *t) { return act(AG_OP_RELU, t, 0, 0); }
ag_tensor *ag_selu(ag_tensor *t) { return act(AG_OP_SELU, t, 0, 0); }
ag_tensor *ag_softplus(ag_tensor *t) { return ag_softplus_ex(t, 1.0, 20.0); }
ag_tensor *ag_gelu(ag_tensor *t) { return act(AG_OP_GELU, t, 0, 0); }
ag_tensor *ag_gelu_tanh(ag_tensor *t) { return act(AG_OP_GELU_TANH, t, 0, 0); }
ag_tensor *ag_silu(ag_tensor *t) { return act(AG_OP_SILU, t, 0, 0); }
ag_tensor *ag_hardsigmoid(ag_tensor *t) { return act(AG_OP_HARDSIGMOID, t, 0, 0); }
ag_tensor *ag_leaky_relu(ag_tensor *t, double negative_slope) {
    return act(AG_OP_LEAKY_RELU, t, negative_slope, 0);
}
ag_tensor *ag_elu(ag_tensor *t, double alpha) { return act(AG_OP_ELU, t, alpha, 0); }

/* softplus(x) = log(1 + exp(beta x)) / beta, and x itself where beta x > threshold. */
ag_tensor *ag_softplus_ex(ag_tensor *t, double beta, double threshold) {
    if (!t) return NULL;
    if (!(beta != 0) || isnan(threshold)) {
        ag__error(AG_ERR_ARG, "ag_softplus",
                  "beta must be non-zero (got %g) and threshold "
                  "a number (got %g)",
                  beta, threshold);
        return NULL;
    }
    return act(AG_OP_SOFTPLUS, t, beta, threshold);
}

/* clamp(x, min_val, max_val). */
ag_tensor *ag_hardtanh(ag_tensor *t, double min_val, double max_val) {
    if (!t) return NULL;
    if (!(min_val <= max_val)) {
        ag__error(AG_ERR_ARG, "ag_hardtanh", "min_val %g must not exceed max_val %g", min_val,
                  max_val);
        return NULL;
    }
    return act(AG_OP_HARDTANH, t, min_val, max_val);
}

/* ------------------------------------------------------------------ sigmoid/tanh backward */
#define YROW(name, T, expr)                                                                       \
    static void name(char *z_, const char *g_, int64_t sg, const char *y_, int64_t sy, int64_t n, \
                     const void *args) {                                                          \
        (void)args;                                                                               \
        T *z = (T *)(void *)z_;                                                                   \
        const T *g = (const T *)(const void *)g_, *y = (const T *)(const void *)y_;               \
        for (int64_t i = 0; i < n; i++) {                                                         \
            T a = g[i * sg], b = y[i * sy];                                                       \
            z[i] = (expr);                                                                        \
        }                                                                                         \
    }
YROW(sigbwd_f32, float, a *(b *(1 - b)))
YROW(sigbwd_f64, double, a *(b *(1 - b)))
YROW(tanhbwd_f32, float, a *(1 - b * b))
YROW(tanhbwd_f64, double, a *(1 - b * b))

static int sigmoid_backward_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                                    ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    if (ag__act_vm_backward(out, in[0], in[1], ACT_ARGS(AG_VM_SIGMOID, 0, 0))) return AG_OK;
    ag__map2(out, in[0], in[1], out->dtype == AG_F32 ? sigbwd_f32 : sigbwd_f64, NULL);
    return AG_OK;
}
static int tanh_backward_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                                 ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    if (ag__act_vm_backward(out, in[0], in[1], ACT_ARGS(AG_VM_TANH, 0, 0))) return AG_OK;
    ag__map2(out, in[0], in[1], out->dtype == AG_F32 ? tanhbwd_f32 : tanhbwd_f64, NULL);
    return AG_OK;
}

static ag_tensor *sigmoid_backward_op(ag_tensor *g, ag_tensor *y) {
    return AG_APPLY2(AG_OP_SIGMOID_BACKWARD, g, y);
}
static ag_tensor *tanh_backward_op(ag_tensor *g, ag_tensor *y) {
    return AG_APPLY2(AG_OP_TANH_BACKWARD, g, y);
}

static int sigmoid_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, sigmoid_backward_op(g, node->out));
}
static int tanh_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, tanh_backward_op(g, node->out));
}

/* d/dg [g y (1-y)] = y (1-y);  d/dy = g (1 - 2y). */
static int sigmoid_backward_backward(struct ag_node *node, ag_tensor *gg) {
    ag_tensor *g = node->in[0], *y = node->in[1];
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) rc = ag__accumulate(node, 0, sigmoid_backward_op(gg, y));
    if (!rc && ag__needs_grad(node, 1)) {
        ag_tensor *one = ag_scalar(y->dtype, 1), *two = ag_scalar(y->dtype, 2);
        rc = ag__accumulate(node, 1, ag_mul(ag_mul(gg, g), ag_sub(one, ag_mul(two, y))));
    }
    return rc;
}
/* d/dg [g (1-y^2)] = 1 - y^2;  d/dy = -2 g y. */
static int tanh_backward_backward(struct ag_node *node, ag_tensor *gg) {
    ag_tensor *g = node->in[0], *y = node->in[1];
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) rc = ag__accumulate(node, 0, tanh_backward_op(gg, y));
    if (!rc && ag__needs_grad(node, 1))
        rc = ag__accumulate(node, 1, ag_mul(ag_mul(gg, g), ag_mul(ag_scalar(y->dtype, -2), y)));
    return rc;
}

const struct ag_op_def ag__op_sigmoid_backward = {
    .name = "sigmoid_backward",
    .arity = 2,
    .shape = ag__shape_broadcast,
    .forward = sigmoid_backward_forward,
    .backward = sigmoid_backward_backward,
    .check = {.lo = 0.05, .hi = 0.95, .flops_per_elem = 3},
};
const struct ag_op_def ag__op_tanh_backward = {
    .name = "tanh_backward",
    .arity = 2,
    .shape = ag__shape_broadcast,
    .forward = tanh_backward_forward,
    .backward = tanh_backward_backward,
    .check = {.lo = -0.95, .hi = 0.95, .flops_per_elem = 3},
};

/* ------------------------------------------------------------------ act_backward, act_deriv2 */
static int act_backward_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                                ag_tensor **saved) {
    (void)n, (void)saved;
    if (ag__act_vm_backward(out, in[0], in[1], args)) return AG_OK;
    ag__map2(out, in[0], in[1], out->dtype == AG_F32 ? act_bwd_f32 : act_bwd_f64, args);
    return AG_OK;
}

static int act_deriv2_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                              ag_tensor **saved) {
    (void)n, (void)saved;
    ag__map1(out, in[0], out->dtype == AG_F32 ? act_d2_f32 : act_d2_f64, args);
    return AG_OK;
}

static ag_tensor *act_backward_op(ag_tensor *g, ag_tensor *x, const struct act_args *a) {
    ag_tensor *const in[] = {g, x};
    return AG_APPLY_ARGS(AG_OP_ACT_BACKWARD, 2, in, *a);
}

static int act_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(node, 0, act_backward_op(g, node->in[0], AG_ARGS(node, struct act_args)));
}

/* d/dg [g f'(x)] = f'(x);  d/dx = g f''(x). */
static int act_backward_backward(struct ag_node *node, ag_tensor *gg) {
    const struct act_args *a = AG_ARGS(node, struct act_args);
    ag_tensor *g = node->in[0], *x = node->in[1];
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) rc = ag__accumulate(node, 0, act_backward_op(gg, x, a));
    if (!rc && ag__needs_grad(node, 1)) {
        ag_tensor *d2 = AG_APPLY_ARGS(AG_OP_ACT_DERIV2, 1, (ag_tensor *const[]){x}, *a);
        rc = ag__accumulate(node, 1, ag_mul(ag_mul(gg, g), d2));
    }
    return rc;
}

static int act_deriv2_backward(struct ag_node *node, ag_tensor *g) {
    (void)g;
    ag_vm_fn fn = AG_ARGS(node, struct act_args)->fn;
    return ag__error(AG_ERR_STATE, "ag_backward",
                     "third derivatives of %s are not "
                     "implemented (the second derivative is not differentiable)",
                     ag__vm_name(fn));
}

/* Gradchecked in float64 on gelu (variant 0) and softplus (variant 1); tests/
 * test_activation.c checks every activation's second derivative. */
static int act_backward_make(ag_tensor **in, void *args, ag_dtype dtype, int variant,
                             int64_t size) {
    struct act_args *a = args;
    *a = variant ? (struct act_args){AG_VM_SOFTPLUS, 1.5, 20} : (struct act_args){AG_VM_GELU, 0, 0};
    int64_t n = size > 0 ? size : 7;
    in[0] = ag__check_input(dtype, 1, &n, -2, 2);
    in[1] = ag__check_input(dtype, 1, &n, -3, 3);
    return in[0] && in[1] ? 2 : -1;
}

const struct ag_op_def ag__op_act_backward = {
    .name = "act_backward",
    .arity = 2,
    .shape = ag__shape_broadcast,
    .forward = act_backward_forward,
    .backward = act_backward_backward,
    .check = {.make = act_backward_make, .flops_per_elem = 20},
};

/* Not differentiable: its backward reports an error instead of silently giving zero. */
const struct ag_op_def ag__op_act_deriv2 = {
    .name = "act_deriv2",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = act_deriv2_forward,
    .backward = act_deriv2_backward,
    .check = {.lo = -3,
              .hi = 3,
              .args = ACT_ARGS(AG_VM_GELU, 0, 0),
              .args_size = sizeof(struct act_args),
              .no_grad = true},
};
