/* ag_train with a loss callback (ag_train_opts.loss_batch): an autoencoder with no labels
 * (y NULL) learns, validation uses the callback, the callback sees every batch; the old
 * path is unchanged when it is NULL; ag_train_step for loops of one's own; errors. */
#include <math.h>
#include <string.h>

#include "helpers.h"

struct seen {
    int calls;
    int64_t rows;
};

static ag_tensor *recon_loss(ag_module *m, ag_tensor *x, ag_tensor *y, void *user) {
    struct seen *s = user;
    s->calls++;
    s->rows += ag_shape(x)[0];
    cr_assert_null(y);
    return ag_mse_loss(ag_module_forward(m, x), x);
}

Test(train_loss_batch, autoencoder_without_labels_learns) {
    ag_manual_seed(3);
    ag_model *m = ag_model_new();
    ag_model_add(m, ag_linear_layer(6, 3, true));
    ag_model_add(m, ag_activation_layer(AG_ACTIVATION_TANH));
    ag_model_add(m, ag_linear_layer(3, 6, true));
    /* rank-2 data: a 3-wide bottleneck can reconstruct it */
    ag_tensor *z = ag_randn(AG_F32, 2, (int64_t[]){96, 2}),
              *mix = ag_randn(AG_F32, 2, (int64_t[]){2, 6});
    ag_tensor *zm = ag_matmul(z, mix), *half = ag_mul_scalar(zm, 0.5);
    ag_tensor *x = ag_contiguous(half);
    int n;
    ag_tensor **p = ag_module_parameters(m, &n);
    ag_adam_opts ao = ag_adam_defaults();
    ao.lr = 1e-2;
    ag_optim *o = ag_adam_new(p, n, ao);
    struct seen s = {0};
    ag_train_result r;
    cr_assert_eq(ag_train(m, o, x, NULL,
                          (ag_train_opts){.epochs = 60,
                                          .batch_size = 32,
                                          .verbose = -1,
                                          .x_val = x,
                                          .loss_batch = recon_loss,
                                          .loss_user = &s},
                          &r),
                 0, "%s", ag_last_error());
    cr_assert_eq(r.epochs_run, 60);
    cr_assert(isnan(r.train_acc) && isnan(r.val_acc));
    cr_assert_eq(s.rows, 60 * 96 * 2,
                 "every training and validation row went through the callback");
    cr_assert_eq(s.calls, 60 * 3 + 60 * 3); /* validation in batches of the training's 32 */
    cr_assert_lt(r.val_loss, 0.05, "val loss %g", r.val_loss);
    cr_assert(fabs(r.val_loss - r.train_loss) < 0.05);
    ag_optim_free(o);
    ag_model_free(m);
    if (half != x) ag_tensor_free(half); /* ag_contiguous gives half itself when contiguous */
    ag_tensor_free(z), ag_tensor_free(mix), ag_tensor_free(zm), ag_tensor_free(x);
}

Test(train_loss_batch, train_step_and_errors) {
    ag_manual_seed(4);
    ag_layer *l = ag_linear_layer(2, 1, true);
    int n;
    ag_tensor **p = ag_module_parameters(l, &n);
    ag_optim *o = ag_sgd_new(p, n, (ag_sgd_opts){.lr = 0.1});
    ag_tensor *x = ag_randn(AG_F32, 2, (int64_t[]){8, 2});
    double before = 0, after = 0;
    for (int k = 0; k < 2; k++) {
        ag_scope_begin();
        ag_tensor *loss = ag_mean(ag_square(ag_module_forward(l, x)));
        *(k ? &after : &before) = ag_item(loss);
        if (!k) cr_assert_eq(ag_train_step(o, loss), 0, "%s", ag_last_error());
        ag_scope_end();
    }
    cr_assert_lt(after, before);
    ag_clear_error();
    cr_assert_neq(ag_train_step(NULL, NULL), 0);
    cr_assert(strstr(ag_last_error(), "ag_train_step"), "%s", ag_last_error());
    ag_clear_error();
    cr_assert_neq(ag_train(l, o, x, NULL, (ag_train_opts){.verbose = -1}, NULL), 0);
    cr_assert(strstr(ag_last_error(), "unless loss_batch"), "%s", ag_last_error());
    ag_optim_free(o);
    ag_layer_free(l);
    ag_tensor_free(x);
}
