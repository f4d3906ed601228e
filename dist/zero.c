/* ZeRO stage 1 (torch.distributed.optim.ZeroRedundancyOptimizer): the optimizer state is
 * sharded by parameter tensor. Every rank assigns the tensors to ranks the same way (largest
 * first, each to the least loaded rank), builds an optimizer over its own tensors only, and
 * after its step broadcasts each tensor from its owner. The update of a tensor depends on
 * nothing but its own gradient and state, so with gradients averaged by DDP the weights are
 * bitwise those of every rank stepping every tensor, for 1/N of the optimizer memory. */
#include "dist/dist.h"

#include <stdlib.h>
#include <string.h>

struct ag_zero {
    ag_tensor **params;
    int n;
    int *owner;      /* per parameter: the rank that updates it */
    ag_optim *optim; /* over this rank's parameters; NULL when it owns none */
    int64_t owned;   /* elements this rank updates */
};

static int by_size_desc(const void *a, const void *b, void *ctx) {
    ag_tensor **p = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    int64_t x = ag_numel(p[i]), y = ag_numel(p[j]);
    return x != y ? (x < y ? 1 : -1) : (i > j) - (i < j);
}

/* Largest first, each to the least loaded rank (the lowest rank among equals). */
static void partition(ag_zero *z, int world) {
    int *order = malloc((size_t)z->n * sizeof *order);
    int64_t *load = calloc((size_t)world, sizeof *load);
    for (int i = 0; i < z->n; i++) order[i] = i;
    qsort_r(order, (size_t)z->n, sizeof *order, by_size_desc, z->params);
    for (int k = 0; k < z->n; k++) {
        int best = 0;
        for (int r = 1; r < world; r++)
            if (load[r] < load[best]) best = r;
        z->owner[order[k]] = best;
        load[best] += ag_numel(z->params[order[k]]);
    }
    free(order);
    free(load);
}

void ag_zero_free(ag_zero *z) {
    if (!z) return;
    ag_optim_free(z->optim);
    free(z->params);
    free(z->owner);
    free(z);
}

ag_zero *ag_zero_new(ag_tensor **params, int n, ag_optim_maker make, void *user) {
    const char *fn = "ag_zero_new";
    if (ag__dist_check_init(fn)) return NULL;
    if (!params || n < 1 || !make)
        return ag__error(AG_ERR_NULL, fn, "needs n >= 1 parameters (%d) and a maker", n), NULL;
    for (int i = 0; i < n; i++)
        if (!params[i] || !ag_data(params[i]) ||
            (ag_dtype_of(params[i]) != AG_F32 && ag_dtype_of(params[i]) != AG_F64))
            return ag__error(AG_ERR_ARG, fn, "parameter %d must be a contiguous float tensor", i),
                   NULL;
    ag_zero *z = calloc(1, sizeof *z);
    if (z) {
        z->params = malloc((size_t)n * sizeof *z->params);
        z->owner = malloc((size_t)n * sizeof *z->owner);
    }
    ag_tensor **mine = malloc((size_t)n * sizeof *mine);
    if (!z || !z->params || !z->owner || !mine) {
        ag_zero_free(z);
        free(mine);
        return ag__error(AG_ERR_NOMEM, fn, "out of memory"), NULL;
    }
    z->n = n;
    memcpy(z->params, params, (size_t)n * sizeof *params);
    partition(z, ag_dist_world_size());
    int k = 0;
    for (int i = 0; i < n; i++)
        if (z->owner[i] == ag_dist_rank()) {
            mine[k++] = params[i];
            z->owned += ag_numel(params[i]);
        }
    if (k && !(z->optim = make(mine, k, user))) {
        free(mine);
        ag_zero_free(z);
        return NULL;
    }
    free(mine);
    return z;
}

int ag_zero_step(ag_zero *z) {
    const char *fn = "ag_zero_step";
    if (!z) return ag__error(AG_ERR_NULL, fn, "zero is NULL");
    if (z->optim) ag_optim_step(z->optim);
    for (int i = 0; i < z->n; i++) { /* every tensor from the rank that updated it */
        int rc = ag_dist_broadcast_params(&z->params[i], 1, z->owner[i]);
        if (rc) return rc;
    }
    return AG_OK;
}

void ag_zero_zero_grad(ag_zero *z) {
    if (!z) return;
    for (int i = 0; i < z->n; i++) ag_zero_grad(z->params[i]);
}

int64_t ag_zero_owned_numel(const ag_zero *z) { return z ? z->owned : -1; }
ag_optim *ag_zero_local_optim(ag_zero *z) { return z ? z->optim : NULL; }
