/* Internal to ops/elementwise.c and ops/elementwise2.c: the vector-kernel fast path
 * (ops/kernels/vmath.h: SLEEF, AVX-512/AVX2, threaded in fixed chunks) for contiguous
 * float32/float64 operands of out's shape. Each function returns true when it handled the
 * call; false sends the caller to the strided row kernels (ops/iter.h), which stay the
 * general path (broadcasting, strides, tiny tensors). */
#ifndef AG_EW_VM_H
#define AG_EW_VM_H

#include "ops/iter.h"
#include "ops/kernels/vmath.h"

/* Below this many elements the row kernels win (no dispatch; measured with the micrograd
 * overhead bench: a 0-d op must stay ~0.1 us). */
#define AG_EW_VM_MIN 64

static inline bool ew_vm_flat(const ag_tensor *out, const ag_tensor *t) {
    return t->numel == out->numel && t->ndim == out->ndim && ag_is_contiguous(t);
}

/* out = f(x). */
static inline bool ag__ew_vm_unary(ag_tensor *out, const ag_tensor *x, ag_vm_fn f) {
    if (out->numel < AG_EW_VM_MIN || !ew_vm_flat(out, x)) return false;
    ag_vm_params p = {0, 0};
    if (out->dtype == AG_F32) ag__vm_forward_f32(f, ag__ptr(out), ag__ptr(x), out->numel, p);
    else ag__vm_forward_f64(f, ag__ptr(out), ag__ptr(x), out->numel, p);
    return true;
}

/* out = a op b, same shapes (no broadcasting). */
static inline bool ag__ew_vm_binary(ag_tensor *out, const ag_tensor *a, const ag_tensor *b,
                                    ag_vm_binop op) {
    if (out->numel < AG_EW_VM_MIN || !ew_vm_flat(out, a) || !ew_vm_flat(out, b)) return false;
    if (out->dtype == AG_F32)
        ag__vm_binary_f32(op, ag__ptr(out), ag__ptr(a), ag__ptr(b), out->numel);
    else ag__vm_binary_f64(op, ag__ptr(out), ag__ptr(a), ag__ptr(b), out->numel);
    return true;
}

#define AG_EW_UNARY_FORWARD(fname, vm, row_f32, row_f64)                            \
    static int fname(ag_tensor *out, ag_tensor *const *in, int n, const void *args, \
                     ag_tensor **saved) {                                           \
        (void)n, (void)saved;                                                       \
        if (!ag__ew_vm_unary(out, in[0], vm))                                       \
            ag__map1(out, in[0], out->dtype == AG_F32 ? row_f32 : row_f64, args);   \
        return AG_OK;                                                               \
    }
#define AG_EW_BINARY_FORWARD(fname, vm, row_f32, row_f64)                                \
    static int fname(ag_tensor *out, ag_tensor *const *in, int n, const void *args,      \
                     ag_tensor **saved) {                                                \
        (void)n, (void)saved;                                                            \
        if (!ag__ew_vm_binary(out, in[0], in[1], vm))                                    \
            ag__map2(out, in[0], in[1], out->dtype == AG_F32 ? row_f32 : row_f64, args); \
        return AG_OK;                                                                    \
    }

#endif
