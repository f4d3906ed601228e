/* Threads: two threads training their own models at once get bitwise the results they get
 * one after the other. The library's per-thread state (scopes, errors, grad mode, default
 * dtype, GEMM scratch) must keep them apart. Run under TSan by `make test-tsan`.
 * The random stream is process-wide (as torch.manual_seed): models and data are made
 * before the threads start, and training draws nothing (no shuffle, no dropout). */
#include <pthread.h>
#include <string.h>

#include "helpers.h"

struct job {
    ag_model *m;
    ag_optim *o;
    ag_tensor *x, *y;
    int rc;
    double loss;
};

static void job_make(struct job *j, uint64_t seed, bool conv) {
    ag_manual_seed(seed);
    j->m = ag_model_new();
    if (conv) {
        ag_model_add(j->m, ag_conv2d_layer(1, 4, 3, (ag_conv_opts){.padding = {1, 1}}, true));
        ag_model_add(j->m, ag_activation_layer(AG_ACTIVATION_RELU));
        ag_model_add(j->m, ag_max_pool2d_layer((ag_pool_opts){.kernel = {2, 2}}));
        ag_model_add(j->m, ag_flatten_layer());
        ag_model_add(j->m, ag_linear_layer(4 * 4 * 4, 3, true));
        j->x = ag_randn(AG_F32, 4, (int64_t[]){32, 1, 8, 8});
    } else {
        ag_model_add(j->m, ag_dense_layer(16, 64, AG_ACTIVATION_TANH));
        ag_model_add(j->m, ag_linear_layer(64, 3, true));
        j->x = ag_randn(AG_F32, 2, (int64_t[]){32, 16});
    }
    j->y = ag_zeros(AG_I64, 1, (int64_t[]){32});
    for (int i = 0; i < 32; i++) ((int64_t *)ag_data(j->y))[i] = (i * 7) % 3;
    int n;
    ag_tensor **p = ag_model_params(j->m, &n);
    j->o = ag_adam_new(p, n, (ag_adam_opts){.lr = 0.01});
    cr_assert(j->m && j->x && j->o, "%s", ag_last_error());
}

static void *job_run(void *arg) {
    struct job *j = arg;
    ag_set_num_threads(1);   /* this thread's own OpenMP setting: no nested teams */
    ag_train_result r;
    j->rc = ag_train(j->m, j->o, j->x, j->y,
                     (ag_train_opts){.epochs = 3, .batch_size = 8, .no_shuffle = true,
                                     .verbose = -1}, &r);
    j->loss = r.train_loss;
    return NULL;
}

static void job_free(struct job *j) {
    ag_optim_free(j->o);
    ag_model_free(j->m);
    ag_tensor_free(j->x);
    ag_tensor_free(j->y);
}

static void assert_same(struct job *a, struct job *b) {
    cr_assert_eq(a->rc, 0, "%s", ag_last_error());
    cr_assert_eq(b->rc, 0);
    cr_assert_eq(a->loss, b->loss, "loss %.17g vs %.17g", a->loss, b->loss);
    int na, nb;
    ag_tensor **pa = ag_model_params(a->m, &na), **pb = ag_model_params(b->m, &nb);
    cr_assert_eq(na, nb);
    for (int i = 0; i < na; i++)
        cr_assert(!memcmp(ag_data(pa[i]), ag_data(pb[i]), (size_t)ag_numel(pa[i]) * 4),
                  "parameter %d differs", i);
}

Test(threads, two_trainings_at_once_match_one_after_the_other) {
    struct job seq[2], par[2];
    for (int k = 0; k < 2; k++) {
        job_make(&seq[k], 10 + (uint64_t)k, k == 1);
        job_make(&par[k], 10 + (uint64_t)k, k == 1);
    }
    for (int k = 0; k < 2; k++) {
        pthread_t t;   /* one after the other, each on a thread of its own as below */
        cr_assert_eq(pthread_create(&t, NULL, job_run, &seq[k]), 0);
        pthread_join(t, NULL);
    }
    pthread_t t[2];
    for (int k = 0; k < 2; k++) cr_assert_eq(pthread_create(&t[k], NULL, job_run, &par[k]), 0);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    for (int k = 0; k < 2; k++) {
        assert_same(&seq[k], &par[k]);
        job_free(&seq[k]);
        job_free(&par[k]);
    }
}
