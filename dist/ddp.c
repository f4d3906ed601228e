/* DistributedDataParallel: bucketed gradient all-reduce overlapped with backward.
 *
 * Parameters go into buckets in reverse order (the order backward finishes them), a new
 * bucket whenever the dtype changes or the cap would be passed. Each parameter carries a
 * post-accumulate-grad hook: it copies the final .grad into its bucket, and the bucket
 * whose last gradient arrived starts its deterministic all-reduce (dist/reduce.c) while
 * the walk goes on. Buckets start strictly in index order, so every rank issues the same
 * collectives in the same order even if its graph finishes gradients in another order.
 *
 * Open MPI advances non-blocking collectives only inside MPI calls. Two ways to make them:
 * POLL: each hook tests the buckets in flight (the walk drives the network between ops);
 * THREAD: a communication thread runs the buckets one after another (MPI_THREAD_MULTIPLE).
 * bench-dist measures both; docs/DIST.md has the numbers and the choice. */
#include "dist/dist.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slot { /* a hook's user pointer: which parameter of which ddp */
    ag_ddp *d;
    int param;
};

struct bucket {
    ag_dtype dtype;
    int64_t numel;
    int members, pending; /* parameters in it; those whose gradient is not in yet */
    void *buf;
    struct ag__red red;
};

struct ag_ddp {
    ag_tensor **params;
    int n;
    struct slot *slots;
    int *bucket_of;
    int64_t *offset; /* element offset of each parameter in its bucket */
    bool *got;       /* this step's gradient is in the bucket */
    struct bucket *b;
    int nb, next_launch, next_done;
    bool no_sync, hooked;
    ag_ddp_progress mode;
    int err; /* first failure since the last sync, and its message */
    char msg[512];
    ag_ddp_stats stats;
    /* THREAD mode */
    pthread_t thread;
    bool thread_on, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int thread_done; /* buckets the thread has finished */
};

/* THREAD unless AG_DDP_PROGRESS=poll: on the 2-core test machine the communication thread
 * gave 1.8 ms MLP steps against 11.8 ms polling, and hid more of the CNN's communication
 * (bench-dist, docs/DIST.md). */
ag_ddp_progress ag__ddp_default_progress(void) {
    const char *e = getenv("AG_DDP_PROGRESS");
    if (e && !strcmp(e, "poll")) return AG_DDP_PROGRESS_POLL;
    return AG_DDP_PROGRESS_THREAD;
}

static void fail(ag_ddp *d, int rc) {
    if (d->err) return;
    d->err = rc ? rc : AG_ERR_STATE;
    snprintf(d->msg, sizeof d->msg, "%s", ag_last_error() ? ag_last_error() : "failed");
}

/* ------------------------------------------------------------------ the thread */
static void *comm_main(void *arg) {
    ag_ddp *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        while (!d->stop && d->thread_done == d->next_launch) pthread_cond_wait(&d->cv, &d->mu);
        int k = d->thread_done;
        bool stop = d->stop && k == d->next_launch;
        pthread_mutex_unlock(&d->mu);
        if (stop) return NULL;
        int rc = ag__red_start(&d->b[k].red, "ag_ddp_sync");
        if (!rc) rc = ag__red_wait(&d->b[k].red, "ag_ddp_sync", "a gradient bucket's all-reduce");
        pthread_mutex_lock(&d->mu);
        if (rc) fail(d, rc);
        d->thread_done = k + 1;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
    }
}

/* ------------------------------------------------------------------ launching, progress */
/* Starts the ready buckets in index order. With the collectives algorithm a bucket starts
 * only when the one before it is done: every rank must start collectives in one order, and
 * a bucket's all-gather comes after its all-to-all, so only one may be in flight. */
static void launch_ready(ag_ddp *d) {
    bool serial = !d->thread_on && !ag__red_can_overlap();
    while (d->next_launch < d->nb && d->b[d->next_launch].pending == 0 &&
           (!serial || d->next_launch == d->next_done)) {
        if (d->thread_on) {
            pthread_mutex_lock(&d->mu);
            d->next_launch++;
            pthread_cond_broadcast(&d->cv);
            pthread_mutex_unlock(&d->mu);
            continue;
        }
        int rc = ag__red_start(&d->b[d->next_launch].red, "ag_ddp_sync");
        if (rc) fail(d, rc);
        d->next_launch++;
    }
}

/* Advances the buckets in flight strictly in order: a bucket's second phase starts only
 * after the buckets before it are done, so every rank starts the same operations in the
 * same order (collectives require it; messages then match by order). Testing one bucket
 * lets MPI move the messages of all of them. */
static void poll_progress(ag_ddp *d) {
    while (d->next_done < d->next_launch && !d->err) {
        int rc = ag__red_test(&d->b[d->next_done].red, "ag_ddp_sync");
        if (rc) fail(d, rc);
        if (d->b[d->next_done].red.phase != 3) break;
        d->next_done++;
        launch_ready(d);
    }
}

/* Copies parameter i's gradient (zeros when it has none) into its bucket. */
static void pack(ag_ddp *d, int i) {
    struct bucket *b = &d->b[d->bucket_of[i]];
    size_t esz = ag_dtype_size(b->dtype), bytes = (size_t)ag_numel(d->params[i]) * esz;
    char *dst = (char *)b->buf + (size_t)d->offset[i] * esz;
    ag_tensor *g = ag_grad(d->params[i]);
    if (g && ag_data(g)) memcpy(dst, ag_data(g), bytes);
    else memset(dst, 0, bytes);
    d->got[i] = true;
    b->pending--;
}

static void on_grad(ag_tensor *leaf, void *user) {
    (void)leaf;
    struct slot *s = user;
    ag_ddp *d = s->d;
    if (d->no_sync) return;
    double t0 = ag__dist_now();
    if (d->got[s->param]) {
        ag__error(AG_ERR_STATE, "ag_ddp_sync",
                  "parameter %d got two gradients before a sync; "
                  "use ag_ddp_set_no_sync for accumulation",
                  s->param);
        fail(d, AG_ERR_STATE);
        return;
    }
    pack(d, s->param);
    launch_ready(d);
    if (!d->thread_on) poll_progress(d);
    d->stats.hook_s += ag__dist_now() - t0;
}

/* ------------------------------------------------------------------ sync */
static int wait_all(ag_ddp *d) {
    if (d->thread_on) {
        pthread_mutex_lock(&d->mu);
        while (d->thread_done < d->nb) pthread_cond_wait(&d->cv, &d->mu);
        pthread_mutex_unlock(&d->mu);
        return d->err;
    }
    while (d->next_done < d->nb && !d->err) {
        launch_ready(d);
        int rc =
            ag__red_wait(&d->b[d->next_done].red, "ag_ddp_sync", "a gradient bucket's all-reduce");
        if (rc) fail(d, rc);
        d->next_done++;
    }
    return d->err;
}

static void unpack(ag_ddp *d) {
    for (int i = 0; i < d->n; i++) {
        ag_tensor *g = ag_grad(d->params[i]);
        if (!g || !ag_data(g)) continue; /* no gradient anywhere in this process */
        struct bucket *b = &d->b[d->bucket_of[i]];
        size_t esz = ag_dtype_size(b->dtype);
        memcpy(ag_data(g), (char *)b->buf + (size_t)d->offset[i] * esz,
               (size_t)ag_numel(d->params[i]) * esz);
    }
}

static void reset_step(ag_ddp *d) {
    if (d->thread_on) pthread_mutex_lock(&d->mu);
    for (int i = 0; i < d->n; i++) d->got[i] = false;
    for (int k = 0; k < d->nb; k++) {
        d->b[k].pending = d->b[k].members;
        d->b[k].red.phase = 0;
    }
    d->next_launch = d->next_done = d->thread_done = 0;
    d->err = 0;
    if (d->thread_on) pthread_mutex_unlock(&d->mu);
}

int ag_ddp_sync(ag_ddp *d) {
    const char *fn = "ag_ddp_sync";
    if (!d) return ag__error(AG_ERR_NULL, fn, "ddp is NULL");
    if (d->no_sync) return AG_OK;
    double t0 = ag__dist_now();
    for (int i = 0; i < d->n && !d->err; i++) /* parameters backward did not reach */
        if (!d->got[i]) pack(d, i);
    launch_ready(d);
    int rc = wait_all(d);
    d->stats.wait_s += ag__dist_now() - t0;
    if (!rc) {
        unpack(d);
        d->stats.steps++;
    } else {
        ag__error(rc, fn, "%s", d->msg);
    }
    reset_step(d);
    return rc;
}

void ag_ddp_set_no_sync(ag_ddp *d, bool on) {
    if (d) d->no_sync = on;
}

void ag_ddp_get_stats(const ag_ddp *d, ag_ddp_stats *out) {
    if (d && out) *out = d->stats;
}

/* ------------------------------------------------------------------ making and freeing */
void ag_ddp_free(ag_ddp *d) {
    if (!d) return;
    if (d->thread_on) {
        pthread_mutex_lock(&d->mu);
        d->stop = true;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->thread, NULL);
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
    }
    if (d->hooked)
        for (int i = 0; i < d->n; i++)
            ag_remove_post_accumulate_grad_hook(d->params[i], on_grad, &d->slots[i]);
    for (int k = 0; k < d->nb; k++) {
        free(d->b[k].buf);
        ag__red_free(&d->b[k].red);
    }
    free(d->b);
    free(d->slots);
    free(d->bucket_of);
    free(d->offset);
    free(d->got);
    free(d->params);
    free(d);
}

static int check_params(ag_tensor **params, int n, const char *fn) {
    if (!params || n < 1) return ag__error(AG_ERR_NULL, fn, "needs n >= 1 parameters (%d)", n);
    for (int i = 0; i < n; i++) {
        ag_tensor *p = params[i];
        if (!p) return ag__error(AG_ERR_NULL, fn, "parameter %d is NULL", i);
        if (!ag_is_leaf(p) || !ag_requires_grad(p) || !ag_data(p))
            return ag__error(AG_ERR_ARG, fn,
                             "parameter %d %s must be a contiguous leaf that "
                             "requires grad",
                             i, ag__shape_str(ag_ndim(p), ag_shape(p)));
    }
    return AG_OK;
}

/* Reverse order; a new bucket when the dtype changes or cap_bytes would be passed. */
static int make_buckets(ag_ddp *d, double cap_bytes, const char *fn) {
    for (int i = d->n - 1; i >= 0; i--) {
        ag_dtype dt = ag_dtype_of(d->params[i]);
        double bytes = (double)ag_numel(d->params[i]) * (double)ag_dtype_size(dt);
        struct bucket *cur = d->nb ? &d->b[d->nb - 1] : NULL;
        if (!cur || cur->dtype != dt ||
            (cur->numel && (double)cur->numel * (double)ag_dtype_size(dt) + bytes > cap_bytes)) {
            d->b[d->nb++] = (struct bucket){.dtype = dt};
            cur = &d->b[d->nb - 1];
        }
        d->bucket_of[i] = d->nb - 1;
        d->offset[i] = cur->numel;
        cur->numel += ag_numel(d->params[i]);
        cur->members++;
    }
    for (int k = 0; k < d->nb; k++) {
        struct bucket *b = &d->b[k];
        if (b->numel > INT32_MAX)
            return ag__error(AG_ERR_ARG, fn, "a bucket of %lld elements is too big for MPI",
                             (long long)b->numel);
        b->buf = malloc((size_t)(b->numel ? b->numel : 1) * ag_dtype_size(b->dtype));
        if (!b->buf) return ag__error(AG_ERR_NOMEM, fn, "out of memory for a bucket");
        int rc = ag__red_init(&b->red, b->buf, (int)b->numel, b->dtype, fn);
        if (rc) return rc;
        b->red.tag = 2 * (k % 16000); /* messages of different buckets never match */
        b->pending = b->members;
        d->stats.bytes_per_step += (double)b->numel * (double)ag_dtype_size(b->dtype);
    }
    d->stats.buckets = d->nb;
    return AG_OK;
}

static int start_thread(ag_ddp *d, const char *fn) {
    if (ag__dist_provided < MPI_THREAD_MULTIPLE)
        return ag__error(AG_ERR_STATE, fn,
                         "the thread progress mode needs MPI_THREAD_MULTIPLE "
                         "(set AG_DDP_PROGRESS=thread before ag_dist_init)");
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    if (pthread_create(&d->thread, NULL, comm_main, d)) {
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
        return ag__error(AG_ERR_STATE, fn, "cannot start the communication thread");
    }
    d->thread_on = true;
    return AG_OK;
}

ag_ddp *ag_ddp_new(ag_tensor **params, int n, ag_ddp_opts opts) {
    const char *fn = "ag_ddp_new";
    if (ag__dist_check_init(fn) || check_params(params, n, fn)) return NULL;
    if (opts.bucket_cap_mb < 0)
        return ag__error(AG_ERR_ARG, fn, "bucket_cap_mb %g must be >= 0", opts.bucket_cap_mb), NULL;
    if (ag_dist_broadcast_params(params, n, 0)) return NULL;
    ag_ddp *d = calloc(1, sizeof *d);
    if (!d) return ag__error(AG_ERR_NOMEM, fn, "out of memory"), NULL;
    d->n = n;
    d->mode = opts.progress ? opts.progress : ag__ddp_default_progress();
    d->params = malloc((size_t)n * sizeof *d->params);
    d->slots = malloc((size_t)n * sizeof *d->slots);
    d->bucket_of = malloc((size_t)n * sizeof *d->bucket_of);
    d->offset = malloc((size_t)n * sizeof *d->offset);
    d->got = calloc((size_t)n, sizeof *d->got);
    d->b = calloc((size_t)n, sizeof *d->b);
    if (!d->params || !d->slots || !d->bucket_of || !d->offset || !d->got || !d->b) {
        ag__error(AG_ERR_NOMEM, fn, "out of memory");
        goto fail;
    }
    memcpy(d->params, params, (size_t)n * sizeof *params);
    double cap = (opts.bucket_cap_mb > 0 ? opts.bucket_cap_mb : 25) * 1024 * 1024;
    if (make_buckets(d, cap, fn)) goto fail;
    if (d->mode == AG_DDP_PROGRESS_THREAD && start_thread(d, fn)) goto fail;
    for (int i = 0; i < n; i++) {
        d->slots[i] = (struct slot){d, i};
        if (ag_register_post_accumulate_grad_hook(params[i], on_grad, &d->slots[i])) {
            for (int j = 0; j < i; j++)
                ag_remove_post_accumulate_grad_hook(params[j], on_grad, &d->slots[j]);
            goto fail;
        }
    }
    d->hooked = true;
    return d;
fail:
    ag_ddp_free(d);
    return NULL;
}
