/* libag_dist under mpirun (any world size): the deterministic all-reduce, broadcast, DDP
 * equal to one process at the global batch, bitwise equal parameters on every rank (and,
 * through the printed hash, across runs and transports: tests/dist/run.sh), no_sync
 * accumulation, the sampler's coverage, and errors. */
#include "harness.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { D = 8, H = 16, C = 4, B = 3, STEPS = 20 };

static int W, R;

/* ------------------------------------------------------------------ data and the model */
static double data_value(int64_t i, int which) { /* deterministic, rank-independent */
    return sin(0.37 * (double)i + 1.3 * which) + 0.25 * cos(0.011 * (double)(i * i % 9973));
}

/* rows [row0, row0 + rows) of the x (which 0) or y (which 1) data set, as a new tensor */
static ag_tensor *rows_of(ag_dtype dt, int which, int64_t row0, int64_t rows) {
    int64_t cols = which ? C : D, n = rows * cols;
    double *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = data_value(row0 * cols + i, which);
    ag_tensor *t64 = ag_tensor_new(AG_F64, 2, (int64_t[]){rows, cols}, v);
    free(v);
    return dt == AG_F64 ? t64 : ag_cast(t64, dt);
}

struct net {
    ag_tensor *p[5]; /* W1 [H,D], b1 [H], W2 [C,H], b2 [C], and one the model never uses */
};

static ag_tensor *param(ag_dtype dt, int ndim, const int64_t *shape, uint64_t seed) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    double *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = 0.4 * sin(1.7 * (double)(seed * 131 + (uint64_t)i) + 0.3);
    ag_tensor *t = ag_tensor_new(AG_F64, ndim, shape, v);
    free(v);
    if (dt == AG_F32) {
        ag_tensor *f = ag_cast(t, AG_F32);
        ag_tensor_free(t);
        t = f;
    }
    ag_set_requires_grad(t, true);
    return t;
}

static void net_init(struct net *m, ag_dtype dt, uint64_t seed) {
    m->p[0] = param(dt, 2, (int64_t[]){H, D}, seed);
    m->p[1] = param(dt, 1, (int64_t[]){H}, seed + 1);
    m->p[2] = param(dt, 2, (int64_t[]){C, H}, seed + 2);
    m->p[3] = param(dt, 1, (int64_t[]){C}, seed + 3);
    m->p[4] = param(dt, 1, (int64_t[]){5}, seed + 4);
}

static void net_free(struct net *m) {
    for (int i = 0; i < 5; i++) ag_tensor_free(m->p[i]);
}

static ag_tensor *loss_of(struct net *m, ag_tensor *x, ag_tensor *y) {
    ag_tensor *h = ag_tanh(ag_linear(x, m->p[0], m->p[1]));
    return ag_mse_loss(ag_linear(h, m->p[2], m->p[3]), y);
}

/* One backward on rows [row0, row0+rows): the gradient accumulates into .grad. */
static int backward_rows(struct net *m, ag_dtype dt, int64_t row0, int64_t rows) {
    ag_scope_begin();
    int rc = ag_backward(loss_of(m, rows_of(dt, 0, row0, rows), rows_of(dt, 1, row0, rows)));
    ag_scope_end();
    return rc;
}

/* STEPS Adam steps. ddp: this rank's B rows of each step's global batch of W*B rows and a
 * DDP sync; NULL: the whole global batch in one process. micro: micro-batches per step. */
static void train(struct net *m, ag_dtype dt, ag_ddp_opts *ddp_opts, int micro) {
    ag_optim *o = ag_adam_new(m->p, 4, (ag_adam_opts){.lr = 0.01});
    ag_ddp *ddp = ddp_opts ? ag_ddp_new(m->p, 5, *ddp_opts) : NULL;
    CHECK(!ddp_opts || ddp, "ag_ddp_new: %s", ag_last_error());
    int64_t global = (int64_t)W * B * micro;
    for (int s = 0; s < STEPS; s++) {
        ag_optim_zero_grad(o);
        for (int k = 0; k < micro; k++) {
            int64_t mb0 = s * global + (int64_t)k * W * B; /* micro-batch k of the step */
            if (ddp) ag_ddp_set_no_sync(ddp, k < micro - 1);
            int rc = ddp ? backward_rows(m, dt, mb0 + (int64_t)R * B, B)
                         : backward_rows(m, dt, mb0, (int64_t)W * B);
            CHECK(rc == 0, "backward: %s", ag_last_error());
        }
        if (ddp) CHECK(ag_ddp_sync(ddp) == 0, "ag_ddp_sync: %s", ag_last_error());
        ag_optim_step(o);
    }
    ag_ddp_free(ddp);
    ag_optim_free(o);
}

/* max |a - b| / |b| over elements; norm: max |a - b| / max |b| (relative to the tensor's
 * scale, for float32, where a parameter passing near zero has few significant bits). */
static double max_rel_diff_ex(ag_tensor *a, ag_tensor *b, bool norm) {
    double worst = 0, big = 0, diff = 0;
    for (int64_t i = 0; i < ag_numel(a); i++) {
        double x = ag_dtype_of(a) == AG_F32 ? ((float *)ag_data(a))[i] : ((double *)ag_data(a))[i];
        double y = ag_dtype_of(b) == AG_F32 ? ((float *)ag_data(b))[i] : ((double *)ag_data(b))[i];
        double r = x == y ? 0 : fabs(x - y) / fabs(y);
        if (!(r <= worst)) worst = r; /* NaN propagates */
        if (!(fabs(x - y) <= diff)) diff = fabs(x - y);
        if (fabs(y) > big) big = fabs(y);
    }
    return norm ? diff / big : worst;
}
static double max_rel_diff(ag_tensor *a, ag_tensor *b) {
    return max_rel_diff_ex(a, b, ag_dtype_of(a) == AG_F32);
}

static uint64_t params_hash(struct net *m) { /* FNV-1a over every parameter's bytes */
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < 5; i++) {
        const unsigned char *p = ag_data(m->p[i]);
        size_t n = (size_t)ag_numel(m->p[i]) * ag_dtype_size(ag_dtype_of(m->p[i]));
        for (size_t k = 0; k < n; k++) h = (h ^ p[k]) * 1099511628211ULL;
    }
    return h;
}

static bool same_on_all_ranks(uint64_t h) {
    uint64_t *all = malloc((size_t)W * sizeof *all);
    MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    bool same = true;
    for (int r = 0; r < W; r++) same = same && all[r] == h;
    free(all);
    return same;
}

/* ------------------------------------------------------------------ cases */
static void allreduce_mean_sums_in_rank_order_bitwise(void) {
    int64_t lens[] = {0, 1, 3, 1001};
    for (int dt = 0; dt < 2; dt++)
        for (int li = 0; li < 4; li++) {
            int64_t n = lens[li];
            ag_dtype t = dt ? AG_F32 : AG_F64;
            ag_scope_begin();
            ag_tensor *x = ag_zeros(t, 1, &n);
            double *want = malloc((size_t)(n ? n : 1) * sizeof *want);
            for (int64_t i = 0; i < n; i++) {
                double v = 0;
                float vf = 0;
                for (int r = 0; r < W; r++) { /* every rank's value, added in rank order */
                    double e = data_value(i * 31 + r, 2) * pow(10.0, (double)((i + r) % 9) - 4);
                    if (r == R) {
                        if (t == AG_F64) ((double *)ag_data(x))[i] = e;
                        else ((float *)ag_data(x))[i] = (float)e;
                    }
                    if (r == 0) v = e, vf = (float)e;
                    else v += e, vf += (float)e;
                }
                want[i] = t == AG_F64 ? v / W : (double)(vf / (float)W);
            }
            CHECK(ag_dist_allreduce_mean(&x, 1) == 0, "%s", ag_last_error());
            for (int64_t i = 0; i < n; i++) {
                double got = t == AG_F64 ? ((double *)ag_data(x))[i] : ((float *)ag_data(x))[i];
                CHECK(got == want[i], "%s n=%lld element %lld: %.17g, want %.17g", ag_dtype_name(t),
                      (long long)n, (long long)i, got, want[i]);
            }
            free(want);
            ag_scope_end();
        }
}

static void broadcast_params_copies_the_roots_values(void) {
    ag_scope_begin();
    int root = W - 1;
    ag_tensor *a = ag_tensor_new(AG_F64, 1, (int64_t[]){3}, (double[]){R, R + 0.5, -R});
    ag_tensor *b = ag_cast(a, AG_F32);
    ag_tensor *ts[2] = {a, b};
    CHECK(ag_dist_broadcast_params(ts, 2, root) == 0, "%s", ag_last_error());
    CHECK(((double *)ag_data(a))[1] == root + 0.5, "got %g", ((double *)ag_data(a))[1]);
    CHECK(((float *)ag_data(b))[2] == -(float)root, "got %g", ((float *)ag_data(b))[2]);
    ag_scope_end();
}

static void ddp_equals_one_process_at_the_global_batch(ag_dtype dt, double tol) {
    struct net dist, ref;
    net_init(&dist, dt, 100 + (uint64_t)R); /* ranks start different: ddp broadcasts */
    net_init(&ref, dt, 100);                /* rank 0's start */
    train(&dist, dt, &(ag_ddp_opts){0}, 1);
    train(&ref, dt, NULL, 1);
    for (int i = 0; i < 4; i++) {
        double d = max_rel_diff(dist.p[i], ref.p[i]);
        CHECK(d <= tol, "%s param %d: max relative difference %.3g > %.0e", ag_dtype_name(dt), i, d,
              tol);
    }
    double elem = 0, norm = 0;
    for (int i = 0; i < 4; i++) {
        elem = fmax(elem, max_rel_diff_ex(dist.p[i], ref.p[i], false));
        norm = fmax(norm, max_rel_diff_ex(dist.p[i], ref.p[i], true));
    }
    if (R == 0)
        printf("  %s: world %d x batch %d vs 1 x %d after %d Adam steps: max relative "
               "difference %.3g per element, %.3g of the tensor's max\n",
               ag_dtype_name(dt), W, B, W * B, STEPS, elem, norm);
    net_free(&dist);
    net_free(&ref);
}
static void ddp_float64_equals_one_process_to_1e_12(void) {
    ddp_equals_one_process_at_the_global_batch(AG_F64, 1e-12);
}
static void ddp_float32_equals_one_process_to_1e_5(void) {
    ddp_equals_one_process_at_the_global_batch(AG_F32, 1e-5);
}

/* Any bucket size and either progress mode: the same bits, on every rank. */
static void params_are_bitwise_equal_on_all_ranks_for_any_bucket_size(void) {
    ag_ddp_opts configs[] = {{0},
                             {.bucket_cap_mb = 0.0002},
                             {.bucket_cap_mb = 1e-9},
                             {.progress = AG_DDP_PROGRESS_POLL, .bucket_cap_mb = 0.0005}};
    uint64_t first = 0;
    for (int c = 0; c < 4; c++)
        for (int dt = 0; dt < 2; dt++) {
            struct net m;
            net_init(&m, dt ? AG_F32 : AG_F64, 7 + (uint64_t)R);
            train(&m, dt ? AG_F32 : AG_F64, &configs[c], 1);
            uint64_t h = params_hash(&m);
            CHECK(same_on_all_ranks(h), "config %d %s: parameters differ between ranks", c,
                  dt ? "f32" : "f64");
            if (dt == 0 && c == 0) first = h;
            if (dt == 0) CHECK(h == first, "bucket config %d changed the bits", c);
            if (dt == 0 && c == 0 && R == 0) printf("params-hash %016llx\n", (unsigned long long)h);
            net_free(&m);
        }
}

/* Buckets of several 64 KB message segments, many in flight at once (the case that first
 * crossed messages between buckets): each parameter's gradient is a rank-dependent
 * constant, so the synced gradient must be the rank-order mean, bit for bit. */
static void many_segmented_buckets_in_flight_reduce_exactly(void) {
    enum { NP = 6, LEN = 40000 };
    ag_tensor *p[NP], *c[NP];
    for (int i = 0; i < NP; i++) {
        p[i] = ag_zeros(AG_F32, 1, (int64_t[]){LEN});
        ag_set_requires_grad(p[i], true);
        c[i] = ag_zeros(AG_F32, 1, (int64_t[]){LEN});
        for (int j = 0; j < LEN; j++)
            ((float *)ag_data(c[i]))[j] = (float)data_value((int64_t)i * LEN + j + 7919 * R, 3);
    }
    for (int mode = 1; mode <= 2; mode++) {
        ag_ddp *d = ag_ddp_new(p, NP, (ag_ddp_opts){.bucket_cap_mb = 0.3, .progress = mode});
        if (!d && mode == AG_DDP_PROGRESS_THREAD) break; /* MPI without THREAD_MULTIPLE */
        CHECK(d, "%s", ag_last_error());
        for (int step = 0; step < 3 && d; step++) {
            for (int i = 0; i < NP; i++) ag_zero_grad(p[i]);
            ag_scope_begin();
            ag_tensor *loss = ag_mul(p[0], c[0]);
            for (int i = 1; i < NP; i++) loss = ag_add(loss, ag_mul(p[i], c[i]));
            CHECK(ag_backward(ag_sum(loss)) == 0, "%s", ag_last_error());
            ag_scope_end();
            CHECK(ag_ddp_sync(d) == 0, "%s", ag_last_error());
            int bad = 0;
            for (int i = 0; i < NP; i++)
                for (int j = 0; j < LEN; j++) {
                    float want = 0;
                    for (int r = 0; r < W; r++) {
                        float e = (float)data_value((int64_t)i * LEN + j + 7919 * r, 3);
                        want = r ? want + e : e;
                    }
                    want /= (float)W;
                    bad += ((float *)ag_data(ag_grad(p[i])))[j] != want;
                }
            CHECK(bad == 0, "progress mode %d step %d: %d elements differ", mode, step, bad);
        }
        ag_ddp_free(d);
    }
    for (int i = 0; i < NP; i++) {
        ag_tensor_free(p[i]);
        ag_tensor_free(c[i]);
    }
}

static void no_sync_accumulates_micro_batches_then_averages_once(void) {
    struct net dist, ref;
    net_init(&dist, AG_F64, 300 + (uint64_t)R);
    net_init(&ref, AG_F64, 300);
    train(&dist, AG_F64, &(ag_ddp_opts){.bucket_cap_mb = 0.0003}, 3);
    /* one process: micro-batch k of a step is every rank's micro-batch k, W*B rows */
    ag_optim *o = ag_adam_new(ref.p, 4, (ag_adam_opts){.lr = 0.01});
    for (int s = 0; s < STEPS; s++) {
        ag_optim_zero_grad(o);
        for (int k = 0; k < 3; k++)
            CHECK(backward_rows(&ref, AG_F64, (int64_t)s * W * B * 3 + (int64_t)k * W * B,
                                (int64_t)W * B) == 0,
                  "%s", ag_last_error());
        ag_optim_step(o);
    }
    ag_optim_free(o);
    for (int i = 0; i < 4; i++) {
        double d = max_rel_diff(dist.p[i], ref.p[i]);
        CHECK(d <= 1e-12, "param %d: max relative difference %.3g", i, d);
    }
    net_free(&dist);
    net_free(&ref);
}

static void sampler_covers_every_sample_once_per_epoch(void) {
    int64_t sizes[] = {(int64_t)W * 25, (int64_t)W * 25 + 1};
    for (int si = 0; si < 2; si++)
        for (int drop = 0; drop < 2; drop++) {
            int64_t n = sizes[si];
            ag_scope_begin();
            ag_tensor *x = ag_zeros(AG_F64, 2, (int64_t[]){n, 1});
            for (int64_t i = 0; i < n; i++) ((double *)ag_data(x))[i] = (double)i;
            ag_manual_seed(77 + (uint64_t)R); /* ranks' own streams must not matter */
            ag_loader *l = ag_loader_new_distributed(x, NULL, 4, true, R, W, drop);
            CHECK(l, "%s", ag_last_error());
            for (int epoch = 0; epoch < 2 && l; epoch++) {
                if (epoch) ag_loader_reset(l);
                int64_t mine[64], k = 0;
                ag_tensor *xb;
                while (ag_loader_next(l, &xb, NULL))
                    for (int64_t i = 0; i < ag_shape(xb)[0] && k < 64; i++)
                        mine[k++] = (int64_t)((double *)ag_data(xb))[i];
                int64_t per = drop ? n / W : (n + W - 1) / W;
                CHECK(k == per, "rank got %lld rows, want %lld", (long long)k, (long long)per);
                int64_t *all = calloc((size_t)W * 64, sizeof *all);
                MPI_Allgather(mine, 64, MPI_INT64_T, all, 64, MPI_INT64_T, MPI_COMM_WORLD);
                int64_t *seen = calloc((size_t)n, sizeof *seen), dup = 0, missed = 0;
                for (int r = 0; r < W; r++)
                    for (int64_t i = 0; i < per; i++) seen[all[r * 64 + i]]++;
                for (int64_t i = 0; i < n; i++) {
                    dup += seen[i] > 1 ? seen[i] - 1 : 0;
                    missed += seen[i] == 0;
                }
                int64_t extra = per * W - n; /* padding (>0) or dropped tail (<0) */
                CHECK(dup == (extra > 0 ? extra : 0) && missed == (extra < 0 ? -extra : 0),
                      "n %lld drop_last %d epoch %d: %lld seen twice, %lld missed", (long long)n,
                      drop, epoch, (long long)dup, (long long)missed);
                free(seen);
                free(all);
            }
            ag_loader_free(l);
            ag_scope_end();
        }
}

/* ------------------------------------------------------------------ ZeRO-1 */
static ag_optim *make_adam(ag_tensor **params, int n, void *user) {
    (void)user;
    return ag_adam_new(params, n, (ag_adam_opts){.lr = 0.01});
}

/* Plain data-parallel Adam and ZeRO-1 Adam from the same start: the same bits (the memory
 * is measured by bench-dist on the real models). */
static void zero1_equals_plain_data_parallel_bitwise(void) {
    struct net plain, zero;
    for (int z = 0; z < 2; z++) {
        struct net *m = z ? &zero : &plain;
        net_init(m, AG_F32, 400 + (uint64_t)R);
        ag_ddp *ddp = ag_ddp_new(m->p, 5, (ag_ddp_opts){.bucket_cap_mb = 0.0004});
        CHECK(ddp, "%s", ag_last_error());
        ag_optim *o = z ? NULL : make_adam(m->p, 4, NULL);
        ag_zero *zo = z ? ag_zero_new(m->p, 4, make_adam, NULL) : NULL;
        CHECK(!z || zo, "%s", ag_last_error());
        for (int s = 0; s < STEPS; s++) {
            if (z) ag_zero_zero_grad(zo);
            else ag_optim_zero_grad(o);
            CHECK(backward_rows(m, AG_F32, (int64_t)s * W * B + (int64_t)R * B, B) == 0, "%s",
                  ag_last_error());
            CHECK(ag_ddp_sync(ddp) == 0, "%s", ag_last_error());
            if (z) CHECK(ag_zero_step(zo) == 0, "%s", ag_last_error());
            else ag_optim_step(o);
        }
        if (z) {
            int64_t owned = ag_zero_owned_numel(zo), total = 0;
            MPI_Allreduce(&owned, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
            CHECK(total == H * D + H + C * H + C, "owned elements add up to %lld",
                  (long long)total);
        }
        ag_zero_free(zo);
        ag_optim_free(o);
        ag_ddp_free(ddp);
    }
    for (int i = 0; i < 4; i++)
        CHECK(!memcmp(ag_data(plain.p[i]), ag_data(zero.p[i]), (size_t)ag_numel(plain.p[i]) * 4),
              "parameter %d differs between ZeRO-1 and plain data-parallel Adam", i);
    CHECK(same_on_all_ranks(params_hash(&zero)), "ZeRO-1 parameters differ between ranks");
    net_free(&plain);
    net_free(&zero);
}

static void errors_name_the_function(void) {
    CHECK(!ag_ddp_new(NULL, 1, (ag_ddp_opts){0}), "NULL params accepted");
    CHECK(ag_last_error() && strstr(ag_last_error(), "ag_ddp_new: needs n >= 1"), "%s",
          ag_last_error());
    ag_scope_begin();
    ag_tensor *i64 = ag_zeros(AG_I64, 1, (int64_t[]){2});
    CHECK(ag_dist_allreduce_mean(&i64, 1) != 0, "int64 all-reduced");
    CHECK(strstr(ag_last_error(), "ag_dist_allreduce_mean: tensor 0 int64 [2] must be"), "%s",
          ag_last_error());
    ag_tensor *u8 = ag_zeros(AG_U8, 1, (int64_t[]){2}); /* bytes are not sent as doubles */
    CHECK(ag_dist_broadcast_params(&u8, 1, 0) != 0, "uint8 broadcast");
    CHECK(strstr(ag_last_error(), "tensor 0 uint8 [2] must be"), "%s", ag_last_error());
    ag_tensor *f = ag_zeros(AG_F64, 1, (int64_t[]){2});
    CHECK(ag_dist_broadcast_params(&f, 1, W) != 0, "root out of range accepted");
    CHECK(strstr(ag_last_error(), "is not a rank of"), "%s", ag_last_error());
    CHECK(!ag_ddp_new(&f, 1, (ag_ddp_opts){0}), "a leaf without requires_grad accepted");
    ag_scope_end();
    CHECK(ag_ddp_sync(NULL) != 0, "NULL ddp synced");
}

int main(int argc, char **argv) {
    if (ag_dist_init(&argc, &argv)) {
        fprintf(stderr, "%s\n", ag_last_error());
        return 1;
    }
    W = ag_dist_world_size();
    R = ag_dist_rank();
    if (R == 0) printf("test_dist: %d ranks\n", W);
    RUN(allreduce_mean_sums_in_rank_order_bitwise);
    RUN(broadcast_params_copies_the_roots_values);
    RUN(ddp_float64_equals_one_process_to_1e_12);
    RUN(ddp_float32_equals_one_process_to_1e_5);
    RUN(params_are_bitwise_equal_on_all_ranks_for_any_bucket_size);
    RUN(many_segmented_buckets_in_flight_reduce_exactly);
    RUN(no_sync_accumulates_micro_batches_then_averages_once);
    RUN(sampler_covers_every_sample_once_per_epoch);
    RUN(zero1_equals_plain_data_parallel_bitwise);
    RUN(errors_name_the_function);
    return finish();
}
