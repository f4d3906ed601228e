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
    r->scratch = NULL;
    r->cnt = NULL;
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
    for (int k = 0; k < w; k++) {   /* chunk k: [count*k/w, count*(k+1)/w) */
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
    if (!r->scratch) {
        ag__red_free(r);
        return ag__error(AG_ERR_NOMEM, fn, "out of memory for %d elements", count);
    }
    return AG_OK;
}

int ag__red_start(struct ag__red *r, const char *fn) {
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
    int rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, r->buf, r->cnt, r->dsp,
                             ag__dist_type(r->dtype), ag__dist_comm, &r->req);
    if (rc != MPI_SUCCESS) return ag__dist_mpi_error(fn, rc, "MPI_Iallgatherv");
    r->phase = 2;
    return AG_OK;
}

int ag__red_test(struct ag__red *r, const char *fn) {
    while (r->phase == 1 || r->phase == 2) {
        int done = 0, rc = MPI_Test(&r->req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return ag__dist_mpi_error(fn, rc, r->phase == 1 ? "MPI_Ialltoallv" : "MPI_Iallgatherv");
        if (!done) return AG_OK;
        if ((rc = phase_done(r, fn))) return rc;
    }
    return AG_OK;
}

int ag__red_wait(struct ag__red *r, const char *fn, const char *what) {
    while (r->phase == 1 || r->phase == 2) {
        int rc = ag__dist_wait(&r->req, fn, what);
        if (!rc) rc = phase_done(r, fn);
        if (rc) return rc;
    }
    return AG_OK;
}
