/* Activation layers (torch.nn.ReLU, Sigmoid, ...: one layer kind whose ctx is the
 * activation and whose type name is the activation's) and the activation a Dense layer
 * applies. Everything the layers know about activations is in this file. */
#include "nn/nn.h"

ag_tensor *ag__activate(ag_tensor *x, ag_activation act) {
    switch (act) {
    case AG_ACTIVATION_NONE: return x;
    case AG_ACTIVATION_RELU: return ag_relu(x);
    case AG_ACTIVATION_SIGMOID: return ag_sigmoid(x);
    case AG_ACTIVATION_TANH: return ag_tanh(x);
    case AG_ACTIVATION_SOFTPLUS: return ag_softplus(x);
    case AG_ACTIVATION_GELU: return ag_gelu(x);
    case AG_ACTIVATION_SILU: return ag_silu(x);
    case AG_ACTIVATION_SOFTMAX: return ag_softmax(x, x && x->ndim == 1 ? 0 : 1);
    case AG_ACTIVATION_LOG_SOFTMAX: return ag_log_softmax(x, x && x->ndim == 1 ? 0 : 1);
    }
    return x;
}

static const char *act_name(ag_activation a);

static ag_tensor *activation_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    return x ? ag__activate(x, *(ag_activation *)m->ctx) : NULL;
}

static const struct ag_module_type activation_type = {"Activation", activation_forward, free};

ag_layer *ag_activation_layer(ag_activation act) {
    if ((unsigned)act > AG_ACTIVATION_LOG_SOFTMAX) {
        ag__error(AG_ERR_ARG, "ag_activation_layer", "unknown activation %d", (int)act);
        return NULL;
    }
    ag_module *m = ag__module_make_copy(&activation_type, &act, sizeof act, "ag_activation_layer");
    if (m) ag__module_rename(m, act_name(act));
    return m;
}

static const char *act_name(ag_activation a) {
    static const char *names[] = {"Identity", "ReLU", "Sigmoid", "Tanh", "Softplus", "GELU",
                                  "SiLU", "Softmax", "LogSoftmax"};
    return (unsigned)a <= AG_ACTIVATION_LOG_SOFTMAX ? names[a] : "?";
}
