/* Build: cc -O2 softplus_net.c -o softplus_net $(pkg-config --cflags --libs ag) -lm */
/* A two-layer network, softplus hidden layer and softmax output, on three interleaved
 * spirals it generates (the seed notes' classifier). Loss: cross-entropy on the softmax
 * probabilities, -mean(log p[label]). */
#include <ag.h>
#include <math.h>
#include <stdio.h>

static ag_tensor *nll_of_probs(ag_tensor *probs, ag_tensor *labels) {
    return ag_nll_loss(ag_log(probs), labels);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "build/examples";
    ag_manual_seed(4);
    int64_t n = 600;
    ag_tensor *x = ag_zeros(AG_F32, 2, (int64_t[]){n, 2}), *y = ag_zeros(AG_I64, 1, &n);
    ag_tensor *noise = ag_randn(AG_F32, 1, &n);
    float *px = ag_data(x), *pn = ag_data(noise);
    int64_t *py = ag_data(y);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i % 3);
        double r = (double)(i / 3) / (double)(n / 3), t = 4 * r + c * 2 * M_PI / 3 + 0.2 * pn[i];
        px[2 * i] = (float)(r * cos(t));
        px[2 * i + 1] = (float)(r * sin(t));
        py[i] = c;
    }
    ag_tensor *xt, *yt, *xv, *yv;
    ag_train_val_split(x, y, 0.2, true, &xt, &yt, &xv, &yv);
    ag_model *m = ag_model_new();
    ag_model_add(m, ag_dense_layer(2, 64, AG_ACTIVATION_SOFTPLUS));
    ag_model_add(m, ag_dense_layer(64, 3, AG_ACTIVATION_SOFTMAX));
    ag_model_print_summary(m, 2, (int64_t[]){32, 2});
    int np;
    ag_tensor **params = ag_model_params(m, &np);
    ag_optim *opt = ag_adam_new(params, np, (ag_adam_opts){.lr = 0.01});
    char png[512];
    snprintf(png, sizeof png, "%s/softplus_net_curves.png", dir);
    ag_train_result r;
    if (ag_train(m, opt, xt, yt,
                 (ag_train_opts){.epochs = 200,
                                 .batch_size = 32,
                                 .loss = nll_of_probs,
                                 .x_val = xv,
                                 .y_val = yv,
                                 .plot_png = png,
                                 .verbose = 1},
                 &r)) {
        fprintf(stderr, "%s\n", ag_last_error());
        return 1;
    }
    printf("softplus net: train accuracy %.1f%%, validation accuracy %.1f%%\n", 100 * r.train_acc,
           100 * r.val_acc);
    ag_optim_free(opt);
    ag_model_free(m);
    ag_tensor_free(x), ag_tensor_free(y), ag_tensor_free(noise);
    ag_tensor_free(xt), ag_tensor_free(yt), ag_tensor_free(xv), ag_tensor_free(yv);
    return 0;
}
