/* Shared by the Fashion-MNIST examples: load the dataset from Debian's dataset-fashion-mnist
 * (or $AG_FASHION_DIR), or, when it cannot be had, make a small stand-in and say so.
 *
 * The images stay bytes (AG_U8, 47 MB for the training set instead of 188 MB of float32):
 * ag_train and ag_evaluate turn each batch into float32 pixels in [0, 1]
 * (ag_train_opts.input_scale 0 = 1/255), and fashion_rows() does the same for a loop of your
 * own. fashion_load_float() gives the whole set as float32 for code that wants it so. */
#ifndef AG_EXAMPLES_FASHION_H
#define AG_EXAMPLES_FASHION_H

#include <ag.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The output folder for metrics, plots and weights; made when missing. */
static const char *fashion_out_dir(int argc, char **argv) {
    const char *out = argc > 1 ? argv[1] : "build/examples";
    mkdir(out, 0755); /* an existing folder is fine; a real failure shows when writing */
    return out;
}

struct fashion {
    ag_tensor *x_train, *y_train, *x_test, *y_test; /* heap; x [N,1,28,28] AG_U8 pixels 0..255
                                                       (fashion_load_float: float32 in [0,1]);
                                                       y [N] AG_I64 */
    bool synthetic;
};

static ag_tensor *fashion_file(const char *dir, const char *name, ag_dtype dt, double scale) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return ag_load_idx(path, dt, scale);
}

/* 10 classes of noisy 28x28 patterns (a bar at a class-specific angle), n per split. */
static void fashion_synthetic(struct fashion *f, int64_t n_train, int64_t n_test) {
    ag_manual_seed(7);
    for (int split = 0; split < 2; split++) {
        int64_t n = split ? n_test : n_train;
        ag_tensor *x = ag_zeros(AG_U8, 4, (int64_t[]){n, 1, 28, 28});
        ag_tensor *y = ag_zeros(AG_I64, 1, &n);
        ag_tensor *noise = ag_rand(AG_F32, 4, (int64_t[]){n, 1, 28, 28});
        unsigned char *px = ag_data(x);
        float *pn = ag_data(noise);
        int64_t *py = ag_data(y);
        for (int64_t i = 0; i < n; i++) {
            int c = (int)(ag_random_u64() % 10);
            py[i] = c;
            double a = c * M_PI / 10, ca = cos(a), sa = sin(a);
            for (int r = 0; r < 28; r++)
                for (int q = 0; q < 28; q++) {
                    double u = q - 13.5, v = r - 13.5, d = fabs(-sa * u + ca * v);
                    double on = d < 2.5 && fabs(ca * u + sa * v) < 11 ? 0.8 : 0.0;
                    double p = (on + 0.35 * pn[i * 784 + r * 28 + q]) * 255;
                    px[i * 784 + r * 28 + q] = (unsigned char)(p < 255 ? p : 255);
                }
        }
        ag_tensor_free(noise);
        if (split) f->x_test = x, f->y_test = y;
        else f->x_train = x, f->y_train = y;
    }
    f->synthetic = true;
}

static struct fashion fashion_load(void) {
    struct fashion f = {0};
    const char *dir = getenv("AG_FASHION_DIR");
    if (!dir) dir = "/usr/share/datasets/fashion-mnist";
    f.x_train = fashion_file(dir, "train-images-idx3-ubyte.gz", AG_U8, 0);
    f.y_train = fashion_file(dir, "train-labels-idx1-ubyte.gz", AG_I64, 0);
    f.x_test = fashion_file(dir, "t10k-images-idx3-ubyte.gz", AG_U8, 0);
    f.y_test = fashion_file(dir, "t10k-labels-idx1-ubyte.gz", AG_I64, 0);
    if (f.x_train && f.y_train && f.x_test && f.y_test) {
        int64_t s1[] = {ag_shape(f.x_train)[0], 1, 28, 28},
                s2[] = {ag_shape(f.x_test)[0], 1, 28, 28};
        ag_tensor *a = ag_reshape(f.x_train, 4, s1), *b = ag_reshape(f.x_test, 4, s2);
        ag_tensor_free(f.x_train);
        ag_tensor_free(f.x_test);
        f.x_train = a;
        f.x_test = b;
        return f;
    }
    printf("Fashion-MNIST not available (%s);\n"
           "training on a small generated dataset instead (10 classes of noisy bars).\n"
           "Install it with: sudo apt-get install dataset-fashion-mnist\n",
           ag_last_error());
    ag_tensor_free(f.x_train);
    ag_tensor_free(f.y_train);
    ag_tensor_free(f.x_test);
    ag_tensor_free(f.y_test);
    fashion_synthetic(&f, 6000, 1000);
    return f;
}

/* Rows [first, first + n) of the byte images x as float32 pixels in [0, 1], [n,1,28,28]:
 * the batch of a loop of your own. Call it inside ag_scope_begin / ag_scope_end (the
 * intermediate view and cast go with the scope). */
static inline ag_tensor *fashion_rows(ag_tensor *x, int64_t first, int64_t n) {
    return ag_mul_scalar(ag_cast(ag_slice(x, 0, first, first + n, 1), AG_F32), 1 / 255.0);
}

/* The byte images x as a new heap float32 tensor in [0, 1] of the same shape. */
static inline ag_tensor *fashion_to_float(ag_tensor *x) {
    ag_tensor *f = ag_zeros(AG_F32, ag_ndim(x), ag_shape(x));
    const unsigned char *b = ag_data(x);
    float *p = ag_data(f);
    for (int64_t i = 0; i < ag_numel(x); i++) p[i] = b[i] / 255.0f;
    return f;
}

/* fashion_load() with the images as float32 in [0, 1] (four times the memory). */
static inline struct fashion fashion_load_float(void) {
    struct fashion f = fashion_load();
    ag_tensor *xs[2] = {f.x_train, f.x_test};
    f.x_train = fashion_to_float(xs[0]);
    f.x_test = fashion_to_float(xs[1]);
    ag_tensor_free(xs[0]);
    ag_tensor_free(xs[1]);
    return f;
}

static void fashion_free(struct fashion *f) {
    ag_tensor_free(f->x_train);
    ag_tensor_free(f->y_train);
    ag_tensor_free(f->x_test);
    ag_tensor_free(f->y_test);
}

static int env_int(const char *name, int dflt) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

#endif
