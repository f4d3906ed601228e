/* Dropout (torch.nn.Dropout): zeroes each element with probability p and scales the rest
 * by 1/(1-p) in training mode; the identity in eval mode. p is the ctx. */
#include "nn/nn.h"

static ag_tensor *dropout_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    return x ? ag_dropout(x, *(double *)m->ctx, m->training) : NULL;
}

static const struct ag_module_type dropout_type = {"Dropout", dropout_forward, free};

ag_layer *ag_dropout_layer(double p) {
    const char *fn = "ag_dropout_layer";
    if (!(p >= 0 && p < 1)) {
        ag__error(AG_ERR_ARG, fn, "p %g must be in [0, 1)", p);
        return NULL;
    }
    return ag__module_make_copy(&dropout_type, &p, sizeof p, fn);
}
