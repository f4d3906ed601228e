/* Build: cc -O2 mlp_fashion_dist.c -o mlp_fashion_dist $(pkg-config --cflags --libs ag-dist ag) -lm */
/* The Fashion-MNIST MLP of mlp_fashion.c (784-256-128-10 ReLU, Adam 1e-3, global batch 128)
 * trained data-parallel over MPI:
 *
 *     make && mpirun -np 2 build/examples/mlp_fashion_dist
 *
 * Each rank takes its shard of every epoch (the distributed sampler) at batch 128/N, DDP
 * averages the gradients (bucketed, overlapped with backward, bitwise equal on all ranks),
 * and every rank steps the same Adam. `mpirun -np 1` is the single-process run at the same
 * global batch: the accuracies after the same epochs should agree. EPOCHS=n (default 10),
 * BATCH=n (global, default 128), BUCKET_MB=x. Only rank 0 prints and writes
 * <output-dir>/mlp_fashion_dist_metrics.csv (default build/examples). TRAINER=1 runs the
 * same training through ag_train with opts.ddp (its progress bar, metrics and plot on
 * rank 0) instead of the loop written out here.
 * Usage: mpirun -np N mlp_fashion_dist [output-dir] */
#include <ag_dist.h>

#include "fashion.h"

#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what) {
    char msg[600];
    snprintf(msg, sizeof msg, "%s: %s", what, ag_last_error() ? ag_last_error() : "failed");
    ag_dist_abort(1, msg);
}

int main(int argc, char **argv) {
    if (ag_dist_init(&argc, &argv)) die("ag_dist_init");
    int rank = ag_dist_rank(), world = ag_dist_world_size();
    FILE *csv = NULL;
    if (rank == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/mlp_fashion_dist_metrics.csv", fashion_out_dir(argc, argv));
        if ((csv = fopen(path, "w"))) fprintf(csv, "epoch,train_loss,test_loss,test_acc,seconds\n");
    }
    int epochs = env_int("EPOCHS", 10), global_batch = env_int("BATCH", 128);
    if (global_batch % world) {
        if (rank == 0)
            fprintf(stderr, "BATCH %d must be a multiple of the world size %d\n", global_batch,
                    world);
        ag_dist_finalize();
        return 1;
    }
    ag_manual_seed((uint64_t)env_int("SEED", 0)); /* rank 0's weights are broadcast anyway */
    struct fashion f = fashion_load();
    int64_t flat_train[] = {ag_shape(f.x_train)[0], 784},
            flat_test[] = {ag_shape(f.x_test)[0], 784};
    ag_tensor *xtr = ag_reshape(f.x_train, 2, flat_train),
              *xte = ag_reshape(f.x_test, 2, flat_test);

    ag_model *m = ag_model_new();
    ag_model_add(m, ag_dense_layer(784, 256, AG_ACTIVATION_RELU));
    ag_model_add(m, ag_dense_layer(256, 128, AG_ACTIVATION_RELU));
    ag_model_add(m, ag_linear_layer(128, 10, true));
    int n;
    ag_tensor **params = ag_model_params(m, &n);
    const char *mb = getenv("BUCKET_MB");
    ag_ddp *ddp = ag_ddp_new(params, n, (ag_ddp_opts){.bucket_cap_mb = mb ? atof(mb) : 0});
    if (!ddp) die("ag_ddp_new");
    ag_optim *opt = ag_adam_new(params, n, (ag_adam_opts){.lr = 1e-3});
    /* drop_last: every rank runs the same number of steps; 60000 / 128 leaves 96 images */
    ag_loader *l =
        ag_loader_new_distributed(xtr, f.y_train, global_batch / world, true, rank, world, true);
    if (!l) die("ag_loader_new_distributed");
    if (rank == 0)
        printf("%d rank(s) x batch %d (global %d), %lld training images%s, %lld steps per epoch\n",
               world, global_batch / world, global_batch, (long long)flat_train[0],
               f.synthetic ? " (generated)" : "", (long long)ag_loader_num_batches(l));
    double t_train = 0, acc = 0, test_loss = 0;
    if (env_int("TRAINER", 0)) { /* ag_train: batch_size is per rank, as in torch DDP */
        char png[512];
        snprintf(png, sizeof png, "%s/mlp_fashion_dist_curves.png", fashion_out_dir(argc, argv));
        ag_train_result r;
        if (ag_train(m, opt, xtr, f.y_train,
                     (ag_train_opts){.epochs = epochs,
                                     .batch_size = global_batch / world,
                                     .x_val = xte,
                                     .y_val = f.y_test,
                                     .plot_png = png,
                                     .ddp = ddp,
                                     .verbose = env_int("VERBOSE", 0)},
                     &r))
            die("ag_train");
        t_train = r.seconds;
        acc = r.val_acc;
        epochs = 0; /* the loop below has nothing left to do */
    }
    for (int e = 0; e < epochs; e++) {
        ag_loader_set_epoch(l, e);
        double t0 = now_s(), loss_sum = 0;
        int64_t steps = 0;
        ag_tensor *xb, *yb;
        while (ag_loader_next(l, &xb, &yb)) {
            if (ag_shape(xb)[0] != global_batch / world) break; /* a short last batch */
            ag_scope_begin();
            ag_optim_zero_grad(opt);
            ag_tensor *loss = ag_cross_entropy_loss(ag_model_forward(m, xb), yb);
            if (!loss || ag_backward(loss) || ag_ddp_sync(ddp)) die("training step");
            ag_optim_step(opt);
            loss_sum += ag_item(loss);
            steps++;
            ag_scope_end();
        }
        t_train += now_s() - t0;
        ag_tensor *mean_loss = ag_scalar(AG_F64, steps ? loss_sum / (double)steps : 0);
        if (ag_dist_allreduce_mean(&mean_loss, 1)) die("ag_dist_allreduce_mean");
        ag_evaluate(m, xte, f.y_test, NULL, 0, &test_loss, &acc); /* same weights everywhere */
        if (rank == 0)
            printf("epoch %2d: train loss %.4f  test loss %.4f  test accuracy %.2f%%  (%.2f s)\n",
                   e + 1, ag_item(mean_loss), test_loss, 100 * acc, now_s() - t0);
        if (csv)
            fprintf(csv, "%d,%.6f,%.6f,%.6f,%.3f\n", e + 1, ag_item(mean_loss), test_loss, acc,
                    now_s() - t0);
        ag_tensor_free(mean_loss);
    }
    ag_ddp_stats st;
    ag_ddp_get_stats(ddp, &st);
    if (rank == 0)
        printf("test accuracy %.2f%% after %d epochs on %d rank(s); %.2f s training; %d bucket(s) "
               "of %.2f MB per step; per step: %.2f ms in hooks, %.2f ms waiting in sync\n",
               100 * acc, env_int("EPOCHS", 10), world, t_train, st.buckets,
               st.bytes_per_step / 1e6, 1e3 * st.hook_s / (double)st.steps,
               1e3 * st.wait_s / (double)st.steps);
    if (csv) fclose(csv);
    ag_loader_free(l);
    ag_ddp_free(ddp);
    ag_optim_free(opt);
    ag_model_free(m);
    ag_tensor_free(xtr);
    ag_tensor_free(xte);
    fashion_free(&f);
    return ag_dist_finalize();
}
