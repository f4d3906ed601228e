/* Internal: scalar reference math of the point-wise activations: the value f(x), the
 * derivative f'(x) and the second derivative f''(x), in double, numerically stable at any
 * |x| (no overflow in exp, untaken branches give exact zeros). These are the fallback
 * kernels for strided inputs and the reference the vector (SLEEF) kernels are tested against.
 * Semantics and constants are torch.nn.functional's. An activation is named by its vector
 * function id (ag_vm_fn, the AG_VM_FN_LIST line in ops/kernels/vmath.h) and its parameters
 * a, b as noted there; ids that are not activations (exp, log, ...) give NaN here. */
#ifndef AG_ACT_MATH_H
#define AG_ACT_MATH_H

#include <math.h>

#include "ops/kernels/vmath.h"

/* An activation op's arguments: which function, and its parameters. */
struct act_args {
    ag_vm_fn fn; /* an AG_VM_FN_LIST id */
    double a, b; /* its parameters (see AG_VM_FN_LIST) */
};

#define AG_SELU_ALPHA 1.6732632423543772848170429916717
#define AG_SELU_SCALE 1.0507009873554804934193349852946
#define AG_GELU_K 0.7978845608028654 /* sqrt(2/pi) */
#define AG_GELU_C 0.044715
#define AG_INV_SQRT2PI 0.3989422804014327 /* 1/sqrt(2 pi) */

static inline double ag__sigmoid_d(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static inline double ag__act_f(ag_vm_fn fn, double x, double a, double b) {
    switch (fn) {
    case AG_VM_SIGMOID: return ag__sigmoid_d(x);
    case AG_VM_TANH: return tanh(x);
    case AG_VM_RELU: return x <= 0 ? 0.0 : x; /* NaN propagates */
    case AG_VM_LEAKY_RELU: return x > 0 ? x : a * x;
    case AG_VM_ELU: return x > 0 ? x : a * expm1(x);
    case AG_VM_SELU: return AG_SELU_SCALE * (x > 0 ? x : AG_SELU_ALPHA * expm1(x));
    case AG_VM_SOFTPLUS: return x * a > b ? x : log1p(exp(a * x)) / a;
    case AG_VM_GELU: return 0.5 * x * (1.0 + erf(x * M_SQRT1_2)); /* ATen's form */
    case AG_VM_GELU_TANH: return 0.5 * x * (1.0 + tanh(AG_GELU_K * (x + AG_GELU_C * x * x * x)));
    case AG_VM_SILU: return x * ag__sigmoid_d(x);
    case AG_VM_HARDTANH: return x < a ? a : x > b ? b : x;
    case AG_VM_HARDSIGMOID: return x <= -3 ? 0.0 : x >= 3 ? 1.0 : x / 6.0 + 0.5;
    default: return NAN;
    }
}

/* f'(x), with torch's choice at the kinks. */
static inline double ag__act_d1(ag_vm_fn fn, double x, double a, double b) {
    switch (fn) {
    case AG_VM_SIGMOID: {
        double s = ag__sigmoid_d(x);
        return s * (1 - s);
    }
    case AG_VM_TANH: {
        double t = tanh(x);
        return 1 - t * t;
    }
    case AG_VM_RELU: return x > 0 ? 1.0 : 0.0;
    case AG_VM_LEAKY_RELU: return x > 0 ? 1.0 : a;
    case AG_VM_ELU: return x > 0 ? 1.0 : a * exp(x);
    case AG_VM_SELU: return AG_SELU_SCALE * (x > 0 ? 1.0 : AG_SELU_ALPHA * exp(x));
    case AG_VM_SOFTPLUS: return x * a > b ? 1.0 : ag__sigmoid_d(a * x);
    case AG_VM_GELU:
        return 0.5 * (1.0 + erf(x * M_SQRT1_2)) + x * AG_INV_SQRT2PI * exp(-0.5 * x * x);
    case AG_VM_GELU_TANH: {
        double t = tanh(AG_GELU_K * (x + AG_GELU_C * x * x * x));
        double du = AG_GELU_K * (1 + 3 * AG_GELU_C * x * x);
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du;
    }
    case AG_VM_SILU: {
        double s = ag__sigmoid_d(x);
        return s * (1 + x * (1 - s));
    }
    case AG_VM_HARDTANH: return x <= a || x >= b ? 0.0 : 1.0;
    case AG_VM_HARDSIGMOID: return x > -3 && x < 3 ? 1.0 / 6.0 : 0.0;
    default: return NAN;
    }
}

/* f''(x); zero on the linear pieces. */
static inline double ag__act_d2(ag_vm_fn fn, double x, double a, double b) {
    switch (fn) {
    case AG_VM_SIGMOID: {
        double s = ag__sigmoid_d(x);
        return s * (1 - s) * (1 - 2 * s);
    }
    case AG_VM_TANH: {
        double t = tanh(x);
        return -2 * t * (1 - t * t);
    }
    /* at exactly 0, torch's f' takes the exp branch and its f'' is 0: followed here */
    case AG_VM_ELU: return x >= 0 ? 0.0 : a * exp(x);
    case AG_VM_SELU: return x >= 0 ? 0.0 : AG_SELU_SCALE * AG_SELU_ALPHA * exp(x);
    case AG_VM_SOFTPLUS: {
        if (x * a > b) return 0.0;
        double s = ag__sigmoid_d(a * x);
        return a * s * (1 - s);
    }
    case AG_VM_GELU: return AG_INV_SQRT2PI * exp(-0.5 * x * x) * (2 - x * x);
    case AG_VM_GELU_TANH: {
        double t = tanh(AG_GELU_K * (x + AG_GELU_C * x * x * x));
        double du = AG_GELU_K * (1 + 3 * AG_GELU_C * x * x), ddu = 6 * AG_GELU_K * AG_GELU_C * x;
        return (1 - t * t) * (du - x * t * du * du + 0.5 * x * ddu);
    }
    case AG_VM_SILU: {
        double s = ag__sigmoid_d(x);
        return s * (1 - s) * (2 + x * (1 - 2 * s));
    }
    case AG_VM_RELU:
    case AG_VM_LEAKY_RELU:
    case AG_VM_HARDTANH:
    case AG_VM_HARDSIGMOID: return 0.0;
    default: return NAN;
    }
}

#endif
