/* Element-wise losses: mse, l1, huber, bce, bce_with_logits, kl_div, and the reductions.
 *
 * l1, huber, bce, bce_with_logits and kl_div are ops in the table giving the unreduced loss
 * (reduction 'none'); the public functions reduce it with ag_mean / ag_sum. Backward rules
 * are written with ops, with the branch choices (which side of a kink an element is on) as
 * constant 1/0 tensors, so untaken branches give exact zeros and second derivatives work.
 * Gradients flow to the targets wherever torch 1.13's do. */
#include "ops/loss.h"

#include <math.h>

struct loss_args {
    double delta; /* huber */
};

/* Each loss is a formula per element, a function of (a, b) = (input, target) in double
 * for both dtypes, with row kernels (ops/iter.h) that round its value to the dtype. */
static ag_row2_fn by_dtype(const ag_tensor *t, ag_row2_fn f32, ag_row2_fn f64) {
    return t->dtype == AG_F32 ? f32 : f64;
}

/* pred and target: the same shape (the element-wise losses broadcast first, as torch)
 * and float dtype. */
int ag__loss_pair_check(const ag_tensor *a, const ag_tensor *b, const char *fn) {
    if (a->dtype != b->dtype || !ag__is_float(a->dtype))
        return ag__error(AG_ERR_DTYPE, fn,
                         "input %s %s and target %s %s must share a float "
                         "dtype",
                         ag_dtype_name(a->dtype), AG_SHAPE(a), ag_dtype_name(b->dtype),
                         AG_SHAPE(b));
    if (a->ndim != b->ndim || memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim))
        return ag__error(AG_ERR_SHAPE, fn, "input %s and target %s must have the same shape",
                         AG_SHAPE(a), AG_SHAPE(b));
    return AG_OK;
}

static int pair_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                      const char *fn) {
    if (ag__loss_pair_check(in[0], in[1], fn)) return ag__last_error_code();
    return ag__shape_same(m, in, n, args, fn);
}

ag_tensor *ag__loss_reduce(ag_tensor *t, ag_reduction r, const char *fn) {
    if (!t) return NULL;
    switch (r) {
    case AG_REDUCTION_MEAN: return ag_mean(t);
    case AG_REDUCTION_SUM: return ag_sum(t);
    case AG_REDUCTION_NONE: return t;
    }
    ag__error(AG_ERR_ARG, fn, "reduction %d is not MEAN, SUM or NONE", (int)r);
    return NULL;
}

/* A constant (no history) tensor row(a, b) shaped like a. */
static ag_tensor *constant2(ag_tensor *a, ag_tensor *b, ag_row2_fn row, const void *args,
                            const char *fn) {
    ag_tensor *z = ag__empty(a->dtype, a->ndim, a->shape, fn);
    if (z) ag__map2(z, a, b, row, args);
    return z;
}

/* Inputs for the table tests: [3,4] pred (variant 1: a transposed view) and target,
 * drawn from [lo0, hi0] and [lo1, hi1]. */
static int pair_make(ag_tensor **in, ag_dtype dtype, int variant, int64_t size, double lo0,
                     double hi0, double lo1, double hi1) {
    int64_t shape[2] = {3, 4}, n = size;
    bool flat = size > 0;
    in[0] = ag__check_input(dtype, flat ? 1 : 2, flat ? &n : shape, lo0, hi0);
    in[1] = ag__check_input(dtype, flat ? 1 : 2, flat ? &n : shape, lo1, hi1);
    if (!in[0] || !in[1]) return -1;
    if (variant == 1 && !flat) {
        ag_tensor *base = ag__check_input(dtype, 2, (int64_t[]){4, 3}, lo0, hi0);
        bool prev = ag_set_grad_enabled(false);
        in[0] = ag_transpose(base, 0, 1);
        ag_set_grad_enabled(prev);
        if (!in[0]) return -1;
        ag_set_requires_grad(in[0], true);
    }
    return 2;
}
static int l1_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    (void)args;
    return pair_make(in, dtype, variant, size, -2, 2, -2, 2);
}
static int bce_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    (void)args;
    return pair_make(in, dtype, variant, size, 0.1, 0.9, 0, 1);
}
static int bcel_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    (void)args;
    return pair_make(in, dtype, variant, size, -3, 3, 0, 1);
}
static int kl_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    (void)args;
    return pair_make(in, dtype, variant, size, -2, 0, 0.1, 1);
}

static int huber_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    *(struct loss_args *)args = (struct loss_args){0.7};
    return pair_make(in, dtype, variant, size, -2, 2, -2, 2);
}

/* Element-wise losses broadcast input and target as torch does (torch warns; the fused
 * ops then see one shape, and expand's backward sums the gradients back). */
static int broadcast_pair(ag_tensor **a, ag_tensor **b, const char *fn) {
    if (!*a || !*b) return AG_ERR_NULL;
    if ((*a)->ndim == (*b)->ndim &&
        !memcmp((*a)->shape, (*b)->shape, sizeof(int64_t) * (size_t)(*a)->ndim))
        return AG_OK;
    int nd;
    int64_t shape[AG_MAX_DIMS];
    if (ag__broadcast_shapes((*a)->ndim, (*a)->shape, (*b)->ndim, (*b)->shape, &nd, shape))
        return ag__error(AG_ERR_SHAPE, fn, "input %s and target %s do not broadcast", AG_SHAPE(*a),
                         AG_SHAPE(*b));
    *a = ag_expand(*a, nd, shape);
    *b = ag_expand(*b, nd, shape);
    return *a && *b ? AG_OK : AG_ERR_SHAPE;
}

static ag_tensor *loss_op(enum ag_op_id op, ag_tensor *a, ag_tensor *b, double delta) {
    struct loss_args args = {delta};
    if (broadcast_pair(&a, &b, ag__op_fnames[op])) return NULL;
    ag_tensor *const in[] = {a, b};
    return AG_APPLY_ARGS(op, 2, in, args);
}

/* dpred = g s, dtarget = -g s. */
static int accumulate_pair(struct ag_node *node, ag_tensor *g, ag_tensor *s) {
    ag_tensor *gp = ag_mul(g, s);
    int rc = ag__needs_grad(node, 0) ? ag__accumulate(node, 0, gp) : AG_OK;
    if (!rc && ag__needs_grad(node, 1)) rc = ag__accumulate(node, 1, ag_neg(gp));
    return rc;
}

/* ------------------------------------------------------------------ mse (composite) */
ag_tensor *ag_mse_loss_ex(ag_tensor *pred, ag_tensor *target, ag_reduction r) {
    if (!pred || !target || broadcast_pair(&pred, &target, "ag_mse_loss")) return NULL;
    if (ag__loss_pair_check(pred, target, "ag_mse_loss")) return NULL;
    ag_tensor *d = ag_sub(pred, target);
    return ag__loss_reduce(ag_mul(d, d), r, "ag_mse_loss");
}
/* mean((pred - target)^2); pred and target of one shape; 0-d result. */
ag_tensor *ag_mse_loss(ag_tensor *pred, ag_tensor *target) {
    return ag_mse_loss_ex(pred, target, AG_REDUCTION_MEAN);
}

/* ------------------------------------------------------------------ l1 */
static inline double l1_elem(double a, double b) { return fabs(a - b); }
static inline double sign_elem(double a, double b) { /* NaN stays NaN, 0 at a tie */
    return a > b ? 1.0 : a < b ? -1.0 : a - b;
}
AG_ROW2(l1_f32, float, (float)l1_elem(a, b))
AG_ROW2(l1_f64, double, l1_elem(a, b))
AG_ROW2(sign_f32, float, (float)sign_elem(a, b))
AG_ROW2(sign_f64, double, sign_elem(a, b))
AG_MAP2_FORWARD(l1_forward, l1_f32, l1_f64)
static int l1_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *p = node->in[0], *t = node->in[1];
    return accumulate_pair(node, g,
                           constant2(p, t, by_dtype(p, sign_f32, sign_f64), NULL, "ag_l1_loss"));
}
const struct ag_op_def ag__op_l1_loss = {
    .name = "l1_loss",
    .arity = 2,
    .shape = pair_shape,
    .forward = l1_forward,
    .backward = l1_backward,
    .check = {.make = l1_make, .flops_per_elem = 2},
};
ag_tensor *ag_l1_loss_ex(ag_tensor *pred, ag_tensor *target, ag_reduction r) {
    return ag__loss_reduce(loss_op(AG_OP_L1_LOSS, pred, target, 0), r, "ag_l1_loss");
}
/* mean(|pred - target|); 0-d result. */
ag_tensor *ag_l1_loss(ag_tensor *pred, ag_tensor *target) {
    return ag_l1_loss_ex(pred, target, AG_REDUCTION_MEAN);
}

/* ------------------------------------------------------------------ huber */
static inline double huber_elem(double a, double b, double delta) {
    return fabs(a - b) < delta ? 0.5 * (a - b) * (a - b) : delta * (fabs(a - b) - 0.5 * delta);
}
static inline double huber_in_elem(double a, double b, double delta) { /* 1 inside */
    return fabs(a - b) < delta ? 1.0 : 0.0;
}
static inline double huber_out_elem(double a, double b, double delta) { /* +-delta outside */
    return fabs(a - b) < delta ? 0.0 : a > b ? delta : -delta;
}
AG_ROW2_ARGS(huber_f32, float, struct loss_args, (float)huber_elem(a, b, p.delta))
AG_ROW2_ARGS(huber_f64, double, struct loss_args, huber_elem(a, b, p.delta))
AG_ROW2_ARGS(huber_in_f32, float, struct loss_args, (float)huber_in_elem(a, b, p.delta))
AG_ROW2_ARGS(huber_in_f64, double, struct loss_args, huber_in_elem(a, b, p.delta))
AG_ROW2_ARGS(huber_out_f32, float, struct loss_args, (float)huber_out_elem(a, b, p.delta))
AG_ROW2_ARGS(huber_out_f64, double, struct loss_args, huber_out_elem(a, b, p.delta))
AG_MAP2_FORWARD(huber_forward, huber_f32, huber_f64)
/* d/dpred = clamp(d, -delta, delta) = d [|d| < delta] + delta sign(d) [|d| >= delta]. */
static int huber_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *p = node->in[0], *t = node->in[1];
    const void *args = node->args;
    ag_tensor *in = constant2(p, t, by_dtype(p, huber_in_f32, huber_in_f64), args, "ag_huber_loss");
    ag_tensor *out =
        constant2(p, t, by_dtype(p, huber_out_f32, huber_out_f64), args, "ag_huber_loss");
    return accumulate_pair(node, g, ag_add(ag_mul(ag_sub(p, t), in), out));
}
const struct ag_op_def ag__op_huber_loss = {
    .name = "huber_loss",
    .arity = 2,
    .shape = pair_shape,
    .forward = huber_forward,
    .backward = huber_backward,
    .check = {.make = huber_make, .flops_per_elem = 4},
};
ag_tensor *ag_huber_loss_ex(ag_tensor *pred, ag_tensor *target, double delta, ag_reduction r) {
    if (!pred || !target) return NULL;
    if (!(delta > 0)) {
        ag__error(AG_ERR_ARG, "ag_huber_loss", "delta must be positive, got %g", delta);
        return NULL;
    }
    return ag__loss_reduce(loss_op(AG_OP_HUBER_LOSS, pred, target, delta), r, "ag_huber_loss");
}
/* mean of 0.5 d^2 where |d| < delta, else delta (|d| - delta/2); d = pred - target. */
ag_tensor *ag_huber_loss(ag_tensor *pred, ag_tensor *target, double delta) {
    return ag_huber_loss_ex(pred, target, delta, AG_REDUCTION_MEAN);
}

/* ------------------------------------------------------------------ bce */
static inline double bce_elem(double a, double b) {
    return (b - 1) * fmax(log1p(-a), -100.0) - b * fmax(log(a), -100.0);
}
static inline double bce_keep_elem(double a, double b) { /* 1 where p(1-p) >= 1e-12 */
    (void)b;
    return a * (1 - a) >= 1e-12 ? 1.0 : 0.0;
}
static inline double bce_floor_elem(double a, double b) { /* 1e-12 elsewhere */
    (void)b;
    return a * (1 - a) >= 1e-12 ? 0.0 : 1e-12;
}
AG_ROW2(bce_f32, float, (float)bce_elem(a, b))
AG_ROW2(bce_f64, double, bce_elem(a, b))
AG_ROW2(bce_keep_f32, float, (float)bce_keep_elem(a, b))
AG_ROW2(bce_keep_f64, double, bce_keep_elem(a, b))
AG_ROW2(bce_floor_f32, float, (float)bce_floor_elem(a, b))
AG_ROW2(bce_floor_f64, double, bce_floor_elem(a, b))

static int bce_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)n, (void)saved;
    const ag_tensor *p = in[0];
    for (int64_t i = 0; i < p->numel; i++) {
        double v = ag__get_flat(p, i);
        if (!(v >= 0 && v <= 1))
            return ag__error(AG_ERR_ARG, "ag_bce_loss",
                             "input %s holds %g at element %lld: "
                             "probabilities must lie in [0, 1]",
                             AG_SHAPE(p), v, (long long)i);
    }
    ag__map2(out, in[0], in[1], by_dtype(out, bce_f32, bce_f64), args);
    return AG_OK;
}
/* dp = g (p - t) / max(p (1 - p), 1e-12);  dt = g (log(1 - p) - log(p)), as torch. */
static int bce_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *p = node->in[0], *t = node->in[1], *one = ag_scalar(p->dtype, 1);
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) {
        ag_tensor *keep =
            constant2(p, t, by_dtype(p, bce_keep_f32, bce_keep_f64), NULL, "ag_bce_loss");
        ag_tensor *floor =
            constant2(p, t, by_dtype(p, bce_floor_f32, bce_floor_f64), NULL, "ag_bce_loss");
        ag_tensor *den = ag_add(ag_mul(ag_mul(p, ag_sub(one, p)), keep), floor);
        rc = ag__accumulate(node, 0, ag_mul(g, ag_div(ag_sub(p, t), den)));
    }
    if (!rc && ag__needs_grad(node, 1))
        rc = ag__accumulate(node, 1, ag_mul(g, ag_sub(ag_log(ag_sub(one, p)), ag_log(p))));
    return rc;
}
const struct ag_op_def ag__op_bce_loss = {
    .name = "bce_loss",
    .arity = 2,
    .shape = pair_shape,
    .forward = bce_forward,
    .backward = bce_backward,
    .check = {.make = bce_make, .flops_per_elem = 25},
};
ag_tensor *ag_bce_loss_ex(ag_tensor *prob, ag_tensor *target, ag_reduction r) {
    return ag__loss_reduce(loss_op(AG_OP_BCE_LOSS, prob, target, 0), r, "ag_bce_loss");
}
/* mean of -(t log p + (1 - t) log(1 - p)), each log clamped at -100; p in [0, 1]. */
ag_tensor *ag_bce_loss(ag_tensor *prob, ag_tensor *target) {
    return ag_bce_loss_ex(prob, target, AG_REDUCTION_MEAN);
}

/* ------------------------------------------------------------------ bce_with_logits */
static inline double bcel_elem(double a, double b) {
    return fmax(a, 0.0) - a * b + log1p(exp(-fabs(a)));
}
AG_ROW2(bcel_f32, float, (float)bcel_elem(a, b))
AG_ROW2(bcel_f64, double, bcel_elem(a, b))
AG_MAP2_FORWARD(bcel_forward, bcel_f32, bcel_f64)
/* dx = g (sigmoid(x) - t);  dt = -g x. */
static int bcel_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *x = node->in[0], *t = node->in[1];
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) rc = ag__accumulate(node, 0, ag_mul(g, ag_sub(ag_sigmoid(x), t)));
    if (!rc && ag__needs_grad(node, 1)) rc = ag__accumulate(node, 1, ag_neg(ag_mul(g, x)));
    return rc;
}
const struct ag_op_def ag__op_bce_with_logits_loss = {
    .name = "bce_with_logits_loss",
    .arity = 2,
    .shape = pair_shape,
    .forward = bcel_forward,
    .backward = bcel_backward,
    .check = {.make = bcel_make, .flops_per_elem = 25},
};
ag_tensor *ag_bce_with_logits_loss_ex(ag_tensor *logits, ag_tensor *target, ag_reduction r) {
    return ag__loss_reduce(loss_op(AG_OP_BCE_WITH_LOGITS_LOSS, logits, target, 0), r,
                           "ag_bce_with_logits_loss");
}
/* mean of max(x, 0) - x t + log1p(exp(-|x|)): stable for any |x|. */
ag_tensor *ag_bce_with_logits_loss(ag_tensor *logits, ag_tensor *target) {
    return ag_bce_with_logits_loss_ex(logits, target, AG_REDUCTION_MEAN);
}

/* ------------------------------------------------------------------ kl_div */
static inline double kl_elem(double a, double b) { /* xlogy(t, t) - t x, as torch */
    return (b == 0 ? 0.0 : b * log(b)) - b * a;
}
AG_ROW2(kl_f32, float, (float)kl_elem(a, b))
AG_ROW2(kl_f64, double, kl_elem(a, b))
AG_MAP2_FORWARD(kl_forward, kl_f32, kl_f64)
/* dx = -g t;  dt = g (log t + 1 - x). */
static int kl_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *x = node->in[0], *t = node->in[1];
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) rc = ag__accumulate(node, 0, ag_neg(ag_mul(g, t)));
    if (!rc && ag__needs_grad(node, 1)) {
        ag_tensor *one = ag_scalar(x->dtype, 1);
        rc = ag__accumulate(node, 1, ag_mul(g, ag_add(ag_sub(ag_log(t), x), one)));
    }
    return rc;
}
const struct ag_op_def ag__op_kl_div_loss = {
    .name = "kl_div_loss",
    .arity = 2,
    .shape = pair_shape,
    .forward = kl_forward,
    .backward = kl_backward,
    .check = {.make = kl_make, .flops_per_elem = 12},
};
/* log_input: log-probabilities; target: probabilities, same shape. MEAN is 'batchmean':
 * the sum divided by the size of dim 0. */
ag_tensor *ag_kl_div_loss_ex(ag_tensor *log_input, ag_tensor *target, ag_reduction r) {
    ag_tensor *l = loss_op(AG_OP_KL_DIV_LOSS, log_input, target, 0);
    if (!l || r != AG_REDUCTION_MEAN) return ag__loss_reduce(l, r, "ag_kl_div_loss");
    double batch = log_input->ndim ? (double)log_input->shape[0] : 1.0;
    return ag_mul(ag_sum(l), ag_scalar(l->dtype, 1.0 / batch));
}
/* sum(t (log t - log_input)) / N, torch's reduction='batchmean'. */
ag_tensor *ag_kl_div_loss(ag_tensor *log_input, ag_tensor *target) {
    return ag_kl_div_loss_ex(log_input, target, AG_REDUCTION_MEAN);
}
