/* Build: cc -O2 cnn_fashion.c -o cnn_fashion $(pkg-config --cflags --libs ag) -lm */
/* A CNN on Fashion-MNIST: conv3x3(32)-ReLU-pool2, conv3x3(64)-ReLU-pool2, linear 3136->128
 * ReLU, linear 128->10; Adam 1e-3, batch 128, EPOCHS (default 10) epochs. The images stay
 * bytes (AG_U8, fashion.h); ag_train turns each batch into float32 pixels in [0, 1].
 * Usage: cnn_fashion [output-dir] */
#include "fashion.h"

int main(int argc, char **argv) {
    const char *out = fashion_out_dir(argc, argv);
    ag_manual_seed((uint64_t)env_int("SEED", 0));
    struct fashion f = fashion_load();
    ag_model *m = ag_model_new();
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
    ag_model_print_summary(m, 4, (int64_t[]){128, 1, 28, 28});
    int n;
    ag_tensor **params = ag_model_params(m, &n);
    ag_optim *opt = ag_adam_new(params, n, (ag_adam_opts){.lr = 1e-3});
    char csv[512], png[512];
    snprintf(csv, sizeof csv, "%s/cnn_fashion_metrics.csv", out);
    snprintf(png, sizeof png, "%s/cnn_fashion_curves.png", out);
    ag_train_result r;
    if (ag_train(m, opt, f.x_train, f.y_train,
                 (ag_train_opts){.epochs = env_int("EPOCHS", 10),
                                 .batch_size = 128,
                                 .x_val = f.x_test,
                                 .y_val = f.y_test,
                                 .metrics_csv = csv,
                                 .plot_png = png,
                                 .verbose = env_int("VERBOSE", 0)},
                 &r)) {
        fprintf(stderr, "training failed: %s\n", ag_last_error());
        return 1;
    }
    printf("test accuracy %.2f%% after %d epochs (%.1f s)%s\n", 100 * r.val_acc, r.epochs_run,
           r.seconds, f.synthetic ? " [generated data]" : "");
    ag_optim_free(opt);
    ag_model_free(m);
    fashion_free(&f);
    return 0;
}
