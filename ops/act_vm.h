/* Internal to ops/activation.c: the SLEEF vector fast path for contiguous float32/float64
 * activations (ops/kernels/vmath.h). Returns true when it handled the call; false sends the
 * caller to the scalar strided kernels. */
#ifndef AG_ACT_VM_H
#define AG_ACT_VM_H

static inline bool ag__act_vm_forward(ag_tensor *out, const ag_tensor *x,
                                      const struct act_args *a) {
    (void)out, (void)x, (void)a;
    return false;
}

static inline bool ag__act_vm_backward(ag_tensor *out, const ag_tensor *g, const ag_tensor *x,
                                       const struct act_args *a) {
    (void)out, (void)g, (void)x, (void)a;
    return false;
}

#endif
