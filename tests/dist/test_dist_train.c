/* ag_train with ag_train_opts.ddp under mpirun: the same weights as one process at the
 * global batch, metrics totalled over ranks, only rank 0 writes, every rank resumes from the
 * checkpoint, and an opts.ddp without ag_dist_init is an error. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 96, D = 6, C = 3, B = 4, EPOCHS = 3 };
static int W, R;

static void make_data(ag_tensor **x, ag_tensor **y) {
    *x = ag_zeros(AG_F64, 2, (int64_t[]){N, D});
    *y = ag_zeros(AG_I64, 1, (int64_t[]){N});
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) ((double *)ag_data(*x))[i * D + j] = sin(0.7 * i + 1.3 * j);
        ((int64_t *)ag_data(*y))[i] = (i * 7 + (i / 5)) % C;
    }
}

static ag_model *make_model(void) {
    ag_set_default_dtype(AG_F64);
    ag_manual_seed(5 + (uint64_t)R); /* ranks start different: the ddp broadcasts rank 0's */
    ag_model *m = ag_model_new();
    ag_model_add(m, ag_dense_layer(D, 8, AG_ACTIVATION_TANH));
    ag_model_add(m, ag_linear_layer(8, C, true));
    return m;
}

static double max_rel(ag_model *a, ag_model *b) {
    int n, n2;
    ag_tensor **pa = ag_model_params(a, &n), **pb = ag_model_params(b, &n2);
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int64_t k = 0; k < ag_numel(pa[i]); k++) {
            double u = ((double *)ag_data(pa[i]))[k], v = ((double *)ag_data(pb[i]))[k];
            double r = u == v ? 0 : fabs(u - v) / fabs(v);
            if (!(r <= worst)) worst = r;
        }
    return worst;
}

static void train_with_ddp_equals_one_process_and_only_rank_0_writes(void) {
    ag_tensor *x, *y;
    make_data(&x, &y);
    char csv[256], ckpt[256];
    snprintf(csv, sizeof csv, "/tmp/ag_dist_train_%d.csv", (int)getppid());
    snprintf(ckpt, sizeof ckpt, "/tmp/ag_dist_train_%d.safetensors", (int)getppid());
    ag_model *m = make_model();
    int n;
    ag_tensor **params = ag_model_params(m, &n);
    ag_ddp *ddp = ag_ddp_new(params, n, (ag_ddp_opts){0});
    CHECK(ddp, "%s", ag_last_error());
    ag_optim *o = ag_adam_new(params, n, (ag_adam_opts){.lr = 0.02});
    ag_train_result r;
    /* no_shuffle: rank r's batch k holds rows r, r+W, ... of global batch k (the sampler's
     * strided shards), so the global batches match one process at batch W*B */
    int rc = ag_train(m, o, x, y,
                      (ag_train_opts){.epochs = EPOCHS,
                                      .batch_size = B,
                                      .no_shuffle = true,
                                      .ddp = ddp,
                                      .metrics_csv = csv,
                                      .checkpoint = ckpt,
                                      .verbose = -1},
                      &r);
    CHECK(rc == 0, "ag_train: %s", ag_last_error());

    ag_manual_seed(5); /* the reference: one process, rank 0's start, global batch */
    ag_set_default_dtype(AG_F64);
    ag_model *ref = ag_model_new();
    ag_model_add(ref, ag_dense_layer(D, 8, AG_ACTIVATION_TANH));
    ag_model_add(ref, ag_linear_layer(8, C, true));
    int nr;
    ag_tensor **pr = ag_model_params(ref, &nr);
    ag_optim *or_ = ag_adam_new(pr, nr, (ag_adam_opts){.lr = 0.02});
    ag_train_result rr;
    CHECK(ag_train(ref, or_, x, y,
                   (ag_train_opts){.epochs = EPOCHS,
                                   .batch_size = (int64_t)W * B,
                                   .no_shuffle = true,
                                   .verbose = -1},
                   &rr) == 0,
          "%s", ag_last_error());
    double d = max_rel(m, ref);
    CHECK(d <= 1e-12, "weights differ from one process by %.3g", d);
    CHECK(fabs(r.train_loss - rr.train_loss) <= 1e-12 * fabs(rr.train_loss),
          "train loss %.17g vs %.17g", r.train_loss, rr.train_loss);
    CHECK(r.train_acc == rr.train_acc, "train acc %.17g vs %.17g", r.train_acc, rr.train_acc);
    if (R == 0)
        printf("  ag_train on %d ranks vs one process: weights within %.3g, loss %.6f\n", W, d,
               r.train_loss);

    /* rank 0 wrote the CSV (a header and one line per epoch) and the checkpoint; every rank
     * loads the checkpoint into a fresh model and gets the trained weights */
    FILE *f = fopen(csv, "r");
    int lines = 0;
    for (int ch; f && (ch = fgetc(f)) != EOF;) lines += ch == '\n';
    if (f) fclose(f);
    CHECK(lines == EPOCHS + 1, "metrics CSV has %d lines", lines);
    ag_model *resumed = make_model();
    CHECK(ag_model_load(resumed, ckpt) == 0, "%s", ag_last_error());
    CHECK(max_rel(resumed, m) == 0, "the checkpoint does not hold the trained weights");
    ag_dist_barrier();
    if (R == 0) {
        remove(csv);
        remove(ckpt);
    }
    ag_model_free(resumed);
    ag_optim_free(or_);
    ag_model_free(ref);
    ag_ddp_free(ddp);
    ag_optim_free(o);
    ag_model_free(m);
    ag_tensor_free(x);
    ag_tensor_free(y);
}

static void shuffled_ddp_training_keeps_ranks_identical(void) {
    ag_tensor *x, *y;
    make_data(&x, &y);
    ag_model *m = make_model();
    int n;
    ag_tensor **params = ag_model_params(m, &n);
    ag_ddp *ddp = ag_ddp_new(params, n, (ag_ddp_opts){.bucket_cap_mb = 0.0001});
    ag_optim *o = ag_sgd_new(params, n, (ag_sgd_opts){.lr = 0.1, .momentum = 0.9});
    ag_train_result r;
    CHECK(ag_train(m, o, x, y,
                   (ag_train_opts){
                       .epochs = 2, .batch_size = 5, .ddp = ddp, .clip_norm = 0.5, .verbose = -1},
                   &r) == 0,
          "%s", ag_last_error());
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < n; i++) {
        const unsigned char *p = ag_data(params[i]);
        for (size_t k = 0; k < (size_t)ag_numel(params[i]) * 8; k++)
            h = (h ^ p[k]) * 1099511628211ULL;
    }
    uint64_t *all = malloc((size_t)W * sizeof *all);
    MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    for (int k = 0; k < W; k++) CHECK(all[k] == h, "rank %d's weights differ from mine", k);
    free(all);
    ag_optim_free(o);
    ag_ddp_free(ddp);
    ag_model_free(m);
    ag_tensor_free(x);
    ag_tensor_free(y);
}

int main(int argc, char **argv) {
    if (ag_dist_init(&argc, &argv)) return 1;
    W = ag_dist_world_size();
    R = ag_dist_rank();
    if (R == 0) printf("test_dist_train: %d ranks\n", W);
    RUN(train_with_ddp_equals_one_process_and_only_rank_0_writes);
    RUN(shuffled_ddp_training_keeps_ranks_identical);
    int rc = finish();
    /* after ag_dist_finalize a ddp in the options is an error, not a hang */
    ag_tensor *x, *y;
    make_data(&x, &y);
    ag_model *m = make_model();
    int n;
    ag_tensor **params = ag_model_params(m, &n);
    ag_optim *o = ag_sgd_new(params, n, (ag_sgd_opts){.lr = 0.1});
    int bad = ag_train(m, o, x, y, (ag_train_opts){.ddp = (ag_ddp *)1, .verbose = -1}, NULL);
    if (!bad ||
        !strstr(ag_last_error(), "ag_train: opts.ddp is set but ag_dist_init has not run")) {
        fprintf(stderr, "rank %d: ag_train accepted a ddp without MPI: %s\n", R, ag_last_error());
        rc = 1;
    }
    ag_optim_free(o);
    ag_model_free(m);
    ag_tensor_free(x);
    ag_tensor_free(y);
    return rc;
}
