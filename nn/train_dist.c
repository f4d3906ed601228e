/* ag_train in a data-parallel run (ag_train_opts.ddp): the few things the loop does
 * differently, through the functions libag_dist registered (nn/train_dist.h). */
#include "nn/train_dist.h"

#include <math.h>

static const struct ag__dist_ops *ops;

void ag__dist_register(const struct ag__dist_ops *o) { ops = o; }

int ag__train_dist_check(ag_ddp *d, const char *fn) {
    if (d && !ops)
        return ag__error(AG_ERR_STATE, fn, "opts.ddp is set but ag_dist_init has not run");
    return AG_OK;
}

bool ag__train_dist_is_root(ag_ddp *d) { return !d || ops->rank() == 0; }

/* Every rank its shard of each epoch; padding keeps the step counts equal on all ranks. */
ag_loader *ag__train_dist_loader(ag_ddp *d, ag_tensor *x, ag_tensor *y, int64_t batch,
                                 bool shuffle) {
    if (!d) return ag_loader_new(x, y, batch, shuffle);
    return ag_loader_new_distributed(x, y, batch, shuffle, ops->rank(), ops->world_size(), false);
}

int ag__train_dist_sync(ag_ddp *d) { return d ? ops->sync(d) : AG_OK; }

int ag__train_dist_totals(ag_ddp *d, double *sum, int64_t *correct, int64_t *seen) {
    if (!d) return AG_OK;
    double v[4] = {*sum, (double)(*correct >= 0 ? *correct : 0), (double)*seen,
                   *correct < 0 ? 1.0 : 0.0};
    int rc = ops->mean_f64(v, 4), w = ops->world_size();
    if (rc) return rc;
    *sum = v[0] * w; /* the mean of w copies times w: exact for the integer counts */
    *correct = v[3] > 0 ? -1 : (int64_t)llround(v[1] * w);
    *seen = (int64_t)llround(v[2] * w);
    return AG_OK;
}

int ag__train_dist_barrier(ag_ddp *d) { return d ? ops->barrier() : AG_OK; }
