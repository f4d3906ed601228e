/* What LSTM and GRU (lstm.c, gru.c) share: per layer l the parameters weight_ih_l<l>
 * [G*H, in_l], weight_hh_l<l> [G*H, H], bias_ih_l<l> and bias_hh_l<l> [G*H], all
 * U(+-1/sqrt H) (torch's names, order and init); and the loop over layers: one GEMM
 * projects every time step's input, then the kind's layer function runs the recurrence
 * (LSTM: one ag_lstm_scan op; GRU: a step per time step, ag__rnn_steps). */
#include "nn/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

ag_layer *ag__rnn_new(const struct ag_module_type *type, int gates, int64_t in, int64_t hidden,
                      int layers, bool batch_first, const char *fn) {
    if (in < 1 || hidden < 1 || layers < 1) {
        ag__error(AG_ERR_ARG, fn, "input %lld, hidden %lld and num_layers %d must be >= 1",
                  (long long)in, (long long)hidden, layers);
        return NULL;
    }
    struct ag__rnn c = {in, hidden, layers, gates, batch_first};
    ag_module *m = ag__module_make_copy(type, &c, sizeof c, fn);
    int64_t g = gates * hidden;
    for (int l = 0; m && l < layers; l++) {
        char n[4][32];
        snprintf(n[0], sizeof n[0], "weight_ih_l%d", l);
        snprintf(n[1], sizeof n[1], "weight_hh_l%d", l);
        snprintf(n[2], sizeof n[2], "bias_ih_l%d", l);
        snprintf(n[3], sizeof n[3], "bias_hh_l%d", l);
        if (ag__module_param(m, n[0], 2, (int64_t[]){g, l ? hidden : in}, fn) ||
            ag__module_param(m, n[1], 2, (int64_t[]){g, hidden}, fn) ||
            ag__module_param(m, n[2], 1, &g, fn) || ag__module_param(m, n[3], 1, &g, fn)) {
            ag_module_free(m);
            return NULL;
        }
    }
    if (!m) return NULL;
    double k = 1 / sqrt((double)hidden);
    for (int i = 0; i < m->n_params; i++) ag_init_uniform_(ag__param(m, i), -k, k);
    return m;
}

static int check(const ag_module *m, const struct ag_module_type *type, const ag_tensor *x,
                 const ag_tensor *h0, const ag_tensor *c0, const char *fn) {
    if (!m || m->type != type) return ag__error(AG_ERR_ARG, fn, "needs a %s module", type->name);
    const struct ag__rnn *c = m->ctx;
    if (x->ndim != 3 || x->shape[2] != c->in)
        return ag__error(AG_ERR_SHAPE, fn, "input %s does not fit %s", AG_SHAPE(x),
                         c->batch_first ? "[B, T, in]" : "[T, B, in]");
    int64_t b = x->shape[c->batch_first ? 0 : 1];
    const ag_tensor *s[2] = {h0, c0};
    for (int i = 0; i < 2; i++)
        if (s[i] && (s[i]->ndim != 3 || s[i]->shape[0] != c->layers || s[i]->shape[1] != b ||
                     s[i]->shape[2] != c->hidden))
            return ag__error(AG_ERR_SHAPE, fn, "state %s does not fit [%d, %lld, %lld]",
                             AG_SHAPE(s[i]), c->layers, (long long)b, (long long)c->hidden);
    return AG_OK;
}

/* Layer l's initial state from s [layers, B, H], or zeros. */
static ag_tensor *state0(ag_tensor *s, int l, const ag_tensor *x, int64_t b, int64_t h) {
    if (s) return ag_squeeze(ag_slice(s, 0, l, l + 1, 1), 0);
    return ag_zeros(x->dtype, 2, (int64_t[]){b, h});
}

ag_tensor *ag__rnn_steps(ag_tensor *gx, ag_tensor **h, ag_tensor **c, ag_tensor *w_hh,
                         ag_tensor *b_hh, bool batch_first, ag__rnn_step step) {
    int td = batch_first ? 1 : 0;
    if (!gx) return NULL;
    int64_t t_len = gx->shape[td];
    ag_tensor **pieces = ag__malloc((size_t)t_len * sizeof *pieces);
    if (!pieces) {
        ag__error(AG_ERR_NOMEM, "ag__rnn_steps", "out of memory (T = %lld)", (long long)t_len);
        return NULL;
    }
    ag_tensor *seq = NULL;
    if (ag_split(gx, 1, td, pieces, (int)t_len) == t_len) {
        for (int64_t t = 0; t < t_len; t++)
            pieces[t] = *h = step(ag_squeeze(pieces[t], td), *h, c, w_hh, b_hh);
        seq = ag_stack(pieces, (int)t_len, td);
    }
    free(pieces);
    return seq;
}

/* One layer over the sequence; returns its output sequence, *h and *c become the last. */
static ag_tensor *layer_run(ag_module *m, int l, ag_tensor *seq, ag_tensor **h, ag_tensor **c,
                            ag__rnn_layer layer) {
    const struct ag__rnn *r = m->ctx;
    ag_tensor *gx = ag_linear(seq, ag__param(m, 4 * l), ag__param(m, 4 * l + 2));
    return layer(gx, h, c, ag__param(m, 4 * l + 1), ag__param(m, 4 * l + 3), r->batch_first);
}

int ag__rnn_run(ag_module *m, const struct ag_module_type *type, ag_tensor *x, ag_tensor *h0,
                ag_tensor *c0, ag__rnn_layer layer, ag_tensor **out, ag_tensor **hn, ag_tensor **cn,
                const char *fn) {
    if (!x)
        return ag__last_error_code() ? ag__last_error_code()
                                     : ag__error(AG_ERR_NULL, fn, "x is NULL");
    int rc = check(m, type, x, h0, c0, fn);
    if (rc) return rc;
    const struct ag__rnn *r = m->ctx;
    int64_t b = x->shape[r->batch_first ? 0 : 1];
    ag_tensor **hl = ag__malloc(2 * (size_t)r->layers * sizeof *hl);
    if (!hl) return ag__error(AG_ERR_NOMEM, fn, "out of memory");
    ag_tensor *seq = x, *h, *c;
    for (int l = 0; l < r->layers && seq; l++) {
        h = state0(h0, l, x, b, r->hidden);
        c = r->gates == 4 ? state0(c0, l, x, b, r->hidden) : NULL;
        seq = layer_run(m, l, seq, &h, &c, layer);
        hl[l] = h, hl[r->layers + l] = c;
    }
    ag_tensor *hs = seq ? ag_stack(hl, r->layers, 0) : NULL;
    ag_tensor *cs = seq && cn ? ag_stack(hl + r->layers, r->layers, 0) : NULL;
    free(hl);
    if (!seq || !hs || (cn && !cs))
        return ag__last_error_code() ? ag__last_error_code() : AG_ERR_STATE;
    if (out) *out = seq;
    if (hn) *hn = hs;
    if (cn) *cn = cs;
    return AG_OK;
}
