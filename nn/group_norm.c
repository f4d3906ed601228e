/* GroupNorm (torch.nn.GroupNorm, affine): weight 1 and bias 0 [C], eps 1e-5; groups and
 * eps are the ctx. */
#include "nn/nn.h"

struct group_norm {
    int groups;
    double eps;
};

static ag_tensor *group_norm_forward(ag_module *m, int n, ag_tensor *const *in) {
    ag_tensor *x = ag__one_input(m, n, in);
    struct group_norm *c = m->ctx;
    return x ? ag_group_norm(x, c->groups, ag__param(m, 0), ag__param(m, 1), c->eps) : NULL;
}

static const struct ag_module_type group_norm_type = {"GroupNorm", group_norm_forward, free};

ag_layer *ag_group_norm_layer(int groups, int64_t channels) {
    const char *fn = "ag_group_norm_layer";
    if (groups < 1 || channels < 1 || channels % groups) {
        ag__error(AG_ERR_ARG, fn, "%lld channels do not split into %d groups", (long long)channels,
                  groups);
        return NULL;
    }
    struct group_norm c = {groups, 1e-5};
    ag_module *m = ag__module_make_copy(&group_norm_type, &c, sizeof c, fn);
    if (!m || ag__module_param(m, "weight", 1, &channels, fn) ||
        ag__module_param(m, "bias", 1, &channels, fn)) {
        ag_module_free(m);
        return NULL;
    }
    ag_init_constant_(ag__param(m, 0), 1);
    return m;
}
