/* Layer objects: parameters with PyTorch's default init, and forward through the
 * functional ops (ag_linear, ag_conv2d, ...). */
#include "nn/nn.h"

#include <math.h>

ag_tensor *ag__param_new(int ndim, const int64_t *shape, const char *fn) {
    ag_tensor *t = ag__zeros_in(NULL, ag_get_default_dtype(), ndim, shape, fn);
    if (t) t->requires_grad = true;
    return t;
}

ag_layer *ag__layer_new(enum ag__layer_kind kind, const char *fn) {
    ag_layer *l = ag__calloc(1, sizeof *l);
    if (!l) ag__error(AG_ERR_NOMEM, fn, "out of memory");
    else l->kind = kind, l->training = true;
    return l;
}

int ag__layer_add_param(ag_layer *l, const char *name, ag_tensor *t) {
    if (!t) return AG_ERR_NOMEM;
    AG_ASSERT(l->n_params < AG_LAYER_MAX_PARAMS);
    l->param_names[l->n_params] = name;
    l->params[l->n_params++] = t;
    return AG_OK;
}

int ag__layer_add_buffer(ag_layer *l, const char *name, ag_tensor *t) {
    if (!t) return AG_ERR_NOMEM;
    AG_ASSERT(l->n_buffers < AG_LAYER_MAX_BUFFERS);
    l->buffer_names[l->n_buffers] = name;
    l->buffers[l->n_buffers++] = t;
    return AG_OK;
}

void ag_layer_free(ag_layer *l) {
    if (!l) return;
    for (int i = 0; i < l->n_params; i++) ag_tensor_free(l->params[i]);
    for (int i = 0; i < l->n_buffers; i++) ag_tensor_free(l->buffers[i]);
    free(l);
}

/* weight [out, in/groups, k...] kaiming_uniform(a = sqrt 5); bias U(+-1/sqrt(fan_in)). */
static ag_layer *weighted(enum ag__layer_kind kind, int wdim, const int64_t *wshape, bool bias,
                          const char *fn) {
    ag_layer *l = ag__layer_new(kind, fn);
    if (!l) return NULL;
    ag_tensor *w = ag__param_new(wdim, wshape, fn);
    if (ag__layer_add_param(l, "weight", w)) goto fail;
    ag_init_kaiming_uniform_(w, sqrt(5.0), AG_FAN_IN);
    if (bias) {
        double fan_in = 1;
        for (int d = 1; d < wdim; d++) fan_in *= (double)wshape[d];
        ag_tensor *b = ag__param_new(1, wshape, fn);
        if (ag__layer_add_param(l, "bias", b)) goto fail;
        double bound = fan_in > 0 ? 1 / sqrt(fan_in) : 0;
        ag_init_uniform_(b, -bound, bound);
    }
    return l;
fail:
    ag_layer_free(l);
    return NULL;
}

ag_layer *ag_linear_layer(int64_t in, int64_t out, bool bias) {
    if (in < 1 || out < 1) {
        ag__error(AG_ERR_ARG, "ag_linear_layer", "sizes in %lld and out %lld must be >= 1",
                  (long long)in, (long long)out);
        return NULL;
    }
    ag_layer *l = weighted(AG__LINEAR, 2, (int64_t[]){out, in}, bias, "ag_linear_layer");
    if (l) l->in = in, l->out = out;
    return l;
}

ag_layer *ag_dense_layer(int64_t in, int64_t out, ag_activation act) {
    ag_layer *l = ag_linear_layer(in, out, true);
    if (l) l->act = act;
    return l;
}

static ag_layer *conv_layer(enum ag__layer_kind kind, int64_t in_ch, int64_t out_ch, int kernel,
                            ag_conv_opts opts, bool bias, const char *fn) {
    int groups = opts.groups ? opts.groups : 1;
    if (in_ch < 1 || out_ch < 1 || kernel < 1 || groups < 1 || in_ch % groups || out_ch % groups) {
        ag__error(AG_ERR_ARG, fn, "channels %lld -> %lld, kernel %d, groups %d do not fit",
                  (long long)in_ch, (long long)out_ch, kernel, groups);
        return NULL;
    }
    int64_t shape[4] = {out_ch, in_ch / groups, kernel, kernel};
    ag_layer *l = weighted(kind, kind == AG__CONV2D ? 4 : 3, shape, bias, fn);
    if (l) l->in = in_ch, l->out = out_ch, l->kernel = kernel, l->conv = opts;
    return l;
}

ag_layer *ag_conv2d_layer(int64_t in_ch, int64_t out_ch, int kernel, ag_conv_opts opts, bool bias) {
    return conv_layer(AG__CONV2D, in_ch, out_ch, kernel, opts, bias, "ag_conv2d_layer");
}
ag_layer *ag_conv1d_layer(int64_t in_ch, int64_t out_ch, int kernel, ag_conv_opts opts, bool bias) {
    return conv_layer(AG__CONV1D, in_ch, out_ch, kernel, opts, bias, "ag_conv1d_layer");
}

ag_layer *ag_max_pool2d_layer(ag_pool_opts opts) {
    ag_layer *l = ag__layer_new(AG__MAXPOOL2D, "ag_max_pool2d_layer");
    if (l) l->pool = opts;
    return l;
}
ag_layer *ag_avg_pool2d_layer(ag_pool_opts opts) {
    ag_layer *l = ag__layer_new(AG__AVGPOOL2D, "ag_avg_pool2d_layer");
    if (l) l->pool = opts;
    return l;
}
ag_layer *ag_flatten_layer(void) { return ag__layer_new(AG__FLATTEN, "ag_flatten_layer"); }

ag_layer *ag_dropout_layer(double p) {
    if (!(p >= 0 && p < 1)) {
        ag__error(AG_ERR_ARG, "ag_dropout_layer", "p %g must be in [0, 1)", p);
        return NULL;
    }
    ag_layer *l = ag__layer_new(AG__DROPOUT, "ag_dropout_layer");
    if (l) l->p = p;
    return l;
}

static ag_layer *batch_norm(enum ag__layer_kind kind, int64_t c, const char *fn) {
    if (c < 1) {
        ag__error(AG_ERR_ARG, fn, "features %lld must be >= 1", (long long)c);
        return NULL;
    }
    ag_layer *l = ag__layer_new(kind, fn);
    if (!l) return NULL;
    l->in = l->out = c;
    l->momentum = 0.1;
    l->eps = 1e-5;
    ag_tensor *w = ag__param_new(1, &c, fn);
    if (ag__layer_add_param(l, "weight", w) || ag__layer_add_param(l, "bias", ag__param_new(1, &c, fn)))
        goto fail;
    ag_init_constant_(w, 1);
    if (ag__layer_add_buffer(l, "running_mean", ag__zeros_in(NULL, ag_get_default_dtype(), 1, &c, fn)) ||
        ag__layer_add_buffer(l, "running_var", ag__zeros_in(NULL, ag_get_default_dtype(), 1, &c, fn)) ||
        ag__layer_add_buffer(l, "num_batches_tracked", ag__zeros_in(NULL, AG_I64, 0, NULL, fn)))
        goto fail;   /* each made as it is added: a failure leaks none (D10) */
    ag_init_constant_(l->buffers[1], 1);   /* running_var */
    return l;
fail:
    ag_layer_free(l);
    return NULL;
}
ag_layer *ag_batch_norm1d_layer(int64_t features) {
    return batch_norm(AG__BATCHNORM1D, features, "ag_batch_norm1d_layer");
}
ag_layer *ag_batch_norm2d_layer(int64_t channels) {
    return batch_norm(AG__BATCHNORM2D, channels, "ag_batch_norm2d_layer");
}

ag_layer *ag_activation_layer(ag_activation act) {
    if ((unsigned)act > AG_ACTIVATION_LOG_SOFTMAX) {
        ag__error(AG_ERR_ARG, "ag_activation_layer", "unknown activation %d", (int)act);
        return NULL;
    }
    ag_layer *l = ag__layer_new(AG__ACTIVATION, "ag_activation_layer");
    if (l) l->act = act;
    return l;
}

/* LSTM / GRU cells: weight_ih [G*H,in], weight_hh [G*H,H], biases [G*H]; U(+-1/sqrt H). */
static ag_layer *cell_new(enum ag__layer_kind kind, int64_t in, int64_t hidden, bool bias,
                          int gates, const char *fn) {
    if (in < 1 || hidden < 1) {
        ag__error(AG_ERR_ARG, fn, "sizes in %lld and hidden %lld must be >= 1", (long long)in,
                  (long long)hidden);
        return NULL;
    }
    ag_layer *l = ag__layer_new(kind, fn);
    if (!l) return NULL;
    l->in = in;
    l->out = hidden;
    int64_t g = gates * hidden;
    if (ag__layer_add_param(l, "weight_ih", ag__param_new(2, (int64_t[]){g, in}, fn)) ||
        ag__layer_add_param(l, "weight_hh", ag__param_new(2, (int64_t[]){g, hidden}, fn)) ||
        (bias && (ag__layer_add_param(l, "bias_ih", ag__param_new(1, &g, fn)) ||
                  ag__layer_add_param(l, "bias_hh", ag__param_new(1, &g, fn))))) {
        ag_layer_free(l);
        return NULL;
    }
    double k = 1 / sqrt((double)hidden);
    for (int i = 0; i < l->n_params; i++) ag_init_uniform_(l->params[i], -k, k);
    return l;
}

ag_layer *ag_lstm_cell(int64_t in, int64_t hidden, bool bias) {
    return cell_new(AG__LSTM_CELL, in, hidden, bias, 4, "ag_lstm_cell");
}
ag_layer *ag_gru_cell(int64_t in, int64_t hidden, bool bias) {
    return cell_new(AG__GRU_CELL, in, hidden, bias, 3, "ag_gru_cell");
}

static const char *act_name(ag_activation a) {
    static const char *names[] = {"Identity", "ReLU", "Sigmoid", "Tanh", "Softplus", "GELU",
                                  "SiLU", "Softmax", "LogSoftmax"};
    return (unsigned)a <= AG_ACTIVATION_LOG_SOFTMAX ? names[a] : "?";
}

const char *ag_layer_name(const ag_layer *l) {
    if (!l) return NULL;
    static const char *names[] = {"Linear", "Conv2d", "Conv1d", "MaxPool2d", "AvgPool2d",
                                  "Flatten", "Dropout", "BatchNorm1d", "BatchNorm2d", "Activation",
                                  "LSTMCell", "GRUCell"};
    if (l->kind == AG__ACTIVATION) return act_name(l->act);
    if (l->kind == AG__LINEAR && l->act) return "Dense";
    return names[l->kind];
}

int ag_layer_num_params(const ag_layer *l) { return l ? l->n_params : 0; }

ag_tensor *ag_layer_param(ag_layer *l, int i, const char **name) {
    if (!l || i < 0 || i >= l->n_params) {
        ag__error(AG_ERR_INDEX, "ag_layer_param", "parameter %d of %d", i, l ? l->n_params : 0);
        return NULL;
    }
    if (name) *name = l->param_names[i];
    return l->params[i];
}

void ag_layer_train(ag_layer *l, bool training) {
    if (l) l->training = training;
}
