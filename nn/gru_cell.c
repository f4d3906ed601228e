/* GRUCell (torch.nn.GRUCell, gate order r,z,n), built from ops so autograd handles it.
 * Called through ag_gru_cell_forward (its module forward is not set, as before). */
#include "nn/nn.h"

static const struct ag_module_type gru_cell_type = {"GRUCell", NULL, NULL};

ag_layer *ag_gru_cell(int64_t in, int64_t hidden, bool bias) {
    return ag__cell_new(&gru_cell_type, in, hidden, bias, 3, "ag_gru_cell");
}

ag_tensor *ag_gru_cell_forward(ag_layer *cell, ag_tensor *x, ag_tensor *h) {
    if (ag__cell_check(cell, &gru_cell_type, x, "ag_gru_cell_forward")) return NULL;
    int64_t H = ag__cell_hidden(cell);
    h = ag__cell_state(h, x, H);
    ag_tensor *gi = ag__cell_proj(cell, x, 0), *gh = ag__cell_proj(cell, h, 1);
    ag_tensor *r = ag_sigmoid(ag_add(ag__cell_gate(gi, 0, H), ag__cell_gate(gh, 0, H)));
    ag_tensor *z = ag_sigmoid(ag_add(ag__cell_gate(gi, 1, H), ag__cell_gate(gh, 1, H)));
    ag_tensor *n = ag_tanh(ag_add(ag__cell_gate(gi, 2, H), ag_mul(r, ag__cell_gate(gh, 2, H))));
    /* h' = (1 - z) * n + z * h = n + z * (h - n) */
    return ag_add(n, ag_mul(z, ag_sub(h, n)));
}
