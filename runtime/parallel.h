/* Parallel regions: the one door every threaded kernel goes through.
 *
 * Kernels never use OpenMP pragmas or omp_* calls directly; they call these, so the
 * team (a pool of our own: spin briefly, then sleep) and its wait policy live in one file
 * (runtime/parallel.c).  Work is split by iteration, never by thread: the same iteration
 * range always does the same arithmetic, so results do not depend on the thread count.
 *
 * Inside a region (or when one thread is set) every call runs inline on the caller.
 * Blocks and team members are claimed by whichever thread is free (the caller takes any a
 * late worker has not started), so two may run one after the other on one thread: they
 * must never wait for each other.  A tid is never used by two threads at once. */
#ifndef AG_RUNTIME_PARALLEL_H
#define AG_RUNTIME_PARALLEL_H

#include <stdint.h>

/* Body of a parallel loop: iterations [lo, hi) on team member `tid` (0..team-1, for
 * per-thread scratch buffers).  An iteration's result must not depend on lo/hi (sum in
 * fixed chunks, not per block).  Errors are recorded in ctx (e.g. an int per tid). */
typedef void (*ag__range_fn)(void *ctx, int64_t lo, int64_t hi, int tid);

/* Body of a team region: member tid of nth (for a grid split the caller computes). */
typedef void (*ag__team_fn)(void *ctx, int tid, int nth);

/* Threads a region started now would have: 1 inside a region, else ag_get_num_threads(). */
int ag__parallel_threads(void);

/* Is the caller inside a parallel region? */
int ag__in_parallel(void);

/* Run fn over [0, n) in contiguous static blocks, one per team member, when
 * n * cost_per_iter >= min_work and more than one thread is available; otherwise
 * fn(ctx, 0, n, 0) inline.  Blocks are whole multiples of `grain` iterations (>= 1). */
void ag__parallel_for(int64_t n, int64_t grain, double cost_per_iter, double min_work,
                      ag__range_fn fn, void *ctx);

/* Run fn on a team of exactly nth members (nth clamped to 1..ag__parallel_threads()).
 * Each member gets its tid; the call returns when all have returned. */
void ag__parallel_team(int nth, ag__team_fn fn, void *ctx);

#endif
