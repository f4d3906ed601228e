/* Conv2d and Conv1d (torch.nn.Conv2d / Conv1d): weight [out, in/groups, k, k] (or [.., k]),
 * bias [out]; the options (stride, padding, dilation, groups) are the ctx. */
#include "nn/nn.h"

static ag_tensor *conv2d_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    ag_conv_opts *o = m->ctx;
    return x ? ag_conv2d(x, ag__param(m, 0), m->n_params > 1 ? ag__param(m, 1) : NULL, *o) : NULL;
}

static ag_tensor *conv1d_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    ag_conv_opts *o = m->ctx;
    return x ? ag_conv1d(x, ag__param(m, 0), m->n_params > 1 ? ag__param(m, 1) : NULL, *o) : NULL;
}

static const struct ag_module_type conv2d_type = {"Conv2d", conv2d_forward, free};
static const struct ag_module_type conv1d_type = {"Conv1d", conv1d_forward, free};

bool ag__is_conv2d_layer(const ag_module *m) { return m && m->type == &conv2d_type; }

ag_tensor *ag__conv2d_relu_layer_forward(ag_module *m, ag_tensor *x) {
    ag_conv_opts *o = m->ctx;
    return ag_conv2d_relu(x, ag__param(m, 0), m->n_params > 1 ? ag__param(m, 1) : NULL, *o);
}

static ag_layer *conv_new(const struct ag_module_type *type, int wdim, int64_t in_ch,
                          int64_t out_ch, int kernel, ag_conv_opts opts, bool bias,
                          const char *fn) {
    int groups = opts.groups ? opts.groups : 1;
    if (in_ch < 1 || out_ch < 1 || kernel < 1 || groups < 1 || in_ch % groups || out_ch % groups) {
        ag__error(AG_ERR_ARG, fn, "channels %lld -> %lld, kernel %d, groups %d do not fit",
                  (long long)in_ch, (long long)out_ch, kernel, groups);
        return NULL;
    }
    ag_module *m = ag__module_make_copy(type, &opts, sizeof opts, fn);
    int64_t shape[4] = {out_ch, in_ch / groups, kernel, kernel};
    if (m && ag__add_weight_bias(m, wdim, shape, bias, fn)) {
        ag_module_free(m);
        return NULL;
    }
    return m;
}

ag_layer *ag_conv2d_layer(int64_t in_ch, int64_t out_ch, int kernel, ag_conv_opts opts, bool bias) {
    return conv_new(&conv2d_type, 4, in_ch, out_ch, kernel, opts, bias, "ag_conv2d_layer");
}

ag_layer *ag_conv1d_layer(int64_t in_ch, int64_t out_ch, int kernel, ag_conv_opts opts, bool bias) {
    return conv_new(&conv1d_type, 3, in_ch, out_ch, kernel, opts, bias, "ag_conv1d_layer");
}
