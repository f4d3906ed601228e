/* LSTM and GRU cells (torch.nn.LSTMCell / GRUCell), built from ops so autograd handles
 * them: gates from one matmul each for the input and the hidden state, then slices. */
#include "nn/nn.h"


static ag_tensor *state_or_zeros(ag_tensor *h, ag_tensor *x, int64_t hidden) {
    if (h || !x) return h;
    return ag_zeros(x->dtype, 2, (int64_t[]){x->shape[0], hidden});
}

static int check_cell(ag_layer *cell, enum ag__layer_kind kind, ag_tensor *x, const char *fn) {
    if (!cell || cell->kind != kind)
        return ag__error(AG_ERR_ARG, fn, "needs a %s", kind == AG__LSTM_CELL ? "LSTM cell" : "GRU cell");
    if (x && (x->ndim != 2 || x->shape[1] != cell->in))
        return ag__error(AG_ERR_SHAPE, fn, "input %s does not fit [N,%lld]", AG_SHAPE(x),
                         (long long)cell->in);
    return AG_OK;
}

static ag_tensor *gate(ag_tensor *g, int k, int64_t h) { return ag_slice(g, 1, k * h, (k + 1) * h, 1); }

int ag_lstm_cell_forward(ag_layer *cell, ag_tensor *x, ag_tensor *h, ag_tensor *c,
                         ag_tensor **h_out, ag_tensor **c_out) {
    const char *fn = "ag_lstm_cell_forward";
    int rc = check_cell(cell, AG__LSTM_CELL, x, fn);
    if (rc) return rc;
    if (!h_out || !c_out) return ag__error(AG_ERR_NULL, fn, "h_out and c_out must not be NULL");
    int64_t H = cell->out;
    bool b = cell->n_params > 2;
    h = state_or_zeros(h, x, H);
    c = state_or_zeros(c, x, H);
    ag_tensor *gates = ag_add(ag_linear(x, cell->params[0], b ? cell->params[2] : NULL),
                              ag_linear(h, cell->params[1], b ? cell->params[3] : NULL));
    ag_tensor *i = ag_sigmoid(gate(gates, 0, H)), *f = ag_sigmoid(gate(gates, 1, H));
    ag_tensor *g = ag_tanh(gate(gates, 2, H)), *o = ag_sigmoid(gate(gates, 3, H));
    ag_tensor *c2 = ag_add(ag_mul(f, c), ag_mul(i, g));
    ag_tensor *h2 = ag_mul(o, ag_tanh(c2));
    if (!h2) return ag__last_error_code() ? ag__last_error_code() : AG_ERR_NULL;
    *h_out = h2;
    *c_out = c2;
    return AG_OK;
}

ag_tensor *ag_gru_cell_forward(ag_layer *cell, ag_tensor *x, ag_tensor *h) {
    if (check_cell(cell, AG__GRU_CELL, x, "ag_gru_cell_forward")) return NULL;
    int64_t H = cell->out;
    bool b = cell->n_params > 2;
    h = state_or_zeros(h, x, H);
    ag_tensor *gi = ag_linear(x, cell->params[0], b ? cell->params[2] : NULL);
    ag_tensor *gh = ag_linear(h, cell->params[1], b ? cell->params[3] : NULL);
    ag_tensor *r = ag_sigmoid(ag_add(gate(gi, 0, H), gate(gh, 0, H)));
    ag_tensor *z = ag_sigmoid(ag_add(gate(gi, 1, H), gate(gh, 1, H)));
    ag_tensor *n = ag_tanh(ag_add(gate(gi, 2, H), ag_mul(r, gate(gh, 2, H))));
    /* h' = (1 - z) * n + z * h = n + z * (h - n) */
    return ag_add(n, ag_mul(z, ag_sub(h, n)));
}
