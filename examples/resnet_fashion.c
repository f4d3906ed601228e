/* Build: cc -O2 resnet_fashion.c -o resnet_fashion $(pkg-config --cflags --libs ag) -lz -lm */
/* A small ResNet on Fashion-MNIST: a stem (conv 1->16 3x3, batch norm, ReLU), three
 * residual blocks with batch norm (16->16; 16->32 strided, with a 1x1 conv + batch norm
 * projection shortcut; 32->32), global average pooling and a linear 32->10. SGD with
 * momentum 0.9 and weight decay 5e-4, lr 0.01 annealed by a cosine schedule stepped every
 * batch, batch 128. The module tree has torch's state_dict names (stem.0.weight,
 * layers.1.shortcut.0.weight, layers.1.residual.1.running_var, fc.bias, ...), so the PyTorch
 * twin, examples/torch/resnet_fashion.py, loads the initial weights strict.
 * Usage: resnet_fashion [--steps N] [--epochs E] [--init FILE] [--final FILE]
 *                       [--losses FILE] [--quiet] [--out DIR] [--bench STEPS] [--f64]
 *                       [--eval-rss]
 *   --steps N:    train N batches of the training set in order (default 300)
 *   --epochs E:   train E shuffled epochs instead, printing test accuracy after each
 *   --init FILE:  write the initial weights there (safetensors, the twin loads them)
 *   --final FILE: write the weights and running statistics after training
 *   --f64:        train in float64 (the twin's --f64 checks the running statistics exactly)
 *   --losses FILE: the loss of every step, one per line
 *   --out DIR:    where the final weights go after --epochs (resnet_fashion.safetensors)
 *   --bench STEPS: 3 warm-up steps, then STEPS timed ones; one line (bench/zoo_bench.sh)
 *   --eval-rss:   after training, how much one no-grad evaluation of 1,000 test images
 *                 (ag_evaluate, one batch) raises the peak RSS */
#include <ag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fashion.h"

enum { BATCH = 128 };
/* lr 0.01: at 0.05 float32 rounding grows to 1.4e-3 between ag and torch by step 50 (torch
 * against itself on 1 and 2 threads: 2e-4; float64 agrees to 1e-12); at 0.01, 1e-4. */
static const double LR = 0.01, MOMENTUM = 0.9, WEIGHT_DECAY = 5e-4;

/* ------------------------------------------------------------------ the model
 * Each chain of layers is a Sequential (the stem, a block's residual path, a projection
 * shortcut): with grad off a Sequential holds two activations at a time, so an evaluation
 * keeps only the few tensors a forward below names itself until it returns. */
struct block {
    bool shortcut; /* a 1x1 conv + batch norm projection instead of the identity */
};

/* relu(residual(x) + shortcut(x)), residual = conv1, bn1, relu, conv2, bn2 */
static ag_tensor *block_forward(ag_module *self, int n, ag_tensor *const *in) {
    (void)n;
    ag_tensor *x = in[0];
    ag_tensor *h = ag_module_forward(ag_module_get_child(self, "residual"), x);
    struct block *b = ag_module_ctx(self);
    ag_tensor *skip = b->shortcut ? ag_module_forward(ag_module_get_child(self, "shortcut"), x) : x;
    return ag_relu(ag_add(h, skip));
}

static ag_module *conv3x3(int64_t cin, int64_t cout, int stride) {
    return ag_conv2d_layer(cin, cout, 3,
                           (ag_conv_opts){.stride = {stride, stride}, .padding = {1, 1}}, false);
}

static ag_module *block(int64_t cin, int64_t cout, int stride) {
    struct block *ctx = malloc(sizeof *ctx);
    if (!ctx) return NULL;
    ctx->shortcut = stride != 1 || cin != cout;
    ag_module *b = ag_module_new("BasicBlock", block_forward, ctx, free);
    ag_model *r = ag_module_add_child(b, "residual", ag_model_new());
    ag_model_add(r, conv3x3(cin, cout, stride));
    ag_model_add(r, ag_batch_norm2d_layer(cout));
    ag_model_add(r, ag_activation_layer(AG_ACTIVATION_RELU));
    ag_model_add(r, conv3x3(cout, cout, 1));
    ag_model_add(r, ag_batch_norm2d_layer(cout));
    if (ctx->shortcut) {
        ag_model *s = ag_module_add_child(b, "shortcut", ag_model_new());
        ag_model_add(
            s, ag_conv2d_layer(cin, cout, 1, (ag_conv_opts){.stride = {stride, stride}}, false));
        ag_model_add(s, ag_batch_norm2d_layer(cout));
    }
    return b;
}

/* x [N,1,28,28] -> logits [N,10] */
static ag_tensor *resnet_forward(ag_module *self, int n, ag_tensor *const *in) {
    (void)n;
    ag_tensor *h = ag_module_forward(ag_module_get_child(self, "stem"), in[0]);
    h = ag_module_forward(ag_module_get_child(self, "layers"), h);
    h = ag_adaptive_avg_pool2d(h, 1, 1); /* [N,32,1,1] */
    h = ag_reshape(h, 2, (int64_t[]){-1, 32});
    return ag_module_forward(ag_module_get_child(self, "fc"), h);
}

static ag_module *resnet(void) {
    ag_module *m = ag_module_new("ResNet", resnet_forward, NULL, NULL);
    ag_model *stem = ag_module_add_child(m, "stem", ag_model_new());
    ag_model_add(stem, conv3x3(1, 16, 1));
    ag_model_add(stem, ag_batch_norm2d_layer(16));
    ag_model_add(stem, ag_activation_layer(AG_ACTIVATION_RELU));
    ag_model *layers = ag_module_add_child(m, "layers", ag_model_new());
    ag_model_add(layers, block(16, 16, 1));
    ag_model_add(layers, block(16, 32, 2));
    ag_model_add(layers, block(32, 32, 1));
    ag_module_add_child(m, "fc", ag_linear_layer(32, 10, true));
    if (ag_model_num_elements(m) != 38266) { /* a child that failed to be made or added */
        ag_module_free(m);
        return NULL;
    }
    return m;
}

/* ------------------------------------------------------------------ training */
struct run {
    ag_module *m;
    ag_optim *o;
    ag_sched *s;
    double *losses;
    int n_losses, cap;
};

/* One SGD step on (x, y) in a scope of its own, then the schedule; the loss or NAN. */
static double train_step(struct run *r, ag_tensor *x, ag_tensor *y) {
    ag_scope_begin();
    ag_tensor *loss = ag_cross_entropy_loss(ag_module_forward(r->m, x), y);
    double v = loss && !ag_train_step(r->o, loss) ? ag_item(loss) : NAN;
    ag_scope_end();
    ag_sched_step(r->s);
    if (r->n_losses < r->cap) r->losses[r->n_losses++] = v;
    return v;
}

static int run_init(struct run *r, int t_max, int cap) {
    int np;
    ag_tensor **p = ag_module_parameters(r->m, &np);
    ag_sgd_opts so = ag_sgd_defaults();
    so.lr = LR;
    so.momentum = MOMENTUM;
    so.weight_decay = WEIGHT_DECAY;
    r->o = ag_sgd_new(p, np, so);
    r->s = r->o ? ag_sched_cosine_new(r->o, t_max, 0) : NULL;
    r->losses = malloc((size_t)(cap > 0 ? cap : 1) * sizeof(double));
    r->n_losses = 0;
    r->cap = cap;
    return r->o && r->s && r->losses ? 0 : 1;
}

static void run_free(struct run *r) {
    ag_sched_free(r->s);
    ag_optim_free(r->o);
    free(r->losses);
}

/* steps batches in order from the start of the training set (wrapping), as the twin. */
static int train_steps(struct run *r, struct fashion *f, int steps) {
    ag_loader *l = ag_loader_new(f->x_train, f->y_train, BATCH, false);
    if (!l) return 1;
    ag_tensor *xb, *yb;
    for (int s = 0; s < steps; s++) {
        if (!ag_loader_next(l, &xb, &yb)) {
            ag_loader_reset(l);
            ag_loader_next(l, &xb, &yb);
        }
        if (isnan(train_step(r, xb, yb))) break;
    }
    ag_loader_free(l);
    return r->n_losses == steps && !isnan(r->losses[steps - 1]) ? 0 : 1;
}

static double peak_rss_mib(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;
}

/* E shuffled epochs; the test set's loss and accuracy after each (eval mode, no grad). */
static int train_epochs(struct run *r, struct fashion *f, int epochs, bool quiet) {
    ag_loader *l = ag_loader_new(f->x_train, f->y_train, BATCH, true);
    if (!l) return 1;
    int rc = 0;
    for (int e = 0; e < epochs && !rc; e++) {
        double t0 = ag_now(), sum = 0;
        int64_t nb = 0;
        ag_tensor *xb, *yb;
        while (!rc && ag_loader_next(l, &xb, &yb)) {
            double v = train_step(r, xb, yb);
            if (isnan(v)) rc = 1;
            sum += v, nb++;
            if (!quiet && nb % 50 == 0) {
                printf("\repoch %d: batch %lld/%lld loss %.4f", e + 1, (long long)nb,
                       (long long)ag_loader_num_batches(l), sum / (double)nb);
                fflush(stdout);
            }
        }
        double train_s = ag_now() - t0, test_loss, test_acc;
        if (!rc && ag_evaluate(r->m, f->x_test, f->y_test, NULL, 1000, &test_loss, &test_acc))
            rc = 1;
        if (!rc)
            printf("\repoch %d: train loss %.4f, test loss %.4f, test accuracy %.2f %%, "
                   "%.1f s, lr %.5f, peak RSS %.0f MiB\n",
                   e + 1, sum / (double)nb, test_loss, 100 * test_acc, train_s,
                   ag_optim_get_lr(r->o), peak_rss_mib());
        ag_loader_reset(l);
    }
    ag_loader_free(l);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 3 warm-up steps, then steps timed ones, batches in order; one line on stdout. */
static int bench(struct run *r, struct fashion *f, int steps) {
    ag_loader *l = ag_loader_new(f->x_train, f->y_train, BATCH, false);
    double *ms = malloc((size_t)steps * sizeof *ms);
    if (!l || !ms) return free(ms), ag_loader_free(l), 1;
    ag_tensor *xb, *yb;
    int rc = 0;
    for (int s = -3; s < steps && !rc; s++) {
        if (!ag_loader_next(l, &xb, &yb)) ag_loader_reset(l), ag_loader_next(l, &xb, &yb);
        double t0 = ag_now();
        rc = isnan(train_step(r, xb, yb));
        if (s >= 0) ms[s] = 1e3 * (ag_now() - t0);
    }
    if (!rc) {
        qsort(ms, (size_t)steps, sizeof *ms, cmp_double);
        double med = steps % 2 ? ms[steps / 2] : (ms[steps / 2 - 1] + ms[steps / 2]) / 2;
        int64_t per_epoch = ag_loader_num_batches(l);
        printf("bench resnet_fashion: step_ms=%.3f steps_per_epoch=%lld epoch_s=%.2f "
               "peak_rss_mib=%.1f\n",
               med, (long long)per_epoch, med * (double)per_epoch / 1e3, peak_rss_mib());
    }
    free(ms);
    ag_loader_free(l);
    return rc;
}

/* The resident set now, from /proc/self/statm (0 where there is none). */
static double rss_mib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    if (f) fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* One evaluation of the first 1,000 test images in one batch (eval mode, no grad). */
static int eval_rss(struct run *r, struct fashion *f) {
    ag_tensor *x = ag_contiguous(ag_slice(f->x_test, 0, 0, 1000, 1));
    ag_tensor *y = ag_contiguous(ag_slice(f->y_test, 0, 0, 1000, 1));
    double before = rss_mib(), peak0 = peak_rss_mib(), loss, acc;
    int rc = !x || !y || ag_evaluate(r->m, x, y, NULL, 1000, &loss, &acc);
    if (!rc)
        printf("eval of 1000 images: loss %.4f, accuracy %.1f %%; RSS before %.0f MiB (peak so far "
               "%.0f), peak after %.0f MiB: +%.0f MiB\n",
               loss, 100 * acc, before, peak0, peak_rss_mib(), peak_rss_mib() - before);
    ag_tensor_free(x), ag_tensor_free(y);
    return rc;
}

/* ------------------------------------------------------------------ main */
struct args {
    int steps, epochs, bench;
    const char *init, *final, *losses, *out;
    bool quiet, f64, eval_rss;
};

static struct args parse(int argc, char **argv) {
    struct args a = {.steps = 300, .out = "build/examples"};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) a.steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) a.epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--bench") && i + 1 < argc) a.bench = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--init") && i + 1 < argc) a.init = argv[++i];
        else if (!strcmp(argv[i], "--final") && i + 1 < argc) a.final = argv[++i];
        else if (!strcmp(argv[i], "--losses") && i + 1 < argc) a.losses = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) a.out = argv[++i];
        else if (!strcmp(argv[i], "--quiet")) a.quiet = true;
        else if (!strcmp(argv[i], "--f64")) a.f64 = true;
        else if (!strcmp(argv[i], "--eval-rss")) a.eval_rss = true;
    }
    if (a.steps < 1) a.steps = 1;
    return a;
}

static void write_losses(const char *path, const double *v, int n) {
    FILE *f = path ? fopen(path, "w") : NULL;
    for (int i = 0; f && i < n; i++) fprintf(f, "%.9g\n", v[i]);
    if (f) fclose(f);
}

static int train(struct run *r, struct fashion *f, struct args a) {
    int64_t per_epoch = (ag_shape(f->x_train)[0] + BATCH - 1) / BATCH;
    if (a.bench > 0) return run_init(r, (int)per_epoch, a.bench + 3) || bench(r, f, a.bench);
    if (a.epochs > 0)
        return run_init(r, (int)(a.epochs * per_epoch), 0) || train_epochs(r, f, a.epochs, a.quiet);
    double t0 = ag_now();
    if (run_init(r, a.steps, a.steps) || train_steps(r, f, a.steps)) return 1;
    write_losses(a.losses, r->losses, r->n_losses);
    printf("resnet_fashion: %d steps, %lld parameters, loss %.4f -> %.4f, %.1f s\n", r->n_losses,
           (long long)ag_model_num_elements(r->m), r->losses[0], r->losses[r->n_losses - 1],
           ag_now() - t0);
    return 0;
}

int main(int argc, char **argv) {
    (void)fashion_out_dir, (void)env_int; /* fashion.h's helpers for the other examples */
    struct args a = parse(argc, argv);
    /* images stay bytes (the loader converts each batch); float64 runs take them as floats */
    struct fashion f = a.f64 ? fashion_load_float() : fashion_load();
    if (a.f64) { /* parameters and images in float64 */
        ag_set_default_dtype(AG_F64);
        ag_tensor *x = ag_cast(f.x_train, AG_F64);
        ag_tensor_free(f.x_train);
        f.x_train = x;
    }
    ag_manual_seed(1);
    struct run r = {.m = resnet()};
    if (!r.m) return fprintf(stderr, "resnet_fashion: %s\n", ag_last_error()), 1;
    if (a.init && ag_module_save(r.m, a.init))
        return fprintf(stderr, "resnet_fashion: %s\n", ag_last_error()), 1;
    if (!a.quiet && !a.bench) {
        ag_model_print_summary(r.m, 4, (int64_t[]){BATCH, 1, 28, 28});
        if (a.epochs > 0) mkdir(a.out, 0755);
    }
    int rc = train(&r, &f, a);
    if (rc) fprintf(stderr, "resnet_fashion: %s\n", ag_last_error());
    if (!rc && a.final && ag_module_save(r.m, a.final)) rc = 1;
    if (!rc && a.eval_rss) rc = eval_rss(&r, &f);
    if (!rc && a.epochs > 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/resnet_fashion.safetensors", a.out);
        if (!ag_module_save(r.m, path) && !a.quiet) printf("weights: %s\n", path);
    }
    run_free(&r);
    ag_module_free(r.m);
    fashion_free(&f);
    return rc;
}
