/* Internal: the tape node and the accumulate interface, between ops/ and autograd/.
 *
 * ag__apply (ops/apply.c) records one node per op that needs a gradient; the backward walk
 * (autograd/tape.c) runs each node's backward rule, which hands the gradient of each input
 * back through ag__accumulate. The node's op is a `const struct ag_op_def *` (ops/ops.h):
 * the walk calls def->backward, and the backward rules call the public ops. That is the
 * one two-way edge between layers (docs/DESIGN.md, "Layers as built"). */
#ifndef AG_NODE_H
#define AG_NODE_H

#include "tensor/tensor.h"

#define AG_ARGS_BYTES 96 /* room for any op's typed argument struct */
#define AG_MAX_SAVED 2

struct ag_op_def;

/* One recorded application of an op (a tape entry). Lives in the output's scope. */
struct ag_node {    /* what the backward walk reads comes first */
    uint64_t visit; /* walk generation marks */
    const struct ag_op_def *def;
    ag_tensor *grad; /* gradient of out, summed during a backward walk */
    int n_in;
    bool released;                  /* backward ran without retain_graph */
    bool grad_owned;                /* grad is a private contiguous buffer of this walk: later
                                     * gradients may be added into it in place */
    ag_tensor *out;                 /* the tensor this node made */
    ag_tensor *saved[AG_MAX_SAVED]; /* extra tensors forward kept for backward */
    const void *args;               /* the op's typed argument struct (stored after in[],
                                        * AG_ARGS_BYTES of zeros when the op has none) */
    int64_t tape_index;             /* anomaly mode: the op's index on the tape; else -1 */
    ag_tensor *in[];                /* inputs, as given */
};
/* The node's arguments as the op's own struct type. */
#define AG_ARGS(node, type) ((const type *)(const void *)(node)->args)

/* A node for out = def(in[0..n-1], args), in out's scope (or the heap, owned by out and
 * freed by ag_tensor_free with the saved tensors). Copies in[], saved[] and args
 * (args_size <= AG_ARGS_BYTES). NULL and AG_ERR_NOMEM naming fn when out of memory. */
struct ag_node *ag__node_new(const struct ag_op_def *def, ag_tensor *out, ag_tensor *const *in,
                             int n, const void *args, size_t args_size, ag_tensor **saved,
                             const char *fn);

/* Adds g (summed to in[i]'s shape, cast to its dtype) into input i's gradient: a leaf's
 * .grad, the caller's slot (ag_autograd_grad) or the input's own node. */
int ag__accumulate(struct ag_node *node, int i, ag_tensor *g);
/* Adds g into the region of input i's gradient that a view took, in place: along dim,
 * from element `at` with stride `step` (a slice or a split piece; g has the view's shape
 * and in[i]'s dtype). The first region gives in[i] one zero gradient of its shape, which
 * the next regions write into: no zero-padded tensor per view. Returns AG__DECLINED (and
 * does nothing) when that cannot be done in place: grad mode on (create_graph: the
 * caller builds its differentiable padded gradient), a dtype change, or a leaf whose
 * gradient goes to an ag_autograd_grad slot. */
#define AG__DECLINED (-1)
int ag__accumulate_place(struct ag_node *node, int i, ag_tensor *g, int dim, int64_t at,
                         int64_t step);
/* Input i's gradient buffer to add a gradient into directly (a GEMM with beta 1), under
 * the conditions of ag__accumulate_place, not in anomaly mode (which checks each
 * gradient), and for an ag_autograd_grad input listed once: contiguous, in[i]'s shape and
 * dtype, holding the sum so far (zeros at first). NULL: accumulate the usual way. */
ag_tensor *ag__grad_sink(struct ag_node *node, int i);
/* Whether input i of node wants a gradient (backward rules skip the others). */
bool ag__needs_grad(const struct ag_node *node, int i);

/* Whether ag_backward gives memory back as it passes (on by default; per thread):
 * returns the previous setting. Off, a walk keeps everything until it ends (tests compare
 * the two). */
bool ag__backward_release(bool on);

/* t's .grad with zeros written in if ag_zero_grad left it marked; NULL when it has none.
 * Code reading .grad directly (optimizers, clipping) goes through this. */
ag_tensor *ag__grad_ready(ag_tensor *t);

#endif
