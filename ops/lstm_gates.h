/* Internal to ops/lstm_gates.c and ops/lstm_scan.c: the LSTM cell's backward written with
 * public ops, for create_graph. */
#ifndef AG_OPS_LSTM_GATES_H
#define AG_OPS_LSTM_GATES_H

#include "tensor/tensor.h"

/* From the pre-activations pre [B,4H] (gate order i, f, g, o), the old state c [B,H] and
 * the gradients gh, gc of h', c' [B,H]: *d = dL/dpre [B,4H] and *dc = dL/dc [B,H]
 * (recorded when grad mode is on; NULL and an error when an op fails). */
void ag__lstm_gates_grad(ag_tensor *pre, ag_tensor *c, ag_tensor *gh, ag_tensor *gc, ag_tensor **d,
                         ag_tensor **dc);

#endif
