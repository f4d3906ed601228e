/* Activation layers (torch.nn.ReLU, Sigmoid, ...: one layer kind whose ctx is the
 * activation and whose type name is the activation's) and the activation a Dense layer
 * applies. Everything the layers know about activations is in this file. */
#include "nn/nn.h"

/* One case per AG_ACTIVATION_LIST line (include/ag.h). */
ag_tensor *ag__activate(ag_tensor *x, ag_activation act) {
    switch (act) {
#define ACTIVATION_CASE(id, name, apply) \
    case id: return apply;
        AG_ACTIVATION_LIST(ACTIVATION_CASE)
#undef ACTIVATION_CASE
    case AG_ACTIVATION_COUNT: break;
    }
    return x;
}

static const char *act_name(ag_activation a);

static ag_tensor *activation_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    return x ? ag__activate(x, *(ag_activation *)m->ctx) : NULL;
}

static const struct ag_module_type activation_type = {"Activation", activation_forward, free};

/* By its forward: ag_activation_layer renames its type (a copy) after the activation. */
bool ag__is_relu_layer(const ag_module *m) {
    return m && m->type->forward == activation_forward &&
           *(const ag_activation *)m->ctx == AG_ACTIVATION_RELU;
}

ag_layer *ag_activation_layer(ag_activation act) {
    if ((unsigned)act >= AG_ACTIVATION_COUNT) {
        ag__error(AG_ERR_ARG, "ag_activation_layer", "unknown activation %d", (int)act);
        return NULL;
    }
    ag_module *m = ag__module_make_copy(&activation_type, &act, sizeof act, "ag_activation_layer");
    if (m) ag__module_rename(m, act_name(act));
    return m;
}

static const char *act_name(ag_activation a) {
    static const char *const names[AG_ACTIVATION_COUNT] = {
#define ACTIVATION_NAME(id, name, apply) [id] = name,
        AG_ACTIVATION_LIST(ACTIVATION_NAME)
#undef ACTIVATION_NAME
    };
    return (unsigned)a < AG_ACTIVATION_COUNT ? names[a] : "?";
}
