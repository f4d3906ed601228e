/* ag_dist: data-parallel training over MPI (libag_dist; `pkg-config --cflags --libs ag-dist`).
 *
 * The core library (ag.h) knows nothing of MPI; this one small library adds what
 * torch.distributed and torch.nn.parallel.DistributedDataParallel give:
 *
 *     ag_dist_init(&argc, &argv);
 *     ag_ddp *ddp = ag_ddp_new(params, n, (ag_ddp_opts){0});   // rank 0's values everywhere
 *     ag_loader *l = ag_loader_new_distributed(x, y, B, true, ag_dist_rank(),
 *                                              ag_dist_world_size(), false);
 *     for each batch: forward, ag_backward(loss), ag_ddp_sync(ddp), ag_optim_step(o)
 *     ag_ddp_free(ddp); ag_dist_finalize();
 *
 * Run with `mpirun -np N ./prog`. Every function below is collective (all ranks call it, in
 * the same order) unless it says otherwise. Errors: non-zero return (NULL for ag_ddp_new)
 * and ag_last_error() naming the function, this rank, and the MPI error. A rank that
 * cannot go on should call ag_dist_abort: the whole job then ends with its message. */
#ifndef AG_DIST_H
#define AG_DIST_H

#include <ag.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/** MPI_Init_thread if MPI is not initialised yet (argc/argv may be NULL); the library's MPI
 * errors return instead of aborting, so they come back as messages. 0 or non-zero. */
int ag_dist_init(int *argc, char ***argv);
/** MPI_Finalize if ag_dist_init started MPI. Not collective when MPI was never started. */
int ag_dist_finalize(void);
int ag_dist_rank(void);       /**< 0 before ag_dist_init; local, not collective */
int ag_dist_world_size(void); /**< 1 before ag_dist_init; local, not collective */
int ag_dist_barrier(void);
/** Prints "ag_dist: rank R: message" on stderr and ends every rank of the job (MPI_Abort with
 * code). Local: the other ranks need not call it. Does not return. */
void ag_dist_abort(int code, const char *message);
/** Seconds a collective waits before the job is declared hung and aborted with a message
 * naming the rank and the operation (default 300; env AG_DIST_TIMEOUT; <= 0: forever).
 * Returns the previous value. Local. */
double ag_dist_set_timeout(double seconds);

/** Copies root's values of the n contiguous float tensors into every rank's tensors. */
int ag_dist_broadcast_params(ag_tensor **params, int n, int root);
/** In place: each tensor (contiguous, F32 or F64) becomes the mean over ranks. The sum runs
 * in rank order 0, 1, ..., N-1 whatever MPI would choose, then divides by N: the result is
 * bitwise the same on every rank and from run to run at a fixed world size. */
int ag_dist_allreduce_mean(ag_tensor **tensors, int n);

/* ---------------------------------------------------------------- DistributedDataParallel */
/** DistributedDataParallel state (opaque). */
typedef struct ag_ddp ag_ddp;
/** How the reductions make progress during backward. */
typedef enum {
    AG_DDP_PROGRESS_DEFAULT = 0, /**< THREAD (measured best by bench-dist: docs/DIST.md) */
    AG_DDP_PROGRESS_POLL,        /**< the backward walk drives MPI from inside the hooks */
    AG_DDP_PROGRESS_THREAD       /**< a communication thread makes the MPI calls */
} ag_ddp_progress;
/** ag_ddp_new's options; zero fields take their defaults. */
typedef struct {
    double bucket_cap_mb; /**< 0: 25 (torch's default); gradients packed per bucket */
    ag_ddp_progress
        progress; /**< 0: env AG_DDP_PROGRESS=poll|thread at ag_dist_init, else THREAD */
} ag_ddp_opts;
/** Broadcasts the parameters from rank 0, groups their gradients into buckets (in reverse
 * order: the last layers' gradients are final first) and hooks every parameter, so a
 * bucket starts its all-reduce as soon as all its gradients are final during ag_backward.
 * The parameters (leaves that require grad, F32/F64, contiguous) are not owned and must
 * outlive the ddp. NULL on error. */
ag_ddp *ag_ddp_new(ag_tensor **params, int n, ag_ddp_opts opts);
/** After ag_backward: finishes the overlapped reductions (and starts those of buckets whose
 * parameters got no gradient this step), then every parameter's .grad is the mean over
 * ranks, bitwise equal everywhere. With no_sync on, returns 0 at once. */
int ag_ddp_sync(ag_ddp *d);
/** DDP's no_sync: while on, backward only accumulates locally (micro-batches); turn it off
 * before the last micro-batch's backward, whose sync then averages the accumulated sum.
 * Local. */
void ag_ddp_set_no_sync(ag_ddp *d, bool on);
/** Removes the hooks and frees the buffers (not the parameters). Local. */
void ag_ddp_free(ag_ddp *d);

/** Counters of a ddp since ag_ddp_new (bench-dist reads them). */
typedef struct {
    int64_t steps;         /**< syncs that reduced */
    int buckets;           /**< bucket count (fixed at ag_ddp_new) */
    double bytes_per_step; /**< gradient bytes reduced per step */
    double hook_s;         /**< time inside the hooks (packing, starting, polling) */
    double wait_s;         /**< time ag_ddp_sync waited: communication not hidden */
} ag_ddp_stats;
void ag_ddp_get_stats(const ag_ddp *d, ag_ddp_stats *out); /**< totals since ag_ddp_new */

/* ---------------------------------------------------------------- ZeRO stage 1
 * torch.distributed.optim.ZeroRedundancyOptimizer: the optimizer state is sharded by
 * parameter tensor. Every rank assigns the tensors to ranks the same way (largest first, to
 * the least loaded rank) and `make` builds an optimizer over this rank's own tensors only
 * (e.g. a wrapper around ag_adam_new); ag_zero_step steps it and broadcasts every tensor
 * from its owner. With gradients averaged by ag_ddp_sync the weights are bitwise those of
 * plain data-parallel training, for about 1/N of the optimizer's memory. The parameters are
 * not owned. NULL / non-zero on error (an error from make comes back as is). */
typedef ag_optim *(*ag_optim_maker)(ag_tensor **params, int n, void *user);
typedef struct ag_zero ag_zero;
ag_zero *ag_zero_new(ag_tensor **params, int n, ag_optim_maker make, void *user);
int ag_zero_step(ag_zero *z);
void ag_zero_zero_grad(ag_zero *z);            /**< every parameter's .grad (local) */
int64_t ag_zero_owned_numel(const ag_zero *z); /**< elements this rank updates (local) */
ag_optim *ag_zero_local_optim(ag_zero *z);     /**< this rank's optimizer, or NULL */
void ag_zero_free(ag_zero *z);                 /**< local */

/** ag_loader_new_distributed (the sampler) is in the core library: see ag.h. */

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
