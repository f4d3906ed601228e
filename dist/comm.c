/* Starting and stopping MPI, rank and size, barrier, abort, broadcast and all-reduce of
 * tensors. Every wait polls with a timeout, so a hung or vanished peer ends the job with a
 * message naming this rank instead of hanging it. */
#include "dist/dist.h"
#include "nn/train_dist.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

MPI_Comm ag__dist_comm = MPI_COMM_NULL;
int ag__dist_provided;
static int rank, world = 1;
static int we_started;
static double timeout_s = 300;
/* ag_dist_allreduce_mean's last buffers, kept for the next call of the same size: fresh
 * scratch memory each call (mmap'ed by malloc above 128 KB) costs page faults that made a
 * 1 MB reduction 5x slower than MPI_Allreduce (bench-dist). */
static struct ag__red cached;

double ag__dist_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

MPI_Datatype ag__dist_type(ag_dtype dt) { return dt == AG_F32 ? MPI_FLOAT : MPI_DOUBLE; }

int ag__dist_check_init(const char *fn) {
    if (ag__dist_comm != MPI_COMM_NULL) return AG_OK;
    return ag__error(AG_ERR_STATE, fn, "call ag_dist_init first");
}

int ag__dist_mpi_error(const char *fn, int mpi_rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(mpi_rc, msg, &len);
    return ag__error(AG_ERR_STATE, fn, "rank %d: %s: %s", rank, what, msg);
}

int ag__dist_wait(MPI_Request *req, const char *fn, const char *what) {
    return ag__dist_wait_all(1, req, NULL, fn, what);
}

/* The timeout's message: the first rank whose message has not arrived, when known. */
static void timed_out(int n, MPI_Request *reqs, const int *peers, const char *fn,
                      const char *what) {
    char m[320];
    int late = -1;
    for (int i = 0; peers && i < n && late < 0; i++) {
        int flag = 1;
        if (peers[i] >= 0 &&
            MPI_Request_get_status(reqs[i], &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && !flag)
            late = peers[i];
    }
    if (late >= 0)
        snprintf(m, sizeof m,
                 "%s: %s: nothing from rank %d in %g s: rank %d is hung or gone "
                 "(or waits on another)",
                 fn, what, late, timeout_s, late);
    else
        snprintf(m, sizeof m, "%s: %s did not complete in %g s: another rank is hung or gone", fn,
                 what, timeout_s);
    ag_dist_abort(3, m);
}

int ag__dist_wait_all(int n, MPI_Request *reqs, const int *peers, const char *fn,
                      const char *what) {
    double start = ag__dist_now();
    for (long spins = 0;; spins++) {
        int done = 0, rc = MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return ag__dist_mpi_error(fn, rc, what);
        if (done) return AG_OK;
        if ((spins & 63) == 63) {
            if (timeout_s > 0 && ag__dist_now() - start > timeout_s)
                timed_out(n, reqs, peers, fn, what);
            sched_yield(); /* oversubscribed runs: let the peer we wait for run */
        }
    }
}

double ag_dist_set_timeout(double seconds) {
    double prev = timeout_s;
    timeout_s = seconds;
    return prev;
}

/* ag_train's way into this library (nn/train_dist.h): the core never links MPI. */
static int mean_f64(double *v, int n) {
    ag_tensor *t = ag_tensor_new(AG_F64, 1, (int64_t[]){n}, v);
    int rc = t ? ag_dist_allreduce_mean(&t, 1) : AG_ERR_NOMEM;
    if (!rc) memcpy(v, ag_data(t), (size_t)n * sizeof *v);
    ag_tensor_free(t);
    return rc;
}

static const struct ag__dist_ops train_ops = {ag_ddp_sync, mean_f64, ag_dist_barrier, ag_dist_rank,
                                              ag_dist_world_size};

int ag_dist_init(int *argc, char ***argv) {
    const char *fn = "ag_dist_init";
    if (ag__dist_comm != MPI_COMM_NULL) return AG_OK;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int want = ag__ddp_default_progress() == AG_DDP_PROGRESS_THREAD ? MPI_THREAD_MULTIPLE
                                                                        : MPI_THREAD_FUNNELED;
        if (MPI_Init_thread(argc, argv, want, &ag__dist_provided) != MPI_SUCCESS)
            return ag__error(AG_ERR_STATE, fn, "MPI_Init_thread failed");
        we_started = 1;
    } else {
        MPI_Query_thread(&ag__dist_provided);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &ag__dist_comm);
    if (rc != MPI_SUCCESS) return ag__dist_mpi_error(fn, rc, "MPI_Comm_dup");
    MPI_Comm_set_errhandler(ag__dist_comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(ag__dist_comm, &rank);
    MPI_Comm_size(ag__dist_comm, &world);
    const char *t = getenv("AG_DIST_TIMEOUT");
    if (t && *t) timeout_s = atof(t);
    ag__dist_register(&train_ops);
    return AG_OK;
}

int ag_dist_finalize(void) {
    if (ag__dist_comm == MPI_COMM_NULL) return AG_OK;
    ag__red_free(&cached);
    ag__dist_register(NULL);
    MPI_Comm_free(&ag__dist_comm);
    ag__dist_comm = MPI_COMM_NULL;
    rank = 0;
    world = 1;
    if (we_started) {
        we_started = 0;
        if (MPI_Finalize() != MPI_SUCCESS)
            return ag__error(AG_ERR_STATE, "ag_dist_finalize", "MPI_Finalize failed");
    }
    return AG_OK;
}

int ag_dist_rank(void) { return rank; }
int ag_dist_world_size(void) { return world; }

void ag_dist_abort(int code, const char *message) {
    fprintf(stderr, "ag_dist: rank %d: %s\n", rank, message ? message : "aborting");
    fflush(stderr);
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (inited && !finalized) MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
    exit(code ? code : 1);
}

int ag_dist_barrier(void) {
    const char *fn = "ag_dist_barrier";
    if (ag__dist_check_init(fn)) return AG_ERR_STATE;
    MPI_Request req;
    int rc = MPI_Ibarrier(ag__dist_comm, &req);
    if (rc != MPI_SUCCESS) return ag__dist_mpi_error(fn, rc, "MPI_Ibarrier");
    return ag__dist_wait(&req, fn, "the barrier");
}

/* Contiguous float tensor with data: the only kind these functions move. */
static int check_tensor(ag_tensor *t, int i, const char *fn) {
    if (!t) return ag__error(AG_ERR_NULL, fn, "tensor %d is NULL", i);
    if ((ag_dtype_of(t) != AG_F32 && ag_dtype_of(t) != AG_F64) || !ag_data(t))
        return ag__error(AG_ERR_ARG, fn, "tensor %d %s %s must be a contiguous float tensor", i,
                         ag_dtype_name(ag_dtype_of(t)), ag__shape_str(ag_ndim(t), ag_shape(t)));
    return AG_OK;
}

static int check_tensors(ag_tensor **ts, int n, const char *fn) {
    if (ag__dist_check_init(fn)) return AG_ERR_STATE;
    if (!ts || n < 0) return ag__error(AG_ERR_NULL, fn, "needs an array of n >= 0 tensors (%d)", n);
    for (int i = 0; i < n; i++)
        if (check_tensor(ts[i], i, fn)) return AG_ERR_ARG;
    return AG_OK;
}

#define PIECE ((int64_t)1 << 26) /* elements per MPI call: counts are ints */

int ag_dist_broadcast_params(ag_tensor **params, int n, int root) {
    const char *fn = "ag_dist_broadcast_params";
    if (check_tensors(params, n, fn)) return AG_ERR_ARG;
    if (root < 0 || root >= world)
        return ag__error(AG_ERR_ARG, fn, "root %d is not a rank of %d", root, world);
    for (int i = 0; i < n; i++) {
        size_t esz = ag_dtype_size(ag_dtype_of(params[i]));
        char *p = ag_data(params[i]);
        for (int64_t at = 0, total = ag_numel(params[i]); at < total; at += PIECE) {
            int cnt = (int)(total - at < PIECE ? total - at : PIECE);
            MPI_Request req;
            int rc = MPI_Ibcast(p + (size_t)at * esz, cnt, ag__dist_type(ag_dtype_of(params[i])),
                                root, ag__dist_comm, &req);
            if (rc != MPI_SUCCESS) return ag__dist_mpi_error(fn, rc, "MPI_Ibcast");
            if ((rc = ag__dist_wait(&req, fn, "a parameter's broadcast"))) return rc;
        }
    }
    return AG_OK;
}

int ag_dist_allreduce_mean(ag_tensor **tensors, int n) {
    const char *fn = "ag_dist_allreduce_mean";
    if (check_tensors(tensors, n, fn)) return AG_ERR_ARG;
    for (int i = 0; i < n; i++) {
        ag_dtype dt = ag_dtype_of(tensors[i]);
        char *p = ag_data(tensors[i]);
        for (int64_t at = 0, total = ag_numel(tensors[i]); at < total; at += PIECE) {
            int cnt = (int)(total - at < PIECE ? total - at : PIECE), rc = AG_OK;
            void *buf = p + (size_t)at * ag_dtype_size(dt);
            if (cached.cnt && cached.count == cnt && cached.dtype == dt) {
                cached.buf = buf;
                cached.phase = 0;
            } else {
                ag__red_free(&cached);
                rc = ag__red_init(&cached, buf, cnt, dt, fn);
            }
            if (!rc) rc = ag__red_start(&cached, fn);
            if (!rc) rc = ag__red_wait(&cached, fn, "the all-reduce");
            if (rc) {
                ag__red_free(&cached);
                return rc;
            }
        }
    }
    return AG_OK;
}
