/* Internal to ops/activation.c: the SLEEF vector fast path for contiguous float32/float64
 * activations (ops/kernels/vmath.h). Each function returns true when it handled the call;
 * false sends the caller to the scalar strided kernels (ops/act_math.h). */
#ifndef AG_ACT_VM_H
#define AG_ACT_VM_H

#include "ops/kernels/vmath.h"

static const ag_vm_fn act_vm_ids[AG_ACT_COUNT] = {
    [AG_ACT_SIGMOID] = AG_VM_SIGMOID, [AG_ACT_TANH] = AG_VM_TANH, [AG_ACT_RELU] = AG_VM_RELU,
    [AG_ACT_LEAKY_RELU] = AG_VM_LEAKY_RELU, [AG_ACT_ELU] = AG_VM_ELU, [AG_ACT_SELU] = AG_VM_SELU,
    [AG_ACT_SOFTPLUS] = AG_VM_SOFTPLUS, [AG_ACT_GELU] = AG_VM_GELU,
    [AG_ACT_GELU_TANH] = AG_VM_GELU_TANH, [AG_ACT_SILU] = AG_VM_SILU,
    [AG_ACT_HARDTANH] = AG_VM_HARDTANH, [AG_ACT_HARDSIGMOID] = AG_VM_HARDSIGMOID,
};

/* Below this many elements the scalar rows win: a vector call's dispatch costs more than
 * it saves (a 0-d tanh took ~790 instructions through it). */
#define AG_ACT_VM_MIN 16

/* Contiguous with out's shape (no broadcasting): one flat array, big enough to pay. */
static inline bool act_flat(const ag_tensor *out, const ag_tensor *t) {
    return out->numel >= AG_ACT_VM_MIN && t->numel == out->numel && ag_is_contiguous(t) &&
           t->ndim == out->ndim;
}

/* y = f(x). */
static inline bool ag__act_vm_forward(ag_tensor *out, const ag_tensor *x,
                                      const struct act_args *a) {
    if (!act_flat(out, x) || a->fn < 0 || a->fn >= AG_ACT_COUNT) return false;
    ag_vm_params p = {a->a, a->b};
    if (out->dtype == AG_F32) ag__vm_forward_f32(act_vm_ids[a->fn], ag__ptr(out), ag__ptr(x), out->numel, p);
    else ag__vm_forward_f64(act_vm_ids[a->fn], ag__ptr(out), ag__ptr(x), out->numel, p);
    return true;
}

AG_ROW1(act_copy_f32, float, a)
AG_ROW1(act_copy_f64, double, a)

/* gx = g f'(x), or for the y-form functions (sigmoid, tanh) gx = g f'(y): then x is y.
 * A strided or broadcast g (same ndim) is first copied into gx; gx may alias g.
 * The vector kernels read y only for sigmoid and tanh; elsewhere x stands in for it. */
static inline bool ag__act_vm_backward(ag_tensor *out, const ag_tensor *g, const ag_tensor *x,
                                       const struct act_args *a) {
    if (!act_flat(out, x) || out->ndim != g->ndim || a->fn < 0 || a->fn >= AG_ACT_COUNT)
        return false;
    if (!act_flat(out, g)) {   /* e.g. sum's expanded gradient: copy it into out, then in place */
        ag__map1(out, g, out->dtype == AG_F32 ? act_copy_f32 : act_copy_f64, NULL);
        g = out;
    }
    ag_vm_params p = {a->a, a->b};
    ag_vm_fn f = act_vm_ids[a->fn];
    if (out->dtype == AG_F32)
        ag__vm_backward_f32(f, ag__ptr(out), ag__ptr(g), ag__ptr(x), ag__ptr(x), out->numel, p);
    else
        ag__vm_backward_f64(f, ag__ptr(out), ag__ptr(g), ag__ptr(x), ag__ptr(x), out->numel, p);
    return true;
}

#endif
