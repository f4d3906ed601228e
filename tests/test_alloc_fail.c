/* Allocation failure: for each scenario, every heap allocation the library makes is made
 * to fail in turn (the Nth for N = 1, 2, ... until a run completes without reaching N;
 * tensor/alloc.c's test hook, no LD_PRELOAD). Every run must end in success with the
 * reference answer, or in a clean error (a one-line message); nothing may crash, and
 * under the ASan suite nothing may leak (checked after every run). */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "helpers.h"
#include "leak_check.h"
#include "tensor/tensor.h"

static char dir_buf[128];
static const char *tmp_path(const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "/tmp/ag_test_alloc_%d_%s", (int)getpid(), name);
    return buf;
}

/* The parameters' sum: what a run computed, compared with the reference run's. */
static double params_sum(ag_tensor **p, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        ag_scope_begin();
        s += ag_item(ag_sum(p[i]));
        ag_scope_end();
    }
    return s;
}

/* ------------------------------------------------------------------ scenarios
 * Each returns 0 (and *out, a checksum) or non-zero, and frees what it made either way. */
static int linreg_step(double *out) {
    int64_t n[] = {3};
    ag_tensor *x = ag_tensor_new(AG_F64, 1, n, (double[]){1, -1, 3});
    ag_tensor *y = ag_tensor_new(AG_F64, 1, n, (double[]){7, 0, 14});
    ag_tensor *w = ag_zeros(AG_F64, 0, NULL), *b = ag_zeros(AG_F64, 0, NULL);
    ag_optim *opt = NULL;
    int rc = 1;
    if (x && y && w && b) {
        ag_set_requires_grad(w, true);
        ag_set_requires_grad(b, true);
        opt = ag_sgd_new((ag_tensor *[]){w, b}, 2, (ag_sgd_opts){.lr = 0.1});
    }
    if (opt) {
        ag_clear_error();
        ag_scope_begin();
        ag_tensor *loss = ag_mse_loss(ag_add(ag_mul(x, w), b), y);
        ag_optim_zero_grad(opt);
        if (loss && !ag_backward(loss)) {
            ag_optim_step(opt);
            rc = ag_last_error() != NULL;
        }
        ag_scope_end();
        *out = ag_item(w) + ag_item(b);
    }
    ag_optim_free(opt);
    ag_tensor_free(x), ag_tensor_free(y), ag_tensor_free(w), ag_tensor_free(b);
    return rc;
}

/* x [16,4] float32 and labels [16] in 3 classes. */
static int make_data(ag_tensor **x, ag_tensor **y, int ndim, const int64_t *xshape) {
    ag_manual_seed(7);
    *x = ag_randn(AG_F32, ndim, xshape);
    *y = ag_zeros(AG_I64, 1, xshape);
    if (!*x || !*y) return 1;
    for (int64_t i = 0; i < xshape[0]; i++) ((int64_t *)ag_data(*y))[i] = i % 3;
    return 0;
}

static ag_model *mlp(void) {
    ag_manual_seed(1);
    ag_model *m = ag_model_new();
    if (m && !ag_model_add(m, ag_dense_layer(4, 8, AG_ACTIVATION_RELU)) &&
        !ag_model_add(m, ag_linear_layer(8, 3, true)))
        return m;
    ag_model_free(m);
    return NULL;
}

static int mlp_adam_train(double *out) {
    ag_tensor *x = NULL, *y = NULL;
    ag_model *m = mlp();
    ag_optim *opt = NULL;
    int rc = 1, np = 0;
    if (m && !make_data(&x, &y, 2, (int64_t[]){16, 4})) {
        ag_tensor **p = ag_model_params(m, &np);
        opt = ag_adam_new(p, np, (ag_adam_opts){.lr = 0.01});
    }
    if (opt) {
        ag_train_result r;
        rc = ag_train(m, opt, x, y, (ag_train_opts){.epochs = 2, .batch_size = 8, .verbose = -1},
                      &r);
        *out = params_sum(ag_model_params(m, &np), np);
    }
    ag_optim_free(opt);
    ag_model_free(m);
    ag_tensor_free(x), ag_tensor_free(y);
    return rc;
}

static int conv_step(double *out) {
    ag_tensor *x = NULL, *y = NULL;
    ag_manual_seed(2);
    ag_model *m = ag_model_new();
    ag_optim *opt = NULL;
    int rc = 1, np = 0;
    if (!m || ag_model_add(m, ag_conv2d_layer(1, 2, 3, (ag_conv_opts){0}, true)) ||
        ag_model_add(m, ag_batch_norm2d_layer(2)) ||
        ag_model_add(m, ag_max_pool2d_layer((ag_pool_opts){.kernel = {2, 2}})) ||
        ag_model_add(m, ag_flatten_layer()) || ag_model_add(m, ag_linear_layer(8, 3, true)))
        goto done;
    if (make_data(&x, &y, 4, (int64_t[]){4, 1, 6, 6})) goto done;
    ag_tensor **p = ag_model_params(m, &np);
    opt = ag_sgd_new(p, np, (ag_sgd_opts){.lr = 0.1, .momentum = 0.9});
    if (!opt) goto done;
    ag_clear_error();
    ag_scope_begin();
    ag_tensor *loss = ag_cross_entropy_loss(ag_model_forward(m, x), y);
    ag_optim_zero_grad(opt);
    if (loss && !ag_backward(loss)) {
        ag_optim_step(opt);
        rc = ag_last_error() != NULL;
    }
    ag_scope_end();
    *out = params_sum(ag_model_params(m, &np), np);
done:
    ag_optim_free(opt);
    ag_model_free(m);
    ag_tensor_free(x), ag_tensor_free(y);
    return rc;
}

static int safetensors_save_load(double *out) {
    char path[128];
    tmp_path("m.safetensors", path, sizeof path);
    ag_model *a = mlp(), *b = mlp();
    int rc = 1, np = 0;
    if (a && b) {
        ag_tensor **p = ag_model_params(b, &np); /* a module's list is built: it can fail */
        for (int i = 0; i < np; i++) ag_init_zeros_(p[i]);
        rc = !p || ag_model_save(a, path) || ag_model_load(b, path);
        ag_scope_begin();
        ag_tensor *t = ag_load_safetensors_tensor(path, "1.bias");
        rc = rc || !t;
        ag_scope_end();
        *out = params_sum(p, np);
    }
    ag_model_free(a);
    ag_model_free(b);
    return rc;
}

static char idx_path[128], idx_gz_path[128], csv_path[128];

static void write_inputs(void) {
    static const unsigned char idx[] = {0, 0, 8, 2, 0,  0,   0,   2,   0,
                                        0, 0, 3, 0, 51, 102, 153, 204, 255};
    FILE *f = fopen(tmp_path("a.idx", idx_path, sizeof idx_path), "wb");
    fwrite(idx, 1, sizeof idx, f);
    fclose(f);
    gzFile g = gzopen(tmp_path("a.idx.gz", idx_gz_path, sizeof idx_gz_path), "wb");
    gzwrite(g, idx, sizeof idx);
    gzclose(g);
    f = fopen(tmp_path("a.csv", csv_path, sizeof csv_path), "w");
    for (int r = 0; r < 600; r++) fprintf(f, "%d,%d.5,%d\n", r, -r, r % 2); /* > 1 reserve */
    fclose(f);
}

static int loaders(double *out) {
    int rc = 1;
    ag_scope_begin();
    ag_tensor *a = ag_load_idx(idx_path, AG_F32, 1 / 255.0);
    ag_tensor *b = a ? ag_load_idx(idx_gz_path, AG_I64, 0) : NULL;
    ag_tensor *x = NULL, *y = NULL;
    if (b &&
        !ag_load_csv(csv_path, (ag_csv_opts){.has_label = true, .label_col = -1, .dtype = AG_F64},
                     &x, &y)) {
        *out = ag_item(ag_sum(a)) + ag_item(ag_sum(ag_cast(b, AG_F64))) + ag_item(ag_sum(x)) +
               ag_item(ag_sum(ag_cast(y, AG_F64)));
        rc = isnan(*out);
    }
    ag_scope_end();
    return rc;
}

static int batch_loader(double *out) {
    ag_manual_seed(3);
    ag_tensor *x = ag_arange(AG_F64, 0, 10, 1), *y = ag_zeros(AG_I64, 1, (int64_t[]){10});
    ag_loader *l = x && y ? ag_loader_new(x, y, 3, true) : NULL;
    int rc = 1;
    if (l) {
        double s = 0;
        ag_tensor *xb, *yb;
        ag_clear_error();
        for (int epoch = 0; epoch < 2; epoch++) {
            ag_loader_reset(l);
            for (int64_t k = 1; ag_loader_next(l, &xb, &yb); k++) {
                ag_scope_begin();
                s += k * ag_item(ag_sum(xb));
                ag_scope_end();
            }
        }
        rc = ag_last_error() != NULL;
        *out = s;
    }
    ag_loader_free(l);
    ag_tensor_free(x), ag_tensor_free(y);
    return rc;
}

/* ag_keep through nested scopes: a big tensor's chunk moves up, a small one is copied. */
static int scope_keep(double *out) {
    ag_clear_error();
    ag_scope_begin();
    ag_scope_begin();
    ag_scope_begin();
    ag_tensor *big = ag_keep(ag_arange(AG_F32, 0, 1 << 18, 1));
    ag_tensor *small = ag_keep(ag_arange(AG_F32, 0, 10, 1));
    ag_scope_end();
    big = ag_keep(big), small = ag_keep(small);
    ag_scope_end();
    ag_tensor *s = ag_add(ag_sum(big), ag_sum(small));
    *out = s ? ag_item(s) : NAN;
    int rc = ag_last_error() != NULL;
    ag_scope_end();
    return rc;
}

/* ------------------------------------------------------------------ the driver
 * Each run goes in a child process of its own, so every run starts from the same state
 * (caches such as GEMM's packing scratch and the scope chunks are empty) and a crash is
 * reported with its N instead of ending the test. */
struct run {
    int rc, leaked;
    int64_t made;
    double got;
    char error[512];
};

/* The child's stderr, shown only when its run is a finding (LeakSanitizer in a child of a
 * threaded process notes the threads it cannot stop on every check). */
static void show_log(FILE *log) {
    char line[1024];
    rewind(log);
    while (fgets(line, sizeof line, log))
        if (!strstr(line, "was not suspended")) fputs(line, stderr);
}

static struct run run_in_child(int (*scenario)(double *), int64_t n) {
    struct run r = {.rc = -1};
    int fd[2];
    FILE *log = tmpfile();
    cr_assert(log && pipe(fd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fd[0]);
        dup2(fileno(log), 2);
        ag_clear_error();
        ag__alloc_fail_nth(n);
        r.got = NAN;
        r.rc = scenario(&r.got);
        r.made = ag__alloc_calls();
        ag__alloc_fail_nth(0);
        if (!r.rc && isnan(r.got)) r.rc = 1; /* the checksum's own ops failed */
        const char *e = ag_last_error();
        snprintf(r.error, sizeof r.error, "%s", e ? e : "");
#if defined(__SANITIZE_ADDRESS__)
        r.leaked = __lsan_do_recoverable_leak_check();
#endif
        ssize_t w = write(fd[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], &r, sizeof r);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    bool crashed = got != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status);
    if (crashed || r.leaked) show_log(log);
    fclose(log);
    cr_assert(!crashed, "the run failing allocation %lld crashed (status 0x%x): see stderr",
              (long long)n, status);
    return r;
}

struct counts {
    int64_t allocations, errors, recovered;
};

static struct counts fail_each(const char *name, int (*scenario)(double *)) {
    struct run ref = run_in_child(scenario, INT64_MAX); /* the reference run, counted */
    cr_assert_eq(ref.rc, 0, "%s: %s", name, ref.error);
    cr_assert_gt(ref.made, 0, "%s makes no allocation through the hook", name);
    struct counts c = {ref.made, 0, 0};
    for (int64_t n = 1; n <= ref.made; n++) {
        struct run r = run_in_child(scenario, n);
        cr_assert_eq(r.leaked, 0, "%s: allocation %lld failed: leaks (see stderr)", name,
                     (long long)n);
        cr_assert_geq(r.made, n, "%s: run %lld made fewer allocations than the reference", name,
                      (long long)n);
        if (r.rc) {
            cr_assert(r.error[0] && !strchr(r.error, '\n'),
                      "%s: allocation %lld failed: no "
                      "clean error (%s)",
                      name, (long long)n, r.error);
            c.errors++;
        } else {
            cr_assert_eq(r.got, ref.got,
                         "%s: allocation %lld failed, the run succeeded with "
                         "%.17g, not %.17g",
                         name, (long long)n, r.got, ref.got);
            c.recovered++;
        }
    }
    fprintf(stderr, "alloc_fail %-22s %5lld allocations: %5lld clean errors, %5lld recovered\n",
            name, (long long)c.allocations, (long long)c.errors, (long long)c.recovered);
    return c;
}

Test(alloc_fail, linear_regression_step) { fail_each("linear regression step", linreg_step); }
Test(alloc_fail, mlp_adam_through_ag_train) { fail_each("MLP + Adam, ag_train", mlp_adam_train); }
Test(alloc_fail, conv_step) { fail_each("conv step", conv_step); }
Test(alloc_fail, safetensors_save_and_load) {
    fail_each("safetensors save+load", safetensors_save_load);
    unlink(tmp_path("m.safetensors", dir_buf, sizeof dir_buf));
}
Test(alloc_fail, idx_and_csv_loaders) {
    write_inputs();
    fail_each("IDX, IDX.gz, CSV", loaders);
    unlink(idx_path), unlink(idx_gz_path), unlink(csv_path);
}
Test(alloc_fail, batch_loader) { fail_each("batch loader", batch_loader); }
Test(alloc_fail, scope_keep) { fail_each("ag_keep, nested scopes", scope_keep); }
