/* Build: cc -O2 dcgan_fashion.c -o dcgan_fashion $(pkg-config --cflags --libs ag) -lz -lm */
/* A DCGAN on Fashion-MNIST (images scaled to [-1, 1]), written with modules:
 *   G: z[100] -> Linear(100, 128*7*7) + ReLU -> [128,7,7] -> ConvTranspose2d(128,64,4,2,1)
 *      + BatchNorm2d + ReLU -> ConvTranspose2d(64,1,4,2,1) + Tanh -> [1,28,28]
 *   D: Conv2d(1,64,4,2,1) + LeakyReLU(0.2) -> Conv2d(64,128,4,2,1) + BatchNorm2d
 *      + LeakyReLU(0.2) -> Linear(128*7*7, 1): one logit
 * BCE-with-logits, two Adam optimizers (lr 2e-4, betas 0.5 / 0.999), batch 64, the
 * batches in order (no shuffle), one ag_train_step for D (fake detached) then one for G per
 * step. Weights start from N(0, 0.02) (BatchNorm weights N(1, 0.02)) as in the DCGAN paper.
 * Writes <out>/dcgan_fashion_epoch<E>.png after every epoch: an 8x8 grid of G's samples
 * (eval mode) from 64 fixed noise vectors.
 * Noise: counter-based (splitmix64 of the element index, Box-Muller), so the PyTorch twin
 * examples/torch/dcgan_fashion.py draws the same vectors: step s uses elements
 * s*64*100 ... of stream 0, the PNG grid stream 1.
 * Usage: dcgan_fashion [--steps N] [--epochs E] [--init FILE] [--losses FILE] [--quiet] [--f64]
 *                      [--out DIR] [--bench STEPS]
 *   --init: writes both nets' initial state_dict to one safetensors file, keys prefixed
 *           "G." and "D." (the root module DCGAN with children G and D; the twin loads it)
 *   --losses: one line per step, D loss + G loss of that step
 *   --f64: every tensor in float64 (the test compares step 50 there: in float32 two correct
 *          implementations drift apart by ~1e-3 within 50 steps, torch's own float32 run
 *          against its float64 run included; a GAN amplifies rounding)
 *   --bench: 3 warm-up steps, then STEPS timed ones; prints one line (bench/ protocol) */
#include <ag.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "png_gray.h"

enum { BATCH = 64, NZ = 100 };

static ag_dtype dtype = AG_F32; /* --f64: every tensor in float64 */

/* The n normals of one noise stream starting at element `first` (even): splitmix64 of each
 * element's index (stream in the top bits) for the uniforms, Box-Muller in double. */
static uint64_t mix(uint64_t i) {
    uint64_t z = (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void noise(uint64_t stream, uint64_t first, int n, double *out) {
    const double two53 = 9007199254740992.0, pi = 3.14159265358979323846;
    for (int k = 0; k < n; k += 2) {
        uint64_t i = (stream << 56) | (first + (uint64_t)k);
        double u1 = ((double)(mix(i) >> 11) + 1) / two53, u2 = (double)(mix(i + 1) >> 11) / two53;
        double r = sqrt(-2 * log(u1));
        out[k] = r * cos(2 * pi * u2);
        out[k + 1] = r * sin(2 * pi * u2);
    }
}

/* A [rows, NZ] noise tensor in the current scope, rounded to float32 unless --f64. */
static ag_tensor *noise_tensor(uint64_t stream, uint64_t first, int64_t rows) {
    static double z[BATCH * NZ];
    static float f[BATCH * NZ];
    noise(stream, first, (int)rows * NZ, z);
    for (int64_t i = 0; i < rows * NZ; i++) f[i] = (float)z[i];
    return ag_tensor_new(dtype, 2, (int64_t[]){rows, NZ}, dtype == AG_F64 ? (void *)z : f);
}

/* Images b..b+rows of the byte set x as a float batch in [-1,1] (as torch's x / 255 * 2 - 1):
 * the set stays bytes (a quarter of float32's memory), one batch is converted per step. */
static ag_tensor *real_batch(ag_tensor *x, int64_t b, int64_t rows) {
    ag_tensor *f = ag_mul_scalar(ag_cast(ag_slice(x, 0, b, b + rows, 1), dtype), 1 / 255.0);
    return ag_add_scalar(ag_mul_scalar(f, 2), -1);
}

static ag_tensor *generator_forward(ag_module *self, int n, ag_tensor *const *in) {
    (void)n;
    ag_tensor *h = ag_relu(ag_module_forward(ag_module_get_child(self, "fc"), in[0]));
    return ag_module_forward(ag_module_get_child(self, "net"),
                             ag_reshape(h, 4, (int64_t[]){-1, 128, 7, 7}));
}

static ag_module *generator(void) {
    ag_conv_transpose_opts up = {.stride = {2, 2}, .padding = {1, 1}};
    ag_module *g = ag_module_new("Generator", generator_forward, NULL, NULL);
    ag_module_add_child(g, "fc", ag_linear_layer(NZ, 128 * 7 * 7, true));
    ag_module *net = ag_module_add_child(g, "net", ag_model_new());
    ag_model_add(net, ag_conv_transpose2d_layer(128, 64, 4, up, false));
    ag_model_add(net, ag_batch_norm2d_layer(64));
    ag_model_add(net, ag_activation_layer(AG_ACTIVATION_RELU));
    ag_model_add(net, ag_conv_transpose2d_layer(64, 1, 4, up, true));
    ag_model_add(net, ag_activation_layer(AG_ACTIVATION_TANH));
    return g;
}

static ag_tensor *discriminator_forward(ag_module *self, int n, ag_tensor *const *in) {
    (void)n;
    ag_tensor *h = ag_leaky_relu(ag_module_forward(ag_module_get_child(self, "conv1"), in[0]), 0.2);
    h = ag_module_forward(ag_module_get_child(self, "conv2"), h);
    h = ag_leaky_relu(ag_module_forward(ag_module_get_child(self, "bn2"), h), 0.2);
    return ag_module_forward(ag_module_get_child(self, "fc"),
                             ag_reshape(h, 2, (int64_t[]){-1, 128 * 7 * 7}));
}

static ag_module *discriminator(void) {
    ag_conv_opts down = {.stride = {2, 2}, .padding = {1, 1}};
    ag_module *d = ag_module_new("Discriminator", discriminator_forward, NULL, NULL);
    ag_module_add_child(d, "conv1", ag_conv2d_layer(1, 64, 4, down, true));
    ag_module_add_child(d, "conv2", ag_conv2d_layer(64, 128, 4, down, false));
    ag_module_add_child(d, "bn2", ag_batch_norm2d_layer(128));
    ag_module_add_child(d, "fc", ag_linear_layer(128 * 7 * 7, 1, true));
    return d;
}

/* The DCGAN paper's init: conv and linear weights N(0, 0.02), batch-norm weights N(1, 0.02). */
static int dcgan_init(ag_module *root) {
    static const struct {
        const char *name;
        double mean;
    } w[] = {{"G.fc.weight", 0},    {"G.net.0.weight", 0}, {"G.net.1.weight", 1},
             {"G.net.3.weight", 0}, {"D.conv1.weight", 0}, {"D.conv2.weight", 0},
             {"D.bn2.weight", 1},   {"D.fc.weight", 0}};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        if (ag_init_normal_(ag_module_get(root, w[i].name), w[i].mean, 0.02)) return 1;
    return 0;
}

struct gan {
    ag_module *root, *g, *d;
    ag_optim *opt_g, *opt_d;
};

static ag_optim *adam(ag_module *m) {
    int n;
    ag_tensor **p = ag_module_parameters(m, &n);
    ag_adam_opts o = ag_adam_defaults();
    o.lr = 2e-4, o.beta1 = 0.5, o.beta2 = 0.999;
    return ag_adam_new(p, n, o);
}

/* One GAN step on real [B,1,28,28] with noise stream 0 at step s: D on real (label 1) and
 * detached fake (label 0), then G through D with label 1. */
static int gan_step(struct gan *s, ag_tensor *real, int64_t step, double *ld, double *lg) {
    ag_scope_begin();
    int64_t n = ag_shape(real)[0];
    ag_tensor *z = noise_tensor(0, (uint64_t)step * BATCH * NZ, n);
    ag_tensor *ones = ag_ones(dtype, 2, (int64_t[]){n, 1}),
              *zeros = ag_zeros(dtype, 2, (int64_t[]){n, 1});
    ag_tensor *fake = ag_module_forward(s->g, z);
    ag_tensor *d_loss =
        ag_add(ag_bce_with_logits_loss(ag_module_forward(s->d, real), ones),
               ag_bce_with_logits_loss(ag_module_forward(s->d, ag_detach(fake)), zeros));
    int rc = ag_train_step(s->opt_d, d_loss);
    ag_tensor *g_loss = rc ? NULL : ag_bce_with_logits_loss(ag_module_forward(s->d, fake), ones);
    rc = rc || ag_train_step(s->opt_g, g_loss);
    if (!rc) *ld = ag_item(d_loss), *lg = ag_item(g_loss);
    ag_scope_end();
    return rc;
}

/* An 8x8 grid of G's samples (eval mode, no grad) from the fixed noise of stream 1. */
static void write_grid(struct gan *s, const char *path) {
    static float img[224 * 224], out[64 * 784];
    ag_scope_begin();
    bool grad = ag_set_grad_enabled(false);
    ag_module_train(s->g, false);
    ag_to_array(ag_cast(ag_module_forward(s->g, noise_tensor(1, 0, 64)), AG_F32), out);
    ag_module_train(s->g, true);
    ag_set_grad_enabled(grad);
    ag_scope_end();
    for (int k = 0; k < 64; k++)
        for (int i = 0; i < 28; i++)
            for (int j = 0; j < 28; j++)
                img[((k / 8) * 28 + i) * 224 + (k % 8) * 28 + j] =
                    (out[k * 784 + i * 28 + j] + 1) / 2;
    if (png_gray_write(path, img, 224, 224) == 0) printf("samples: %s\n", path);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* bench/ protocol: 3 warm-up steps, then `steps` timed ones; one line on stdout. */
static int bench(struct gan *s, ag_tensor *x, int steps) {
    int64_t per_epoch = ag_shape(x)[0] / BATCH;
    double *ms = malloc((size_t)steps * sizeof(double)), ld, lg;
    for (int i = 0; i < 3 + steps; i++) {
        int64_t b = i % per_epoch;
        double t0 = ag_now();
        ag_scope_begin();
        int rc = gan_step(s, real_batch(x, b * BATCH, BATCH), i, &ld, &lg);
        ag_scope_end();
        if (rc) return free(ms), 1;
        if (i >= 3) ms[i - 3] = (ag_now() - t0) * 1e3;
    }
    qsort(ms, (size_t)steps, sizeof(double), cmp_double);
    double med = steps % 2 ? ms[steps / 2] : (ms[steps / 2 - 1] + ms[steps / 2]) / 2;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bench dcgan_fashion: step_ms=%.3f steps_per_epoch=%lld epoch_s=%.2f "
           "peak_rss_mib=%.1f\n",
           med, (long long)per_epoch, med * (double)per_epoch / 1000, ru.ru_maxrss / 1024.0);
    free(ms);
    return 0;
}

/* Trains `epochs` epochs (at most max_steps steps, < 0: no limit); losses get D + G per step. */
static int train(struct gan *s, ag_tensor *x, int epochs, int64_t max_steps, double *losses,
                 int64_t *n_steps, double last[2], bool quiet, const char *out) {
    int64_t per_epoch = ag_shape(x)[0] / BATCH, step = 0;
    for (int e = 1; e <= epochs && step != max_steps; e++) {
        for (int64_t b = 0; b < per_epoch && step != max_steps; b++, step++) {
            ag_scope_begin();
            int rc = gan_step(s, real_batch(x, b * BATCH, BATCH), step, &last[0], &last[1]);
            ag_scope_end();
            if (rc) return 1;
            losses[step] = last[0] + last[1];
        }
        if (!quiet) {
            char path[512];
            snprintf(path, sizeof path, "%s/dcgan_fashion_epoch%d.png", out, e);
            write_grid(s, path);
        }
    }
    *n_steps = step;
    return 0;
}

int main(int argc, char **argv) {
    int epochs = 1, bench_steps = 0;
    int64_t steps = -1;
    const char *init = NULL, *loss_path = NULL, *out = "build/examples";
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--init") && i + 1 < argc) init = argv[++i];
        else if (!strcmp(argv[i], "--losses") && i + 1 < argc) loss_path = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--bench") && i + 1 < argc) bench_steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quiet")) quiet = true;
        else if (!strcmp(argv[i], "--f64")) dtype = AG_F64;
    }
    ag_set_default_dtype(dtype);
    ag_tensor *x =
        ag_load_idx("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", AG_U8, 0);
    if (!x) return fprintf(stderr, "dcgan_fashion: %s\n", ag_last_error()), 1;
    int64_t n = ag_shape(x)[0];
    ag_tensor *x4 = ag_reshape(x, 4, (int64_t[]){n, 1, 28, 28});
    ag_tensor_free(x);
    ag_manual_seed(1);
    struct gan *s = calloc(1, sizeof *s);
    s->root = ag_module_new("DCGAN", NULL, NULL, NULL);
    s->g = ag_module_add_child(s->root, "G", generator());
    s->d = ag_module_add_child(s->root, "D", discriminator());
    if (!s->g || !s->d || dcgan_init(s->root))
        return fprintf(stderr, "dcgan_fashion: %s\n", ag_last_error()), 1;
    if (init && ag_module_save(s->root, init)) return fprintf(stderr, "%s\n", ag_last_error()), 1;
    s->opt_g = adam(s->g), s->opt_d = adam(s->d);
    int rc = 0;
    if (bench_steps > 0) rc = bench(s, x4, bench_steps);
    else {
        if (!quiet) mkdir(out, 0755); /* an existing folder is fine */
        int64_t max = (int64_t)epochs * (n / BATCH), done = 0;
        if (steps >= 0 && steps < max) max = steps;
        double *l = malloc((size_t)(max > 0 ? max : 1) * sizeof(double)), last[2] = {NAN, NAN};
        double t0 = ag_now();
        rc = train(s, x4, epochs, max, l, &done, last, quiet, out);
        if (!rc && loss_path) {
            FILE *f = fopen(loss_path, "w");
            for (int64_t i = 0; f && i < done; i++) fprintf(f, "%.9g\n", l[i]);
            if (f) fclose(f);
        }
        if (!rc)
            printf("dcgan_fashion: %lld steps, %lld + %lld parameters, D+G loss %.4f -> %.4f "
                   "(D %.4f, G %.4f), %.1f s\n",
                   (long long)done, (long long)ag_model_num_elements(s->g),
                   (long long)ag_model_num_elements(s->d), done ? l[0] : NAN,
                   done ? l[done - 1] : NAN, last[0], last[1], ag_now() - t0);
        free(l);
    }
    if (rc) fprintf(stderr, "dcgan_fashion: %s\n", ag_last_error());
    ag_optim_free(s->opt_g);
    ag_optim_free(s->opt_d);
    ag_module_free(s->root);
    ag_tensor_free(x4);
    free(s);
    return rc;
}
