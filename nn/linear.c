/* Linear (torch.nn.Linear): y = x W^T + b, weight [out,in], bias [out]; and Dense, a
 * Linear followed by an activation (the activation is its one field). */
#include "nn/nn.h"

struct dense {
    ag_activation act;
};

static ag_tensor *linear_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    ag_tensor *y =
        x ? ag_linear(x, ag__param(m, 0), m->n_params > 1 ? ag__param(m, 1) : NULL) : NULL;
    struct dense *d = m->ctx;
    return d ? ag__activate(y, d->act) : y;
}

static const struct ag_module_type linear_type = {"Linear", linear_forward, NULL};
static const struct ag_module_type dense_type = {"Dense", linear_forward, free};

static ag_layer *linear_new(const struct ag_module_type *type, const struct dense *d, int64_t in,
                            int64_t out, bool bias, const char *fn) {
    if (in < 1 || out < 1) {
        ag__error(AG_ERR_ARG, fn, "sizes in %lld and out %lld must be >= 1", (long long)in,
                  (long long)out);
        return NULL;
    }
    ag_module *m =
        d ? ag__module_make_copy(type, d, sizeof *d, fn) : ag__module_make(type, NULL, fn);
    if (m && ag__add_weight_bias(m, 2, (int64_t[]){out, in}, bias, fn)) {
        ag_module_free(m);
        return NULL;
    }
    return m;
}

ag_layer *ag_linear_layer(int64_t in, int64_t out, bool bias) {
    return linear_new(&linear_type, NULL, in, out, bias, "ag_linear_layer");
}

ag_layer *ag_dense_layer(int64_t in, int64_t out, ag_activation act) {
    if (!act) return ag_linear_layer(in, out, true);
    return linear_new(&dense_type, &(struct dense){act}, in, out, true, "ag_linear_layer");
}
