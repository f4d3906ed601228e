/* Internal to ops/activation.c: the vector fast path (ops/kernels/vmath.h) for contiguous
 * float32/float64 activations. Each function returns true when it handled the call; false
 * sends the caller to the scalar strided kernels (ops/act_math.h). An activation's id is
 * its vector function (struct act_args.fn is an ag_vm_fn), so there is no mapping to keep. */
#ifndef AG_ACT_VM_H
#define AG_ACT_VM_H

#include "ops/act_math.h"
#include "ops/iter.h"
#include "ops/kernels/vmath.h"

/* Below this many elements the scalar rows win: a vector call's dispatch costs more than
 * it saves (a 0-d tanh took ~790 instructions through it). */
#define AG_ACT_VM_MIN 16

/* Contiguous with out's shape (no broadcasting): one flat array, big enough to pay. */
static inline bool act_flat(const ag_tensor *out, const ag_tensor *t) {
    return out->numel >= AG_ACT_VM_MIN && t->numel == out->numel && ag_is_contiguous(t) &&
           t->ndim == out->ndim;
}

static inline bool act_fn_ok(ag_vm_fn fn) { return (int)fn >= 0 && fn < AG_VM_COUNT; }

/* y = f(x) row by row, for x with out's shape and contiguous rows of at least
 * AG_ACT_VM_MIN at any row strides (a piece of a split along the last dim, as an LSTM's
 * gates). */
static inline bool act_vm_rows(ag_tensor *out, const ag_tensor *x, const struct act_args *a) {
    int64_t n = x->ndim ? x->shape[x->ndim - 1] : 0;
    if (n < AG_ACT_VM_MIN || x->strides[x->ndim - 1] != 1 || x->ndim != out->ndim ||
        x->numel != out->numel || !act_fn_ok(a->fn))
        return false;
    ag_vm_params p = {a->a, a->b};
    size_t es = ag_dtype_size(x->dtype);
    for (int64_t r = 0; r < out->numel / n; r++) {
        const char *src = (const char *)x->storage->data + (size_t)ag__flat_offset(x, r * n) * es;
        char *dst = (char *)ag__ptr(out) + (size_t)(r * n) * es;
        if (out->dtype == AG_F32)
            ag__vm_forward_f32(a->fn, (float *)(void *)dst, (const float *)(const void *)src, n, p);
        else
            ag__vm_forward_f64(a->fn, (double *)(void *)dst, (const double *)(const void *)src, n,
                               p);
    }
    return true;
}

/* y = f(x). */
static inline bool ag__act_vm_forward(ag_tensor *out, const ag_tensor *x,
                                      const struct act_args *a) {
    if (!act_flat(out, x)) return act_vm_rows(out, x, a);
    if (!act_fn_ok(a->fn)) return false;
    ag_vm_params p = {a->a, a->b};
    if (out->dtype == AG_F32) ag__vm_forward_f32(a->fn, ag__ptr(out), ag__ptr(x), out->numel, p);
    else ag__vm_forward_f64(a->fn, ag__ptr(out), ag__ptr(x), out->numel, p);
    return true;
}

AG_ROW1(act_copy_f32, float, a)
AG_ROW1(act_copy_f64, double, a)

/* gx = g f'(x), or for the y-form functions (sigmoid, tanh) gx = g f'(y): then x is y.
 * A strided or broadcast g (same ndim) is first copied into gx; gx may alias g.
 * The vector kernels read y only for sigmoid and tanh; elsewhere x stands in for it. */
static inline bool ag__act_vm_backward(ag_tensor *out, const ag_tensor *g, const ag_tensor *x,
                                       const struct act_args *a) {
    if (!act_flat(out, x) || out->ndim != g->ndim || !act_fn_ok(a->fn)) return false;
    if (!act_flat(out, g)) { /* e.g. sum's expanded gradient: copy it into out, then in place */
        ag__map1(out, g, out->dtype == AG_F32 ? act_copy_f32 : act_copy_f64, NULL);
        g = out;
    }
    ag_vm_params p = {a->a, a->b};
    if (out->dtype == AG_F32)
        ag__vm_backward_f32(a->fn, ag__ptr(out), ag__ptr(g), ag__ptr(x), ag__ptr(x), out->numel, p);
    else
        ag__vm_backward_f64(a->fn, ag__ptr(out), ag__ptr(g), ag__ptr(x), ag__ptr(x), out->numel, p);
    return true;
}

#endif
