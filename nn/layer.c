/* What the built-in layers share (new parameters, torch's Linear/Conv init) and the
 * ag_layer_ functions, which are the module's under their old names. Each layer kind is
 * its own file (linear.c, conv.c, pool.c, ...). */
#include "nn/nn.h"

#include <math.h>

ag_tensor *ag__param_new(int ndim, const int64_t *shape, const char *fn) {
    ag_tensor *t = ag__zeros_in(NULL, ag_get_default_dtype(), ndim, shape, fn);
    if (t) t->requires_grad = true;
    return t;
}

int ag__add_weight_bias(ag_module *m, int wdim, const int64_t *wshape, bool bias, const char *fn) {
    int rc = ag__module_param(m, "weight", wdim, wshape, fn);
    if (rc) return rc;
    ag_init_kaiming_uniform_(ag__param(m, 0), sqrt(5.0), AG_FAN_IN);
    if (!bias) return AG_OK;
    if ((rc = ag__module_param(m, "bias", 1, wshape, fn))) return rc;
    double fan_in = 1;
    for (int d = 1; d < wdim; d++) fan_in *= (double)wshape[d];
    double bound = fan_in > 0 ? 1 / sqrt(fan_in) : 0;
    return ag_init_uniform_(ag__param(m, 1), -bound, bound);
}

ag_tensor *ag_layer_forward(ag_layer *l, ag_tensor *x) {
    if (!l) {
        ag__error(AG_ERR_NULL, "ag_layer_forward", "layer is NULL");
        return NULL;
    }
    return ag_module_forward(l, x);
}

const char *ag_layer_name(const ag_layer *l) { return ag_module_type_name(l); }

int ag_layer_num_params(const ag_layer *l) {
    int n = 0;
    if (l) ag_module_parameters((ag_layer *)l, &n); /* only the cached list changes */
    return n;
}

ag_tensor *ag_layer_param(ag_layer *l, int i, const char **name) {
    int n = 0;
    ag_tensor **p = l ? ag_module_parameters(l, &n) : NULL;
    if (!p || i < 0 || i >= n) {
        ag__error(AG_ERR_INDEX, "ag_layer_param", "parameter %d of %d", i, n);
        return NULL;
    }
    if (name) *name = ag_module_param_name(l, i);
    return p[i];
}

void ag_layer_train(ag_layer *l, bool training) { ag_module_train(l, training); }

void ag_layer_free(ag_layer *l) { ag_module_free(l); }
