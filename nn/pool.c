/* MaxPool2d and AvgPool2d (torch.nn.MaxPool2d / AvgPool2d): no parameters; the options
 * (kernel, stride, padding, ...) are the ctx. */
#include "nn/nn.h"

static ag_tensor *max_pool2d_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    return x ? ag_max_pool2d(x, *(ag_pool_opts *)m->ctx) : NULL;
}

static ag_tensor *avg_pool2d_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    return x ? ag_avg_pool2d(x, *(ag_pool_opts *)m->ctx) : NULL;
}

static const struct ag_module_type max_pool2d_type = {"MaxPool2d", max_pool2d_forward, free};
static const struct ag_module_type avg_pool2d_type = {"AvgPool2d", avg_pool2d_forward, free};

ag_layer *ag_max_pool2d_layer(ag_pool_opts opts) {
    return ag__module_make_copy(&max_pool2d_type, &opts, sizeof opts, "ag_max_pool2d_layer");
}

ag_layer *ag_avg_pool2d_layer(ag_pool_opts opts) {
    return ag__module_make_copy(&avg_pool2d_type, &opts, sizeof opts, "ag_avg_pool2d_layer");
}
