/* Build: cc -O2 mlp_fashion.c -o mlp_fashion $(pkg-config --cflags --libs ag) -lm */
/* A 784-256-128-10 ReLU MLP on Fashion-MNIST: Adam 1e-3, batch 128, 10 epochs (EPOCHS=n to
 * change), with the progress bar, per-epoch metrics CSV and the loss/accuracy plot. The
 * images stay bytes (AG_U8): ag_train makes each batch of 128 float32 pixels in [0, 1], so
 * the 60,000 training images take 47 MB, not 188.
 * Usage: mlp_fashion [output-dir]   (default build/examples) */
#include "fashion.h"

int main(int argc, char **argv) {
    const char *out = fashion_out_dir(argc, argv);
    ag_manual_seed((uint64_t)env_int("SEED", 0));
    struct fashion f = fashion_load();
    int64_t flat_train[] = {ag_shape(f.x_train)[0], 784},
            flat_test[] = {ag_shape(f.x_test)[0], 784};
    ag_tensor *xtr = ag_reshape(f.x_train, 2, flat_train), /* [N,784] bytes: a view */
        *xte = ag_reshape(f.x_test, 2, flat_test);

    ag_model *m = ag_model_new();
    ag_model_add(m, ag_dense_layer(784, 256, AG_ACTIVATION_RELU));
    ag_model_add(m, ag_dense_layer(256, 128, AG_ACTIVATION_RELU));
    ag_model_add(m, ag_linear_layer(128, 10, true));
    ag_model_print_summary(m, 2, (int64_t[]){128, 784});

    int n;
    ag_tensor **params = ag_model_params(m, &n);
    ag_optim *opt = ag_adam_new(params, n, (ag_adam_opts){.lr = 1e-3});
    char csv[512], png[512], ckpt[512];
    snprintf(csv, sizeof csv, "%s/mlp_fashion_metrics.csv", out);
    snprintf(png, sizeof png, "%s/mlp_fashion_curves.png", out);
    snprintf(ckpt, sizeof ckpt, "%s/mlp_fashion.safetensors", out);
    printf("training on %lld images%s; validation = the %lld test images\n",
           (long long)flat_train[0], f.synthetic ? " (generated)" : "", (long long)flat_test[0]);
    ag_train_result r;
    int rc = ag_train(m, opt, xtr, f.y_train,
                      (ag_train_opts){.epochs = env_int("EPOCHS", 10),
                                      .batch_size = 128,
                                      .x_val = xte,
                                      .y_val = f.y_test,
                                      .metrics_csv = csv,
                                      .plot_png = png,
                                      .checkpoint = ckpt,
                                      .input_scale = 0, /* bytes / 255: pixels in [0, 1] */
                                      .verbose = env_int("VERBOSE", 0)},
                      &r);
    if (rc) {
        fprintf(stderr, "training failed: %s\n", ag_last_error());
        return 1;
    }
    double loss, acc;
    ag_evaluate(m, xte, f.y_test, NULL, 0, &loss, &acc);
    printf("test accuracy %.2f%% (loss %.4f) after %d epochs, %.2f s training, %.0f samples/s%s\n",
           100 * acc, loss, r.epochs_run, r.seconds, r.samples_per_s,
           f.synthetic ? " [generated data]" : "");
    printf("metrics: %s  weights: %s\n", csv, ckpt);
    ag_optim_free(opt);
    ag_model_free(m);
    ag_tensor_free(xtr);
    ag_tensor_free(xte);
    fashion_free(&f);
    return 0;
}
