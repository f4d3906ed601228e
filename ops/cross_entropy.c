/* Losses over class labels: cross_entropy (fused log_softmax + nll on int64 labels, with label
 * smoothing; or class-probability targets), nll_loss.
 *
 * cross_entropy with labels is one op in the table: a stable log-sum-exp per row forward,
 * and cross_entropy_backward (g, logits, labels) -> g (softmax - target distribution) in one
 * pass; that op's own backward is written with ops (softmax), so create_graph works. */
#include "ops/kernels/vmath.h"
#include "ops/loss.h"
#include "runtime/parallel.h"

#include <math.h>

struct ce_args {
    int reduction;    /* ag_reduction */
    double smoothing; /* label_smoothing in [0, 1] */
};

static int64_t label_at(const ag_tensor *labels, int64_t i) {
    return ((const int64_t *)labels->storage->data)[ag__flat_offset(labels, i)];
}

/* x: float [N,C]; labels: int64 [N] with values in [0, C). */
static int check_labels(const ag_tensor *x, const ag_tensor *labels, const char *fn) {
    if (!ag__is_float(x->dtype) || x->ndim != 2)
        return ag__error(x->ndim != 2 ? AG_ERR_SHAPE : AG_ERR_DTYPE, fn,
                         "input must be a "
                         "float [N,C] tensor, got %s %s",
                         ag_dtype_name(x->dtype), AG_SHAPE(x));
    if (labels->dtype != AG_I64 || labels->ndim != 1 || labels->shape[0] != x->shape[0])
        return ag__error(labels->dtype != AG_I64 ? AG_ERR_DTYPE : AG_ERR_SHAPE, fn,
                         "labels must be int64 [%lld] for input %s, got %s %s",
                         (long long)x->shape[0], AG_SHAPE(x), ag_dtype_name(labels->dtype),
                         AG_SHAPE(labels));
    int64_t classes = x->shape[1];
    for (int64_t i = 0; i < labels->numel; i++) {
        int64_t y = label_at(labels, i);
        if (y < 0 || y >= classes)
            return ag__error(AG_ERR_INDEX, fn,
                             "label %lld at index %lld is out of range "
                             "[0, %lld) for input %s",
                             (long long)y, (long long)i, (long long)classes, AG_SHAPE(x));
    }
    return AG_OK;
}

static int check_reduction(ag_reduction r, const char *fn) {
    if (r == AG_REDUCTION_MEAN || r == AG_REDUCTION_SUM || r == AG_REDUCTION_NONE) return AG_OK;
    return ag__error(AG_ERR_ARG, fn, "reduction %d is not MEAN, SUM or NONE", (int)r);
}

/* A constant [N,C] target distribution: (1 - eps) at the label plus eps / C everywhere. */
static ag_tensor *target_dist(const ag_tensor *x, const ag_tensor *labels, double eps,
                              const char *fn) {
    ag_tensor *t = ag__empty(x->dtype, 2, x->shape, fn);
    if (!t) return NULL;
    int64_t n = x->shape[0], c = x->shape[1];
    double base = c ? eps / (double)c : 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t y = label_at(labels, i);
        for (int64_t j = 0; j < c; j++) {
            double v = base + (j == y ? 1 - eps : 0);
            if (t->dtype == AG_F32) ((float *)ag__ptr(t))[i * c + j] = (float)v;
            else ((double *)ag__ptr(t))[i * c + j] = v;
        }
    }
    return t;
}

/* ------------------------------------------------------------------ one row, stable */
struct row {
    const char *base;
    int64_t stride; /* between classes, elements */
    bool f32;
};

static double row_at(const struct row *r, int64_t j) {
    return r->f32 ? (double)((const float *)(const void *)r->base)[j * r->stride]
                  : ((const double *)(const void *)r->base)[j * r->stride];
}

static struct row row_of(const ag_tensor *x, int64_t i) {
    size_t es = ag_dtype_size(x->dtype);
    return (struct row){(const char *)x->storage->data +
                            (size_t)(x->offset + i * x->strides[0]) * es,
                        x->strides[1], x->dtype == AG_F32};
}

/* Contiguous rows of at least this many classes go through the vector kernels. */
#define ROW_VM_MIN 16
static bool row_vm(const struct row *r, int64_t c) { return r->stride == 1 && c >= ROW_VM_MIN; }

/* max and sum(exp(x - max)) of row i. A contiguous row goes through the vector kernels,
 * which leave exp(x - max) in buf (c elements of the row's dtype). */
static void row_lse(const struct row *r, int64_t c, double *max, double *sum, void *buf) {
    if (buf && row_vm(r, c)) {
        if (r->f32) {
            float m = ag__vm_max_f32((const float *)(const void *)r->base, c);
            *sum = ag__vm_exp_sum_f32(buf, (const float *)(const void *)r->base, c, m);
            *max = m;
        } else {
            double m = ag__vm_max_f64((const double *)(const void *)r->base, c);
            *sum = ag__vm_exp_sum_f64(buf, (const double *)(const void *)r->base, c, m);
            *max = m;
        }
        return;
    }
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < c; j++) {
        double v = row_at(r, j);
        if (v > m || isnan(v)) m = v;
    }
    for (int64_t j = 0; j < c; j++) s += exp(row_at(r, j) - m);
    *max = m, *sum = s;
}

/* out ([] or [N]) from per-row losses, summed in row order (the same for any thread count). */
static void write_losses(ag_tensor *out, const double *loss, int64_t n, int reduction) {
    if (reduction == AG_REDUCTION_NONE) {
        for (int64_t i = 0; i < n; i++) {
            if (out->dtype == AG_F32) ((float *)ag__ptr(out))[i] = (float)loss[i];
            else ((double *)ag__ptr(out))[i] = loss[i];
        }
        return;
    }
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += loss[i];
    if (reduction == AG_REDUCTION_MEAN) total /= (double)n;
    if (out->dtype == AG_F32) *(float *)ag__ptr(out) = (float)total;
    else *(double *)ag__ptr(out) = total;
}

/* ------------------------------------------------------------------ cross_entropy */
static int ce_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                    const char *fn) {
    (void)n;
    const struct ce_args *a = args;
    if (check_labels(in[0], in[1], fn)) return ag__last_error_code();
    m->dtype = in[0]->dtype;
    m->ndim = a->reduction == AG_REDUCTION_NONE ? 1 : 0;
    m->shape[0] = in[0]->shape[0];
    return AG_OK;
}

/* One loss (or its gradient) shared out over the rows by ag__parallel_for. */
struct ce_job {
    const struct ce_args *a;
    const ag_tensor *x, *labels;
    const ag_tensor *g; /* backward: grad_output */
    ag_tensor *out;     /* backward: the gradient */
    double *loss;       /* forward: per row */
    int64_t c;
    double scale, base;
};

static void ce_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct ce_job *jb = ctx;
    const struct ce_args *a = jb->a;
    int64_t c = jb->c;
    void *buf = ag__malloc(ag_dtype_size(jb->x->dtype) * (size_t)(c ? c : 1)); /* NULL: scalar */
    (void)tid;
    for (int64_t i = lo; i < hi; i++) {
        struct row r = row_of(jb->x, i);
        double m, s, all = 0;
        row_lse(&r, c, &m, &s, buf);
        if (a->smoothing != 0)
            for (int64_t j = 0; j < c; j++) all += row_at(&r, j);
        double lse = m + log(s), xy = row_at(&r, label_at(jb->labels, i));
        jb->loss[i] = lse - (1 - a->smoothing) * xy -
                      (a->smoothing != 0 ? a->smoothing * all / (double)c : 0);
    }
    free(buf);
}

static int ce_forward(ag_tensor *out, ag_tensor *const *in, int n_in, const void *args,
                      ag_tensor **saved) {
    (void)n_in, (void)saved;
    const struct ce_args *a = args;
    const ag_tensor *x = in[0], *labels = in[1];
    int64_t n = x->shape[0], c = x->shape[1];
    double *loss = ag__malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!loss) return ag__error(AG_ERR_NOMEM, "ag_cross_entropy_loss", "out of memory");
    struct ce_job j = {a, x, labels, NULL, NULL, loss, c, 0, 0};
    ag__parallel_for(n, 1, (double)c, 1 << 15, ce_range, &j);
    write_losses(out, loss, n, a->reduction);
    free(loss);
    return AG_OK;
}

static ag_tensor *ce_backward_op(ag_tensor *g, ag_tensor *x, ag_tensor *labels,
                                 const struct ce_args *a) {
    ag_tensor *const in[] = {g, x, labels};
    return AG_APPLY_ARGS(AG_OP_CROSS_ENTROPY_BACKWARD, 3, in, *a);
}

static int ce_backward(struct ag_node *node, ag_tensor *g) {
    return ag__accumulate(
        node, 0, ce_backward_op(g, node->in[0], node->in[1], AG_ARGS(node, struct ce_args)));
}

/* Gradchecked on valid labels; variant 1 on transposed logits with smoothing and 'none'. */
static int ce_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    struct ce_args *a = args;
    int64_t n = size > 0 ? size / 100 + 1 : 4, c = size > 0 ? 100 : 5;
    *a =
        variant ? (struct ce_args){AG_REDUCTION_NONE, 0.2} : (struct ce_args){AG_REDUCTION_MEAN, 0};
    if (variant == 1 && size == 0) {
        ag_tensor *base = ag__check_input(dtype, 2, (int64_t[]){c, n}, -3, 3);
        bool prev = ag_set_grad_enabled(false);
        in[0] = ag_transpose(base, 0, 1);
        ag_set_grad_enabled(prev);
        if (in[0]) ag_set_requires_grad(in[0], true);
    } else {
        in[0] = ag__check_input(dtype, 2, (int64_t[]){n, c}, -3, 3);
    }
    in[1] = ag_zeros(AG_I64, 1, &n);
    if (!in[0] || !in[1]) return -1;
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)ag__ptr(in[1]))[i] = (int64_t)(ag_random_u64() % (uint64_t)c);
    return 2;
}

const struct ag_op_def ag__op_cross_entropy_loss = {
    .name = "cross_entropy_loss",
    .arity = 2,
    .shape = ce_shape,
    .forward = ce_forward,
    .backward = ce_backward,
    .check = {.make = ce_make, .flops_per_elem = 25},
};

/* ------------------------------------------------------------------ cross_entropy_backward */
/* (g [] or [N], logits [N,C], labels [N]) -> [N,C] = g_i (softmax(x_i) - target_i) (/N for mean). */
static int ce_bwd_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                        const char *fn) {
    (void)n;
    const struct ce_args *a = args;
    if (check_labels(in[1], in[2], fn)) return ag__last_error_code();
    int want = a->reduction == AG_REDUCTION_NONE ? 1 : 0;
    if (in[0]->dtype != in[1]->dtype || in[0]->ndim != want ||
        (want && in[0]->shape[0] != in[1]->shape[0]))
        return ag__error(AG_ERR_SHAPE, fn, "gradient %s %s does not match logits %s %s",
                         ag_dtype_name(in[0]->dtype), AG_SHAPE(in[0]), ag_dtype_name(in[1]->dtype),
                         AG_SHAPE(in[1]));
    m->dtype = in[1]->dtype;
    m->ndim = 2;
    m->shape[0] = in[1]->shape[0];
    m->shape[1] = in[1]->shape[1];
    return AG_OK;
}

static void ce_bwd_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct ce_job *jb = ctx;
    const struct ce_args *a = jb->a;
    const ag_tensor *g = jb->g, *x = jb->x, *labels = jb->labels;
    ag_tensor *out = jb->out;
    int64_t c = jb->c;
    double scale = jb->scale, base = jb->base;
    (void)tid;
    for (int64_t i = lo; i < hi; i++) {
        struct row r = row_of(x, i);
        double m, s;
        bool f32 = out->dtype == AG_F32;
        void *orow = (char *)ag__ptr(out) + (size_t)(i * c) * ag_dtype_size(out->dtype);
        row_lse(&r, c, &m, &s, orow); /* vector path: orow = exp(x - m) */
        double gi = ag__get_flat(g, a->reduction == AG_REDUCTION_NONE ? i : 0) * scale;
        double inv = 1.0 / s;
        int64_t y = label_at(labels, i);
        if (row_vm(&r, c)) { /* orow = gi (exp(x - m) / s - base); the label's entry exactly */
            if (f32)
                ag__vm_shift_scale_f32(orow, orow, c, 0.0f, (float)(gi * inv), (float)(-gi * base));
            else ag__vm_shift_scale_f64(orow, orow, c, 0.0, gi * inv, -gi * base);
            double v = gi * (exp(row_at(&r, y) - m) * inv - base - (1 - a->smoothing));
            if (f32) ((float *)orow)[y] = (float)v;
            else ((double *)orow)[y] = v;
            continue;
        }
        for (int64_t j = 0; j < c; j++) {
            double v = gi * (exp(row_at(&r, j) - m) * inv - base - (j == y ? 1 - a->smoothing : 0));
            if (out->dtype == AG_F32) ((float *)ag__ptr(out))[i * c + j] = (float)v;
            else ((double *)ag__ptr(out))[i * c + j] = v;
        }
    }
}

static int ce_bwd_forward(ag_tensor *out, ag_tensor *const *in, int n_in, const void *args,
                          ag_tensor **saved) {
    (void)n_in, (void)saved;
    const struct ce_args *a = args;
    const ag_tensor *g = in[0], *x = in[1], *labels = in[2];
    int64_t n = x->shape[0], c = x->shape[1];
    double scale = a->reduction == AG_REDUCTION_MEAN ? 1.0 / (double)n : 1.0;
    double base = c ? a->smoothing / (double)c : 0;
    struct ce_job jb = {a, x, labels, g, out, NULL, c, scale, base};
    ag__parallel_for(n, 1, (double)c, 1 << 15, ce_bwd_range, &jb);
    return AG_OK;
}

/* out = G (P - T) with P = softmax(x), G the per-row scale of g:
 * d/dg = row sums of gg (P - T);  d/dx = P (u - sum(u P)) with u = gg G. */
static int ce_bwd_backward(struct ag_node *node, ag_tensor *gg) {
    const struct ce_args *a = AG_ARGS(node, struct ce_args);
    ag_tensor *g = node->in[0], *x = node->in[1], *labels = node->in[2];
    int64_t n = x->shape[0];
    ag_tensor *p = ag_softmax(x, 1);
    ag_tensor *scale =
        ag_scalar(x->dtype, a->reduction == AG_REDUCTION_MEAN ? 1.0 / (double)n : 1.0);
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) {
        ag_tensor *t = target_dist(x, labels, a->smoothing, "ag_cross_entropy_backward");
        ag_tensor *rows = ag_sum_dim(ag_mul(gg, ag_sub(p, t)), 1, false);
        rc = ag__accumulate(node, 0,
                            a->reduction == AG_REDUCTION_NONE ? rows : ag_mul(ag_sum(rows), scale));
    }
    if (!rc && ag__needs_grad(node, 1)) {
        ag_tensor *gcol = a->reduction == AG_REDUCTION_NONE ? ag_reshape(g, 2, (int64_t[]){n, 1})
                                                            : ag_mul(g, scale);
        ag_tensor *u = ag_mul(gg, gcol);
        rc = ag__accumulate(node, 1, ag_mul(p, ag_sub(u, ag_sum_dim(ag_mul(u, p), 1, true))));
    }
    return rc;
}

static int ce_bwd_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    int k = ce_make(in + 1, args, dtype, variant, size);
    if (k < 0) return -1;
    const struct ce_args *a = args;
    int64_t n = in[1]->shape[0];
    in[0] = a->reduction == AG_REDUCTION_NONE ? ag__check_input(dtype, 1, &n, -2, 2)
                                              : ag__check_input(dtype, 0, NULL, 0.5, 2);
    return in[0] ? 3 : -1;
}

const struct ag_op_def ag__op_cross_entropy_backward = {
    .name = "cross_entropy_backward",
    .arity = 3,
    .shape = ce_bwd_shape,
    .forward = ce_bwd_forward,
    .backward = ce_bwd_backward,
    .check = {.make = ce_bwd_make, .flops_per_elem = 25},
};

/* ------------------------------------------------------------------ nll_loss */
static int nll_forward(ag_tensor *out, ag_tensor *const *in, int n_in, const void *args,
                       ag_tensor **saved) {
    (void)n_in, (void)saved;
    const ag_tensor *x = in[0], *labels = in[1];
    int64_t n = x->shape[0];
    double *loss = ag__malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!loss) return ag__error(AG_ERR_NOMEM, "ag_nll_loss", "out of memory");
    for (int64_t i = 0; i < n; i++) {
        struct row r = row_of(x, i);
        loss[i] = -row_at(&r, label_at(labels, i));
    }
    write_losses(out, loss, n, ((const struct ce_args *)args)->reduction);
    free(loss);
    return AG_OK;
}

/* dlog_probs = -G onehot, G the per-row gradient (g, or g / N for mean). Linear in g. */
static int nll_backward(struct ag_node *node, ag_tensor *g) {
    const struct ce_args *a = AG_ARGS(node, struct ce_args);
    ag_tensor *x = node->in[0];
    int64_t n = x->shape[0];
    ag_tensor *onehot = target_dist(x, node->in[1], 0, "ag_nll_loss");
    ag_tensor *gcol =
        a->reduction == AG_REDUCTION_NONE
            ? ag_reshape(g, 2, (int64_t[]){n, 1})
            : ag_mul(g, ag_scalar(x->dtype,
                                  a->reduction == AG_REDUCTION_MEAN ? -1.0 / (double)n : -1.0));
    if (a->reduction == AG_REDUCTION_NONE) gcol = ag_neg(gcol);
    return ag__accumulate(node, 0, ag_mul(gcol, onehot));
}

static int nll_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    int k = ce_make(in, args, dtype, variant, size);
    ((struct ce_args *)args)->smoothing = 0;
    return k;
}

const struct ag_op_def ag__op_nll_loss = {
    .name = "nll_loss",
    .arity = 2,
    .shape = ce_shape,
    .forward = nll_forward,
    .backward = nll_backward,
    .check = {.make = nll_make},
};

/* ------------------------------------------------------------------ public functions */
/* Probability targets [N,C]: -sum(t' log_softmax(x)) per row, t' = t (1 - eps) + eps / C. */
static ag_tensor *ce_probs(ag_tensor *x, ag_tensor *t, ag_cross_entropy_opts o, const char *fn) {
    if (ag__loss_pair_check(x, t, fn)) return NULL;
    if (x->ndim != 2) {
        ag__error(AG_ERR_SHAPE, fn, "input must be [N,C], got %s", AG_SHAPE(x));
        return NULL;
    }
    if (o.label_smoothing != 0) {
        ag_tensor *keep = ag_scalar(x->dtype, 1 - o.label_smoothing);
        t = ag_add(ag_mul(t, keep), ag_scalar(x->dtype, o.label_smoothing / (double)x->shape[1]));
    }
    ag_tensor *rows = ag_neg(ag_sum_dim(ag_mul(t, ag_log_softmax(x, 1)), 1, false));
    return ag__loss_reduce(rows, o.reduction, fn);
}

/* torch's other label forms, through the [N,C] ops: x [C] with a 0-d label is one row;
 * x [N,C,d...] with labels [N,d...] moves C last and flattens to [N*d..., C]. Returns true
 * (and *x, *t replaced) when x and t are such a pair; NONE results go back to t's shape. */
static bool label_form(ag_tensor **x, ag_tensor **t) {
    const ag_tensor *a = *x, *b = *t;
    if (b->dtype != AG_I64 || b->ndim != a->ndim - 1 || (a->ndim != 1 && a->ndim < 3)) return false;
    int64_t rows = 1;
    for (int d = 0, k = 0; d < a->ndim; d++) {
        if (d == 1 || (a->ndim == 1 && d == 0)) continue;
        if (a->shape[d] != b->shape[k++]) return false;
        rows *= a->shape[d];
    }
    int perm[AG_MAX_DIMS], n = 0;
    for (int d = 0; d < a->ndim; d++)
        if (d != 1) perm[n++] = d;
    perm[n] = 1;
    int64_t C = a->ndim == 1 ? a->shape[0] : a->shape[1];
    *x = ag_reshape(a->ndim == 1 ? *x : ag_permute(*x, perm), 2, (int64_t[]){rows, C});
    *t = ag_reshape(*t, 1, &rows);
    return true;
}

/* A NONE result of a label form back in the labels' shape. */
static ag_tensor *label_form_result(ag_tensor *r, const ag_tensor *t, ag_reduction red) {
    return red == AG_REDUCTION_NONE ? ag_reshape(r, t->ndim, t->shape) : r;
}

/* logits [N,C] (also [C] with a 0-d label, [N,C,d...] with [N,d...] labels, as torch);
 * target: int64 labels [N] or probabilities [N,C] in the logits' dtype.
 * Result: 0-d for MEAN/SUM, the labels' shape for NONE. */
ag_tensor *ag_cross_entropy_loss_ex(ag_tensor *logits, ag_tensor *target,
                                    ag_cross_entropy_opts opts) {
    const char *fn = "ag_cross_entropy_loss";
    if (!logits || !target) return NULL;
    if (check_reduction(opts.reduction, fn)) return NULL;
    if (!(opts.label_smoothing >= 0 && opts.label_smoothing <= 1)) {
        ag__error(AG_ERR_ARG, fn, "label_smoothing must lie in [0, 1], got %g",
                  opts.label_smoothing);
        return NULL;
    }
    if (target->dtype != AG_I64) return ce_probs(logits, target, opts, fn);
    ag_tensor *t0 = target;
    if (label_form(&logits, &target))
        return label_form_result(ag_cross_entropy_loss_ex(logits, target, opts), t0,
                                 opts.reduction);
    struct ce_args a = {(int)opts.reduction, opts.label_smoothing};
    ag_tensor *const in[] = {logits, target};
    return AG_APPLY_ARGS(AG_OP_CROSS_ENTROPY_LOSS, 2, in, a);
}

/* Mean over the batch of -log softmax(logits)[label]. */
ag_tensor *ag_cross_entropy_loss(ag_tensor *logits, ag_tensor *labels) {
    return ag_cross_entropy_loss_ex(logits, labels, (ag_cross_entropy_opts){0});
}

/* log_probs [N,C], labels int64 [N]: -log_probs[i, label_i]; 0-d for MEAN/SUM, [N] for NONE. */
ag_tensor *ag_nll_loss_ex(ag_tensor *log_probs, ag_tensor *labels, ag_reduction r) {
    if (!log_probs || !labels) return NULL;
    if (check_reduction(r, "ag_nll_loss")) return NULL;
    ag_tensor *t0 = labels;
    if (label_form(&log_probs, &labels))
        return label_form_result(ag_nll_loss_ex(log_probs, labels, r), t0, r);
    struct ce_args a = {(int)r, 0};
    ag_tensor *const in[] = {log_probs, labels};
    return AG_APPLY_ARGS(AG_OP_NLL_LOSS, 2, in, a);
}
/* Mean over the batch of -log_probs[i, label_i]. */
ag_tensor *ag_nll_loss(ag_tensor *log_probs, ag_tensor *labels) {
    return ag_nll_loss_ex(log_probs, labels, AG_REDUCTION_MEAN);
}
