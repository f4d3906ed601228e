/* Flatten (torch.nn.Flatten): [N, ...] -> [N, prod(...)]. */
#include "nn/nn.h"

static ag_tensor *flatten_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    return x ? ag_flatten(x, 1, -1) : NULL;
}

static const struct ag_module_type flatten_type = {"Flatten", flatten_forward, NULL};

ag_layer *ag_flatten_layer(void) {
    return ag__module_make(&flatten_type, NULL, "ag_flatten_layer");
}
