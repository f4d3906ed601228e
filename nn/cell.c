/* What the recurrent cells (lstm_cell.c, gru_cell.c) share: parameters weight_ih [G*H,in],
 * weight_hh [G*H,H], bias_ih and bias_hh [G*H] with U(+-1/sqrt H) (torch's names and init),
 * the argument check, zero states and gate slices. */
#include "nn/nn.h"

#include <math.h>

ag_layer *ag__cell_new(const struct ag_module_type *type, int64_t in, int64_t hidden, bool bias,
                       int gates, const char *fn) {
    if (in < 1 || hidden < 1) {
        ag__error(AG_ERR_ARG, fn, "sizes in %lld and hidden %lld must be >= 1", (long long)in,
                  (long long)hidden);
        return NULL;
    }
    ag_module *m = ag__module_make(type, NULL, fn);
    int64_t g = gates * hidden;
    if (!m || ag__module_param(m, "weight_ih", 2, (int64_t[]){g, in}, fn) ||
        ag__module_param(m, "weight_hh", 2, (int64_t[]){g, hidden}, fn) ||
        (bias && (ag__module_param(m, "bias_ih", 1, &g, fn) ||
                  ag__module_param(m, "bias_hh", 1, &g, fn)))) {
        ag_module_free(m);
        return NULL;
    }
    double k = 1 / sqrt((double)hidden);
    for (int i = 0; i < m->n_params; i++) ag_init_uniform_(ag__param(m, i), -k, k);
    return m;
}

int ag__cell_check(const ag_module *cell, const struct ag_module_type *type, const ag_tensor *x,
                   const char *fn) {
    if (!cell || cell->type != type) return ag__error(AG_ERR_ARG, fn, "needs a %s", type->name);
    int64_t in = ag__param(cell, 0)->shape[1];
    if (x && (x->ndim != 2 || x->shape[1] != in))
        return ag__error(AG_ERR_SHAPE, fn, "input %s does not fit [N,%lld]", AG_SHAPE(x),
                         (long long)in);
    return AG_OK;
}

int64_t ag__cell_hidden(const ag_module *cell) { return ag__param(cell, 1)->shape[1]; }

ag_tensor *ag__cell_state(ag_tensor *h, const ag_tensor *x, int64_t hidden) {
    if (h || !x) return h;
    return ag_zeros(x->dtype, 2, (int64_t[]){x->shape[0], hidden});
}

ag_tensor *ag__cell_gate(ag_tensor *g, int k, int64_t h) {
    return ag_slice(g, 1, k * h, (k + 1) * h, 1);
}

/* x W_ih^T + b_ih, or h W_hh^T + b_hh (which = 0 / 1). */
ag_tensor *ag__cell_proj(const ag_module *cell, ag_tensor *v, int which) {
    bool b = cell->n_params > 2;
    return ag_linear(v, ag__param(cell, which), b ? ag__param(cell, 2 + which) : NULL);
}
