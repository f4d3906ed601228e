/* Internal to libag_dist: the communicator, errors with the rank in them, waiting with a
 * timeout, and one deterministic all-reduce-mean in flight (dist/reduce.c). */
#ifndef AG_DIST_INTERNAL_H
#define AG_DIST_INTERNAL_H

#include <ag_dist.h>
#include <mpi.h>
#include <stddef.h>

#include "tensor/tensor.h" /* ag__error */

extern MPI_Comm ag__dist_comm; /* MPI_COMM_WORLD's duplicate, errors return */
extern int ag__dist_provided;  /* the thread level MPI gave */

/* Non-zero when ag_dist_init has not run (an error naming fn). */
int ag__dist_check_init(const char *fn);
/* An MPI failure as "fn: rank R: what: <MPI's message>"; returns AG_ERR_STATE. */
int ag__dist_mpi_error(const char *fn, int mpi_rc, const char *what);
/* Waits for req, polling; past the timeout the job is aborted with a message naming this
 * rank, fn and what. 0 or an MPI error (set as the last error). */
int ag__dist_wait(MPI_Request *req, const char *fn, const char *what);
/* The same for n requests; peers[i] (or NULL) is the rank request i receives from, -1 for
 * sends: the timeout's message then names the rank that sent nothing. */
int ag__dist_wait_all(int n, MPI_Request *reqs, const int *peers, const char *fn, const char *what);
double ag__dist_now(void);
MPI_Datatype ag__dist_type(ag_dtype dt);
ag_ddp_progress ag__ddp_default_progress(void);

/* A deterministic mean over ranks of a contiguous buffer of count elements: rank r gets
 * chunk r of every rank (all-to-all), adds them in rank order and divides by the world
 * size, then the chunks go back to everyone (all-gather). Phases advance through
 * ag__red_test, so a caller can poll it or wait on it. */
struct ag__red {
    void *buf; /* in place: the input, then the mean */
    int count;
    ag_dtype dtype;
    void *scratch;     /* world_size copies of this rank's chunk */
    int *cnt, *dsp;    /* per rank: chunk length and start in buf */
    int *rcnt, *rdsp;  /* per rank: this rank's chunk length, slot in scratch */
    int phase;         /* 0 idle, 1 all-to-all, 2 all-gather, 3 done */
    MPI_Request req;   /* collectives: the phase's one request */
    MPI_Request *reqs; /* point-to-point: 2 (world - 1) requests per phase */
    int *peers;        /* per request: the rank it receives from, -1 for sends */
    int nreq;
    int tag; /* point-to-point: phase p's messages use tag + p - 1 */
};
int ag__red_init(struct ag__red *r, void *buf, int count, ag_dtype dtype, const char *fn);
int ag__red_start(struct ag__red *r, const char *fn);
int ag__red_test(struct ag__red *r, const char *fn); /* advances what it can; phase 3: done */
int ag__red_wait(struct ag__red *r, const char *fn, const char *what);
void ag__red_free(struct ag__red *r);
/* Whether reductions of several buffers may be in flight at once (point-to-point: each has
 * its own tags), or must run one after another (collectives). */
int ag__red_can_overlap(void);

#endif
