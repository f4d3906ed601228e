/* The training loop: epochs of mini-batches (one scope per step), evaluation, a progress
 * bar on a terminal (plain lines otherwise), metrics CSV, early stopping, checkpoints and
 * the loss/accuracy plot. */
#include "nn/nn.h"
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

int ag_evaluate(ag_model *m, ag_tensor *x, ag_tensor *y, ag_loss_fn loss, int64_t batch_size,
                double *loss_out, double *acc_out) {
    const char *fn = "ag_evaluate";
    if (!m || !x || !y) return ag__error(AG_ERR_NULL, fn, "model, x and y must not be NULL");
    loss = default_loss(loss, y);
    ag_loader *l = ag_loader_new(x, y, batch_size ? batch_size : 1024, false);
    if (!l) return ag__last_error_code();
    bool *modes = ag__calloc((size_t)m->n_layers + 1, sizeof *modes);
    if (!modes) {
        ag_loader_free(l);
        return ag__error(AG_ERR_NOMEM, fn, "out of memory");
    }
    for (int i = 0; i < m->n_layers; i++) modes[i] = m->layers[i]->training;
    ag_model_train(m, false);
    bool grad = ag_set_grad_enabled(false);
    double sum = 0;
    int64_t correct = 0, seen = 0;
    int rc = AG_OK;
    ag_tensor *xb, *yb;
    while (!rc && ag_loader_next(l, &xb, &yb)) {
        ag_scope_begin();
        ag_tensor *out = ag_model_forward(m, xb);
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
    for (int i = 0; i < m->n_layers; i++) m->layers[i]->training = modes[i];
    free(modes);
    ag_loader_free(l);
    if (rc) return rc;
    if (loss_out) *loss_out = seen ? sum / (double)seen : NAN;
    if (acc_out) *acc_out = correct >= 0 && seen ? (double)correct / (double)seen : NAN;
    return AG_OK;
}

/* ------------------------------------------------------------------ progress */
struct progress {
    int mode;              /* -1 silent, 1 lines, 2 bar */
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
    printf("\r\033[Kepoch %d/%d [%s] %lld/%lld loss %.4f%s %.0f samples/s ETA %s", epoch,
           p->epochs, bar, (long long)batch, (long long)p->batches, loss, accs, rate, eta);
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

/* ------------------------------------------------------------------ the loop */
static int one_step(ag_model *m, ag_optim *o, ag_loss_fn loss, ag_tensor *xb, ag_tensor *yb,
                    double clip, double *loss_v, int64_t *correct) {
    ag_scope_begin();
    ag_tensor *out = ag_model_forward(m, xb);
    ag_tensor *lv = loss(out, yb);
    int rc = lv ? AG_OK : (ag__last_error_code() ? ag__last_error_code() : AG_ERR_STATE);
    if (!rc) {
        ag_optim_zero_grad(o);
        rc = ag_backward(lv);
    }
    if (!rc) {
        if (clip > 0) ag_clip_grad_norm(o->params, o->n, clip, 2);
        ag_optim_step(o);
        *loss_v = ag_item(lv);
        *correct = count_correct(out, yb);
    }
    ag_scope_end();
    return rc;
}

static void write_csv_row(FILE *f, int epoch, const ag_train_result *r, double lr, double secs) {
    if (!f) return;
    fprintf(f, "%d,%.8g,%.8g,%.8g,%.8g,%.6g,%.4f\n", epoch, r->train_loss, r->train_acc,
            r->val_loss, r->val_acc, lr, secs);
    fflush(f);
}

int ag_train(ag_model *m, ag_optim *o, ag_tensor *x, ag_tensor *y, ag_train_opts opts,
             ag_train_result *result) {
    const char *fn = "ag_train";
    if (!m || !o || !x || !y) return ag__error(AG_ERR_NULL, fn, "model, optimizer, x and y must not be NULL");
    ag_loss_fn loss = default_loss(opts.loss, y);
    int epochs = opts.epochs > 0 ? opts.epochs : 1;
    bool has_val = opts.x_val && opts.y_val;
    ag_loader *l = ag_loader_new(x, y, opts.batch_size, !opts.no_shuffle);
    if (!l) return ag__last_error_code();
    FILE *csv = NULL;
    char csv_path[1024];
    if (!opts.metrics_csv && opts.plot_png) {   /* the plot reads a CSV: put one beside it */
        snprintf(csv_path, sizeof csv_path, "%s.csv", opts.plot_png);
        opts.metrics_csv = csv_path;
    }
    if (opts.metrics_csv) {
        if (!(csv = fopen(opts.metrics_csv, "w"))) {
            ag_loader_free(l);
            return ag__error(AG_ERR_IO, fn, "%s: cannot open for writing", opts.metrics_csv);
        }
        fprintf(csv, "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n");
    }
    struct progress p = {.mode = opts.verbose ? opts.verbose : (isatty(fileno(stdout)) ? 2 : 1),
                         .epochs = epochs, .batches = ag_loader_num_batches(l)};
    ag_train_result r = {.best_val_loss = INFINITY, .val_loss = NAN, .val_acc = NAN};
    int rc = AG_OK, bad_epochs = 0;
    double t_start = ag_now();
    int64_t total_samples = 0;
    for (int epoch = 1; epoch <= epochs && !rc; epoch++) {
        ag_model_train(m, true);
        ag_loader_reset(l);
        double t0 = ag_now(), sum = 0;
        int64_t seen = 0, correct = 0, batch = 0;
        ag_tensor *xb, *yb;
        while (ag_loader_next(l, &xb, &yb)) {
            double lv;
            int64_t c;
            if ((rc = one_step(m, o, loss, xb, yb, opts.clip_norm, &lv, &c))) break;
            int64_t rows = xb->shape[0];
            sum += lv * (double)rows;
            correct = c < 0 || correct < 0 ? -1 : correct + c;
            seen += rows;
            batch++;
            double el = ag_now() - t0;
            draw_bar(&p, epoch, batch, sum / (double)seen,
                     correct >= 0 ? (double)correct / (double)seen : NAN, (double)seen / el, el,
                     batch == p.batches);
        }
        if (rc) break;
        double secs = ag_now() - t0;
        total_samples += seen;
        r.epochs_run = epoch;
        r.train_loss = sum / (double)seen;
        r.train_acc = correct >= 0 ? (double)correct / (double)seen : NAN;
        r.samples_per_s = (double)seen / secs;
        if (has_val && (rc = ag_evaluate(m, opts.x_val, opts.y_val, loss, 0, &r.val_loss, &r.val_acc)))
            break;
        double lr = ag_optim_get_lr(o);
        epoch_line(&p, epoch, &r, lr, secs, has_val);
        write_csv_row(csv, epoch, &r, lr, secs);
        bool improved = has_val && r.val_loss < r.best_val_loss;
        if (improved) {
            r.best_val_loss = r.val_loss;
            r.best_epoch = epoch;
            bad_epochs = 0;
        } else if (has_val) {
            bad_epochs++;
        }
        if (opts.checkpoint && (improved || !has_val) && (rc = ag_model_save(m, opts.checkpoint)))
            break;
        ag_sched_step(opts.sched);
        if (opts.patience > 0 && has_val && bad_epochs >= opts.patience) {
            r.stopped_early = true;
            if (p.mode > 0)
                printf("early stop: validation loss has not improved for %d epochs (best %.4f at epoch %d)\n",
                       bad_epochs, r.best_val_loss, r.best_epoch);
            break;
        }
    }
    r.seconds = ag_now() - t_start;
    if (r.seconds > 0) r.samples_per_s = (double)total_samples / r.seconds;
    if (csv) fclose(csv);
    ag_loader_free(l);
    if (!rc && opts.plot_png && opts.metrics_csv) {
        if (ag_plot_metrics(opts.metrics_csv, opts.plot_png, "training") == AG_OK) {
            if (p.mode > 0) printf("loss and accuracy curves: %s\n", opts.plot_png);
        } else if (p.mode > 0) {
            printf("plot skipped: %s\n", ag_last_error());
        }
        ag_clear_error();
    }
    if (result) *result = r;
    return rc;
}
