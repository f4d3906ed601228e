/* Scans along one dim: cumsum, torch.cumsum's semantics (sums in double, as torch's CPU
 * kernel). The op has a `reverse` flag: the gradient of a forward cumsum is the reverse
 * cumsum of the gradient and vice versa, so the backward is the op itself and is
 * differentiable any number of times. x is seen as [outer, len, inner]; each outer block
 * runs on one thread in a fixed order: results do not depend on the thread count. */
#include "ops/ops.h"
#include "runtime/parallel.h"

struct scan_args {
    int dim;
    bool reverse; /* out[i] = sum over j >= i instead of j <= i */
};

static int scan_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                      const char *fn) {
    const struct scan_args *a = args;
    if (ag__shape_same(m, in, n, args, fn)) return ag__last_error_code();
    if (a->dim < 0 || a->dim >= (in[0]->ndim ? in[0]->ndim : 1))
        return ag__error(AG_ERR_DIM, fn, "dim %d is out of range for %s", a->dim, AG_SHAPE(in[0]));
    return AG_OK;
}

#define DEF_SCAN(T, name)                                                              \
    static void name(T *restrict out, const T *restrict x, int64_t len, int64_t inner, \
                     bool reverse, double *restrict acc) {                             \
        for (int64_t k = 0; k < inner; k++) acc[k] = 0;                                \
        for (int64_t s = 0; s < len; s++) {                                            \
            int64_t i = reverse ? len - 1 - s : s;                                     \
            for (int64_t k = 0; k < inner; k++) {                                      \
                acc[k] += x[i * inner + k];                                            \
                out[i * inner + k] = (T)acc[k];                                        \
            }                                                                          \
        }                                                                              \
    }
DEF_SCAN(float, scan_f32)
DEF_SCAN(double, scan_f64)

/* One scan shared out over the outer index by ag__parallel_for. */
struct scan_job {
    ag_tensor *out;
    const ag_tensor *x;
    const struct scan_args *a;
    int64_t len, inner;
    int rc; /* AG_ERR_NOMEM when an accumulator could not be had */
};

static void scan_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    struct scan_job *j = ctx;
    int64_t len = j->len, inner = j->inner;
    double *acc = malloc(sizeof(double) * (size_t)(inner ? inner : 1));
    (void)tid;
    if (!acc) {
        __atomic_store_n(&j->rc, AG_ERR_NOMEM, __ATOMIC_RELAXED);
        return;
    }
    for (int64_t o = lo; o < hi; o++) {
        if (j->out->dtype == AG_F32)
            scan_f32((float *)ag__ptr(j->out) + o * len * inner,
                     (const float *)ag__ptr(j->x) + o * len * inner, len, inner, j->a->reverse,
                     acc);
        else
            scan_f64((double *)ag__ptr(j->out) + o * len * inner,
                     (const double *)ag__ptr(j->x) + o * len * inner, len, inner, j->a->reverse,
                     acc);
    }
    free(acc);
}

static int scan_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n, (void)saved;
    const struct scan_args *a = args;
    ag_tensor *x = in[0];
    if (!ag_is_contiguous(x)) {
        bool prev = ag_set_grad_enabled(false);
        x = ag_contiguous(x);
        ag_set_grad_enabled(prev);
        if (!x) return AG_ERR_NOMEM;
    }
    int64_t outer = 1, inner = 1, len = x->ndim ? x->shape[a->dim] : 1;
    for (int d = 0; d < a->dim; d++) outer *= x->shape[d];
    for (int d = a->dim + 1; d < x->ndim; d++) inner *= x->shape[d];
    struct scan_job j = {out, x, a, len, inner, AG_OK};
    ag__parallel_for(outer, 1, (double)(len * inner), 1 << 16, scan_range, &j);
    int rc = j.rc;
    if (x != in[0] && !x->arena) ag_tensor_free(x);
    return rc ? ag__error(rc, "ag_cumsum", "out of memory (x %s)", AG_SHAPE(in[0])) : AG_OK;
}

static int scan_backward(struct ag_node *node, ag_tensor *g) {
    struct scan_args a = *AG_ARGS(node, struct scan_args);
    a.reverse = !a.reverse;
    return ag__accumulate(node, 0, AG_APPLY_ARGS(AG_OP_CUMSUM, 1, (ag_tensor *const[]){g}, a));
}

/* variant 0: [3,4,2] along dim 1; variant 1: a transposed [4,3] along dim 0, reversed. */
static int scan_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct scan_args *a = args;
    if (size) {
        *a = (struct scan_args){.dim = 1};
        in[0] = ag__check_input(dt, 2, (int64_t[]){64, size / 64 > 1 ? size / 64 : 1}, -2, 2);
        return 1;
    }
    if (variant == 0) {
        *a = (struct scan_args){.dim = 1};
        in[0] = ag__check_input(dt, 3, (int64_t[]){3, 4, 2}, -2, 2);
        return 1;
    }
    *a = (struct scan_args){.dim = 0, .reverse = true};
    ag_tensor *base = ag__check_input(dt, 2, (int64_t[]){3, 4}, -2, 2);
    bool prev = ag_set_grad_enabled(false);
    in[0] = ag_transpose(base, 0, 1);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(in[0], true);
    return 1;
}

const struct ag_op_def ag__op_cumsum = {
    .name = "cumsum",
    .arity = 1,
    .shape = scan_shape,
    .forward = scan_forward,
    .backward = scan_backward,
    .check = {.make = scan_make},
};

ag_tensor *ag_cumsum(ag_tensor *x, int dim) {
    if (!x) return NULL;
    int d = ag__norm_dim(dim, x->ndim, "ag_cumsum");
    if (d < 0) return NULL;
    struct scan_args a = {.dim = d};
    return AG_APPLY_ARGS(AG_OP_CUMSUM, 1, (ag_tensor *const[]){x}, a);
}
