/* Running layers: each kind's forward through the functional ops (ag_linear, ag_conv2d,
 * ...). Kept apart from construction (layer.c) so building and saving models does not
 * pull in every op family. */
#include "nn/nn.h"

/* One case per AG_ACTIVATION_LIST line (include/ag.h). */
ag_tensor *ag__activate(ag_tensor *x, ag_activation act) {
    switch (act) {
#define ACTIVATION_CASE(id, name, apply) case id: return apply;
        AG_ACTIVATION_LIST(ACTIVATION_CASE)
#undef ACTIVATION_CASE
    case AG_ACTIVATION_COUNT: break;
    }
    return x;
}

static ag_tensor *batch_norm_forward(ag_layer *l, ag_tensor *x) {
    int want = l->kind == AG__BATCHNORM2D ? 4 : 0;
    if (x && ((want && x->ndim != 4) || (!want && x->ndim != 2 && x->ndim != 3))) {
        ag__error(AG_ERR_SHAPE, "ag_layer_forward", "BatchNorm%s expects %s input, got %s",
                  want ? "2d" : "1d", want ? "[N,C,H,W]" : "[N,C] or [N,C,L]", AG_SHAPE(x));
        return NULL;
    }
    if (l->training && x) ((int64_t *)ag__ptr(l->buffers[2]))[0]++;
    return ag_batch_norm(x, l->buffers[0], l->buffers[1], l->params[0], l->params[1],
                         l->training, l->momentum, l->eps);
}

ag_tensor *ag_layer_forward(ag_layer *l, ag_tensor *x) {
    if (!l) {
        ag__error(AG_ERR_NULL, "ag_layer_forward", "layer is NULL");
        return NULL;
    }
    switch (l->kind) {
    case AG__LINEAR:
        return ag__activate(ag_linear(x, l->params[0], l->n_params > 1 ? l->params[1] : NULL), l->act);
    case AG__CONV2D:
        return ag_conv2d(x, l->params[0], l->n_params > 1 ? l->params[1] : NULL, l->conv);
    case AG__CONV1D:
        return ag_conv1d(x, l->params[0], l->n_params > 1 ? l->params[1] : NULL, l->conv);
    case AG__MAXPOOL2D: return ag_max_pool2d(x, l->pool);
    case AG__AVGPOOL2D: return ag_avg_pool2d(x, l->pool);
    case AG__FLATTEN: return ag_flatten(x, 1, -1);
    case AG__DROPOUT: return ag_dropout(x, l->p, l->training);
    case AG__BATCHNORM1D:
    case AG__BATCHNORM2D: return batch_norm_forward(l, x);
    case AG__ACTIVATION: return ag__activate(x, l->act);
    case AG__LSTM_CELL:
    case AG__GRU_CELL: break;
    }
    ag__error(AG_ERR_ARG, "ag_layer_forward", "%s takes a state: use its own forward function",
              ag_layer_name(l));
    return NULL;
}

