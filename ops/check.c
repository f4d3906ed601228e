/* Inputs for the table-driven tests and the benchmark: the generic maker and the helpers
 * that op families' own makers share. */
#include "ops/ops.h"

#include <math.h>

ag_tensor *ag__check_input(ag_dtype dtype, int ndim, const int64_t *shape, double lo, double hi) {
    ag_tensor *t = ag_rand(dtype, ndim, shape);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) {
        double u = ag__get_flat(t, i) * (hi - lo) + lo;
        if (dtype == AG_F32) ((float *)t->storage->data)[i] = (float)u;
        else ((double *)t->storage->data)[i] = u;
    }
    ag_set_requires_grad(t, true);
    return t;
}

int ag__check_make(const struct ag_op_def *def, ag_tensor **in, void *args, ag_dtype dtype,
                   int variant, int64_t size) {
    const struct ag_op_check *c = &def->check;
    if (c->make) return c->make(in, args, dtype, variant, size);
    if (def->arity < 1) return 0;
    if (c->args_size) memcpy(args, c->args, c->args_size);
    double lo = c->lo, hi = c->hi;
    if (lo == 0 && hi == 0) lo = -2, hi = 2;
    for (int i = 0; i < def->arity; i++) {
        if (size > 0 && c->args_size) { /* args are written for the 2-D [3,4] case */
            int64_t r = (int64_t)sqrt((double)size), shape[2] = {r, size / (r ? r : 1)};
            in[i] = ag__check_input(dtype, 2, shape, lo, hi);
        } else if (size > 0) {
            in[i] = ag__check_input(dtype, 1, &size, lo, hi);
        } else if (variant == 1 && i == 0) { /* a transposed view of [4,3] */
            ag_tensor *base = ag__check_input(dtype, 2, (int64_t[]){4, 3}, lo, hi);
            bool prev = ag_set_grad_enabled(false);
            in[i] = ag_transpose(base, 0, 1);
            ag_set_grad_enabled(prev);
            if (in[i]) ag_set_requires_grad(in[i], true);
        } else if (variant == 1) { /* broadcast along the first dim */
            in[i] = ag__check_input(dtype, 1, (int64_t[]){4}, lo, hi);
        } else {
            in[i] = ag__check_input(dtype, 2, (int64_t[]){3, 4}, lo, hi);
        }
        if (!in[i]) return -1;
    }
    return def->arity;
}

/* Values of t within w of k moved w away from it. */
static void push_away(ag_tensor *t, double k, double w) {
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t off = ag__flat_offset(t, i);
        double v = ag__get_flat(t, i);
        if (fabs(v - k) >= w) continue;
        v = v < k ? v - w : v + w;
        if (t->dtype == AG_F32) ((float *)t->storage->data)[off] = (float)v;
        else ((double *)t->storage->data)[off] = v;
    }
}
int ag__check_make_away(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size,
                        int arity, const double *kinks, int nk) {
    struct ag_op_def d = {.arity = arity, .check = {.lo = -2, .hi = 2}};
    int n = ag__check_make(&d, in, args, dtype, variant, size);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nk; k++) push_away(in[i], kinks[k], 0.25);
    return n;
}

ag_tensor *ag__check_transposed(ag_tensor *t) {
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *v = ag_transpose(t, 0, 1);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(v, true);
    return v;
}

int64_t ag__check_bench_cols(int64_t size) {
    return size / AG_CHECK_BENCH_ROWS > 6 ? size / AG_CHECK_BENCH_ROWS : 6;
}
