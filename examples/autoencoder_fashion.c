/* Build: cc -O2 autoencoder_fashion.c -o autoencoder_fashion $(pkg-config --cflags --libs ag) -lz -lm */
/* A convolutional autoencoder on Fashion-MNIST (28 -> 14 -> 7 and back through transposed
 * convolutions, sigmoid output), MSE against the input: ag_train with a loss callback and
 * no labels. Writes autoencoder_fashion.png: 8 inputs (top row) above their
 * reconstructions. PyTorch twin: examples/torch/autoencoder_fashion.py (same first images
 * in order, batch 32, Adam 1e-3). Usage: [--steps N] [--init FILE] [--losses FILE]
 * [--quiet] [--out DIR] [--bench STEPS]. --bench (bench/ protocol): ag_train over 3 warm-up
 * batches and STEPS timed ones (+1 that ends the last timing): a step is the time between
 * two calls of the loss callback (loader copy, forward, backward, Adam); one line out. */
#include <ag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "png_gray.h"

enum { BATCH = 32 };

static ag_model *autoencoder(void) {
    ag_conv_opts down = {.stride = {2, 2}, .padding = {1, 1}};
    ag_conv_transpose_opts up = {.stride = {2, 2}, .padding = {1, 1}, .output_padding = {1, 1}};
    ag_model *m = ag_model_new();
    ag_model_add(m, ag_conv2d_layer(1, 16, 3, down, true));
    ag_model_add(m, ag_activation_layer(AG_ACTIVATION_RELU));
    ag_model_add(m, ag_conv2d_layer(16, 32, 3, down, true));
    ag_model_add(m, ag_activation_layer(AG_ACTIVATION_RELU));
    ag_model_add(m, ag_conv_transpose2d_layer(32, 16, 3, up, true));
    ag_model_add(m, ag_activation_layer(AG_ACTIVATION_RELU));
    ag_model_add(m, ag_conv_transpose2d_layer(16, 1, 3, up, true));
    ag_model_add(m, ag_activation_layer(AG_ACTIVATION_SIGMOID));
    return m;
}

struct losses {
    double *v, *t; /* t: the time of each call (--bench), or NULL */
    int n, cap;
};

static ag_tensor *recon_loss(ag_module *m, ag_tensor *x, ag_tensor *y, void *user) {
    (void)y;
    struct losses *s = user;
    if (s->t && s->n < s->cap) s->t[s->n] = ag_now();
    ag_tensor *l = ag_mse_loss(ag_module_forward(m, x), x);
    if (l && s->n < s->cap) s->v[s->n++] = ag_item(l);
    return l;
}

static void write_grid(ag_model *m, ag_tensor *x, const char *path) {
    float img[2 * 28 * 8 * 28];
    ag_scope_begin();
    bool grad = ag_set_grad_enabled(false);
    ag_tensor *in = ag_mul_scalar(ag_cast(ag_slice(x, 0, 0, 8, 1), AG_F32), 1 / 255.0);
    float a[8 * 784], b[8 * 784];
    ag_to_array(ag_contiguous(in), a);
    ag_to_array(ag_module_forward(m, in), b);
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 8; k++)
            for (int i = 0; i < 28; i++)
                for (int j = 0; j < 28; j++)
                    img[(r * 28 + i) * 224 + k * 28 + j] = (r ? b : a)[k * 784 + i * 28 + j];
    ag_set_grad_enabled(grad);
    ag_scope_end();
    if (png_gray_write(path, img, 224, 56) == 0) printf("inputs above reconstructions: %s\n", path);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The bench/ line from the call times of l (3 warm-up steps, then l->n - 4 timed ones). */
static void bench_report(struct losses *l, int64_t per_epoch) {
    int k = l->n - 4;
    for (int i = 0; i < k; i++) l->t[i] = (l->t[i + 4] - l->t[i + 3]) * 1e3;
    qsort(l->t, (size_t)k, sizeof(double), cmp_double);
    double med = k % 2 ? l->t[k / 2] : (l->t[k / 2 - 1] + l->t[k / 2]) / 2;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bench autoencoder_fashion: step_ms=%.3f steps_per_epoch=%lld epoch_s=%.2f "
           "peak_rss_mib=%.1f\n",
           med, (long long)per_epoch, med * (double)per_epoch / 1000, ru.ru_maxrss / 1024.0);
}

int main(int argc, char **argv) {
    int steps = 300, bench = 0;
    const char *init = NULL, *loss_path = NULL, *out = "build/examples";
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--init") && i + 1 < argc) init = argv[++i];
        else if (!strcmp(argv[i], "--losses") && i + 1 < argc) loss_path = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--quiet")) quiet = true;
        else if (!strcmp(argv[i], "--bench") && i + 1 < argc) bench = atoi(argv[++i]);
    }
    if (bench > 0) steps = bench + 4;
    /* the images stay bytes: ag_train's loader converts each batch (x / 255) */
    ag_tensor *all =
        ag_load_idx("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", AG_U8, 0);
    if (!all) return fprintf(stderr, "autoencoder_fashion: %s\n", ag_last_error()), 1;
    int64_t n = (int64_t)steps * BATCH;
    if (n > ag_shape(all)[0]) n = ag_shape(all)[0];
    ag_tensor *x =
        ag_contiguous(ag_reshape(ag_slice(all, 0, 0, n, 1), 4, (int64_t[]){n, 1, 28, 28}));
    ag_manual_seed(1);
    ag_model *m = autoencoder();
    if (init && ag_module_save(m, init)) return fprintf(stderr, "%s\n", ag_last_error()), 1;
    int np;
    ag_tensor **p = ag_module_parameters(m, &np);
    ag_optim *o = ag_adam_new(p, np, ag_adam_defaults());
    struct losses l = {malloc((size_t)steps * sizeof(double)),
                       bench > 0 ? malloc((size_t)steps * sizeof(double)) : NULL, 0, steps};
    double t0 = ag_now();
    if (ag_train(m, o, x, NULL,
                 (ag_train_opts){.epochs = 1,
                                 .batch_size = BATCH,
                                 .no_shuffle = true,
                                 .verbose = -1,
                                 .loss_batch = recon_loss,
                                 .loss_user = &l},
                 NULL))
        return fprintf(stderr, "autoencoder_fashion: %s\n", ag_last_error()), 1;
    if (bench > 0) bench_report(&l, ag_shape(all)[0] / BATCH), quiet = true;
    if (loss_path) {
        FILE *f = fopen(loss_path, "w");
        for (int i = 0; f && i < l.n; i++) fprintf(f, "%.9g\n", l.v[i]);
        if (f) fclose(f);
    }
    if (!bench)
        printf("autoencoder_fashion: %d steps, %lld parameters, mse %.5f -> %.5f, %.1f s\n", l.n,
               (long long)ag_model_num_elements(m), l.v[0], l.v[l.n - 1], ag_now() - t0);
    if (!quiet) {
        char path[512];
        snprintf(path, sizeof path, "%s/autoencoder_fashion.png", out);
        write_grid(m, x, path);
    }
    free(l.v), free(l.t);
    ag_optim_free(o);
    ag_model_free(m);
    return 0;
}
