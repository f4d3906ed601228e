/* batch_norm(x, [w], [b], [running_mean, running_var]), torch semantics: x [N,C] or
 * [N,C,*]; training normalizes with the batch's biased variance and updates the running
 * stats in place (unbiased variance); eval uses the running stats. The backward rule is
 * written with ops, recomputing the statistics from x, so it is differentiable again. */
#include "ops/iter.h"

#include <math.h>

/* ------------------------------------------------------------------ batch_norm */
struct bn_args {
    bool training, has_w, has_b;
    double eps, momentum;
    ag_tensor *run_mean, *run_var;   /* training: updated in place when not NULL */
};

/* Input positions: x, then weight, bias (when given), then running mean, var (eval). */
static int bn_w(const struct bn_args *a) { return a->has_w ? 1 : -1; }
static int bn_b(const struct bn_args *a) { return a->has_b ? 1 + a->has_w : -1; }
static int bn_stats(const struct bn_args *a) { return 1 + a->has_w + a->has_b; }

static int bn_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                    const char *fn) {
    const struct bn_args *a = args;
    const ag_tensor *x = in[0];
    if (ag__shape_same(m, in, n, args, fn)) return ag__last_error_code();
    if (x->ndim < 2)
        return ag__error(AG_ERR_SHAPE, fn, "x %s must be [N,C] or [N,C,*]", AG_SHAPE(x));
    int want = bn_stats(a) + (a->training ? 0 : 2);
    if (n != want) return ag__error(AG_ERR_ARG, fn, "expects %d inputs, got %d", want, n);
    for (int i = 1; i < n; i++)
        if (in[i]->dtype != x->dtype || in[i]->ndim != 1 || in[i]->shape[0] != x->shape[1])
            return ag__error(AG_ERR_SHAPE, fn, "weight, bias and running stats must be %s [%lld] "
                             "for x %s, got %s %s", ag_dtype_name(x->dtype),
                             (long long)x->shape[1], AG_SHAPE(x), ag_dtype_name(in[i]->dtype),
                             AG_SHAPE(in[i]));
    if (a->training && x->numel / x->shape[1] < 2)
        return ag__error(AG_ERR_SHAPE, fn, "training needs more than 1 value per channel, x %s",
                         AG_SHAPE(x));
    return AG_OK;
}

static double elem(const ag_tensor *t, int64_t i) {   /* contiguous */
    return t->dtype == AG_F32 ? ((const float *)ag__ptr(t))[i] : ((const double *)ag__ptr(t))[i];
}
static void set_elem(ag_tensor *t, int64_t i, double v) {
    if (t->dtype == AG_F32) ((float *)ag__ptr(t))[i] = (float)v;
    else ((double *)ag__ptr(t))[i] = v;
}

static int bn_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)saved;
    const struct bn_args *a = args;
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *x = ag_contiguous(in[0]);
    ag_set_grad_enabled(prev);
    if (!x) return AG_ERR_NOMEM;
    int64_t N = x->shape[0], C = x->shape[1], S = N * C > 0 ? x->numel / (N * C) : 0, cnt = N * S;
    #pragma omp parallel for schedule(static) if (x->numel >= (1 << 16))
    for (int64_t c = 0; c < C; c++) {
        double mean, var;
        if (a->training) {   /* two passes in double, a fixed order */
            double s = 0, q = 0;
            for (int64_t i = 0; i < N; i++)
                for (int64_t k = 0; k < S; k++) s += elem(x, (i * C + c) * S + k);
            mean = s / (double)cnt;
            for (int64_t i = 0; i < N; i++)
                for (int64_t k = 0; k < S; k++) {
                    double d = elem(x, (i * C + c) * S + k) - mean;
                    q += d * d;
                }
            var = q / (double)cnt;
            if (a->run_mean) {
                double m = a->momentum;
                set_elem(a->run_mean, c, (1 - m) * elem(a->run_mean, c) + m * mean);
                set_elem(a->run_var, c,
                         (1 - m) * elem(a->run_var, c) + m * q / (double)(cnt - 1));
            }
        } else {
            mean = ag__get_flat(in[bn_stats(a)], c);
            var = ag__get_flat(in[bn_stats(a) + 1], c);
        }
        double w = a->has_w ? ag__get_flat(in[bn_w(a)], c) : 1.0;
        double b = a->has_b ? ag__get_flat(in[bn_b(a)], c) : 0.0;
        double scale = w / sqrt(var + a->eps), shift = b - mean * scale;
        for (int64_t i = 0; i < N; i++)
            for (int64_t k = 0; k < S; k++) {
                int64_t j = (i * C + c) * S + k;
                set_elem(out, j, elem(x, j) * scale + shift);
            }
    }
    if (x != in[0] && !x->arena) ag_tensor_free(x);
    return AG_OK;
}

/* 1/sqrt(v + eps) with ops (differentiable). */
static ag_tensor *inv_std(ag_tensor *v, double eps) {
    ag_dtype dt = ag_dtype_of(v);
    return ag_div(ag_scalar(dt, 1.0), ag_sqrt(ag_add(v, ag_scalar(dt, eps))));
}

static int bn_backward(struct ag_node *node, ag_tensor *g) {
    const struct bn_args *a = AG_ARGS(node, struct bn_args);
    ag_tensor *x = node->in[0];
    ag_dtype dt = x->dtype;
    int64_t cs[AG_MAX_DIMS], C = x->shape[1];
    for (int d = 0; d < x->ndim; d++) cs[d] = d == 1 ? C : 1;
    ag_tensor *inv_cnt = ag_scalar(dt, (double)C / (double)x->numel);
    ag_tensor *mean, *invstd;
    if (a->training) {
        mean = ag_mul(ag_sum_to(x, x->ndim, cs), inv_cnt);
        ag_tensor *xc = ag_sub(x, mean);
        invstd = inv_std(ag_mul(ag_sum_to(ag_mul(xc, xc), x->ndim, cs), inv_cnt), a->eps);
    } else {
        mean = ag_reshape(node->in[bn_stats(a)], x->ndim, cs);
        invstd = inv_std(ag_reshape(node->in[bn_stats(a) + 1], x->ndim, cs), a->eps);
    }
    ag_tensor *xhat = ag_mul(ag_sub(x, mean), invstd);
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) {
        ag_tensor *gw = a->has_w ? ag_mul(g, ag_reshape(node->in[bn_w(a)], x->ndim, cs)) : g;
        ag_tensor *dx;
        if (a->training) {   /* invstd * (gw - mean(gw) - xhat * mean(gw * xhat)) */
            ag_tensor *m1 = ag_mul(ag_sum_to(gw, x->ndim, cs), inv_cnt);
            ag_tensor *m2 = ag_mul(ag_sum_to(ag_mul(gw, xhat), x->ndim, cs), inv_cnt);
            dx = ag_mul(invstd, ag_sub(ag_sub(gw, m1), ag_mul(xhat, m2)));
        } else {
            dx = ag_mul(gw, invstd);
        }
        rc = ag__accumulate(node, 0, dx);
    }
    if (!rc && a->has_w && ag__needs_grad(node, bn_w(a)))
        rc = ag__accumulate(node, bn_w(a),
                            ag_reshape(ag_sum_to(ag_mul(g, xhat), x->ndim, cs), 1, &C));
    if (!rc && a->has_b && ag__needs_grad(node, bn_b(a)))
        rc = ag__accumulate(node, bn_b(a), ag_reshape(ag_sum_to(g, x->ndim, cs), 1, &C));
    return rc;
}

/* variant 0: training on [3,2,2,2] with weight and bias; variant 1: eval on a transposed
 * [2,3,4] with weight, bias and running stats (held fixed). */
static int bn_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct bn_args *a = args;
    *a = (struct bn_args){.training = variant == 0 || size, .has_w = true, .has_b = true,
                          .eps = 1e-5, .momentum = 0.1};
    int64_t C = size ? 32 : variant ? 3 : 2;
    if (size) {   /* benchmark: 32 channels of 14x14, training mode */
        int64_t n = size / (32 * 14 * 14) > 1 ? size / (32 * 14 * 14) : 1;
        in[0] = ag__check_input(dt, 4, (int64_t[]){n, 32, 14, 14}, -2, 2);
        in[1] = ag__check_input(dt, 1, &C, 0.5, 2);
        in[2] = ag__check_input(dt, 1, &C, -1, 1);
        return 3;
    }
    if (variant == 0) {
        in[0] = ag__check_input(dt, 4, (int64_t[]){3, 2, 2, 2}, -2, 2);
    } else {
        ag_tensor *base = ag__check_input(dt, 3, (int64_t[]){2, 4, 3}, -2, 2);
        bool prev = ag_set_grad_enabled(false);
        in[0] = ag_transpose(base, 1, 2);
        ag_set_grad_enabled(prev);
        ag_set_requires_grad(in[0], true);
    }
    in[1] = ag__check_input(dt, 1, &C, 0.5, 2);
    in[2] = ag__check_input(dt, 1, &C, -1, 1);
    if (variant == 0) return 3;
    in[3] = ag__check_input(dt, 1, &C, -1, 1);
    in[4] = ag__check_input(dt, 1, &C, 0.5, 2);
    ag_set_requires_grad(in[3], false);
    ag_set_requires_grad(in[4], false);
    return 5;
}

const struct ag_op_def ag__op_batch_norm = {
    .name = "batch_norm", .arity = -1, .shape = bn_shape,
    .forward = bn_forward, .backward = bn_backward,
    .check = {.make = bn_make},
};

static int check_stat(const ag_tensor *t, const ag_tensor *x, const char *what) {
    if (t->dtype == x->dtype && t->ndim == 1 && t->shape[0] == x->shape[1] && ag_is_contiguous(t))
        return AG_OK;
    return ag__error(AG_ERR_SHAPE, "ag_batch_norm", "%s %s %s must be a contiguous %s [%lld] for x %s",
                     what, ag_dtype_name(t->dtype), AG_SHAPE(t), ag_dtype_name(x->dtype),
                     (long long)x->shape[1], AG_SHAPE(x));
}

/* x [N,C] or [N,C,*] -> same shape; weight, bias [C] or NULL (1, 0). training: batch
 * statistics, and running_mean/var [C] (both or neither) updated in place as
 * (1-momentum)*old + momentum*new; eval: running_mean/var required. */
ag_tensor *ag_batch_norm(ag_tensor *x, ag_tensor *running_mean, ag_tensor *running_var,
                         ag_tensor *weight, ag_tensor *bias, bool training, double momentum,
                         double eps) {
    if (!x) return NULL;
    const char *fn = "ag_batch_norm";
    if (x->ndim < 2) {
        ag__error(AG_ERR_SHAPE, fn, "x %s must be [N,C] or [N,C,*]", AG_SHAPE(x));
        return NULL;
    }
    if (!running_mean != !running_var || (!training && !running_mean)) {
        ag__error(AG_ERR_NULL, fn, "running_mean and running_var must both be given%s (x %s)",
                  training ? " or both be NULL" : " in eval mode", AG_SHAPE(x));
        return NULL;
    }
    if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1)) {
        ag__error(AG_ERR_ARG, fn, "eps %g must be >= 0 and momentum %g in [0, 1]", eps, momentum);
        return NULL;
    }
    if (running_mean && (check_stat(running_mean, x, "running_mean") ||
                         check_stat(running_var, x, "running_var")))
        return NULL;
    struct bn_args a = {training, weight != NULL, bias != NULL, eps, momentum,
                        training ? running_mean : NULL, training ? running_var : NULL};
    ag_tensor *in[5] = {x};
    int n = 1;
    if (weight) in[n++] = weight;
    if (bias) in[n++] = bias;
    if (!training) in[n++] = running_mean, in[n++] = running_var;
    return ag__apply(AG_OP_BATCH_NORM, n, in, &a, sizeof a);
}
