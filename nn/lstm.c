/* LSTM (torch.nn.LSTM) over whole sequences, gate order i, f, g, o; parameters and the
 * loop over layers in rnn.c, each layer's recurrence one ag_lstm_scan op
 * (ops/lstm_scan.c). Its module forward gives the output sequence; ag_lstm_forward gives
 * the final states too. */
#include "nn/nn.h"

/* The recurrence of one layer: one ag_lstm_scan op, whose result [T+1,B,H] ([B,T+1,H])
 * holds the output sequence and, in its last time entry, the final cell state. */
static ag_tensor *lstm_layer_run(ag_tensor *gx, ag_tensor **h, ag_tensor **c, ag_tensor *w_hh,
                                 ag_tensor *b_hh, bool batch_first) {
    int td = batch_first ? 1 : 0;
    ag_tensor *out = ag_lstm_scan(gx, w_hh, b_hh, *h, *c, batch_first), *parts[2];
    if (!out) return NULL;
    int64_t t_len = out->shape[td] - 1;
    if (ag_split_with_sizes(out, 2, (int64_t[]){t_len, 1}, td, parts) != 2) return NULL;
    *h = ag_squeeze(ag_slice(parts[0], td, t_len - 1, t_len, 1), td);
    *c = ag_squeeze(parts[1], td);
    return ag_contiguous(parts[0]); /* as torch's output (the head reads it contiguous too) */
}

static ag_tensor *lstm_module_forward(ag_module *m, int n, ag_tensor *const *in);
static const struct ag_module_type lstm_type = {"LSTM", lstm_module_forward, free};

int ag_lstm_forward(ag_module *m, ag_tensor *x, ag_tensor *h0, ag_tensor *c0, ag_tensor **out,
                    ag_tensor **hn, ag_tensor **cn) {
    const char *fn = "ag_lstm_forward";
    if (!cn) { /* the cell states are needed inside: ask for them and drop them */
        ag_tensor *c;
        return ag__rnn_run(m, &lstm_type, x, h0, c0, lstm_layer_run, out, hn, &c, fn);
    }
    return ag__rnn_run(m, &lstm_type, x, h0, c0, lstm_layer_run, out, hn, cn, fn);
}

static ag_tensor *lstm_module_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in), *out = NULL;
    return x && !ag_lstm_forward(m, x, NULL, NULL, &out, NULL, NULL) ? out : NULL;
}

ag_layer *ag_lstm_layer(int64_t input, int64_t hidden, int num_layers, bool batch_first) {
    return ag__rnn_new(&lstm_type, 4, input, hidden, num_layers, batch_first, "ag_lstm_layer");
}
