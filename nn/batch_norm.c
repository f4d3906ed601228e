/* BatchNorm1d and BatchNorm2d (torch.nn.BatchNorm1d / 2d): weight 1 and bias 0 [C];
 * buffers running_mean 0, running_var 1 [C] and num_batches_tracked (int64 scalar), as
 * torch's state_dict has them; momentum 0.1 and eps 1e-5 are the ctx. */
#include "nn/nn.h"

struct batch_norm {
    double momentum, eps;
};

/* want 4: [N,C,H,W]; want 0: [N,C] or [N,C,L] */
static ag_tensor *batch_norm_run(ag_module *m, int n, ag_tensor *const *in, int want) {
    ag_tensor *x = ag__one_input(m, n, in);
    if (!x) return NULL;
    if (((want && x->ndim != 4) || (!want && x->ndim != 2 && x->ndim != 3))) {
        ag__error(AG_ERR_SHAPE, "ag_layer_forward", "BatchNorm%s expects %s input, got %s",
                  want ? "2d" : "1d", want ? "[N,C,H,W]" : "[N,C] or [N,C,L]", AG_SHAPE(x));
        return NULL;
    }
    struct batch_norm *b = m->ctx;
    if (m->training) ((int64_t *)ag__ptr(ag__buffer(m, 2)))[0]++;
    return ag_batch_norm(x, ag__buffer(m, 0), ag__buffer(m, 1), ag__param(m, 0), ag__param(m, 1),
                         m->training, b->momentum, b->eps);
}

static ag_tensor *batch_norm1d_forward(ag_module *m, int n, ag_tensor *const *in) {
    return batch_norm_run(m, n, in, 0);
}

static ag_tensor *batch_norm2d_forward(ag_module *m, int n, ag_tensor *const *in) {
    return batch_norm_run(m, n, in, 4);
}

static const struct ag_module_type batch_norm1d_type = {"BatchNorm1d", batch_norm1d_forward, free};
static const struct ag_module_type batch_norm2d_type = {"BatchNorm2d", batch_norm2d_forward, free};

static ag_layer *batch_norm_new(const struct ag_module_type *type, int64_t c, const char *fn) {
    if (c < 1) {
        ag__error(AG_ERR_ARG, fn, "features %lld must be >= 1", (long long)c);
        return NULL;
    }
    ag_module *m =
        ag__module_make_copy(type, &(struct batch_norm){0.1, 1e-5}, sizeof(struct batch_norm), fn);
    ag_dtype dt = ag_get_default_dtype();
    if (!m || ag__module_param(m, "weight", 1, &c, fn) || ag__module_param(m, "bias", 1, &c, fn) ||
        ag__module_buffer(m, "running_mean", dt, 1, &c, fn) ||
        ag__module_buffer(m, "running_var", dt, 1, &c, fn) ||
        ag__module_buffer(m, "num_batches_tracked", AG_I64, 0, NULL, fn)) {
        ag_module_free(m);
        return NULL;
    }
    ag_init_constant_(ag__param(m, 0), 1);
    ag_init_constant_(ag__buffer(m, 1), 1);
    return m;
}

ag_layer *ag_batch_norm1d_layer(int64_t features) {
    return batch_norm_new(&batch_norm1d_type, features, "ag_batch_norm1d_layer");
}

ag_layer *ag_batch_norm2d_layer(int64_t channels) {
    return batch_norm_new(&batch_norm2d_type, channels, "ag_batch_norm2d_layer");
}
