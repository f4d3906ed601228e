/* The trainer: it learns a small generated problem, writes metrics CSV / checkpoints /
 * plot, stops early, and evaluates. (A user's nested module trained by ag_train: see
 * test_module.c.) */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static char path_buf[4][256];
static const char *tmp_path(int k, const char *name) {
    snprintf(path_buf[k], sizeof path_buf[k], "/tmp/ag_test_trainer_%d_%s", (int)getpid(), name);
    return path_buf[k];
}

/* 3 Gaussian blobs in 2-D, n points, labels 0..2 (heap tensors). */
static void blobs(int64_t n, ag_tensor **x, ag_tensor **y, double spread) {
    *x = ag_randn(AG_F32, 2, (int64_t[]){n, 2});
    *y = ag_zeros(AG_I64, 1, &n);
    float *px = ag_data(*x);
    int64_t *py = ag_data(*y);
    for (int64_t i = 0; i < n; i++) {
        py[i] = i % 3;
        px[2 * i] = (float)(spread * px[2 * i] + 3 * (py[i] == 1));
        px[2 * i + 1] = (float)(spread * px[2 * i + 1] + 3 * (py[i] == 2));
    }
}

static ag_model *mlp(void) {
    ag_model *m = ag_model_new();
    ag_model_add(m, ag_dense_layer(2, 16, AG_ACTIVATION_TANH));
    ag_model_add(m, ag_linear_layer(16, 3, true));
    return m;
}

Test(trainer, learns_and_writes_metrics_checkpoint_and_plot) {
    ag_manual_seed(1);
    ag_tensor *x, *y, *xv, *yv;
    blobs(600, &x, &y, 0.5);
    blobs(150, &xv, &yv, 0.5);
    ag_model *m = mlp();
    int n;
    ag_tensor **params = ag_model_params(m, &n);
    ag_optim *o = ag_adam_new(params, n, (ag_adam_opts){.lr = 0.02});
    ag_sched *s = ag_sched_step_new(o, 5, 0.5);
    const char *csv = tmp_path(0, "m.csv"), *ck = tmp_path(1, "c.safetensors"),
               *png = tmp_path(2, "p.png");
    ag_train_result r;
    int rc = ag_train(m, o, x, y,
                      (ag_train_opts){.epochs = 8,
                                      .batch_size = 32,
                                      .x_val = xv,
                                      .y_val = yv,
                                      .metrics_csv = csv,
                                      .checkpoint = ck,
                                      .plot_png = png,
                                      .sched = s,
                                      .clip_norm = 5,
                                      .verbose = -1},
                      &r);
    cr_assert_eq(rc, 0, "%s", ag_last_error());
    cr_assert_eq(r.epochs_run, 8);
    cr_assert_gt(r.train_acc, 0.9);
    cr_assert_gt(r.val_acc, 0.9);
    cr_assert_lt(r.val_loss, 0.4);
    assert_close(ag_optim_get_lr(o), 0.02 * 0.5, 1e-12, 0); /* halved at epoch 5 */
    double loss, acc;
    cr_assert_eq(ag_evaluate(m, xv, yv, NULL, 7, &loss, &acc), 0);
    assert_close(loss, r.val_loss, 1e-5, 1e-5);
    assert_close(acc, r.val_acc, 1e-12, 0);
    FILE *f = fopen(csv, "r");
    char line[256];
    int rows = 0;
    cr_assert(fgets(line, sizeof line, f));
    cr_assert_str_eq(line, "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n");
    while (fgets(line, sizeof line, f)) rows++;
    fclose(f);
    cr_assert_eq(rows, 8);
    ag_model *back = mlp();
    cr_assert_eq(ag_model_load(back, ck), 0, "%s", ag_last_error());
    ag_model_free(back);
    if (have_command("gnuplot")) cr_assert_eq(access(png, R_OK), 0, "no plot at %s", png);
    else cr_assert_neq(access(png, R_OK), 0, "a plot at %s without gnuplot", png);
    unlink(csv), unlink(ck), unlink(png);
    ag_sched_free(s);
    ag_optim_free(o);
    ag_model_free(m);
    ag_tensor_free(x), ag_tensor_free(y), ag_tensor_free(xv), ag_tensor_free(yv);
}

Test(trainer, early_stopping_on_validation_loss) {
    ag_manual_seed(2);
    ag_tensor *x, *y, *xv, *yv;
    blobs(60, &x, &y, 2.0);
    blobs(60, &xv, &yv, 2.0);
    int64_t *pv = ag_data(yv);
    for (int i = 0; i < 60; i++) pv[i] = (pv[i] + 1) % 3; /* validation disagrees: loss rises */
    ag_model *m = mlp();
    int n;
    ag_tensor **params = ag_model_params(m, &n);
    ag_optim *o = ag_adam_new(params, n, (ag_adam_opts){.lr = 0.05});
    ag_train_result r;
    cr_assert_eq(ag_train(m, o, x, y,
                          (ag_train_opts){.epochs = 50,
                                          .batch_size = 0,
                                          .x_val = xv,
                                          .y_val = yv,
                                          .patience = 3,
                                          .verbose = -1},
                          &r),
                 0);
    cr_assert(r.stopped_early);
    cr_assert_eq(r.epochs_run, r.best_epoch + 3);
    cr_assert_lt(r.epochs_run, 50);
    ag_optim_free(o);
    ag_model_free(m);
    ag_tensor_free(x), ag_tensor_free(y), ag_tensor_free(xv), ag_tensor_free(yv);
}

static ag_tensor *bad_loss(ag_tensor *p, ag_tensor *t) { return ag_mse_loss(p, t); }

Test(trainer, errors_are_reported) {
    ag_tensor *x, *y;
    blobs(10, &x, &y, 1);
    ag_model *m = mlp();
    int n;
    ag_tensor **params = ag_model_params(m, &n);
    ag_optim *o = ag_sgd_new(params, n, (ag_sgd_opts){.lr = 0.1});
    cr_assert_neq(ag_train(NULL, o, x, y, (ag_train_opts){.verbose = -1}, NULL), 0);
    cr_assert_neq(ag_train(m, o, x, y, (ag_train_opts){.loss = bad_loss, .verbose = -1}, NULL), 0);
    cr_assert(ag_last_error());
    cr_assert_neq(ag_train(m, o, x, y,
                           (ag_train_opts){.metrics_csv = "/nonexistent/m.csv", .verbose = -1},
                           NULL),
                  0);
    cr_assert(strstr(ag_last_error(), "/nonexistent/m.csv"));
    cr_assert_neq(ag_evaluate(m, x, NULL, NULL, 0, NULL, NULL), 0);
    ag_optim_free(o);
    ag_model_free(m);
    ag_tensor_free(x), ag_tensor_free(y);
}

Test(trainer, plot_curves_writes_png_or_says_why) {
    double a[] = {3, 2, 1.5, 1.2}, b[] = {3, 2.5, 2.2, 2.1};
    const double *ys[] = {a, b};
    const char *labels[] = {"lr 0.1", "lr 0.01"};
    char png[256];
    snprintf(png, sizeof png, "/tmp/ag_test_plot_%d.png", (int)getpid());
    int rc = ag_plot_curves(png, "t", "step", "loss", 2, labels, ys, 4, true);
    if (have_command("gnuplot")) {
        cr_assert_eq(rc, 0, "%s", ag_last_error());
        cr_assert_eq(access(png, R_OK), 0);
        unlink(png);
    } else {
        cr_assert_neq(rc, 0);
        cr_assert(strstr(ag_last_error(), "gnuplot not found"));
    }
    cr_assert_neq(ag_plot_curves(NULL, "t", "", "", 1, labels, ys, 4, false), 0);
}

/* Inputs kept as bytes train exactly as their float32 values: the loader converts each batch
 * (byte * input_scale; by default byte / 255 in float32, as torch's x.float() / 255) into the
 * same floats. */
static ag_tensor *bytes_as_floats(ag_tensor *x, double scale) {
    ag_tensor *f = ag_zeros(AG_F32, ag_ndim(x), ag_shape(x));
    for (int64_t i = 0; i < ag_numel(x); i++) {
        uint8_t b = ((uint8_t *)ag_data(x))[i];
        ((float *)ag_data(f))[i] = scale ? (float)(b * scale) : (float)b / 255.0f;
    }
    return f;
}

static ag_train_result train_on(ag_tensor *x, ag_tensor *y, ag_tensor *xv, ag_tensor *yv,
                                double input_scale) {
    ag_manual_seed(5);
    ag_model *m = mlp();
    int n;
    ag_tensor **params = ag_model_params(m, &n);
    ag_optim *o = ag_adam_new(params, n, (ag_adam_opts){.lr = 0.02});
    ag_train_result r = {0};
    int rc = ag_train(m, o, x, y,
                      (ag_train_opts){.epochs = 3,
                                      .batch_size = 16,
                                      .x_val = xv,
                                      .y_val = yv,
                                      .input_scale = input_scale,
                                      .verbose = -1},
                      &r);
    cr_assert_eq(rc, 0, "%s", ag_last_error());
    double l1, l2;
    if (ag_dtype_of(x) == AG_U8) { /* ag_evaluate: 1/255 */
        cr_assert_eq(ag_evaluate(m, x, y, NULL, 0, &l1, NULL), 0, "%s", ag_last_error());
        ag_tensor *xf = bytes_as_floats(x, 0);
        cr_assert_eq(ag_evaluate(m, xf, y, NULL, 0, &l2, NULL), 0);
        cr_expect_eq(l1, l2);
        ag_tensor_free(xf);
    }
    ag_optim_free(o);
    ag_model_free(m);
    return r;
}

Test(trainer, bytes_train_as_their_floats) {
    ag_manual_seed(2);
    int64_t n = 90;
    ag_tensor *x = ag_zeros(AG_U8, 2, (int64_t[]){n, 2}), *y = ag_zeros(AG_I64, 1, &n);
    for (int64_t i = 0; i < n; i++) {
        ((int64_t *)ag_data(y))[i] = i % 3;
        for (int j = 0; j < 2; j++)
            ((uint8_t *)ag_data(x))[2 * i + j] =
                (uint8_t)(ag_random_u64() % 100 + 100 * (i % 3 == j + 1));
    }
    for (int k = 0; k < 2; k++) {
        double scale = k ? 0.01 : 0; /* 0: 1/255 */
        ag_tensor *xf = bytes_as_floats(x, scale);
        ag_train_result a = train_on(x, y, x, y, scale), b = train_on(xf, y, xf, y, 0);
        cr_expect_eq(a.train_loss, b.train_loss, "scale %g: %.9g vs %.9g", scale, a.train_loss,
                     b.train_loss);
        cr_expect_eq(a.val_loss, b.val_loss);
        cr_expect_gt(a.train_acc, 0.6);
        ag_tensor_free(xf);
    }
    ag_manual_seed(5);
    ag_model *m = mlp();
    int np;
    ag_tensor **params = ag_model_params(m, &np);
    ag_optim *o = ag_adam_new(params, np, (ag_adam_opts){.lr = 0.02});
    cr_expect_neq(ag_train(m, o, x, y, (ag_train_opts){.input_scale = NAN, .verbose = -1}, NULL),
                  0);
    cr_expect(strstr(ag_last_error(), "ag_train: input_scale nan"), "%s", ag_last_error());
    ag_optim_free(o);
    ag_model_free(m);
    ag_tensor_free(x);
    ag_tensor_free(y);
}
