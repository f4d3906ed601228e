/* softmax and log_softmax over any dim: max-shifted log-sum-exp, stable at any |x|;
 * contiguous lines through the vector row kernels (ops/kernels/vmath.h). */
#include "ops/iter.h"
#include "ops/kernels/vmath.h"
#include "runtime/parallel.h"

#include <math.h>

struct softmax_args {
    int dim; /* normalized; 0 for a 0-d tensor */
};

/* Lines along dim: count, length, and the storage offset of line L's first element. */
struct lines {
    int64_t count, len, stride; /* stride: along dim, in elements */
    int nd;
    int64_t shape[AG_MAX_DIMS], strides[AG_MAX_DIMS], offset;
};

static void lines_init(struct lines *l, const ag_tensor *t, int dim) {
    l->nd = 0;
    l->count = 1;
    l->len = t->ndim ? t->shape[dim] : 1;
    l->stride = t->ndim ? t->strides[dim] : 1;
    l->offset = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        if (d == dim) continue;
        l->shape[l->nd] = t->shape[d];
        l->strides[l->nd++] = t->strides[d];
        l->count *= t->shape[d];
    }
}

static int64_t line_start(const struct lines *l, int64_t i) {
    int64_t off = l->offset;
    for (int d = l->nd - 1; d >= 0; d--) {
        off += (i % l->shape[d]) * l->strides[d];
        i /= l->shape[d];
    }
    return off;
}

/* One line: y = softmax(x) or log_softmax(x), in double. */
#define SOFTMAX_LINE(name, T)                                                                  \
    static void name(T *y, int64_t sy, const T *x, int64_t sx, int64_t n, bool log_) {         \
        double m = -INFINITY;                                                                  \
        for (int64_t k = 0; k < n; k++)                                                        \
            if (x[k * sx] > m || isnan((double)x[k * sx])) m = x[k * sx];                      \
        double s = 0;                                                                          \
        for (int64_t k = 0; k < n; k++) s += exp((double)x[k * sx] - m);                       \
        if (log_) {                                                                            \
            double lse = m + log(s);                                                           \
            for (int64_t k = 0; k < n; k++) y[k * sy] = (T)((double)x[k * sx] - lse);          \
        } else {                                                                               \
            double inv = 1.0 / s;                                                              \
            for (int64_t k = 0; k < n; k++) y[k * sy] = (T)(exp((double)x[k * sx] - m) * inv); \
        }                                                                                      \
    }
SOFTMAX_LINE(softmax_line_f32, float)
SOFTMAX_LINE(softmax_line_f64, double)

/* A contiguous line through the vector kernels: m = max, y = exp(x - m) with its sum s,
 * then y *= 1/s, or y = (x - m) - log(s) (torch's order). Same NaN/inf behaviour as above. */
static void softmax_line_vm_f32(float *y, const float *x, int64_t n, bool log_) {
    float m = ag__vm_max_f32(x, n);
    double s = ag__vm_exp_sum_f32(y, x, n, m);
    if (log_) ag__vm_shift_scale_f32(y, x, n, m, 1.0f, (float)-log(s));
    else ag__vm_shift_scale_f32(y, y, n, 0.0f, (float)(1.0 / s), 0.0f);
}
static void softmax_line_vm_f64(double *y, const double *x, int64_t n, bool log_) {
    double m = ag__vm_max_f64(x, n);
    double s = ag__vm_exp_sum_f64(y, x, n, m);
    if (log_) ag__vm_shift_scale_f64(y, x, n, m, 1.0, -log(s));
    else ag__vm_shift_scale_f64(y, y, n, 0.0, 1.0 / s, 0.0);
}

struct softmax_job {
    ag_tensor *out;
    const ag_tensor *x;
    struct lines lx, ly;
    bool log_;
};

static void softmax_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct softmax_job *j = ctx;
    ag_tensor *out = j->out;
    const ag_tensor *x = j->x;
    const struct lines lx = j->lx, ly = j->ly;
    bool log_ = j->log_;
    (void)tid;
    for (int64_t i = lo; i < hi; i++) {
        int64_t ox = line_start(&lx, i), oy = line_start(&ly, i);
        if (lx.stride == 1 && ly.stride == 1 && lx.len >= 16) {
            if (x->dtype == AG_F32)
                softmax_line_vm_f32((float *)out->storage->data + oy,
                                    (const float *)x->storage->data + ox, lx.len, log_);
            else
                softmax_line_vm_f64((double *)out->storage->data + oy,
                                    (const double *)x->storage->data + ox, lx.len, log_);
        } else if (x->dtype == AG_F32)
            softmax_line_f32((float *)out->storage->data + oy, ly.stride,
                             (const float *)x->storage->data + ox, lx.stride, lx.len, log_);
        else
            softmax_line_f64((double *)out->storage->data + oy, ly.stride,
                             (const double *)x->storage->data + ox, lx.stride, lx.len, log_);
    }
}

static void softmax_run(ag_tensor *out, const ag_tensor *x, int dim, bool log_) {
    struct softmax_job j = {.out = out, .x = x, .log_ = log_};
    lines_init(&j.lx, x, dim);
    lines_init(&j.ly, out, dim);
    ag__parallel_for(j.lx.count, 1, (double)j.lx.len, 1 << 15, softmax_range, &j);
}

static int softmax_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                           ag_tensor **saved) {
    (void)n, (void)saved;
    softmax_run(out, in[0], ((const struct softmax_args *)args)->dim, false);
    return AG_OK;
}
static int log_softmax_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                               ag_tensor **saved) {
    (void)n, (void)saved;
    softmax_run(out, in[0], ((const struct softmax_args *)args)->dim, true);
    return AG_OK;
}

/* y = softmax(x): dx = y (g - sum(g y)). */
static int softmax_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *y = node->out;
    int dim = AG_ARGS(node, struct softmax_args)->dim;
    ag_tensor *gy = ag_mul(g, y);
    return ag__accumulate(node, 0, ag_sub(gy, ag_mul(y, ag_sum_dim(gy, dim, true))));
}
/* y = log_softmax(x): dx = g - exp(y) sum(g). */
static int log_softmax_backward(struct ag_node *node, ag_tensor *g) {
    int dim = AG_ARGS(node, struct softmax_args)->dim;
    return ag__accumulate(node, 0, ag_sub(g, ag_mul(ag_exp(node->out), ag_sum_dim(g, dim, true))));
}

static int softmax_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    struct softmax_args *a = args;
    if (size > 0) {
        a->dim = 1;
        in[0] = ag__check_input(dtype, 2, (int64_t[]){size / 1000 + 1, 1000}, -3, 3);
    } else if (variant == 0) {
        a->dim = 1;
        in[0] = ag__check_input(dtype, 3, (int64_t[]){2, 3, 4}, -3, 3);
    } else {
        a->dim = 1;
        ag_tensor *base = ag__check_input(dtype, 2, (int64_t[]){4, 3}, -3, 3);
        bool prev = ag_set_grad_enabled(false);
        in[0] = ag_transpose(base, 0, 1);
        ag_set_grad_enabled(prev);
        if (in[0]) ag_set_requires_grad(in[0], true);
    }
    return in[0] ? 1 : -1;
}

const struct ag_op_def ag__op_softmax = {
    .name = "softmax",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .check = {.make = softmax_make, .flops_per_elem = 25},
};
const struct ag_op_def ag__op_log_softmax = {
    .name = "log_softmax",
    .arity = 1,
    .shape = ag__shape_same,
    .forward = log_softmax_forward,
    .backward = log_softmax_backward,
    .check = {.make = softmax_make, .flops_per_elem = 25},
};

static ag_tensor *softmax_op(enum ag_op_id op, ag_tensor *t, int dim) {
    if (!t) return NULL;
    struct softmax_args a = {ag__norm_dim(dim, t->ndim, ag__op_fnames[op])};
    if (a.dim < 0) return NULL;
    return AG_APPLY_ARGS(op, 1, (ag_tensor *const[]){t}, a);
}

/* exp(x) / sum(exp(x)) along dim (negative counts from the end); shape of t. */
ag_tensor *ag_softmax(ag_tensor *t, int dim) { return softmax_op(AG_OP_SOFTMAX, t, dim); }
/* x - logsumexp(x) along dim; shape of t. */
ag_tensor *ag_log_softmax(ag_tensor *t, int dim) { return softmax_op(AG_OP_LOG_SOFTMAX, t, dim); }
