/* Transposed convolution, torch.nn.functional.conv_transpose2d's semantics: the adjoint of
 * conv2d, run as conv2d's input gradient (im2col/GEMM/col2im in ops/conv.c, with its
 * gradients conv2d and conv2d_weight_grad), plus the bias.
 *   x [N, C_in, H, W], weight [C_in, C_out/groups, kH, kW] -> [N, C_out, OH, OW],
 *   OH = (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1. */
#include "ops/conv_adjoint.h"

static int64_t out_len(int64_t in, int64_t k, int s, int p, int d, int op) {
    return (in - 1) * s - 2 * (int64_t)p + (int64_t)d * (k - 1) + op + 1;
}

/* Fills the defaults (0: stride 1, dilation 1, groups 1) and checks the values. */
static int normalize(ag_conv_transpose_opts *o, const ag_tensor *x, const char *fn) {
    if (!o->groups) o->groups = 1;
    for (int d = 0; d < 2; d++) {
        if (!o->stride[d]) o->stride[d] = 1;
        if (!o->dilation[d]) o->dilation[d] = 1;
        if (o->stride[d] < 0 || o->dilation[d] < 0 || o->padding[d] < 0 ||
            o->output_padding[d] < 0 || o->groups < 0 || o->output_padding[d] >= o->stride[d])
            return ag__error(AG_ERR_ARG, fn,
                             "stride %d, padding %d, output_padding %d, dilation %d, "
                             "groups %d: need values >= 0 and output_padding < stride (x %s)",
                             o->stride[d], o->padding[d], o->output_padding[d], o->dilation[d],
                             o->groups, AG_SHAPE(x));
    }
    return AG_OK;
}

static int check_inputs(const ag_tensor *x, const ag_tensor *w, const ag_tensor *b,
                        const ag_conv_transpose_opts *o, const char *fn) {
    if (x->ndim != 4 || w->ndim != 4 || !ag__is_float(x->dtype) || w->dtype != x->dtype ||
        (b && b->dtype != x->dtype))
        return ag__error(AG_ERR_SHAPE, fn,
                         "x %s %s must be float [N, C_in, H, W] and weight %s %s "
                         "[C_in, C_out/groups, kH, kW] of its dtype",
                         ag_dtype_name(x->dtype), AG_SHAPE(x), ag_dtype_name(w->dtype),
                         AG_SHAPE(w));
    if (w->shape[0] != x->shape[1] || x->shape[1] % o->groups)
        return ag__error(AG_ERR_SHAPE, fn,
                         "weight %s must have C_in = %lld rows, divisible by "
                         "groups %d (x %s)",
                         AG_SHAPE(w), (long long)x->shape[1], o->groups, AG_SHAPE(x));
    int64_t cout = w->shape[1] * o->groups;
    if (b && (b->ndim != 1 || b->shape[0] != cout))
        return ag__error(AG_ERR_SHAPE, fn, "bias %s must be [%lld] for weight %s", AG_SHAPE(b),
                         (long long)cout, AG_SHAPE(w));
    for (int d = 0; d < 2; d++)
        if (out_len(x->shape[2 + d], w->shape[2 + d], o->stride[d], o->padding[d], o->dilation[d],
                    o->output_padding[d]) < 1)
            return ag__error(AG_ERR_SHAPE, fn, "x %s and weight %s give an empty output",
                             AG_SHAPE(x), AG_SHAPE(w));
    return AG_OK;
}

ag_tensor *ag_conv_transpose2d(ag_tensor *x, ag_tensor *weight, ag_tensor *bias,
                               ag_conv_transpose_opts opts) {
    const char *fn = "ag_conv_transpose2d";
    if (!x || !weight) return NULL;
    if (normalize(&opts, x, fn) || check_inputs(x, weight, bias, &opts, fn)) return NULL;
    int64_t H = out_len(x->shape[2], weight->shape[2], opts.stride[0], opts.padding[0],
                        opts.dilation[0], opts.output_padding[0]);
    int64_t W = out_len(x->shape[3], weight->shape[3], opts.stride[1], opts.padding[1],
                        opts.dilation[1], opts.output_padding[1]);
    ag_tensor *y = ag__conv2d_input_grad(x, weight, opts.stride, opts.padding, opts.dilation,
                                         opts.groups, H, W);
    if (!bias) return y;
    return ag_add(y, ag_reshape(bias, 4, (int64_t[]){1, bias->shape[0], 1, 1}));
}
