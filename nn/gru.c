/* GRU (torch.nn.GRU) over whole sequences, gate order r, z, n:
 * n = tanh(x_n + r * (W_hn h + b_hn)), h' = (1 - z) n + z h = n + z (h - n);
 * parameters and the sequence loop in rnn.c. */
#include "nn/nn.h"

static ag_tensor *gru_step(ag_tensor *gx, ag_tensor *h, ag_tensor **c, ag_tensor *w_hh,
                           ag_tensor *b_hh) {
    (void)c;
    ag_tensor *xi[3], *hh[3];
    if (ag_chunk(gx, 3, 1, xi) != 3 || ag_chunk(ag_linear(h, w_hh, b_hh), 3, 1, hh) != 3)
        return NULL;
    ag_tensor *r = ag_sigmoid(ag_add(xi[0], hh[0])), *z = ag_sigmoid(ag_add(xi[1], hh[1]));
    ag_tensor *n = ag_tanh(ag_add(xi[2], ag_mul(r, hh[2])));
    return ag_add(n, ag_mul(z, ag_sub(h, n)));
}

static ag_tensor *gru_layer_run(ag_tensor *gx, ag_tensor **h, ag_tensor **c, ag_tensor *w_hh,
                                ag_tensor *b_hh, bool batch_first) {
    return ag__rnn_steps(gx, h, c, w_hh, b_hh, batch_first, gru_step);
}

static ag_tensor *gru_module_forward(ag_module *m, int n, ag_tensor *const *in);
static const struct ag_module_type gru_type = {"GRU", gru_module_forward, free};

int ag_gru_forward(ag_module *m, ag_tensor *x, ag_tensor *h0, ag_tensor **out, ag_tensor **hn) {
    return ag__rnn_run(m, &gru_type, x, h0, NULL, gru_layer_run, out, hn, NULL, "ag_gru_forward");
}

static ag_tensor *gru_module_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in), *out = NULL;
    return x && !ag_gru_forward(m, x, NULL, &out, NULL) ? out : NULL;
}

ag_layer *ag_gru_layer(int64_t input, int64_t hidden, int num_layers, bool batch_first) {
    return ag__rnn_new(&gru_type, 3, input, hidden, num_layers, batch_first, "ag_gru_layer");
}
