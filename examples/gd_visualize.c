/* Build: cc -O2 gd_visualize.c -o gd_visualize $(pkg-config --cflags --libs ag) -lm */
/* The gradient-descent lesson: one regression (y = 2 x1 - 3 x2 + 5 + noise, with x2 on a
 * scale 50 times larger than x1) trained by batch, mini-batch and stochastic GD, at several
 * learning rates, with and without standardized features. One PNG of loss curves per
 * comparison, in the output directory (default build/examples). */
#include <ag.h>
#include <stdio.h>

#define N 512
#define EPOCHS 30

static ag_tensor *X, *Y, *XS; /* raw features, targets, standardized features */

/* Trains a fresh linear model; curve[e] = full-data MSE after epoch e (curve[0]: start). */
static void run(ag_tensor *x, int64_t batch, double lr, double *curve) {
    ag_manual_seed(3);
    ag_set_default_dtype(AG_F64);
    ag_model *m = ag_model_new();
    ag_model_add(m, ag_linear_layer(2, 1, true));
    int n;
    ag_tensor **params = ag_model_params(m, &n);
    ag_optim *opt = ag_sgd_new(params, n, (ag_sgd_opts){.lr = lr});
    ag_loader *l = ag_loader_new(x, Y, batch, true);
    for (int e = 0; e <= EPOCHS; e++) {
        if (e > 0) {
            ag_loader_reset(l);
            ag_tensor *xb, *yb;
            while (ag_loader_next(l, &xb, &yb)) {
                ag_scope_begin();
                ag_optim_zero_grad(opt);
                ag_backward(ag_mse_loss(ag_model_forward(m, xb), yb));
                ag_optim_step(opt);
                ag_scope_end();
            }
        }
        ag_evaluate(m, x, Y, ag_mse_loss, 0, &curve[e], NULL);
        if (!(curve[e] < 1e30)) curve[e] = 1e30; /* diverged: clip for the log plot */
    }
    ag_loader_free(l);
    ag_optim_free(opt);
    ag_model_free(m);
}

static void plot(const char *dir, const char *file, const char *title, int k, const char **labels,
                 double curves[][EPOCHS + 1]) {
    char png[512];
    snprintf(png, sizeof png, "%s/%s", dir, file);
    const double *ys[8];
    for (int i = 0; i < k; i++) ys[i] = curves[i];
    if (ag_plot_curves(png, title, "epoch", "mean squared error (log)", k, labels, ys, EPOCHS + 1,
                       true))
        printf("plot skipped: %s\n", ag_last_error());
    else printf("wrote %s\n", png);
    for (int i = 0; i < k; i++) printf("  %-28s final MSE %.4g\n", labels[i], curves[i][EPOCHS]);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "build/examples";
    ag_manual_seed(1);
    X = ag_randn(AG_F64, 2, (int64_t[]){N, 2});
    Y = ag_zeros(AG_F64, 2, (int64_t[]){N, 1});
    ag_tensor *noise = ag_randn(AG_F64, 1, (int64_t[]){N});
    double *px = ag_data(X), *py = ag_data(Y), *pn = ag_data(noise);
    for (int i = 0; i < N; i++) {
        px[2 * i + 1] = 50 * px[2 * i + 1] + 100; /* a feature on a large scale, off-centre */
        py[i] = 2 * px[2 * i] - 3 * (px[2 * i + 1] - 100) / 50 + 5 + 0.1 * pn[i];
    }
    XS = ag_tensor_new(AG_F64, 2, (int64_t[]){N, 2}, px);
    ag_tensor *mean, *std;
    ag_standardize_fit(XS, &mean, &std);
    ag_standardize_apply_(XS, mean, std);

    double c[4][EPOCHS + 1];
    const char *modes[] = {"batch (512)", "mini-batch (32)", "stochastic (1)"};
    run(XS, 0, 0.1, c[0]), run(XS, 32, 0.1, c[1]), run(XS, 1, 0.1, c[2]);
    plot(dir, "gd_batch_modes.png", "batch vs mini-batch vs stochastic GD (standardized, lr 0.1)",
         3, modes, c);

    const char *lrs[] = {"lr 0.01", "lr 0.1", "lr 0.5", "lr 1.05 (diverges)"};
    run(XS, 0, 0.01, c[0]), run(XS, 0, 0.1, c[1]), run(XS, 0, 0.5, c[2]), run(XS, 0, 1.05, c[3]);
    plot(dir, "gd_learning_rates.png", "full-batch GD at several learning rates (standardized)", 4,
         lrs, c);

    const char *scal[] = {"standardized, lr 0.1", "raw, lr 5e-5", "raw, lr 2e-5"};
    run(XS, 0, 0.1, c[0]), run(X, 0, 5e-5, c[1]), run(X, 0, 2e-5, c[2]);
    plot(dir, "gd_standardization.png", "with and without standardized features (full batch)", 3,
         scal, c);

    const char *mb[] = {"mini-batch 32, standardized", "mini-batch 32, raw (lr 1e-5)"};
    run(XS, 32, 0.05, c[0]), run(X, 32, 1e-5, c[1]);
    plot(dir, "gd_minibatch_scaling.png", "mini-batch GD with and without standardization", 2, mb,
         c);
    ag_tensor_free(X), ag_tensor_free(Y), ag_tensor_free(XS), ag_tensor_free(noise);
    ag_tensor_free(mean), ag_tensor_free(std);
    return 0;
}
