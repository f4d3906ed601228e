/* LSTM (torch.nn.LSTM) over whole sequences, gate order i, f, g, o; parameters and the
 * sequence loop in rnn.c. Its module forward gives the output sequence; ag_lstm_forward
 * gives the final states too. */
#include "nn/nn.h"

static ag_tensor *lstm_step(ag_tensor *gx, ag_tensor *h, ag_tensor **c, ag_tensor *w_hh,
                            ag_tensor *b_hh, int64_t hidden) {
    (void)hidden;
    ag_tensor *g[4];
    if (ag_chunk(ag_add(gx, ag_linear(h, w_hh, b_hh)), 4, 1, g) != 4) return NULL;
    ag_tensor *i = ag_sigmoid(g[0]), *f = ag_sigmoid(g[1]), *n = ag_tanh(g[2]),
              *o = ag_sigmoid(g[3]);
    *c = ag_add(ag_mul(f, *c), ag_mul(i, n));
    return ag_mul(o, ag_tanh(*c));
}

static ag_tensor *lstm_module_forward(ag_module *m, int n, ag_tensor *const *in);
static const struct ag_module_type lstm_type = {"LSTM", lstm_module_forward, free};

int ag_lstm_forward(ag_module *m, ag_tensor *x, ag_tensor *h0, ag_tensor *c0, ag_tensor **out,
                    ag_tensor **hn, ag_tensor **cn) {
    const char *fn = "ag_lstm_forward";
    if (!cn) { /* the cell states are needed inside: ask for them and drop them */
        ag_tensor *c;
        return ag__rnn_run(m, &lstm_type, x, h0, c0, lstm_step, out, hn, &c, fn);
    }
    return ag__rnn_run(m, &lstm_type, x, h0, c0, lstm_step, out, hn, cn, fn);
}

static ag_tensor *lstm_module_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in), *out = NULL;
    return x && !ag_lstm_forward(m, x, NULL, NULL, &out, NULL, NULL) ? out : NULL;
}

ag_layer *ag_lstm_layer(int64_t input, int64_t hidden, int num_layers, bool batch_first) {
    return ag__rnn_new(&lstm_type, 4, input, hidden, num_layers, batch_first, "ag_lstm_layer");
}
