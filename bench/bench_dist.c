/* make bench-dist (bench/bench_dist.sh runs this under mpirun in several shapes):
 *   bench_dist allreduce          ag_dist_allreduce_mean against a raw MPI_Allreduce (MPI_SUM)
 *                                 of the same bytes, 4 KB .. 64 MB float32, in the same run
 *   bench_dist step MODEL GBATCH [BUCKET_MB...]
 *                                 MODEL mlp|cnn at global batch GBATCH split over the ranks:
 *                                 per step forward+backward alone (compute), the gradient sync
 *                                 alone (comm), and both with DDP (overlapped), per bucket cap
 *   bench_dist zero MODEL         ZeRO-1 against plain Adam: optimizer memory per rank
 * Times are medians over steps, the slowest rank's, in ms. Rank 0 prints. */
#include <ag_dist.h>
#include <mpi.h>

#include <malloc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { WARM = 3, REPS = 15 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median over reps of the slowest rank's time */
static double median_max(double *t, int n) {
    MPI_Allreduce(MPI_IN_PLACE, t, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    qsort(t, (size_t)n, sizeof *t, cmp);
    return t[n / 2];
}

static void bench_allreduce(void) {
    int r = ag_dist_rank();
    if (r == 0)
        printf("%-10s %12s %12s %12s %8s\n", "bytes", "ours ms", "MPI_SUM ms", "ours GB/s",
               "ratio");
    for (int64_t bytes = 4096; bytes <= (64 << 20); bytes *= 4) {
        int64_t n = bytes / 4;
        ag_tensor *t = ag_ones(AG_F32, 1, &n);
        float *raw = malloc((size_t)bytes), *out = malloc((size_t)bytes);
        memcpy(raw, ag_data(t), (size_t)bytes);
        double ours[REPS], mpi[REPS];
        for (int k = -WARM; k < REPS; k++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = now();
            ag_dist_allreduce_mean(&t, 1);
            double t1 = now();
            MPI_Barrier(MPI_COMM_WORLD);
            double t2 = now();
            MPI_Allreduce(raw, out, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double t3 = now();
            if (k >= 0) ours[k] = t1 - t0, mpi[k] = t3 - t2;
        }
        double a = median_max(ours, REPS), b = median_max(mpi, REPS);
        if (r == 0)
            printf("%-10lld %12.3f %12.3f %12.2f %8.2f\n", (long long)bytes, 1e3 * a, 1e3 * b,
                   (double)bytes / a / 1e9, b / a);
        free(raw);
        free(out);
        ag_tensor_free(t);
    }
}

static ag_model *make_model(const char *name) {
    ag_model *m = ag_model_new();
    if (!strcmp(name, "cnn")) { /* examples/cnn_fashion.c */
        ag_conv_opts same = {.padding = {1, 1}};
        ag_pool_opts pool = {.kernel = {2, 2}};
        ag_model_add(m, ag_conv2d_layer(1, 32, 3, same, true));
        ag_model_add(m, ag_activation_layer(AG_ACTIVATION_RELU));
        ag_model_add(m, ag_max_pool2d_layer(pool));
        ag_model_add(m, ag_conv2d_layer(32, 64, 3, same, true));
        ag_model_add(m, ag_activation_layer(AG_ACTIVATION_RELU));
        ag_model_add(m, ag_max_pool2d_layer(pool));
        ag_model_add(m, ag_flatten_layer());
        ag_model_add(m, ag_dense_layer(64 * 7 * 7, 128, AG_ACTIVATION_RELU));
        ag_model_add(m, ag_linear_layer(128, 10, true));
    } else { /* examples/mlp_fashion.c */
        ag_model_add(m, ag_dense_layer(784, 256, AG_ACTIVATION_RELU));
        ag_model_add(m, ag_dense_layer(256, 128, AG_ACTIVATION_RELU));
        ag_model_add(m, ag_linear_layer(128, 10, true));
    }
    return m;
}

struct step {
    ag_model *m;
    ag_optim *o;
    ag_tensor *x, *y;
};

static void forward_backward(struct step *s) {
    ag_scope_begin();
    ag_optim_zero_grad(s->o);
    if (ag_backward(ag_cross_entropy_loss(ag_model_forward(s->m, s->x), s->y)))
        ag_dist_abort(1, ag_last_error());
    ag_scope_end();
}

static void bench_step(const char *model, int64_t gbatch, int ncaps, char **caps) {
    int r = ag_dist_rank(), w = ag_dist_world_size();
    int64_t b = gbatch / w;
    struct step s = {.m = make_model(model)};
    bool cnn = !strcmp(model, "cnn");
    s.x = cnn ? ag_rand(AG_F32, 4, (int64_t[]){b, 1, 28, 28})
              : ag_rand(AG_F32, 2, (int64_t[]){b, 784});
    s.y = ag_zeros(AG_I64, 1, &b);
    for (int64_t i = 0; i < b; i++) ((int64_t *)ag_data(s.y))[i] = i % 10;
    int n;
    ag_tensor **params = ag_model_params(s.m, &n);
    s.o = ag_sgd_new(params, n, (ag_sgd_opts){.lr = 1e-9});
    char *dflt[] = {"25"};
    if (!ncaps) ncaps = 1, caps = dflt;
    if (r == 0)
        printf("%-4s global batch %lld = %d x %lld, %d thread(s)/rank\n%8s %7s %10s %10s %10s "
               "%8s %10s\n",
               model, (long long)gbatch, w, (long long)b, ag_get_num_threads(), "cap MB", "buckets",
               "compute", "comm", "ddp step", "overlap", "samples/s");
    for (int c = 0; c < ncaps; c++) {
        const char *pm = getenv("BENCH_PROGRESS"); /* a mode other than the init's default */
        ag_ddp_progress mode = !pm                   ? 0
                               : !strcmp(pm, "poll") ? AG_DDP_PROGRESS_POLL
                                                     : AG_DDP_PROGRESS_THREAD;
        ag_ddp *d =
            ag_ddp_new(params, n, (ag_ddp_opts){.bucket_cap_mb = atof(caps[c]), .progress = mode});
        if (!d) ag_dist_abort(1, ag_last_error());
        double tc[REPS], tm[REPS], td[REPS];
        for (int k = -WARM; k < REPS; k++) {
            ag_dist_barrier();
            ag_ddp_set_no_sync(d, true); /* compute alone: the hooks return at once */
            double t0 = now();
            forward_backward(&s);
            double t1 = now();
            ag_ddp_set_no_sync(d, false);
            ag_dist_barrier();
            double t2 = now();
            ag_ddp_sync(d); /* communication alone: nothing to hide behind */
            double t3 = now();
            ag_dist_barrier();
            double t4 = now();
            forward_backward(&s); /* both, overlapped */
            ag_ddp_sync(d);
            double t5 = now();
            if (k >= 0) tc[k] = t1 - t0, tm[k] = t3 - t2, td[k] = t5 - t4;
        }
        ag_ddp_stats st;
        ag_ddp_get_stats(d, &st);
        double c_ = median_max(tc, REPS), m_ = median_max(tm, REPS), d_ = median_max(td, REPS);
        double overlap = m_ > 0 ? (c_ + m_ - d_) / m_ : 0;
        if (r == 0)
            printf("%8s %7d %10.2f %10.2f %10.2f %7.0f%% %10.0f\n", caps[c], st.buckets, 1e3 * c_,
                   1e3 * m_, 1e3 * d_,
                   100 * (overlap < 0   ? 0
                          : overlap > 1 ? 1
                                        : overlap),
                   (double)gbatch / d_);
        ag_ddp_free(d);
    }
    ag_optim_free(s.o);
    ag_model_free(s.m);
    ag_tensor_free(s.x);
    ag_tensor_free(s.y);
}

/* malloc'ed bytes in use, small (arena) and large (mmap'ed) */
static size_t heap_bytes(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static ag_optim *make_adam(ag_tensor **params, int n, void *user) {
    (void)user;
    return ag_adam_new(params, n, (ag_adam_opts){.lr = 1e-3});
}

/* ZeRO-1: the heap the optimizer takes on each rank (made, and one step so Adam has its
 * state), plain Adam against ZeRO-1 Adam, and whether the weights after 3 steps agree. */
static void bench_zero(const char *model) {
    int r = ag_dist_rank(), w = ag_dist_world_size();
    struct step s[2] = {{0}};
    double kb[2], step_ms[2];
    for (int z = 0; z < 2; z++) {
        ag_manual_seed(1);
        s[z].m = make_model(model);
        bool cnn = !strcmp(model, "cnn");
        int64_t b = 16;
        s[z].x = cnn ? ag_rand(AG_F32, 4, (int64_t[]){b, 1, 28, 28})
                     : ag_rand(AG_F32, 2, (int64_t[]){b, 784});
        s[z].y = ag_zeros(AG_I64, 1, &b);
        int n;
        ag_tensor **params = ag_model_params(s[z].m, &n);
        ag_ddp *d = ag_ddp_new(params, n, (ag_ddp_opts){0});
        ag_zero *zo = NULL;
        size_t before = 0;
        double t0 = 0;
        for (int k = -1; k < 3; k++) { /* k = -1: the gradients exist before we measure */
            if (k == 0) {
                before = heap_bytes();
                if (z) zo = ag_zero_new(params, n, make_adam, NULL);
                else s[z].o = make_adam(params, n, NULL);
            }
            if (k == 1) t0 = now();
            ag_scope_begin();
            for (int i = 0; i < n; i++) ag_zero_grad(params[i]);
            ag_backward(ag_cross_entropy_loss(ag_model_forward(s[z].m, s[z].x), s[z].y));
            ag_scope_end();
            ag_ddp_sync(d);
            if (k < 0) continue;
            if (z) ag_zero_step(zo);
            else ag_optim_step(s[z].o);
            if (k == 0) kb[z] = ((double)heap_bytes() - (double)before) / 1024;
        }
        step_ms[z] = (now() - t0) / 2 * 1e3;
        ag_zero_free(zo);
        ag_ddp_free(d);
    }
    double most[2] = {kb[0], kb[1]};
    MPI_Allreduce(MPI_IN_PLACE, most, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    int n0, n1, same = 1;
    ag_tensor **p0 = ag_model_params(s[0].m, &n0), **p1 = ag_model_params(s[1].m, &n1);
    for (int i = 0; i < n0; i++)
        same &= !memcmp(ag_data(p0[i]), ag_data(p1[i]), (size_t)ag_numel(p0[i]) * 4);
    if (r == 0)
        printf("%-4s %d ranks: optimizer heap per rank, plain Adam %.0f KB, ZeRO-1 %.0f KB (max "
               "over ranks); step %.2f vs %.2f ms; weights %s\n",
               model, w, most[0], most[1], step_ms[0], step_ms[1],
               same ? "bitwise equal" : "DIFFER");
    for (int z = 0; z < 2; z++) {
        ag_optim_free(s[z].o);
        ag_model_free(s[z].m);
        ag_tensor_free(s[z].x);
        ag_tensor_free(s[z].y);
    }
}

int main(int argc, char **argv) {
    if (ag_dist_init(&argc, &argv)) return 1;
    const char *threads = getenv("AG_THREADS");
    ag_set_num_threads(threads ? atoi(threads) : 1);
    if (argc > 1 && !strcmp(argv[1], "allreduce")) bench_allreduce();
    else if (argc > 2 && !strcmp(argv[1], "zero")) bench_zero(argv[2]);
    else if (argc > 3 && !strcmp(argv[1], "step"))
        bench_step(argv[2], atoll(argv[3]), argc - 4, argv + 4);
    else if (ag_dist_rank() == 0)
        fprintf(stderr, "usage: bench_dist allreduce | step mlp|cnn GLOBAL_BATCH [BUCKET_MB...] | "
                        "zero mlp|cnn\n");
    return ag_dist_finalize();
}
