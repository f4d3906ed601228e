/* The deterministic all-reduce-mean: MPI moves bytes, we do the arithmetic.
 *
 * MPI_Allreduce with MPI_SUM lets Open MPI pick the algorithm (ring, recursive doubling,
 * ...) by message size and world size, and each adds in its own order: the bits change
 * with the bucket size and may differ between ranks. Here rank r receives chunk r of every
 * rank's buffer (MPI_Ialltoallv: the same bytes a ring reduce-scatter moves), adds the
 * copies in rank order 0, 1, ..., N-1, divides by N, and MPI_Iallgatherv sends the chunks
 * to everyone. Each element's sum is the same expression on every rank, for every chunking:
 * bitwise equal everywhere and every run. */
#include "dist/dist.h"

#include <stdlib.h>
#include <string.h>

void ag__red_free(struct ag__red *r) {
    free(r->scratch);
    free(r->cnt);
    free(r->reqs);
    free(r->peers);
    r->peers = NULL;
    r->scratch = NULL;
    r->cnt = NULL;
    r->reqs = NULL;
}

/* AG_DIST_ALGO=coll: MPI_Ialltoallv + MPI_Iallgatherv; otherwise (p2p) the same exchange
 * as point-to-point messages, which Open MPI's ob1 progresses faster (bench-dist). */
static int use_p2p(void) {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("AG_DIST_ALGO");
        v = !(e && !strcmp(e, "coll"));
    }
    return v;
}

/* Messages may go in segments of AG_DIST_SEGMENT_KB (default: none, one message per peer
 * and phase). Segments looked faster until the scratch buffers were kept between calls;
 * since then bench-dist finds one message as fast or faster at every size. */
static int64_t seg_elems(ag_dtype dt) {
    static int64_t bytes = -1;
    if (bytes < 0) {
        const char *e = getenv("AG_DIST_SEGMENT_KB");
        bytes = (e && atoi(e) > 0 ? (int64_t)atoi(e) : (int64_t)1 << 21) * 1024;
    }
    return bytes / (int64_t)ag_dtype_size(dt);
}

static int segments(int count, ag_dtype dt) {
    int64_t s = seg_elems(dt);
    return count ? (int)((count + s - 1) / s) : 0;
}

/* Posts one message of count elements at p, to (send) or from peer, as segments. */
static int post_segments(struct ag__red *r, bool send, char *p, int count, int peer, int tag) {
    MPI_Datatype t = ag__dist_type(r->dtype);
    int64_t s = seg_elems(r->dtype);
    size_t esz = ag_dtype_size(r->dtype);
    for (int64_t at = 0; at < count; at += s) {
        int n = (int)(count - at < s ? count - at : s), rc;
        r->peers[r->nreq] = send ? -1 : peer;
        if (send)
            rc = MPI_Isend(p + (size_t)at * esz, n, t, peer, tag, ag__dist_comm,
                           &r->reqs[r->nreq++]);
        else
            rc = MPI_Irecv(p + (size_t)at * esz, n, t, peer, tag, ag__dist_comm,
                           &r->reqs[r->nreq++]);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

int ag__red_can_overlap(void) { return use_p2p(); }

/* Phase 1 (chunks to their owners) or 2 (the owner's mean to everyone) as messages. */
static int post_p2p(struct ag__red *r, int phase, const char *fn) {
    int w = ag_dist_world_size(), me = ag_dist_rank(), rc = MPI_SUCCESS;
    size_t esz = ag_dtype_size(r->dtype);
    char *buf = r->buf, *scratch = r->scratch;
    r->nreq = 0;
    for (int k = 0; k < w && rc == MPI_SUCCESS; k++) {
        if (k == me) continue;
        if (phase == 1) {
            rc = post_segments(r, false, scratch + (size_t)k * (size_t)r->rcnt[k] * esz, r->rcnt[k],
                               k, r->tag);
            if (rc == MPI_SUCCESS)
                rc = post_segments(r, true, buf + (size_t)r->dsp[k] * esz, r->cnt[k], k, r->tag);
        } else {
            rc = post_segments(r, false, buf + (size_t)r->dsp[k] * esz, r->cnt[k], k, r->tag + 1);
            if (rc == MPI_SUCCESS)
                rc = post_segments(r, true, buf + (size_t)r->dsp[me] * esz, r->cnt[me], k,
                                   r->tag + 1);
        }
    }
    if (phase == 1) /* this rank's own chunk */
        memcpy(scratch + (size_t)me * (size_t)r->rcnt[me] * esz, buf + (size_t)r->dsp[me] * esz,
               (size_t)r->cnt[me] * esz);
    if (rc != MPI_SUCCESS) return ag__dist_mpi_error(fn, rc, "MPI_Isend/MPI_Irecv");
    return AG_OK;
}

int ag__red_init(struct ag__red *r, void *buf, int count, ag_dtype dtype, const char *fn) {
    int w = ag_dist_world_size(), me = ag_dist_rank();
    memset(r, 0, sizeof *r);
    r->buf = buf;
    r->count = count;
    r->dtype = dtype;
    r->cnt = malloc(4 * (size_t)w * sizeof *r->cnt);
    if (!r->cnt) return ag__error(AG_ERR_NOMEM, fn, "out of memory");
    r->dsp = r->cnt + w;
    r->rcnt = r->cnt + 2 * w;
    r->rdsp = r->cnt + 3 * w;
    for (int k = 0; k < w; k++) { /* chunk k: [count*k/w, count*(k+1)/w) */
        int lo = (int)((int64_t)count * k / w), hi = (int)((int64_t)count * (k + 1) / w);
        r->cnt[k] = hi - lo;
        r->dsp[k] = lo;
    }
    int mine = r->cnt[me];
    for (int k = 0; k < w; k++) {
        r->rcnt[k] = mine;
        r->rdsp[k] = k * mine;
    }
    r->scratch = malloc((size_t)w * (size_t)(mine ? mine : 1) * ag_dtype_size(dtype));
    int most = 0; /* requests in a phase: the largest chunk's segments, both ways, per peer */
    for (int k = 0; k < w; k++) most = r->cnt[k] > most ? r->cnt[k] : most;
    size_t nreq = 2 * (size_t)w * (size_t)(segments(most, dtype) + 1);
    r->reqs = malloc(nreq * sizeof *r->reqs);
    r->peers = malloc(nreq * sizeof *r->peers);
    if (!r->scratch || !r->reqs || !r->peers) {
        ag__red_free(r);
        return ag__error(AG_ERR_NOMEM, fn, "out of memory for %d elements", count);
    }
    return AG_OK;
}

int ag__red_start(struct ag__red *r, const char *fn) {
    if (use_p2p()) {
        r->phase = 1;
        return post_p2p(r, 1, fn);
    }
    MPI_Datatype t = ag__dist_type(r->dtype);
    int rc = MPI_Ialltoallv(r->buf, r->cnt, r->dsp, t, r->scratch, r->rcnt, r->rdsp, t,
                            ag__dist_comm, &r->req);
    if (rc != MPI_SUCCESS) return ag__dist_mpi_error(fn, rc, "MPI_Ialltoallv");
    r->phase = 1;
    return AG_OK;
}

/* out = (((s_0 + s_1) + s_2) + ... + s_{w-1}) / w, element by element. */
static void sum_in_rank_order(struct ag__red *r) {
    int w = ag_dist_world_size(), n = r->cnt[ag_dist_rank()], lo = r->dsp[ag_dist_rank()];
    if (r->dtype == AG_F32) {
        float *restrict out = (float *)r->buf + lo;
        const float *restrict s = r->scratch;
        for (int j = 0; j < n; j++) out[j] = s[j];
        for (int k = 1; k < w; k++)
            for (int j = 0; j < n; j++) out[j] += s[(size_t)k * n + j];
        for (int j = 0; j < n; j++) out[j] /= (float)w;
    } else {
        double *restrict out = (double *)r->buf + lo;
        const double *restrict s = r->scratch;
        for (int j = 0; j < n; j++) out[j] = s[j];
        for (int k = 1; k < w; k++)
            for (int j = 0; j < n; j++) out[j] += s[(size_t)k * n + j];
        for (int j = 0; j < n; j++) out[j] /= (double)w;
    }
}

/* The current phase's request has completed: add and start the all-gather, or finish. */
static int phase_done(struct ag__red *r, const char *fn) {
    if (r->phase == 2) {
        r->phase = 3;
        return AG_OK;
    }
    sum_in_rank_order(r);
    if (use_p2p()) {
        r->phase = 2;
        return post_p2p(r, 2, fn);
    }
    int rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, r->buf, r->cnt, r->dsp,
                             ag__dist_type(r->dtype), ag__dist_comm, &r->req);
    if (rc != MPI_SUCCESS) return ag__dist_mpi_error(fn, rc, "MPI_Iallgatherv");
    r->phase = 2;
    return AG_OK;
}

static int test_phase(struct ag__red *r, int *done) {
    if (use_p2p()) return MPI_Testall(r->nreq, r->reqs, done, MPI_STATUSES_IGNORE);
    return MPI_Test(&r->req, done, MPI_STATUS_IGNORE);
}

int ag__red_test(struct ag__red *r, const char *fn) {
    while (r->phase == 1 || r->phase == 2) {
        int done = 0, rc = test_phase(r, &done);
        if (rc != MPI_SUCCESS)
            return ag__dist_mpi_error(fn, rc, r->phase == 1 ? "MPI_Ialltoallv" : "MPI_Iallgatherv");
        if (!done) return AG_OK;
        if ((rc = phase_done(r, fn))) return rc;
    }
    return AG_OK;
}

int ag__red_wait(struct ag__red *r, const char *fn, const char *what) {
    while (r->phase == 1 || r->phase == 2) {
        int rc = use_p2p() ? ag__dist_wait_all(r->nreq, r->reqs, r->peers, fn, what)
                           : ag__dist_wait(&r->req, fn, what);
        if (!rc) rc = phase_done(r, fn);
        if (rc) return rc;
    }
    return AG_OK;
}
