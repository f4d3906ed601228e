/* Layer normalization over the trailing dims, torch.nn.functional.layer_norm's semantics:
 *   layer_norm(x, [w], [b])      y = (x - mean) * rstd * w + b, rows of M = prod(normalized
 *                                shape) elements; saves mean and rstd [R] (R = numel / M)
 *   layer_norm_backward(g, x, mean, rstd, [w])     [R + 2, M]: rows 0..R-1 dx, then
 *                                                  dw = sum over rows of g * xhat and
 *                                                  db = sum over rows of g, in one pass
 * Each row is done by one thread (its sums in a fixed order) and dw, db add fixed chunks
 * of rows in order, so results do not depend on the thread count.
 * Backward without create_graph runs the fused ops above. With create_graph (grad mode on
 * during the walk) the same gradients are written with public ops, recomputing the
 * statistics from x, so they are differentiable again; the fused backward ops themselves
 * are never recorded and say so if asked for a derivative. */
#include "ops/norm_rows.h"
#include "runtime/parallel.h"

#include <math.h>

struct ln_args {
    int64_t M;         /* elements per normalized row */
    int nd;            /* normalized dims (the trailing nd dims of x) */
    bool has_w, has_b; /* layer_norm: weight and bias present (inputs 1 and 1 + has_w) */
    double eps;
};

/* Forward rows go in blocks: the statistics of a block first, so the square roots and
 * divisions of its rows overlap instead of each stalling its own row's output pass. */
#define LN_ROW_BLOCK 8

/* ------------------------------------------------------------------ helpers */
/* t itself when contiguous, else a contiguous copy made without recording. */
static ag_tensor *dense(ag_tensor *t) {
    if (!t || ag_is_contiguous(t)) return t;
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *c = ag_contiguous(t);
    ag_set_grad_enabled(prev);
    return c;
}
static void release(ag_tensor *c, const ag_tensor *t) {
    if (c && c != t && !c->arena) ag_tensor_free(c);
}

static int check_float(const ag_tensor *t, const char *what, const char *fn) {
    if (!ag__is_float(t->dtype))
        return ag__error(AG_ERR_DTYPE, fn, "%s must be float32 or float64, got %s %s", what,
                         ag_dtype_name(t->dtype), AG_SHAPE(t));
    return AG_OK;
}

/* t must have x's dtype and the shape of x's trailing a->nd dims. */
static int check_trailing(const ag_tensor *t, const ag_tensor *x, const struct ln_args *a,
                          const char *what, const char *fn) {
    bool ok = t->dtype == x->dtype && t->ndim == a->nd && a->nd <= x->ndim;
    for (int d = 0; ok && d < a->nd; d++) ok = t->shape[d] == x->shape[x->ndim - a->nd + d];
    if (!ok)
        return ag__error(AG_ERR_SHAPE, fn, "%s %s %s must be %s with the last %d dims of x %s",
                         what, ag_dtype_name(t->dtype), AG_SHAPE(t), ag_dtype_name(x->dtype), a->nd,
                         AG_SHAPE(x));
    return AG_OK;
}

/* A row-statistics tensor [R] of x's dtype. */
static int check_stats(const ag_tensor *t, const ag_tensor *x, int64_t R, const char *what,
                       const char *fn) {
    if (t->dtype != x->dtype || t->ndim != 1 || t->shape[0] != R)
        return ag__error(AG_ERR_SHAPE, fn, "%s %s %s must be %s [%lld] for x %s", what,
                         ag_dtype_name(t->dtype), AG_SHAPE(t), ag_dtype_name(x->dtype),
                         (long long)R, AG_SHAPE(x));
    return AG_OK;
}

static int64_t rows_of(const ag_tensor *x, const struct ln_args *a) {
    return a->M ? x->numel / a->M : 0;
}

/* ------------------------------------------------------------------ layer_norm */
static int ln_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                    const char *fn) {
    const struct ln_args *a = args;
    const ag_tensor *x = in[0];
    if (n != 1 + a->has_w + a->has_b)
        return ag__error(AG_ERR_ARG, fn, "expects %d inputs, got %d", 1 + a->has_w + a->has_b, n);
    if (check_float(x, "x", fn)) return ag__last_error_code();
    if (a->nd < 1 || a->nd > x->ndim)
        return ag__error(AG_ERR_SHAPE, fn, "cannot normalize the last %d dims of x %s", a->nd,
                         AG_SHAPE(x));
    for (int i = 1; i < n; i++)
        if (check_trailing(in[i], x, a, i == 1 && a->has_w ? "weight" : "bias", fn))
            return ag__last_error_code();
    return ag__shape_same(m, in, 1, NULL, fn);
}

/* A layer_norm (or its backward) shared out by ag__parallel_for over row blocks (backward:
 * chunks of LNW_ROWS rows, each with its own partial dw, db). */
struct ln_job {
    ag_tensor *out;
    const ag_tensor *x, *w, *b, *mean, *rstd, *g;
    const struct ln_args *a;
    int64_t R, M;
    double *part;
};

LN_INLINE void ln_range_rows(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct ln_job *j = ctx;
    const ag_tensor *x = j->x, *w = j->w, *b = j->b, *mean = j->mean, *rstd = j->rstd;
    ag_tensor *out = j->out;
    const struct ln_args *a = j->a;
    int64_t R = j->R, M = j->M;
    bool f32 = out->dtype == AG_F32;
    (void)tid;
    for (int64_t bk = lo; bk < hi; bk++) {
        int64_t r0 = bk * LN_ROW_BLOCK, r1 = r0 + LN_ROW_BLOCK < R ? r0 + LN_ROW_BLOCK : R;
        if (f32) {
            float *mu = ag__ptr(mean), *rs = ag__ptr(rstd);
            const float *xp = ag__ptr(x);
            for (int64_t r = r0; r < r1; r++) ln_stats_f32(xp + r * M, M, a->eps, mu + r, rs + r);
            for (int64_t r = r0; r < r1; r++)
                ln_forward_f32((float *)ag__ptr(out) + r * M, xp + r * M, M, mu[r], rs[r],
                               w ? ag__ptr(w) : NULL, b ? ag__ptr(b) : NULL);
        } else {
            double *mu = ag__ptr(mean), *rs = ag__ptr(rstd);
            const double *xp = ag__ptr(x);
            for (int64_t r = r0; r < r1; r++) ln_stats_f64(xp + r * M, M, a->eps, mu + r, rs + r);
            for (int64_t r = r0; r < r1; r++)
                ln_forward_f64((double *)ag__ptr(out) + r * M, xp + r * M, M, mu[r], rs[r],
                               w ? ag__ptr(w) : NULL, b ? ag__ptr(b) : NULL);
        }
    }
}
/* ln_range_rows compiled for AVX2 and for the baseline (ln_avx2 picks). */
LN_AVX2 static void ln_range_avx2(void *ctx, int64_t lo, int64_t hi, int tid) {
    ln_range_rows(ctx, lo, hi, tid);
}
static void ln_range_base(void *ctx, int64_t lo, int64_t hi, int tid) {
    ln_range_rows(ctx, lo, hi, tid);
}

static int ln_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n;
    const struct ln_args *a = args;
    ag_tensor *x = dense(in[0]), *w = a->has_w ? dense(in[1]) : NULL,
              *b = a->has_b ? dense(in[1 + a->has_w]) : NULL;
    int64_t R = rows_of(in[0], a), M = a->M;
    ag_tensor *mean = ag__empty(out->dtype, 1, &R, "ag_layer_norm"),
              *rstd = ag__empty(out->dtype, 1, &R, "ag_layer_norm");
    int rc = AG_ERR_NOMEM;
    if (x && mean && rstd && (!a->has_w || w) && (!a->has_b || b)) {
        int64_t blocks = (R + LN_ROW_BLOCK - 1) / LN_ROW_BLOCK;
        struct ln_job j = {out, x, w, b, mean, rstd, NULL, a, R, M, NULL};
        ag__parallel_for(blocks, 1, (double)(LN_ROW_BLOCK * M), 1 << 15,
                         ln_avx2() ? ln_range_avx2 : ln_range_base, &j);
        saved[0] = mean, saved[1] = rstd;
        rc = AG_OK;
    }
    release(x, in[0]), release(w, a->has_w ? in[1] : NULL),
        release(b, a->has_b ? in[1 + a->has_w] : NULL);
    if (rc) release(mean, NULL), release(rstd, NULL);
    return rc;
}

/* x viewed as [R, M] (a copy if x's layout needs one). */
static ag_tensor *as_rows(ag_tensor *t, int64_t R, int64_t M) {
    return ag_reshape(t, 2, (int64_t[]){R, M});
}

/* The gradients with public ops, statistics recomputed from x: differentiable again. */
static int ln_backward_composite(struct ag_node *node, ag_tensor *g) {
    const struct ln_args *a = AG_ARGS(node, struct ln_args);
    ag_tensor *x = node->in[0], *w = a->has_w ? node->in[1] : NULL;
    int64_t M = a->M, R = rows_of(x, a);
    ag_tensor *xr = as_rows(x, R, M), *gr = as_rows(g, R, M);
    ag_tensor *xc = ag_sub(xr, ag_mean_dim(xr, 1, true));
    ag_tensor *var = ag_mean_dim(ag_mul(xc, xc), 1, true);
    ag_tensor *rstd = ag_pow(ag_add_scalar(var, a->eps), -0.5), *xhat = ag_mul(xc, rstd);
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) {
        ag_tensor *gw = w ? ag_mul(gr, ag_reshape(w, 1, &M)) : gr;
        ag_tensor *inner = ag_sub(ag_sub(gw, ag_mean_dim(gw, 1, true)),
                                  ag_mul(xhat, ag_mean_dim(ag_mul(gw, xhat), 1, true)));
        rc = ag__accumulate(node, 0, ag_reshape(ag_mul(rstd, inner), x->ndim, x->shape));
    }
    if (!rc && a->has_w && ag__needs_grad(node, 1))
        rc = ag__accumulate(node, 1,
                            ag_reshape(ag_sum_dim(ag_mul(gr, xhat), 0, false), w->ndim, w->shape));
    int ib = 1 + a->has_w;
    if (!rc && a->has_b && ag__needs_grad(node, ib))
        rc = ag__accumulate(
            node, ib,
            ag_reshape(ag_sum_dim(gr, 0, false), node->in[ib]->ndim, node->in[ib]->shape));
    return rc;
}

static int ln_backward(struct ag_node *node, ag_tensor *g) {
    if (ag_is_grad_enabled()) return ln_backward_composite(node, g);
    const struct ln_args *a = AG_ARGS(node, struct ln_args);
    ag_tensor *x = node->in[0], *w = a->has_w ? node->in[1] : NULL;
    ag_tensor *mean = node->saved[0], *rstd = node->saved[1];
    struct ln_args ba = {.M = a->M, .nd = a->nd, .has_w = a->has_w};
    int ib = 1 + a->has_w;
    bool dx = ag__needs_grad(node, 0), dw = a->has_w && ag__needs_grad(node, 1),
         db = a->has_b && ag__needs_grad(node, ib);
    ag_tensor *const in[] = {g, x, mean, rstd, w};
    ag_tensor *all = ag__apply(AG_OP_LAYER_NORM_BACKWARD, 4 + a->has_w, in, &ba, sizeof ba);
    int64_t R = rows_of(x, a);
    int rc = all ? AG_OK : ag__last_error_code();
    if (!rc && dx)
        rc = ag__accumulate(node, 0, ag_reshape(ag_slice(all, 0, 0, R, 1), x->ndim, x->shape));
    if (!rc && dw)
        rc = ag__accumulate(node, 1, ag_reshape(ag_slice(all, 0, R, R + 1, 1), w->ndim, w->shape));
    ag_tensor *b = db ? node->in[ib] : NULL;
    if (!rc && db)
        rc = ag__accumulate(node, ib,
                            ag_reshape(ag_slice(all, 0, R + 1, R + 2, 1), b->ndim, b->shape));
    return rc;
}

/* variant 0: x [3,2,5] over its last dim with weight and bias; variant 1: a transposed
 * x [4,3,5]->... over its last 2 dims, weight only. Benchmark: rows of 64 (a GPT's d). */
static int ln_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct ln_args *a = args;
    if (size) {
        *a = (struct ln_args){.M = 64, .nd = 1, .has_w = true, .has_b = true, .eps = 1e-5};
        in[0] = ag__check_input(dt, 2, (int64_t[]){size / 64 > 1 ? size / 64 : 1, 64}, -2, 2);
        in[1] = ag__check_input(dt, 1, (int64_t[]){64}, 0.5, 1.5);
        in[2] = ag__check_input(dt, 1, (int64_t[]){64}, -1, 1);
        return 3;
    }
    if (variant == 0) {
        *a = (struct ln_args){.M = 5, .nd = 1, .has_w = true, .has_b = true, .eps = 1e-5};
        in[0] = ag__check_input(dt, 3, (int64_t[]){3, 2, 5}, -2, 2);
        in[1] = ag__check_input(dt, 1, (int64_t[]){5}, 0.5, 1.5);
        in[2] = ag__check_input(dt, 1, (int64_t[]){5}, -1, 1);
        return 3;
    }
    *a = (struct ln_args){.M = 12, .nd = 2, .has_w = true, .eps = 1e-3};
    ag_tensor *base = ag__check_input(dt, 3, (int64_t[]){2, 4, 3}, -2, 2);
    bool prev = ag_set_grad_enabled(false);
    in[0] = ag_transpose(base, 1, 2); /* [2,3,4], not contiguous */
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(in[0], true);
    in[1] = ag__check_input(dt, 2, (int64_t[]){3, 4}, 0.5, 1.5);
    return 2;
}

const struct ag_op_def ag__op_layer_norm = {
    .name = "layer_norm",
    .arity = -1,
    .shape = ln_shape,
    .forward = ln_forward,
    .backward = ln_backward,
    .check = {.make = ln_make, .flops_per_elem = 8},
};

/* ------------------------------------------------------------------ layer_norm_backward */
static int lnb_shape_common(ag_tensor *const *in, int n, const struct ln_args *a, int want,
                            const char *fn) {
    if (n != want) return ag__error(AG_ERR_ARG, fn, "expects %d inputs, got %d", want, n);
    const ag_tensor *g = in[0], *x = in[1];
    if (check_float(x, "x", fn)) return ag__last_error_code();
    if (a->M < 1 || x->numel % a->M)
        return ag__error(AG_ERR_SHAPE, fn, "x %s does not split into rows of %lld", AG_SHAPE(x),
                         (long long)a->M);
    bool same = g->dtype == x->dtype && g->ndim == x->ndim;
    for (int d = 0; same && d < x->ndim; d++) same = g->shape[d] == x->shape[d];
    if (!same)
        return ag__error(AG_ERR_SHAPE, fn, "grad_output %s %s must match x %s %s",
                         ag_dtype_name(g->dtype), AG_SHAPE(g), ag_dtype_name(x->dtype),
                         AG_SHAPE(x));
    int64_t R = rows_of(x, a);
    if (check_stats(in[2], x, R, "mean", fn) || check_stats(in[3], x, R, "rstd", fn))
        return ag__last_error_code();
    return AG_OK;
}

static int lnb_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                     const char *fn) {
    const struct ln_args *a = args;
    if (lnb_shape_common(in, n, a, 4 + a->has_w, fn)) return ag__last_error_code();
    if (a->has_w && (in[4]->dtype != in[1]->dtype || in[4]->numel != a->M))
        return ag__error(AG_ERR_SHAPE, fn, "weight %s %s must have %lld %s elements",
                         ag_dtype_name(in[4]->dtype), AG_SHAPE(in[4]), (long long)a->M,
                         ag_dtype_name(in[1]->dtype));
    *m = (struct ag_meta){in[1]->dtype, 2, {rows_of(in[1], a) + 2, a->M}};
    return AG_OK;
}

#define LNW_ROWS \
    256 /* rows per dw/db partial sum: fixed, so the order does not depend on threads */
_Static_assert(LNW_ROWS % LN_ROW_BLOCK == 0, "row blocks must not straddle partial sums");

/* acc[j] += g * (x - mean) * rstd and acc[M + j] += g over row r, in double. */
LN_INLINE void param_rows(double *restrict acc, const ag_tensor *g, const ag_tensor *x,
                          const ag_tensor *mean, const ag_tensor *rstd, int64_t M, int64_t r) {
    if (x->dtype == AG_F32) {
        const float *gr = (const float *)ag__ptr(g) + r * M,
                    *xr = (const float *)ag__ptr(x) + r * M;
        float mu = ((const float *)ag__ptr(mean))[r], rs = ((const float *)ag__ptr(rstd))[r];
#pragma omp simd
        for (int64_t j = 0; j < M; j++) acc[j] += (double)(gr[j] * ((xr[j] - mu) * rs));
#pragma omp simd
        for (int64_t j = 0; j < M; j++) acc[M + j] += (double)gr[j];
    } else {
        const double *gr = (const double *)ag__ptr(g) + r * M,
                     *xr = (const double *)ag__ptr(x) + r * M;
        double mu = ((const double *)ag__ptr(mean))[r], rs = ((const double *)ag__ptr(rstd))[r];
#pragma omp simd
        for (int64_t j = 0; j < M; j++) acc[j] += gr[j] * ((xr[j] - mu) * rs);
#pragma omp simd
        for (int64_t j = 0; j < M; j++) acc[M + j] += gr[j];
    }
}

/* dx of rows [r0, r1) (at most LN_ROW_BLOCK) into out: the sums of every row first, so
 * their divisions overlap. */
#define DEF_DX_ROWS(T, name, sums, outf)                                                          \
    LN_INLINE void name(T *out, const T *g, const T *x, const T *mean, const T *rstd, const T *w, \
                        int64_t M, int64_t r0, int64_t r1) {                                      \
        T m1[LN_ROW_BLOCK], m2[LN_ROW_BLOCK];                                                     \
        for (int64_t r = r0; r < r1; r++)                                                         \
            sums(g + r * M, x + r * M, M, mean[r], rstd[r], w, &m1[r - r0], &m2[r - r0]);         \
        for (int64_t r = r0; r < r1; r++)                                                         \
            outf(out + r * M, g + r * M, x + r * M, M, mean[r], rstd[r], w, m1[r - r0],           \
                 m2[r - r0]);                                                                     \
    }
DEF_DX_ROWS(float, dx_rows_f32, ln_dx_sums_f32, ln_dx_out_f32)
DEF_DX_ROWS(double, dx_rows_f64, ln_dx_sums_f64, ln_dx_out_f64)

LN_INLINE void dx_rows(ag_tensor *out, const ag_tensor *g, const ag_tensor *x,
                       const ag_tensor *mean, const ag_tensor *rstd, const ag_tensor *w, int64_t M,
                       int64_t r0, int64_t r1) {
    if (out->dtype == AG_F32)
        dx_rows_f32(ag__ptr(out), ag__ptr(g), ag__ptr(x), ag__ptr(mean), ag__ptr(rstd),
                    w ? ag__ptr(w) : NULL, M, r0, r1);
    else
        dx_rows_f64(ag__ptr(out), ag__ptr(g), ag__ptr(x), ag__ptr(mean), ag__ptr(rstd),
                    w ? ag__ptr(w) : NULL, M, r0, r1);
}

LN_INLINE void lnb_range_rows(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct ln_job *j = ctx;
    const ag_tensor *g = j->g, *x = j->x, *w = j->w, *mean = j->mean, *rstd = j->rstd;
    ag_tensor *out = j->out;
    int64_t R = j->R, M = j->M;
    double *part = j->part;
    (void)tid;
    for (int64_t c = lo; c < hi; c++)
        for (int64_t r0 = c * LNW_ROWS; r0 < R && r0 < (c + 1) * LNW_ROWS; r0 += LN_ROW_BLOCK) {
            int64_t r1 = r0 + LN_ROW_BLOCK < R ? r0 + LN_ROW_BLOCK : R;
            dx_rows(out, g, x, mean, rstd, w, M, r0, r1);
            for (int64_t r = r0; r < r1; r++) param_rows(part + c * 2 * M, g, x, mean, rstd, M, r);
        }
}
/* lnb_range_rows compiled for AVX2 and for the baseline (ln_avx2 picks). */
LN_AVX2 static void lnb_range_avx2(void *ctx, int64_t lo, int64_t hi, int tid) {
    lnb_range_rows(ctx, lo, hi, tid);
}
static void lnb_range_base(void *ctx, int64_t lo, int64_t hi, int tid) {
    lnb_range_rows(ctx, lo, hi, tid);
}

static int lnb_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)n, (void)saved;
    const struct ln_args *a = args;
    ag_tensor *g = dense(in[0]), *x = dense(in[1]), *mean = dense(in[2]), *rstd = dense(in[3]),
              *w = a->has_w ? dense(in[4]) : NULL;
    int64_t R = rows_of(in[1], a), M = a->M, chunks = (R + LNW_ROWS - 1) / LNW_ROWS;
    double *part = calloc((size_t)(chunks ? chunks : 1) * (size_t)(2 * M), sizeof(double));
    int rc = AG_ERR_NOMEM;
    if (g && x && mean && rstd && (!a->has_w || w) && part) {
        struct ln_job j = {out, x, w, NULL, mean, rstd, g, a, R, M, part};
        ag__parallel_for(chunks, 1, (double)(LNW_ROWS * M), 1 << 15,
                         ln_avx2() ? lnb_range_avx2 : lnb_range_base, &j);
        for (int64_t j = 0; j < 2 * M; j++) { /* rows R and R + 1: dw, db */
            double s = 0;
            for (int64_t c = 0; c < chunks; c++) s += part[c * 2 * M + j];
            if (out->dtype == AG_F32) ((float *)ag__ptr(out))[R * M + j] = (float)s;
            else ((double *)ag__ptr(out))[R * M + j] = s;
        }
        rc = AG_OK;
    } else {
        ag__error(AG_ERR_NOMEM, "ag_layer_norm_backward", "out of memory (x %s)", AG_SHAPE(in[1]));
    }
    free(part);
    release(g, in[0]), release(x, in[1]), release(mean, in[2]), release(rstd, in[3]);
    if (a->has_w) release(w, in[4]);
    return rc;
}

/* Only run with grad mode off (see ln_backward); a recorded use cannot be differentiated. */
static int lnb_no_backward(struct ag_node *node, ag_tensor *g) {
    (void)g;
    return ag__error(AG_ERR_STATE, "ag_layer_norm_backward",
                     "not twice differentiable (x %s); differentiate ag_layer_norm with "
                     "create_graph instead",
                     AG_SHAPE(node->in[1]));
}

/* g, x, mean, rstd (and w) of a layer_norm over rows of 6 (variant 0) or 4. */
static int lnb_make_inputs(ag_tensor **in, struct ln_args *a, ag_dtype dt, int variant,
                           int64_t size, bool with_w) {
    int64_t M = size ? 64 : variant ? 4 : 6, R = size ? (size / 64 > 1 ? size / 64 : 1) : 5;
    *a = (struct ln_args){.M = M, .nd = 1, .has_w = with_w};
    in[0] = ag__check_input(dt, 2, (int64_t[]){R, M}, -1, 1);
    in[1] = ag__check_input(dt, 2, (int64_t[]){R, M}, -2, 2);
    in[2] = ag__check_input(dt, 1, &R, -1, 1);
    in[3] = ag__check_input(dt, 1, &R, 0.5, 2);
    if (with_w) in[4] = ag__check_input(dt, 1, &M, 0.5, 1.5);
    return 4 + with_w;
}
static int lnb_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    return lnb_make_inputs(in, args, dt, variant, size, variant == 0);
}

const struct ag_op_def ag__op_layer_norm_backward = {
    .name = "layer_norm_backward",
    .arity = -1,
    .shape = lnb_shape,
    .forward = lnb_forward,
    .backward = lnb_no_backward,
    .check = {.make = lnb_make, .no_grad = true, .flops_per_elem = 10},
};

/* ------------------------------------------------------------------ public function */
ag_tensor *ag_layer_norm(ag_tensor *x, int ndim, const int64_t *normalized_shape, ag_tensor *weight,
                         ag_tensor *bias, double eps) {
    const char *fn = "ag_layer_norm";
    if (!x) return NULL;
    if (!normalized_shape || ndim < 1 || ndim > x->ndim) {
        ag__error(AG_ERR_SHAPE, fn,
                  "normalized_shape must name 1..%d trailing dims of x %s, "
                  "got %d dims",
                  x->ndim, AG_SHAPE(x), ndim);
        return NULL;
    }
    struct ln_args a = {
        .M = 1, .nd = ndim, .has_w = weight != NULL, .has_b = bias != NULL, .eps = eps};
    for (int d = 0; d < ndim; d++) {
        if (normalized_shape[d] != x->shape[x->ndim - ndim + d]) {
            ag__error(AG_ERR_SHAPE, fn,
                      "normalized_shape %s does not match the last %d dims "
                      "of x %s",
                      ag__shape_str(ndim, normalized_shape), ndim, AG_SHAPE(x));
            return NULL;
        }
        a.M *= normalized_shape[d];
    }
    if (!(eps >= 0)) {
        ag__error(AG_ERR_ARG, fn, "eps %g must be >= 0 (x %s)", eps, AG_SHAPE(x));
        return NULL;
    }
    ag_tensor *const in[] = {x, weight ? weight : bias, bias};
    return ag__apply(AG_OP_LAYER_NORM, 1 + a.has_w + a.has_b, in, &a, sizeof a);
}
