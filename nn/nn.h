/* Internal: layer and model objects. */
#ifndef AG_NN_INTERNAL_H
#define AG_NN_INTERNAL_H

#include "tensor/tensor.h"

#define AG_LAYER_MAX_PARAMS 4
#define AG_LAYER_MAX_BUFFERS 3

enum ag__layer_kind {
    AG__LINEAR, AG__CONV2D, AG__CONV1D, AG__MAXPOOL2D, AG__AVGPOOL2D, AG__FLATTEN,
    AG__DROPOUT, AG__BATCHNORM1D, AG__BATCHNORM2D, AG__ACTIVATION, AG__LSTM_CELL, AG__GRU_CELL
};

struct ag_layer {
    enum ag__layer_kind kind;
    int n_params, n_buffers;
    ag_tensor *params[AG_LAYER_MAX_PARAMS];       /* heap leaves, owned */
    const char *param_names[AG_LAYER_MAX_PARAMS];
    ag_tensor *buffers[AG_LAYER_MAX_BUFFERS];     /* heap, owned (running stats) */
    const char *buffer_names[AG_LAYER_MAX_BUFFERS];
    bool training;
    ag_activation act;        /* applied after Linear (Dense) or alone (Activation) */
    ag_conv_opts conv;
    ag_pool_opts pool;
    double p, momentum, eps;
    int64_t in, out;
    int kernel;
};

struct ag_model {
    ag_layer **layers;
    int n_layers, cap_layers;
    ag_tensor **params;       /* all params in order; not owned (layers own them) */
    char **names;             /* "<layer>.<param>" */
    int n_params, cap_params;
};

/* A new heap parameter (requires_grad) of the default dtype, zero-filled. */
ag_tensor *ag__param_new(int ndim, const int64_t *shape, const char *fn);
/* Adds a parameter / buffer to l (taking ownership). */
int ag__layer_add_param(ag_layer *l, const char *name, ag_tensor *t);
int ag__layer_add_buffer(ag_layer *l, const char *name, ag_tensor *t);
ag_layer *ag__layer_new(enum ag__layer_kind kind, const char *fn);
ag_tensor *ag__activate(ag_tensor *x, ag_activation act);

/* The model's state_dict: params then buffers, layer by layer, with torch's names.
 * Returns the count; tensors and names (malloc'ed strings) go into heap arrays the caller
 * frees with ag__state_free. */
int ag__model_state(ag_model *m, ag_tensor ***tensors, char ***names);
void ag__state_free(int n, ag_tensor **tensors, char **names);

#endif
