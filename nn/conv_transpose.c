/* ConvTranspose2d (torch.nn.ConvTranspose2d): weight [in, out/groups, k, k]
 * kaiming_uniform(a = sqrt 5) (fan_in = out/groups * k * k, as torch computes it from the
 * weight), bias [out] U(+-1/sqrt(fan_in)); the options are the ctx. */
#include "nn/nn.h"

#include <math.h>

static ag_tensor *conv_transpose2d_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    ag_conv_transpose_opts *o = m->ctx;
    return x ? ag_conv_transpose2d(x, ag__param(m, 0), m->n_params > 1 ? ag__param(m, 1) : NULL, *o)
             : NULL;
}

static const struct ag_module_type conv_transpose2d_type = {"ConvTranspose2d",
                                                            conv_transpose2d_forward, free};

ag_layer *ag_conv_transpose2d_layer(int64_t in_ch, int64_t out_ch, int kernel,
                                    ag_conv_transpose_opts opts, bool bias) {
    const char *fn = "ag_conv_transpose2d_layer";
    int groups = opts.groups ? opts.groups : 1;
    if (in_ch < 1 || out_ch < 1 || kernel < 1 || groups < 1 || in_ch % groups || out_ch % groups) {
        ag__error(AG_ERR_ARG, fn, "channels %lld -> %lld, kernel %d, groups %d do not fit",
                  (long long)in_ch, (long long)out_ch, kernel, groups);
        return NULL;
    }
    ag_module *m = ag__module_make_copy(&conv_transpose2d_type, &opts, sizeof opts, fn);
    int64_t shape[4] = {in_ch, out_ch / groups, kernel, kernel};
    if (!m || ag__module_param(m, "weight", 4, shape, fn) ||
        (bias && ag__module_param(m, "bias", 1, &out_ch, fn))) {
        ag_module_free(m);
        return NULL;
    }
    ag_init_kaiming_uniform_(ag__param(m, 0), sqrt(5.0), AG_FAN_IN);
    if (bias) {
        double bound = 1 / sqrt((double)(shape[1] * kernel * kernel));
        ag_init_uniform_(ag__param(m, 1), -bound, bound);
    }
    return m;
}
