/* The training loop: epochs of mini-batches (one scope per step), evaluation, a progress
 * bar on a terminal (plain lines otherwise), metrics CSV, early stopping, checkpoints and
 * the loss/accuracy plot. */
#include "data/sampler.h" /* ag__loader_set_batch_dtype */
#include "nn/nn.h"
#include "nn/train_dist.h"
#include "optim/optim.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

/* Correct predictions of logits out [N,C] against labels y [N] (AG_I64); -1 when not labels. */
static int64_t count_correct(const ag_tensor *out, const ag_tensor *y) {
    if (!y || y->dtype != AG_I64 || out->ndim != 2 || out->shape[0] != y->shape[0]) return -1;
    int64_t n = out->shape[0], c = out->shape[1], correct = 0;
    bool fast = out->dtype == AG_F32 && ag_is_contiguous(out) && ag_is_contiguous(y);
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        if (fast) {
            const float *row = (const float *)ag__ptr(out) + i * c;
            for (int64_t j = 1; j < c; j++)
                if (row[j] > row[best]) best = j;
            correct += best == ((const int64_t *)ag__ptr(y))[i];
        } else {
            double bv = ag__get_flat(out, i * c);
            for (int64_t j = 1; j < c; j++) {
                double v = ag__get_flat(out, i * c + j);
                if (v > bv) bv = v, best = j;
            }
            correct += best == (int64_t)ag__get_flat(y, i);
        }
    }
    return correct;
}

static ag_loss_fn default_loss(ag_loss_fn loss, const ag_tensor *y) {
    if (loss) return loss;
    return y && y->dtype == AG_I64 ? ag_cross_entropy_loss : ag_mse_loss;
}

/* ag_evaluate with the scale of AG_U8 inputs (0: 1/255). */
static int evaluate(ag_model *m, ag_tensor *x, ag_tensor *y, ag_loss_fn loss, int64_t batch_size,
                    double input_scale, double *loss_out, double *acc_out) {
    const char *fn = "ag_evaluate";
    if (!m || !x || !y) return ag__error(AG_ERR_NULL, fn, "model, x and y must not be NULL");
    loss = default_loss(loss, y);
    ag_loader *l = ag_loader_new(x, y, batch_size ? batch_size : 1024, false);
    if (!l) return ag__last_error_code();
    if (x->dtype == AG_U8 && (ag_loader_set_input_scale(l, input_scale) ||
                              ag__loader_set_batch_dtype(l, ag_get_default_dtype()))) {
        ag_loader_free(l);
        return ag__last_error_code();
    }
    bool *modes = ag__module_modes_save(m, fn);
    if (!modes) {
        ag_loader_free(l);
        return AG_ERR_NOMEM;
    }
    ag_module_train(m, false);
    bool grad = ag_set_grad_enabled(false);
    double sum = 0;
    int64_t correct = 0, seen = 0;
    int rc = AG_OK;
    ag_tensor *xb, *yb;
    while (!rc && ag_loader_next(l, &xb, &yb)) {
        ag_scope_begin();
        ag_tensor *out = ag_module_forward(m, xb);
        ag_tensor *lv = loss(out, yb);
        if (!lv) rc = ag__last_error_code() ? ag__last_error_code() : AG_ERR_STATE;
        else {
            sum += ag_item(lv) * (double)xb->shape[0];
            int64_t c = count_correct(out, yb);
            correct = c < 0 || correct < 0 ? -1 : correct + c;
            seen += xb->shape[0];
        }
        ag_scope_end();
    }
    ag_set_grad_enabled(grad);
    ag__module_modes_restore(m, modes);
    ag_loader_free(l);
    if (rc) return rc;
    if (loss_out) *loss_out = seen ? sum / (double)seen : NAN;
    if (acc_out) *acc_out = correct >= 0 && seen ? (double)correct / (double)seen : NAN;
    return AG_OK;
}

int ag_evaluate(ag_model *m, ag_tensor *x, ag_tensor *y, ag_loss_fn loss, int64_t batch_size,
                double *loss_out, double *acc_out) {
    return evaluate(m, x, y, loss, batch_size, 0, loss_out, acc_out);
}

/* ------------------------------------------------------------------ progress */
struct progress {
    int mode; /* -1 silent, 1 lines, 2 bar */
    int epochs;
    int64_t batches;
    double last_draw, train_start;
};

static void fmt_time(char *buf, size_t n, double s) {
    if (s < 60) snprintf(buf, n, "%.1fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static void draw_bar(struct progress *p, int epoch, int64_t batch, double loss, double acc,
                     double rate, double epoch_elapsed, bool force) {
    double now = ag_now();
    if (p->mode != 2 || (!force && now - p->last_draw < 0.1)) return;
    p->last_draw = now;
    int width = 24, fill = (int)((double)width * (double)batch / (double)p->batches);
    char bar[32], eta[16], accs[16] = "";
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[width] = 0;
    double per_batch = batch ? epoch_elapsed / (double)batch : 0;
    double remaining = per_batch * (double)(p->batches - batch) +
                       per_batch * (double)p->batches * (double)(p->epochs - epoch);
    fmt_time(eta, sizeof eta, remaining);
    if (acc == acc) snprintf(accs, sizeof accs, " acc %5.2f%%", 100 * acc);
    printf("\r\033[Kepoch %d/%d [%s] %lld/%lld loss %.4f%s %.0f samples/s ETA %s", epoch, p->epochs,
           bar, (long long)batch, (long long)p->batches, loss, accs, rate, eta);
    fflush(stdout);
}

static void epoch_line(struct progress *p, int epoch, const ag_train_result *r, double lr,
                       double seconds, bool has_val) {
    if (p->mode < 0) return;
    if (p->mode == 2) printf("\r\033[K");
    printf("epoch %d/%d  loss %.4f", epoch, p->epochs, r->train_loss);
    if (r->train_acc == r->train_acc) printf("  acc %.2f%%", 100 * r->train_acc);
    if (has_val) {
        printf("  val_loss %.4f", r->val_loss);
        if (r->val_acc == r->val_acc) printf("  val_acc %.2f%%", 100 * r->val_acc);
    }
    printf("  lr %.3g  %.2fs  %.0f samples/s\n", lr, seconds, r->samples_per_s);
    fflush(stdout);
}

/* ------------------------------------------------------------------ the loop
 * ag_train is a loop of named steps over one struct run: open, then per epoch train_epoch
 * (batch_step per batch), validate, report, track_best, save_checkpoint, the schedule and
 * early_stop; then close. */
struct run {
    ag_module *m;
    ag_optim *o;
    ag_loss_fn loss;
    ag_train_opts opts;
    int epochs;
    bool has_val;
    ag_loader *loader;
    FILE *csv;
    char csv_path[1024];
    struct progress p;
    int bad_epochs; /* epochs since the best validation loss */
    int64_t total_samples;
    double t_start;
    ag_train_result r;
};

static void write_csv_header(FILE *f) {
    fprintf(f, "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n");
}

static void write_csv_row(FILE *f, int epoch, const ag_train_result *r, double lr, double secs) {
    if (!f) return;
    fprintf(f, "%d,%.8g,%.8g,%.8g,%.8g,%.6g,%.4f\n", epoch, r->train_loss, r->train_acc,
            r->val_loss, r->val_acc, lr, secs);
    fflush(f);
}

/* One optimizer step on one batch, in its own scope: forward, loss, backward, clip, step. */
static int batch_step(struct run *t, ag_tensor *xb, ag_tensor *yb, double *loss_v,
                      int64_t *correct) {
    ag_scope_begin();
    ag_tensor *out = NULL, *lv;
    if (t->opts.loss_batch) lv = t->opts.loss_batch(t->m, xb, yb, t->opts.loss_user);
    else lv = t->loss(out = ag_module_forward(t->m, xb), yb);
    int rc = lv ? AG_OK : (ag__last_error_code() ? ag__last_error_code() : AG_ERR_STATE);
    if (!rc) {
        ag_optim_zero_grad(t->o);
        rc = ag_backward(lv);
    }
    if (!rc) rc = ag__train_dist_sync(t->opts.ddp); /* every rank: the mean gradient */
    if (!rc) {
        if (t->opts.clip_norm > 0) ag_clip_grad_norm(t->o->params, t->o->n, t->opts.clip_norm, 2);
        ag_optim_step(t->o);
        *loss_v = ag_item(lv);
        *correct = out ? count_correct(out, yb) : -1;
    }
    ag_scope_end();
    return rc;
}

/* One pass over the training set in training mode; fills train_loss/acc and the rate. */
static int train_epoch(struct run *t, int epoch, double *secs) {
    ag_module_train(t->m, true);
    ag_loader_reset(t->loader);
    double t0 = ag_now(), sum = 0;
    int64_t seen = 0, correct = 0, batch = 0;
    ag_tensor *xb, *yb;
    while (ag_loader_next(t->loader, &xb, &yb)) {
        double lv;
        int64_t c;
        int rc = batch_step(t, xb, yb, &lv, &c);
        if (rc) return rc;
        int64_t rows = xb->shape[0];
        sum += lv * (double)rows;
        correct = c < 0 || correct < 0 ? -1 : correct + c;
        seen += rows;
        batch++;
        double el = ag_now() - t0;
        draw_bar(&t->p, epoch, batch, sum / (double)seen,
                 correct >= 0 ? (double)correct / (double)seen : NAN, (double)seen / el, el,
                 batch == t->p.batches);
    }
    int rc = ag__train_dist_totals(t->opts.ddp, &sum, &correct, &seen); /* over ranks */
    if (rc) return rc;
    *secs = ag_now() - t0;
    t->total_samples += seen;
    t->r.epochs_run = epoch;
    t->r.train_loss = sum / (double)seen;
    t->r.train_acc = correct >= 0 ? (double)correct / (double)seen : NAN;
    t->r.samples_per_s = (double)seen / *secs;
    return AG_OK;
}

/* Validation batches are the training batch size (0, full batch: 1024): no larger than the
 * training step's, so validating never raises the peak memory training set (a CNN's 1024-image
 * evaluation batch would more than double it). */
static int64_t val_batch(const struct run *t) {
    return t->opts.batch_size > 0 ? t->opts.batch_size : 1024;
}

/* Mean of loss_batch over the validation set in batches, eval mode, no grad. */
static int validate_batches(struct run *t) {
    ag_loader *l = ag_loader_new(t->opts.x_val, t->opts.y_val, val_batch(t), false);
    if (!l) return ag__last_error_code();
    if (t->opts.x_val->dtype == AG_U8 && (ag_loader_set_input_scale(l, t->opts.input_scale) ||
                                          ag__loader_set_batch_dtype(l, ag_get_default_dtype()))) {
        ag_loader_free(l);
        return ag__last_error_code();
    }
    ag_module_train(t->m, false);
    bool grad = ag_set_grad_enabled(false);
    double sum = 0;
    int64_t seen = 0;
    int rc = AG_OK;
    ag_tensor *xb, *yb;
    while (!rc && ag_loader_next(l, &xb, &yb)) {
        ag_scope_begin();
        ag_tensor *lv = t->opts.loss_batch(t->m, xb, yb, t->opts.loss_user);
        if (!lv) rc = ag__last_error_code() ? ag__last_error_code() : AG_ERR_STATE;
        else sum += ag_item(lv) * (double)xb->shape[0], seen += xb->shape[0];
        ag_scope_end();
    }
    ag_set_grad_enabled(grad);
    ag_loader_free(l);
    t->r.val_loss = seen ? sum / (double)seen : NAN;
    t->r.val_acc = NAN;
    return rc;
}

static int validate(struct run *t) {
    if (!t->has_val) return AG_OK;
    if (t->opts.loss_batch) return validate_batches(t);
    return evaluate(t->m, t->opts.x_val, t->opts.y_val, t->loss, val_batch(t), t->opts.input_scale,
                    &t->r.val_loss, &t->r.val_acc);
}

/* The epoch's line on the terminal and its metrics row. */
static void report(struct run *t, int epoch, double secs) {
    double lr = ag_optim_get_lr(t->o);
    epoch_line(&t->p, epoch, &t->r, lr, secs, t->has_val);
    write_csv_row(t->csv, epoch, &t->r, lr, secs);
}

/* Whether this epoch's validation loss is the best so far (counting the epochs since). */
static bool track_best(struct run *t, int epoch) {
    if (!t->has_val) return false;
    if (t->r.val_loss < t->r.best_val_loss) {
        t->r.best_val_loss = t->r.val_loss;
        t->r.best_epoch = epoch;
        t->bad_epochs = 0;
        return true;
    }
    t->bad_epochs++;
    return false;
}

/* At each new best validation loss, or every epoch without validation. */
static int save_checkpoint(struct run *t, bool improved) {
    if (!t->opts.checkpoint || !(improved || !t->has_val)) return AG_OK;
    return ag_module_save(t->m, t->opts.checkpoint);
}

static bool early_stop(struct run *t) {
    if (t->opts.patience <= 0 || !t->has_val || t->bad_epochs < t->opts.patience) return false;
    t->r.stopped_early = true;
    if (t->p.mode > 0)
        printf(
            "early stop: validation loss has not improved for %d epochs (best %.4f at epoch %d)\n",
            t->bad_epochs, t->r.best_val_loss, t->r.best_epoch);
    return true;
}

/* The loader, the metrics CSV (beside the plot when only a plot is asked for), progress. */
static int run_open(struct run *t, ag_tensor *x, ag_tensor *y, const char *fn) {
    t->loss = default_loss(t->opts.loss, y);
    t->epochs = t->opts.epochs > 0 ? t->opts.epochs : 1;
    t->has_val = t->opts.x_val && (t->opts.y_val || t->opts.loss_batch);
    t->r = (ag_train_result){.best_val_loss = INFINITY, .val_loss = NAN, .val_acc = NAN};
    t->loader = ag__train_dist_loader(t->opts.ddp, x, y, t->opts.batch_size, !t->opts.no_shuffle);
    if (!t->loader) return ag__last_error_code();
    bool bytes = x->dtype == AG_U8 || (t->opts.x_val && t->opts.x_val->dtype == AG_U8);
    if (bytes && !isfinite(t->opts.input_scale)) /* read for bytes only */
        return ag__error(AG_ERR_ARG, fn, "input_scale %g must be finite (0: 1/255)",
                         t->opts.input_scale);
    if (x->dtype == AG_U8 && (ag_loader_set_input_scale(t->loader, t->opts.input_scale) ||
                              ag__loader_set_batch_dtype(t->loader, ag_get_default_dtype())))
        return ag__last_error_code();
    if (!t->opts.metrics_csv && t->opts.plot_png) { /* the plot reads a CSV: put one beside it */
        snprintf(t->csv_path, sizeof t->csv_path, "%s.csv", t->opts.plot_png);
        t->opts.metrics_csv = t->csv_path;
    }
    if (t->opts.metrics_csv) {
        if (!(t->csv = fopen(t->opts.metrics_csv, "w")))
            return ag__error(AG_ERR_IO, fn, "%s: cannot open for writing", t->opts.metrics_csv);
        write_csv_header(t->csv);
    }
    t->p = (struct progress){.mode = t->opts.verbose ? t->opts.verbose
                                                     : (isatty(fileno(stdout)) ? 2 : 1),
                             .epochs = t->epochs,
                             .batches = ag_loader_num_batches(t->loader)};
    t->t_start = ag_now();
    return AG_OK;
}

/* Totals, files closed, and the plot when training succeeded. */
static void run_close(struct run *t, int rc) {
    t->r.seconds = ag_now() - t->t_start;
    if (t->r.seconds > 0) t->r.samples_per_s = (double)t->total_samples / t->r.seconds;
    if (t->csv) fclose(t->csv);
    ag_loader_free(t->loader);
    if (rc || !t->opts.plot_png || !t->opts.metrics_csv) return;
    if (ag_plot_metrics(t->opts.metrics_csv, t->opts.plot_png, "training") == AG_OK) {
        if (t->p.mode > 0) printf("loss and accuracy curves: %s\n", t->opts.plot_png);
    } else if (t->p.mode > 0) {
        printf("plot skipped: %s\n", ag_last_error());
    }
    ag_clear_error();
}

int ag_train(ag_model *m, ag_optim *o, ag_tensor *x, ag_tensor *y, ag_train_opts opts,
             ag_train_result *result) {
    const char *fn = "ag_train";
    if (!m || !o || !x || (!y && !opts.loss_batch))
        return ag__error(AG_ERR_NULL, fn,
                         "model, optimizer, x and y (unless loss_batch) must not be NULL");
    if (ag__train_dist_check(opts.ddp, fn)) return AG_ERR_STATE;
    if (!ag__train_dist_is_root(opts.ddp)) { /* only rank 0 prints and writes */
        opts.verbose = -1;
        opts.metrics_csv = opts.plot_png = opts.checkpoint = NULL;
    }
    struct run t = {.m = m, .o = o, .opts = opts};
    int rc = run_open(&t, x, y, fn);
    bool opened = !rc;
    for (int epoch = 1; !rc && epoch <= t.epochs; epoch++) {
        double secs;
        if ((rc = train_epoch(&t, epoch, &secs)) || (rc = validate(&t))) break;
        report(&t, epoch, secs);
        if ((rc = save_checkpoint(&t, track_best(&t, epoch)))) break;
        ag_sched_step(opts.sched);
        if (early_stop(&t)) break;
    }
    if (!rc) rc = ag__train_dist_barrier(opts.ddp); /* rank 0's files are complete */
    run_close(&t, rc);
    if (result && opened) *result = t.r;
    return rc;
}

int ag_train_step(ag_optim *o, ag_tensor *loss) {
    const char *fn = "ag_train_step";
    if (!o || !loss) {
        if (!loss && ag__last_error_code()) return ag__last_error_code();
        return ag__error(AG_ERR_NULL, fn, "optimizer and loss must not be NULL");
    }
    ag_optim_zero_grad(o);
    int rc = ag_backward(loss);
    if (!rc) ag_optim_step(o);
    return rc;
}
