/* batch_norm(x, [w], [b], [running_mean, running_var]), torch semantics: x [N,C] or
 * [N,C,*]; training normalizes with the batch's biased variance and updates the running
 * stats in place (unbiased variance); eval uses the running stats. The backward rule is
 * written with ops, recomputing the statistics from x, so it is differentiable again;
 * without create_graph it runs fused kernels (two passes in training, one in eval). */
#include "ops/batch_norm_rows.h"
#include "ops/iter.h"
#include "runtime/parallel.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ batch_norm */
struct bn_args {
    bool training, has_w, has_b;
    double eps, momentum;
    ag_tensor *run_mean, *run_var; /* training: updated in place when not NULL */
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
            return ag__error(AG_ERR_SHAPE, fn,
                             "weight, bias and running stats must be %s [%lld] "
                             "for x %s, got %s %s",
                             ag_dtype_name(x->dtype), (long long)x->shape[1], AG_SHAPE(x),
                             ag_dtype_name(in[i]->dtype), AG_SHAPE(in[i]));
    if (a->training && x->numel / x->shape[1] < 2)
        return ag__error(AG_ERR_SHAPE, fn, "training needs more than 1 value per channel, x %s",
                         AG_SHAPE(x));
    return AG_OK;
}

/* ------------------------------------------------------------------ kernels
 * x is contiguous [N, C, S]; the row kernels are in ops/batch_norm_rows.h. Threads split
 * the channels; each thread walks the rows of up to BN_GROUP channels at a time in memory
 * order (one stream instead of N short ones per channel), and each channel's float64 sums
 * take its rows in order i = 0..N-1, so results do not depend on the thread count. */
#define BN_GROUP 16

struct bn_dims {
    int64_t N, C, S;
};
static struct bn_dims bn_dims_of(const ag_tensor *x) {
    int64_t N = x->shape[0], C = x->shape[1];
    return (struct bn_dims){N, C, N * C > 0 ? x->numel / (N * C) : 0};
}
/* Where row (i, c) starts. */
static int64_t row_at(struct bn_dims d, int64_t i, int64_t c) { return (i * d.C + c) * d.S; }

/* The row kernels for t's dtype, at element `at` of each contiguous operand. */
static void row_stats(const ag_tensor *x, int64_t at, int64_t S, double K, struct bn_lanes *L) {
    if (x->dtype == AG_F32) bn_row_stats_f32((const float *)ag__ptr(x) + at, S, K, L);
    else bn_row_stats_f64((const double *)ag__ptr(x) + at, S, K, L);
}
static void row_grad_sums(const ag_tensor *g, const ag_tensor *x, int64_t at, int64_t S,
                          double mean, struct bn_lanes *L) {
    if (x->dtype == AG_F32)
        bn_row_grad_sums_f32((const float *)ag__ptr(g) + at, (const float *)ag__ptr(x) + at, S,
                             mean, L);
    else
        bn_row_grad_sums_f64((const double *)ag__ptr(g) + at, (const double *)ag__ptr(x) + at, S,
                             mean, L);
}
static void row_eval_grad(ag_tensor *dx, const ag_tensor *g, const ag_tensor *x, int64_t at,
                          int64_t S, double mean, double p, struct bn_lanes *L) {
    if (x->dtype == AG_F32)
        bn_row_eval_grad_f32((float *)ag__ptr(dx) + at, (const float *)ag__ptr(g) + at,
                             (const float *)ag__ptr(x) + at, S, mean, (float)p, L);
    else
        bn_row_eval_grad_f64((double *)ag__ptr(dx) + at, (const double *)ag__ptr(g) + at,
                             (const double *)ag__ptr(x) + at, S, mean, p, L);
}
static void row_affine(ag_tensor *y, const ag_tensor *x, int64_t at, int64_t S, double a,
                       double b) {
    if (x->dtype == AG_F32)
        bn_row_affine_f32((float *)ag__ptr(y) + at, (const float *)ag__ptr(x) + at, S, a, b);
    else bn_row_affine_f64((double *)ag__ptr(y) + at, (const double *)ag__ptr(x) + at, S, a, b);
}
static void row_input_grad(ag_tensor *dx, const ag_tensor *g, const ag_tensor *x, int64_t at,
                           int64_t S, double mean, double p, double q, double r) {
    if (x->dtype == AG_F32)
        bn_row_input_grad_f32((float *)ag__ptr(dx) + at, (const float *)ag__ptr(g) + at,
                              (const float *)ag__ptr(x) + at, S, mean, p, q, r);
    else
        bn_row_input_grad_f64((double *)ag__ptr(dx) + at, (const double *)ag__ptr(g) + at,
                              (const double *)ag__ptr(x) + at, S, mean, p, q, r);
}
static void row_eval(ag_tensor *y, const ag_tensor *x, int64_t at, int64_t S, double mean,
                     double scale, double shift) {
    if (x->dtype == AG_F32)
        bn_row_eval_f32((float *)ag__ptr(y) + at, (const float *)ag__ptr(x) + at, S, (float)mean,
                        (float)scale, (float)shift);
    else
        bn_row_eval_f64((double *)ag__ptr(y) + at, (const double *)ag__ptr(x) + at, S, mean, scale,
                        shift);
}
static void row_scale(ag_tensor *dx, const ag_tensor *g, int64_t at, int64_t S, double p) {
    if (g->dtype == AG_F32)
        bn_row_scale_f32((float *)ag__ptr(dx) + at, (const float *)ag__ptr(g) + at, S, (float)p);
    else bn_row_scale_f64((double *)ag__ptr(dx) + at, (const double *)ag__ptr(g) + at, S, p);
}

/* t itself when contiguous, else a contiguous copy made with grad off (NULL: no memory). */
static ag_tensor *dense(ag_tensor *t) {
    if (ag_is_contiguous(t)) return t;
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *c = ag_contiguous(t);
    ag_set_grad_enabled(prev);
    return c;
}
static void release(ag_tensor *c, const ag_tensor *t) {
    if (c && c != t && !c->arena) ag_tensor_free(c);
}
/* Channels split over threads (runtime/parallel.h) when x has this many elements. */
#define BN_PARALLEL_MIN (1 << 16)
static void bn_channels(const ag_tensor *x, int64_t C, ag__range_fn fn, void *ctx) {
    ag__parallel_for(C, 1, (double)x->numel / (double)(C > 0 ? C : 1), BN_PARALLEL_MIN, fn, ctx);
}

/* What bn_forward's threads share. */
struct bn_fwd {
    const struct bn_args *a;
    ag_tensor *const *in;
    ag_tensor *out, *x;
    struct bn_dims d;
    double *sm, *si;
};

/* Mean and biased variance of channels [c0, c1) (at most BN_GROUP) in one pass over their
 * rows, as sums of v = x - K and v*v with K each channel's first value. */
static void group_stats(const ag_tensor *x, struct bn_dims d, int64_t c0, int64_t c1, double *mean,
                        double *var) {
    struct bn_lanes L[BN_GROUP];
    double K[BN_GROUP], n = (double)(d.N * d.S);
    memset(L, 0, sizeof L);
    for (int64_t c = c0; c < c1; c++) K[c - c0] = ag__get_flat(x, row_at(d, 0, c));
    for (int64_t i = 0; i < d.N; i++)
        for (int64_t c = c0; c < c1; c++) row_stats(x, row_at(d, i, c), d.S, K[c - c0], &L[c - c0]);
    for (int64_t c = c0; c < c1; c++) {
        double ss, qq;
        bn_lanes_sums(&L[c - c0], &ss, &qq);
        mean[c - c0] = K[c - c0] + ss / n;
        var[c - c0] = (qq - ss * ss / n) / n;
        if (var[c - c0] < 0) var[c - c0] = 0;
    }
}

/* (1 - momentum) * old + momentum * new, the variance unbiased. */
static void update_running(const struct bn_args *a, int64_t c, double mean, double var,
                           double cnt) {
    double m = a->momentum;
    ag_tensor *rm = a->run_mean, *rv = a->run_var;
    double om = ag__get_flat(rm, c), ov = ag__get_flat(rv, c);
    double nm = (1 - m) * om + m * mean, nv = (1 - m) * ov + m * var * cnt / (cnt - 1);
    if (rm->dtype == AG_F32)
        ((float *)ag__ptr(rm))[c] = (float)nm, ((float *)ag__ptr(rv))[c] = (float)nv;
    else ((double *)ag__ptr(rm))[c] = nm, ((double *)ag__ptr(rv))[c] = nv;
}

/* Channels [lo, hi), BN_GROUP at a time: statistics (training: from x, updating the
 * running stats; eval: the running stats), then y in one pass (training: x * scale +
 * shift in float64; eval: (x - mean) * scale + bias in x's dtype). */
static void bn_forward_channels(void *ctx, int64_t lo, int64_t hi, int tid) {
    (void)tid;
    const struct bn_fwd *f = ctx;
    const struct bn_args *a = f->a;
    ag_tensor *const *in = f->in;
    struct bn_dims d = f->d;
    for (int64_t c0 = lo; c0 < hi; c0 += BN_GROUP) {
        int64_t c1 = c0 + BN_GROUP < hi ? c0 + BN_GROUP : hi;
        double mean[BN_GROUP], var[BN_GROUP], scale[BN_GROUP], shift[BN_GROUP];
        if (a->training) group_stats(f->x, d, c0, c1, mean, var);
        for (int64_t c = c0; c < c1; c++) {
            int64_t j = c - c0;
            if (!a->training) {
                mean[j] = ag__get_flat(in[bn_stats(a)], c);
                var[j] = ag__get_flat(in[bn_stats(a) + 1], c);
            } else if (a->run_mean) {
                update_running(a, c, mean[j], var[j], (double)(d.N * d.S));
            }
            double w = a->has_w ? ag__get_flat(in[bn_w(a)], c) : 1.0;
            double b = a->has_b ? ag__get_flat(in[bn_b(a)], c) : 0.0;
            double is = 1 / sqrt(var[j] + a->eps);
            scale[j] = w * is, shift[j] = a->training ? b - mean[j] * scale[j] : b;
            f->sm[c] = mean[j], f->si[c] = is;
        }
        for (int64_t i = 0; i < d.N; i++)
            for (int64_t c = c0; c < c1; c++) {
                int64_t j = c - c0, at = row_at(d, i, c);
                if (a->training) row_affine(f->out, f->x, at, d.S, scale[j], shift[j]);
                else row_eval(f->out, f->x, at, d.S, mean[j], scale[j], shift[j]);
            }
    }
}

/* Saves mean and 1/sqrt(var + eps) as float64 [C] (saved[0], saved[1]) for the fused
 * backward; training updates the running stats in place (unbiased variance). */
static int bn_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n;
    ag_tensor *x = dense(in[0]);
    int64_t C = in[0]->shape[1];
    saved[0] = ag__empty(AG_F64, 1, &C, "ag_batch_norm");
    saved[1] = ag__empty(AG_F64, 1, &C, "ag_batch_norm");
    if (!x || !saved[0] || !saved[1]) {
        release(x, in[0]);
        return AG_ERR_NOMEM;
    }
    struct bn_fwd f = {args, in, out, x, bn_dims_of(x), ag__ptr(saved[0]), ag__ptr(saved[1])};
    bn_channels(x, C, bn_forward_channels, &f);
    release(x, in[0]);
    return AG_OK;
}

/* ------------------------------------------------------------------ fused backward ops
 * batch_norm_grad_sums(g, x, mean)            -> float64 [2, C]: sum g, sum g (x - mean)
 * batch_norm_input_grad(g, x, mean, invstd, sums[, w]) -> dx, like x
 * with mean and invstd the float64 [C] that forward saved. The two passes of the backward
 * when create_graph is off; with create_graph on, batch_norm's backward is written with
 * ops instead (bn_backward_ops), so these two are never recorded and have no derivative. */
struct bn_grad_args {
    bool training, has_w;
};

static int check_c64(const ag_tensor *t, int64_t C, const char *what, const char *fn) {
    if (t->dtype == AG_F64 && t->ndim == 1 && t->shape[0] == C) return AG_OK;
    return ag__error(AG_ERR_SHAPE, fn, "%s must be float64 [%lld], got %s %s", what, (long long)C,
                     ag_dtype_name(t->dtype), AG_SHAPE(t));
}

static int check_g_x(ag_tensor *const *in, const char *fn) {
    const ag_tensor *g = in[0], *x = in[1];
    if (!ag__is_float(x->dtype) || x->ndim < 2 || g->dtype != x->dtype || g->ndim != x->ndim ||
        memcmp(g->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim))
        return ag__error(AG_ERR_SHAPE, fn,
                         "grad %s %s and x %s %s must be one float shape "
                         "[N,C,*]",
                         ag_dtype_name(g->dtype), AG_SHAPE(g), ag_dtype_name(x->dtype),
                         AG_SHAPE(x));
    return check_c64(in[2], x->shape[1], "mean", fn);
}

static int grad_sums_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                           const char *fn) {
    (void)n, (void)args;
    if (check_g_x(in, fn)) return ag__last_error_code();
    *m = (struct ag_meta){.dtype = AG_F64, .ndim = 2, .shape = {2, in[1]->shape[1]}};
    return AG_OK;
}

/* What the threads of one backward pass share. */
struct bn_grad_pass {
    const ag_tensor *g, *x;
    ag_tensor *const *in;
    ag_tensor *out;
    struct bn_dims d;
    const struct bn_grad_args *a;
};

static void grad_sums_channels(void *ctx, int64_t lo, int64_t hi, int tid) {
    (void)tid;
    const struct bn_grad_pass *p = ctx;
    struct bn_dims d = p->d;
    double *o = ag__ptr(p->out);
    for (int64_t c0 = lo; c0 < hi; c0 += BN_GROUP) {
        int64_t c1 = c0 + BN_GROUP < hi ? c0 + BN_GROUP : hi;
        struct bn_lanes L[BN_GROUP];
        double mean[BN_GROUP];
        memset(L, 0, sizeof L);
        for (int64_t c = c0; c < c1; c++) mean[c - c0] = ag__get_flat(p->in[2], c);
        for (int64_t i = 0; i < d.N; i++)
            for (int64_t c = c0; c < c1; c++)
                row_grad_sums(p->g, p->x, row_at(d, i, c), d.S, mean[c - c0], &L[c - c0]);
        for (int64_t c = c0; c < c1; c++) bn_lanes_sums(&L[c - c0], &o[c], &o[d.C + c]);
    }
}

static int grad_sums_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                             ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    ag_tensor *g = dense(in[0]), *x = dense(in[1]);
    if (!g || !x) {
        release(g, in[0]), release(x, in[1]);
        return AG_ERR_NOMEM;
    }
    struct bn_grad_pass p = {.g = g, .x = x, .in = in, .out = out, .d = bn_dims_of(x)};
    bn_channels(x, p.d.C, grad_sums_channels, &p);
    release(g, in[0]), release(x, in[1]);
    return AG_OK;
}

static int input_grad_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                            const char *fn) {
    const struct bn_grad_args *a = args;
    if (n != 5 + a->has_w)
        return ag__error(AG_ERR_ARG, fn, "expects %d inputs, got %d", 5 + a->has_w, n);
    if (check_g_x(in, fn)) return ag__last_error_code();
    int64_t C = in[1]->shape[1];
    if (check_c64(in[3], C, "invstd", fn)) return ag__last_error_code();
    if (in[4]->dtype != AG_F64 || in[4]->ndim != 2 || in[4]->shape[0] != 2 || in[4]->shape[1] != C)
        return ag__error(AG_ERR_SHAPE, fn, "sums must be float64 [2,%lld], got %s", (long long)C,
                         AG_SHAPE(in[4]));
    if (a->has_w && (in[5]->dtype != in[1]->dtype || in[5]->ndim != 1 || in[5]->shape[0] != C))
        return ag__error(AG_ERR_SHAPE, fn, "weight %s must be [%lld] for x %s", AG_SHAPE(in[5]),
                         (long long)C, AG_SHAPE(in[1]));
    ag__meta_like(m, in[1]);
    return AG_OK;
}

/* training: dx = w s (g - sum g / n - (x - mean) s^2 sum g (x - mean) / n), s = invstd;
 * eval: dx = w s g (one pass over g, x not read). */
static void input_grad_channels(void *ctx, int64_t lo, int64_t hi, int tid) {
    (void)tid;
    const struct bn_grad_pass *pp = ctx;
    ag_tensor *const *in = pp->in;
    struct bn_dims d = pp->d;
    double cnt = (double)(d.N * d.S);
    bool training = pp->a->training;
    for (int64_t c0 = lo; c0 < hi; c0 += BN_GROUP) {
        int64_t c1 = c0 + BN_GROUP < hi ? c0 + BN_GROUP : hi;
        double mean[BN_GROUP], p[BN_GROUP], q[BN_GROUP], r[BN_GROUP];
        for (int64_t c = c0; c < c1; c++) {
            int64_t j = c - c0;
            double s = ag__get_flat(in[3], c);
            p[j] = s * (pp->a->has_w ? ag__get_flat(in[5], c) : 1.0);
            q[j] = -p[j] * s * s * ag__get_flat(in[4], d.C + c) / cnt;
            r[j] = -p[j] * ag__get_flat(in[4], c) / cnt;
            mean[j] = ag__get_flat(in[2], c);
        }
        for (int64_t i = 0; i < d.N; i++)
            for (int64_t c = c0; c < c1; c++) {
                int64_t j = c - c0, at = row_at(d, i, c);
                if (training)
                    row_input_grad(pp->out, pp->g, pp->x, at, d.S, mean[j], p[j], q[j], r[j]);
                else row_scale(pp->out, pp->g, at, d.S, p[j]);
            }
    }
}

static int input_grad_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                              ag_tensor **saved) {
    (void)n, (void)saved;
    const struct bn_grad_args *a = args;
    ag_tensor *g = dense(in[0]), *x = dense(in[1]);
    if (!g || !x) {
        release(g, in[0]), release(x, in[1]);
        return AG_ERR_NOMEM;
    }
    struct bn_grad_pass p = {.g = g, .x = x, .in = in, .out = out, .d = bn_dims_of(x), .a = a};
    bn_channels(x, p.d.C, input_grad_channels, &p);
    release(g, in[0]), release(x, in[1]);
    return AG_OK;
}

static int fused_grad_backward(struct ag_node *node, ag_tensor *g) {
    (void)g;
    return ag__error(AG_ERR_STATE, "ag_backward",
                     "%s is not differentiable (batch_norm "
                     "records its backward with ops when create_graph is on)",
                     node->def->name);
}

/* Inputs like the forward saves them, for the table tests and the benchmark. */
static int fused_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size,
                      bool input_grad) {
    int64_t C = size ? 32 : 3, n = size / (32 * 14 * 14) > 1 ? size / (32 * 14 * 14) : 1;
    int64_t xs[4] = {size ? n : 4, C, size ? 14 : 2, size ? 14 : 3}, two[2] = {2, C};
    in[0] = ag__check_input(dt, 4, xs, -2, 2);
    in[1] = ag__check_input(dt, 4, xs, -2, 2);
    in[2] = ag__check_input(AG_F64, 1, &C, -0.5, 0.5);
    if (!input_grad) return 3;
    *(struct bn_grad_args *)args = (struct bn_grad_args){variant == 0, variant == 0};
    in[3] = ag__check_input(AG_F64, 1, &C, 0.5, 2);
    in[4] = ag__check_input(AG_F64, 2, two, -3, 3);
    if (variant) return 5;
    in[5] = ag__check_input(dt, 1, &C, 0.5, 2);
    return 6;
}
static int grad_sums_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    return variant ? 0 : fused_make(in, args, dt, variant, size, false);
}
static int input_grad_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    return fused_make(in, args, dt, variant, size, true);
}

const struct ag_op_def ag__op_batch_norm_grad_sums = {
    .name = "batch_norm_grad_sums",
    .arity = 3,
    .shape = grad_sums_shape,
    .forward = grad_sums_forward,
    .backward = fused_grad_backward,
    .check = {.make = grad_sums_make, .no_grad = true},
};

const struct ag_op_def ag__op_batch_norm_input_grad = {
    .name = "batch_norm_input_grad",
    .arity = -1,
    .shape = input_grad_shape,
    .forward = input_grad_forward,
    .backward = fused_grad_backward,
    .check = {.make = input_grad_make, .no_grad = true},
};

/* batch_norm_eval_backward(g, x, mean, invstd[, w]) -> [numel + 2C] of x's dtype: dx
 * (x's elements in order, x's shape once reshaped), then dw = invstd sum g (x - mean),
 * then db = sum g: eval mode's whole backward in one pass over g and x. Sums in float64,
 * one channel per thread in a fixed order: the bits do not depend on the thread count. */
static int eval_grad_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                           const char *fn) {
    const struct bn_grad_args *a = args;
    if (n != 4 + a->has_w)
        return ag__error(AG_ERR_ARG, fn, "expects %d inputs, got %d", 4 + a->has_w, n);
    if (check_g_x(in, fn)) return ag__last_error_code();
    const ag_tensor *x = in[1];
    int64_t C = x->shape[1];
    if (check_c64(in[3], C, "invstd", fn)) return ag__last_error_code();
    if (a->has_w && (in[4]->dtype != x->dtype || in[4]->ndim != 1 || in[4]->shape[0] != C))
        return ag__error(AG_ERR_SHAPE, fn, "weight %s must be [%lld] for x %s", AG_SHAPE(in[4]),
                         (long long)C, AG_SHAPE(x));
    *m = (struct ag_meta){.dtype = x->dtype, .ndim = 1, .shape = {x->numel + 2 * C}};
    return AG_OK;
}

/* Channels [lo, hi), BN_GROUP at a time, their rows in memory order. */
static void eval_grad_channels(void *ctx, int64_t lo, int64_t hi, int tid) {
    (void)tid;
    const struct bn_grad_pass *pp = ctx;
    ag_tensor *const *in = pp->in;
    struct bn_dims d = pp->d;
    int64_t numel = pp->x->numel;
    for (int64_t c0 = lo; c0 < hi; c0 += BN_GROUP) {
        int64_t c1 = c0 + BN_GROUP < hi ? c0 + BN_GROUP : hi;
        struct bn_lanes L[BN_GROUP];
        double mean[BN_GROUP], p[BN_GROUP];
        memset(L, 0, sizeof L);
        for (int64_t c = c0; c < c1; c++) {
            mean[c - c0] = ag__get_flat(in[2], c);
            p[c - c0] = ag__get_flat(in[3], c) * (pp->a->has_w ? ag__get_flat(in[4], c) : 1.0);
        }
        for (int64_t i = 0; i < d.N; i++)
            for (int64_t c = c0; c < c1; c++)
                row_eval_grad(pp->out, pp->g, pp->x, row_at(d, i, c), d.S, mean[c - c0], p[c - c0],
                              &L[c - c0]);
        for (int64_t c = c0; c < c1; c++) {
            double s0, s1, s = ag__get_flat(in[3], c);
            bn_lanes_sums(&L[c - c0], &s0, &s1);
            if (pp->out->dtype == AG_F32) {
                float *o = (float *)ag__ptr(pp->out) + numel;
                o[c] = (float)(s1 * s), o[d.C + c] = (float)s0;
            } else {
                double *o = (double *)ag__ptr(pp->out) + numel;
                o[c] = s1 * s, o[d.C + c] = s0;
            }
        }
    }
}

static int eval_grad_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                             ag_tensor **saved) {
    (void)n, (void)saved;
    ag_tensor *g = dense(in[0]), *x = dense(in[1]);
    if (!g || !x) {
        release(g, in[0]), release(x, in[1]);
        return AG_ERR_NOMEM;
    }
    struct bn_grad_pass p = {.g = g, .x = x, .in = in, .out = out, .d = bn_dims_of(x), .a = args};
    bn_channels(x, p.d.C, eval_grad_channels, &p);
    release(g, in[0]), release(x, in[1]);
    return AG_OK;
}

/* variant 0: with a weight; variant 1: without. */
static int eval_grad_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    int n = fused_make(in, args, dt, 1, size, true);
    *(struct bn_grad_args *)args = (struct bn_grad_args){false, variant == 0};
    int64_t C = ag_shape(in[1])[1];
    if (variant == 0) in[4] = ag__check_input(dt, 1, &C, 0.5, 2);
    return n - 1 + (variant == 0);
}

const struct ag_op_def ag__op_batch_norm_eval_backward = {
    .name = "batch_norm_eval_backward",
    .arity = -1,
    .shape = eval_grad_shape,
    .forward = eval_grad_forward,
    .backward = fused_grad_backward,
    .check = {.make = eval_grad_make, .no_grad = true},
};

/* 1/sqrt(v + eps) with ops (differentiable). */
static ag_tensor *inv_std(ag_tensor *v, double eps) {
    ag_dtype dt = ag_dtype_of(v);
    return ag_div(ag_scalar(dt, 1.0), ag_sqrt(ag_add(v, ag_scalar(dt, eps))));
}

static int bn_backward_ops(struct ag_node *node, ag_tensor *g) {
    const struct bn_args *a = AG_ARGS(node, struct bn_args);
    ag_tensor *x = node->in[0];
    ag_dtype dt = x->dtype;
    int64_t cs[AG_MAX_DIMS], C = x->shape[1];
    for (int d = 0; d < x->ndim; d++) cs[d] = d == 1 ? C : 1;
    ag_tensor *inv_cnt = ag_scalar(dt, (double)C / (double)x->numel);
    ag_tensor *mean, *invstd;
    if (a->training) { /* statistics in float64 as forward (and torch): a constant
                            * float32 channel then has mean exactly its value, xhat 0 */
        ag_tensor *xs = ag_cast(x, AG_F64), *ic = ag_scalar(AG_F64, (double)C / (double)x->numel);
        mean = ag_mul(ag_sum_to(xs, x->ndim, cs), ic);
        ag_tensor *xc = ag_sub(xs, mean);
        invstd = ag_cast(inv_std(ag_mul(ag_sum_to(ag_mul(xc, xc), x->ndim, cs), ic), a->eps), dt);
        mean = ag_cast(mean, dt);
    } else {
        mean = ag_reshape(node->in[bn_stats(a)], x->ndim, cs);
        invstd = inv_std(ag_reshape(node->in[bn_stats(a) + 1], x->ndim, cs), a->eps);
    }
    ag_tensor *xhat = ag_mul(ag_sub(x, mean), invstd);
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) {
        ag_tensor *gw = a->has_w ? ag_mul(g, ag_reshape(node->in[bn_w(a)], x->ndim, cs)) : g;
        ag_tensor *dx;
        if (a->training) { /* invstd * (gw - mean(gw) - xhat * mean(gw * xhat)) */
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

/* Eval mode, dx and dw or db wanted: batch_norm_eval_backward's one pass, its output
 * sliced into the three gradients (views, no copies). */
static int bn_eval_backward(struct ag_node *node, ag_tensor *g, bool need_w, bool need_b) {
    const struct bn_args *a = AG_ARGS(node, struct bn_args);
    ag_tensor *x = node->in[0];
    int64_t C = x->shape[1], n = x->numel;
    struct bn_grad_args ga = {false, a->has_w};
    ag_tensor *in[5] = {g, x, node->saved[0], node->saved[1], a->has_w ? node->in[bn_w(a)] : NULL};
    ag_tensor *all = ag__apply(AG_OP_BATCH_NORM_EVAL_BACKWARD, 4 + a->has_w, in, &ga, sizeof ga);
    if (!all) return ag__last_error_code();
    int rc = ag__accumulate(node, 0, ag_reshape(ag_slice(all, 0, 0, n, 1), x->ndim, x->shape));
    if (!rc && need_w) rc = ag__accumulate(node, bn_w(a), ag_slice(all, 0, n, n + C, 1));
    if (!rc && need_b) rc = ag__accumulate(node, bn_b(a), ag_slice(all, 0, n + C, n + 2 * C, 1));
    return rc;
}

/* Two fused passes over x and g (batch_norm_grad_sums, batch_norm_input_grad) from the
 * saved float64 mean and invstd (eval: one, bn_eval_backward); with create_graph on, the
 * rule written with ops. */
static int bn_backward(struct ag_node *node, ag_tensor *g) {
    if (ag_is_grad_enabled()) return bn_backward_ops(node, g);
    const struct bn_args *a = AG_ARGS(node, struct bn_args);
    ag_tensor *x = node->in[0], *mean = node->saved[0], *invstd = node->saved[1];
    int64_t C = x->shape[1];
    bool need_x = ag__needs_grad(node, 0);
    bool need_w = a->has_w && ag__needs_grad(node, bn_w(a));
    bool need_b = a->has_b && ag__needs_grad(node, bn_b(a));
    if (!a->training && need_x && (need_w || need_b))
        return bn_eval_backward(node, g, need_w, need_b);
    ag_tensor *sums = NULL;
    if ((need_x && a->training) || need_w || need_b) {
        sums = ag__apply(AG_OP_BATCH_NORM_GRAD_SUMS, 3, (ag_tensor *const[]){g, x, mean}, NULL, 0);
        if (!sums) return ag__last_error_code();
    }
    int rc = AG_OK;
    if (need_x) {
        struct bn_grad_args ga = {a->training, a->has_w};
        ag_tensor *in[6] = {g, x, mean, invstd, sums, a->has_w ? node->in[bn_w(a)] : NULL};
        if (!sums)
            in[4] = ag__zeros_in(ag__current_arena(), AG_F64, 2, (int64_t[]){2, C}, "ag_backward");
        rc = ag__accumulate(
            node, 0, ag__apply(AG_OP_BATCH_NORM_INPUT_GRAD, 5 + a->has_w, in, &ga, sizeof ga));
        if (!sums) release(in[4], NULL);
    }
    if (!rc && need_w)
        rc = ag__accumulate(node, bn_w(a),
                            ag_mul(ag_reshape(ag_slice(sums, 0, 1, 2, 1), 1, &C), invstd));
    if (!rc && need_b)
        rc = ag__accumulate(node, bn_b(a), ag_reshape(ag_slice(sums, 0, 0, 1, 1), 1, &C));
    return rc;
}

/* variant 0: training on [3,2,2,3] (rows of 6) with weight and bias; variant 1: eval on a transposed
 * [2,3,6] (rows of 6: a vector block and a tail) with weight, bias and running stats (held
 * fixed). */
static int bn_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct bn_args *a = args;
    *a = (struct bn_args){.training = variant == 0 || size,
                          .has_w = true,
                          .has_b = true,
                          .eps = 1e-5,
                          .momentum = 0.1};
    int64_t C = size ? 32 : variant ? 3 : 2;
    if (size) { /* benchmark: 32 channels of 14x14, training mode */
        int64_t n = size / (32 * 14 * 14) > 1 ? size / (32 * 14 * 14) : 1;
        in[0] = ag__check_input(dt, 4, (int64_t[]){n, 32, 14, 14}, -2, 2);
        in[1] = ag__check_input(dt, 1, &C, 0.5, 2);
        in[2] = ag__check_input(dt, 1, &C, -1, 1);
        return 3;
    }
    if (variant == 0) {
        in[0] = ag__check_input(dt, 4, (int64_t[]){3, 2, 2, 3}, -2, 2);
    } else {
        ag_tensor *base = ag__check_input(dt, 3, (int64_t[]){2, 6, 3}, -2, 2);
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
    .name = "batch_norm",
    .arity = -1,
    .shape = bn_shape,
    .forward = bn_forward,
    .backward = bn_backward,
    .check = {.make = bn_make},
};

static int check_stat(const ag_tensor *t, const ag_tensor *x, const char *what) {
    if (t->dtype == x->dtype && t->ndim == 1 && t->shape[0] == x->shape[1] && ag_is_contiguous(t))
        return AG_OK;
    return ag__error(AG_ERR_SHAPE, "ag_batch_norm",
                     "%s %s %s must be a contiguous %s [%lld] for x %s", what,
                     ag_dtype_name(t->dtype), AG_SHAPE(t), ag_dtype_name(x->dtype),
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
    if (running_mean &&
        (check_stat(running_mean, x, "running_mean") || check_stat(running_var, x, "running_var")))
        return NULL;
    struct bn_args a = {training,
                        weight != NULL,
                        bias != NULL,
                        eps,
                        momentum,
                        training ? running_mean : NULL,
                        training ? running_var : NULL};
    ag_tensor *in[5] = {x};
    int n = 1;
    if (weight) in[n++] = weight;
    if (bias) in[n++] = bias;
    if (!training) in[n++] = running_mean, in[n++] = running_var;
    return ag__apply(AG_OP_BATCH_NORM, n, in, &a, sizeof a);
}
