/* Internal: what ag_train needs from libag_dist when ag_train_opts.ddp is set. The core
 * never links MPI: ag_dist_init registers these functions (nn/train_dist.c keeps them), and
 * ag_train calls through them. Without a ddp every function is a no-op. */
#ifndef AG_NN_TRAIN_DIST_H
#define AG_NN_TRAIN_DIST_H

#include "tensor/tensor.h"

struct ag__dist_ops {
    int (*sync)(ag_ddp *d);            /* ag_ddp_sync */
    int (*mean_f64)(double *v, int n); /* deterministic mean over ranks, in place */
    int (*barrier)(void);
    int (*rank)(void);
    int (*world_size)(void);
};
AG__EXPORT void ag__dist_register(const struct ag__dist_ops *ops); /* called by ag_dist_init */

/* ag_train's call sites. Each returns 0 (or does nothing) when d is NULL. */
int ag__train_dist_check(ag_ddp *d, const char *fn); /* error if ddp without ag_dist_init */
bool ag__train_dist_is_root(ag_ddp *d);              /* rank 0, or no ddp */
/* batch is per rank (torch DDP's meaning); shards padded to equal length */
ag_loader *ag__train_dist_loader(ag_ddp *d, ag_tensor *x, ag_tensor *y, int64_t batch,
                                 bool shuffle);
int ag__train_dist_sync(ag_ddp *d);
/* sum of losses, correct count (-1: not labels) and samples: totals over ranks */
int ag__train_dist_totals(ag_ddp *d, double *sum, int64_t *correct, int64_t *seen);
int ag__train_dist_barrier(ag_ddp *d);

#endif
