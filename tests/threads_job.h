/* Two trainings on two threads (tests/test_threads.c; tests/tsan/threads_main.c runs the
 * same under ThreadSanitizer, which Criterion's runner cannot start under). Models and
 * data are made before the threads start (the random stream is process-wide, as
 * torch.manual_seed), and training draws nothing (no shuffle, no dropout). */
#ifndef AG_TEST_THREADS_JOB_H
#define AG_TEST_THREADS_JOB_H

#include <ag.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

struct job {
    ag_model *m;
    ag_optim *o;
    ag_tensor *x, *y;
    int threads; /* ag_set_num_threads on the job's thread */
    int rc;
    double loss;
};

static bool job_make(struct job *j, uint64_t seed, bool conv) {
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
    return j->m && j->x && j->o;
}

static void *job_run(void *arg) {
    struct job *j = arg;
    ag_set_num_threads(j->threads); /* this thread's own setting */
    ag_train_result r;
    j->rc = ag_train(
        j->m, j->o, j->x, j->y,
        (ag_train_opts){.epochs = 3, .batch_size = 8, .no_shuffle = true, .verbose = -1}, &r);
    j->loss = r.train_loss;
    return NULL;
}

static void job_free(struct job *j) {
    ag_optim_free(j->o);
    ag_model_free(j->m);
    ag_tensor_free(j->x);
    ag_tensor_free(j->y);
}

/* NULL when a and b trained to bitwise the same parameters, else what differs. */
static const char *job_differs(struct job *a, struct job *b) {
    if (a->rc || b->rc) return "a training failed";
    if (a->loss != b->loss) return "the losses differ";
    int na, nb;
    ag_tensor **pa = ag_model_params(a->m, &na), **pb = ag_model_params(b->m, &nb);
    if (na != nb) return "the parameter counts differ";
    for (int i = 0; i < na; i++)
        if (memcmp(ag_data(pa[i]), ag_data(pb[i]), (size_t)ag_numel(pa[i]) * 4))
            return "a parameter differs";
    return NULL;
}

/* Trains seq[0], seq[1] one after the other at 1 thread each, then par[0], par[1] at once,
 * each on a thread of its own at `threads` threads (2: both want the one pool, so one
 * runs its regions inline while the other has it); NULL when the pairs match, else what
 * differs. */
static const char *jobs_compare(int threads) {
    struct job seq[2], par[2];
    const char *err = NULL;
    for (int k = 0; k < 2; k++)
        if (!job_make(&seq[k], 10 + (uint64_t)k, k == 1) ||
            !job_make(&par[k], 10 + (uint64_t)k, k == 1))
            err = "cannot make the models";
    for (int k = 0; k < 2; k++) seq[k].threads = 1, par[k].threads = threads;
    pthread_t t[2];
    for (int k = 0; k < 2 && !err; k++) {
        if (pthread_create(&t[0], NULL, job_run, &seq[k])) err = "pthread_create";
        else pthread_join(t[0], NULL);
    }
    for (int k = 0; k < 2 && !err; k++)
        if (pthread_create(&t[k], NULL, job_run, &par[k])) err = "pthread_create";
    for (int k = 0; k < 2 && !err; k++) pthread_join(t[k], NULL);
    for (int k = 0; k < 2 && !err; k++) err = job_differs(&seq[k], &par[k]);
    for (int k = 0; k < 2; k++) {
        job_free(&seq[k]);
        job_free(&par[k]);
    }
    return err;
}

#endif
