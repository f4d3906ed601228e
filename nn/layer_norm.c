/* LayerNorm (torch.nn.LayerNorm, elementwise_affine): weight 1 and bias 0 of
 * normalized_shape, eps 1e-5; the shape and eps are the ctx. */
#include "nn/nn.h"

#define LN_MAX_DIMS 8

struct layer_norm {
    int ndim;
    int64_t shape[LN_MAX_DIMS];
    double eps;
};

static ag_tensor *layer_norm_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    struct layer_norm *c = m->ctx;
    return x ? ag_layer_norm(x, c->ndim, c->shape, ag__param(m, 0), ag__param(m, 1), c->eps) : NULL;
}

static const struct ag_module_type layer_norm_type = {"LayerNorm", layer_norm_forward, free};

ag_layer *ag_layer_norm_layer(int ndim, const int64_t *shape) {
    const char *fn = "ag_layer_norm_layer";
    struct layer_norm c = {.ndim = ndim, .eps = 1e-5};
    if (ndim < 1 || ndim > LN_MAX_DIMS || !shape) {
        ag__error(AG_ERR_ARG, fn, "normalized_shape of %d dims (1..%d, not NULL)", ndim,
                  LN_MAX_DIMS);
        return NULL;
    }
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1) {
            ag__error(AG_ERR_ARG, fn, "normalized_shape %s has a size < 1",
                      ag__shape_str(ndim, shape));
            return NULL;
        }
        c.shape[d] = shape[d];
    }
    ag_module *m = ag__module_make_copy(&layer_norm_type, &c, sizeof c, fn);
    if (!m || ag__module_param(m, "weight", ndim, shape, fn) ||
        ag__module_param(m, "bias", ndim, shape, fn)) {
        ag_module_free(m);
        return NULL;
    }
    ag_init_constant_(ag__param(m, 0), 1);
    return m;
}
