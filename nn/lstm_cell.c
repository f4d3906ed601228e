/* LSTMCell (torch.nn.LSTMCell, gate order i,f,g,o): two projections and the fused gates op.
 * It returns two states, so it has no module forward: call ag_lstm_cell_forward. */
#include "nn/nn.h"

static const struct ag_module_type lstm_cell_type = {"LSTMCell", NULL, NULL};

ag_layer *ag_lstm_cell(int64_t in, int64_t hidden, bool bias) {
    return ag__cell_new(&lstm_cell_type, in, hidden, bias, 4, "ag_lstm_cell");
}

int ag_lstm_cell_forward(ag_layer *cell, ag_tensor *x, ag_tensor *h, ag_tensor *c,
                         ag_tensor **h_out, ag_tensor **c_out) {
    const char *fn = "ag_lstm_cell_forward";
    int rc = ag__cell_check(cell, &lstm_cell_type, x, fn);
    if (rc) return rc;
    if (!h_out || !c_out) return ag__error(AG_ERR_NULL, fn, "h_out and c_out must not be NULL");
    int64_t H = ag__cell_hidden(cell);
    h = ag__cell_state(h, x, H);
    c = ag__cell_state(c, x, H);
    ag_tensor *hc[2];
    if (ag_chunk(ag_lstm_gates(ag__cell_proj(cell, x, 0), ag__cell_proj(cell, h, 1), c), 2, 1,
                 hc) != 2)
        return ag__last_error_code() ? ag__last_error_code() : AG_ERR_NULL;
    ag_tensor *h2 = ag_contiguous(hc[0]), *c2 = ag_contiguous(hc[1]); /* as torch's */
    if (!h2 || !c2) return ag__last_error_code() ? ag__last_error_code() : AG_ERR_NULL;
    *h_out = h2;
    *c_out = c2;
    return AG_OK;
}
