/* Embedding (torch.nn.Embedding): weight [num, dim] N(0, 1); int64 indices of any shape
 * -> [indices..., dim]. */
#include "nn/nn.h"

static ag_tensor *embedding_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    return x ? ag_embedding(x, ag__param(m, 0)) : NULL;
}

static const struct ag_module_type embedding_type = {"Embedding", embedding_forward, NULL};

ag_layer *ag_embedding_layer(int64_t num, int64_t dim) {
    const char *fn = "ag_embedding_layer";
    if (num < 1 || dim < 1) {
        ag__error(AG_ERR_ARG, fn, "num_embeddings %lld and embedding_dim %lld must be >= 1",
                  (long long)num, (long long)dim);
        return NULL;
    }
    ag_module *m = ag__module_make(&embedding_type, NULL, fn);
    if (!m || ag__module_param(m, "weight", 2, (int64_t[]){num, dim}, fn)) {
        ag_module_free(m);
        return NULL;
    }
    ag_init_normal_(ag__param(m, 0), 0, 1);
    return m;
}
