/* Scaled dot-product attention, torch.nn.functional.scaled_dot_product_attention's math:
 *   out = softmax(q k^T / sqrt(E) with masked scores at -inf) v
 * q [..., L, E], k [..., S, E], v [..., S, Ev] with the same leading dims; out [..., L, Ev].
 * Masks: is_causal keeps key j <= query i (torch's tril of ones(L, S)), never building an
 * [L,S] tensor; attn_mask (any dtype, broadcast to [..., L, S]) keeps entries != 0. A row
 * with every key masked gives NaN, as torch's math path.
 * Forward, per matrix of the batch (threads split matrices): one GEMM for the scores into
 * the saved probabilities P [..., L, S], the masked softmax in place on each row, one GEMM
 * for P v. Backward with public ops from P: dv = P^T g, dS = P (dP - rowsum(dP P)) with
 * dP = g v^T, dq = dS k / sqrt(E), dk = dS^T q / sqrt(E). With create_graph P is
 * recomputed with ops (matmul, masked_fill, softmax) so the gradients are differentiable.
 * dropout_p > 0 drops probabilities (P_d = P * mask / (1 - p)) before the product with v,
 * with the mask drawn from the seeded counter-based stream (see drop_scale). */
#include "ops/kernels/gemm.h"
#include "ops/kernels/vmath.h"
#include "ops/ops.h"
#include "runtime/parallel.h"

#include <math.h>

struct attn_args {
    bool causal, has_mask;
    double scale;
    double dropout_p; /* 0: none */
    uint64_t base;    /* dropout: first counter of the [..., L, S] block of the stream */
};

/* Dropout on the probabilities, as ag_dropout: element i of the [..., L, S] block is kept
 * (and scaled by 1/(1-p)) when the counter-based uniform at base + i is >= p; the mask is
 * never stored, backward draws it again. */
static double drop_scale(const struct attn_args *a, int64_t i) {
    if (ag__rng_uniform(a->base + (uint64_t)i) < a->dropout_p) return 0;
    return a->dropout_p < 1 ? 1.0 / (1.0 - a->dropout_p) : 0;
}

/* ------------------------------------------------------------------ shape */
static int same_lead(const ag_tensor *a, const ag_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim - 2; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

static int attn_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                      const char *fn) {
    const struct attn_args *a = args;
    const ag_tensor *q = in[0], *k = in[1], *v = in[2];
    if (n != 3 + a->has_mask)
        return ag__error(AG_ERR_ARG, fn, "expects %d inputs, got %d", 3 + a->has_mask, n);
    if (!ag__is_float(q->dtype) || q->dtype != k->dtype || q->dtype != v->dtype)
        return ag__error(AG_ERR_DTYPE, fn,
                         "q, k, v must be float32 or float64 of one dtype, got "
                         "%s, %s, %s",
                         ag_dtype_name(q->dtype), ag_dtype_name(k->dtype), ag_dtype_name(v->dtype));
    int nd = q->ndim;
    if (nd < 2 || !same_lead(q, k) || !same_lead(q, v) || k->shape[nd - 1] != q->shape[nd - 1] ||
        v->shape[nd - 2] != k->shape[nd - 2])
        return ag__error(AG_ERR_SHAPE, fn,
                         "q %s, k %s, v %s must be [..., L, E], [..., S, E], "
                         "[..., S, Ev] with the same leading dims",
                         AG_SHAPE(q), AG_SHAPE(k), AG_SHAPE(v));
    m->dtype = q->dtype;
    m->ndim = nd;
    memcpy(m->shape, q->shape, sizeof(int64_t) * (size_t)nd);
    m->shape[nd - 1] = v->shape[nd - 1];
    if (a->has_mask) {
        int64_t ps[AG_MAX_DIMS], outs[AG_MAX_DIMS];
        int no;
        memcpy(ps, q->shape, sizeof(int64_t) * (size_t)nd);
        ps[nd - 1] = k->shape[nd - 2];
        const ag_tensor *mask = in[3];
        bool ok =
            mask->ndim <= nd && !ag__broadcast_shapes(nd, ps, mask->ndim, mask->shape, &no, outs);
        for (int d = 0; ok && d < nd; d++) ok = outs[d] == ps[d];
        if (!ok)
            return ag__error(AG_ERR_SHAPE, fn,
                             "attn_mask %s does not broadcast to the scores %s "
                             "of q %s and k %s",
                             AG_SHAPE(mask), ag__shape_str(nd, ps), AG_SHAPE(q), AG_SHAPE(k));
    }
    return AG_OK;
}

/* ------------------------------------------------------------------ forward */
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

static bool mask_keeps(const ag_tensor *m, int64_t off) {
    const void *d = m->storage->data;
    switch (m->dtype) {
    case AG_F32: return ((const float *)d)[off] != 0;
    case AG_F64: return ((const double *)d)[off] != 0;
    case AG_U8: return ((const uint8_t *)d)[off] != 0;
    default: return ((const int64_t *)d)[off] != 0;
    }
}

/* The mask seen through the scores' shape: strides (0 where broadcast) per dim. */
struct mask_view {
    const ag_tensor *t;
    int nd;
    int64_t shape[AG_MAX_DIMS], stride[AG_MAX_DIMS];
};

static int64_t mask_base(const struct mask_view *mv, int64_t b) { /* offset of matrix b */
    int64_t off = mv->t->offset;
    for (int d = mv->nd - 3; d >= 0; d--) {
        off += (b % mv->shape[d]) * mv->stride[d];
        b /= mv->shape[d];
    }
    return off;
}

/* One row of scores -> probabilities in place: entries past `kept` (causal) and masked
 * ones are excluded (0 after the softmax). */
#define DEF_SOFTMAX_ROW(T, name, vmax, vexpsum, vscale)                                           \
    static void name(T *row, int64_t S, int64_t kept, const struct mask_view *mv, int64_t moff) { \
        if (mv->t)                                                                                \
            for (int64_t j = 0; j < kept; j++)                                                    \
                if (!mask_keeps(mv->t, moff + j * mv->stride[mv->nd - 1])) row[j] = (T)-INFINITY; \
        T mx = vmax(row, kept);                                                                   \
        double s = vexpsum(row, row, kept, mx);                                                   \
        vscale(row, row, kept, 0, (T)(1.0 / s), 0);                                               \
        for (int64_t j = kept; j < S; j++) row[j] = 0;                                            \
    }
DEF_SOFTMAX_ROW(float, softmax_row_f32, ag__vm_max_f32, ag__vm_exp_sum_f32, ag__vm_shift_scale_f32)
DEF_SOFTMAX_ROW(double, softmax_row_f64, ag__vm_max_f64, ag__vm_exp_sum_f64, ag__vm_shift_scale_f64)

struct attn_dims {
    int64_t B, L, S, E, Ev;
};

/* pd = p with dropout applied (matrix b). */
static void drop_rows(bool f32, const struct attn_dims *d, int64_t b, const char *p, char *pd,
                      const struct attn_args *a) {
    int64_t n = d->L * d->S, first = b * n;
    for (int64_t i = 0; i < n; i++) {
        double m = drop_scale(a, first + i);
        if (f32) ((float *)(void *)pd)[i] = (float)m * ((const float *)(const void *)p)[i];
        else ((double *)(void *)pd)[i] = m * ((const double *)(const void *)p)[i];
    }
}

static void attn_matrix(bool f32, const struct attn_dims *d, int64_t b, const char *q,
                        const char *k, const char *v, char *p, char *o, char *scratch,
                        const struct attn_args *a, const struct mask_view *mv) {
    double scale = a->scale;
    bool causal = a->causal;
    size_t es = f32 ? 4 : 8;
    const void *qb = q + (size_t)(b * d->L * d->E) * es, *kb = k + (size_t)(b * d->S * d->E) * es;
    const void *vb = v + (size_t)(b * d->S * d->Ev) * es;
    void *pb = p + (size_t)(b * d->L * d->S) * es, *ob = o + (size_t)(b * d->L * d->Ev) * es;
    if (f32)
        ag__gemm_f32(d->L, d->S, d->E, (float)scale, qb, d->E, 1, kb, 1, d->E, 0.0f, pb, d->S, 1);
    else ag__gemm_f64(d->L, d->S, d->E, scale, qb, d->E, 1, kb, 1, d->E, 0.0, pb, d->S, 1);
    int64_t mb = mv->t ? mask_base(mv, b) : 0;
    for (int64_t i = 0; i < d->L; i++) {
        int64_t kept = causal ? (i + 1 < d->S ? i + 1 : d->S) : d->S;
        int64_t moff = mv->t ? mb + i * mv->stride[mv->nd - 2] : 0;
        if (f32) softmax_row_f32((float *)pb + i * d->S, d->S, kept, mv, moff);
        else softmax_row_f64((double *)pb + i * d->S, d->S, kept, mv, moff);
    }
    if (scratch) { /* dropout: the product takes the dropped copy; P stays saved */
        drop_rows(f32, d, b, pb, scratch, a);
        pb = scratch;
    }
    if (f32) ag__gemm_f32(d->L, d->Ev, d->S, 1.0f, pb, d->S, 1, vb, d->Ev, 1, 0.0f, ob, d->Ev, 1);
    else ag__gemm_f64(d->L, d->Ev, d->S, 1.0, pb, d->S, 1, vb, d->Ev, 1, 0.0, ob, d->Ev, 1);
}

/* The attention matrices shared out over the batch by ag__parallel_for; with dropout each
 * call has a scratch matrix of its own. */
struct attn_job {
    bool f32;
    const struct attn_dims *d;
    const ag_tensor *q, *k, *v;
    ag_tensor *p, *out;
    const struct attn_args *a;
    const struct mask_view *mv;
    int rc; /* AG_ERR_NOMEM when a scratch matrix could not be had */
};

static void attn_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    struct attn_job *j = ctx;
    const struct attn_dims *d = j->d;
    size_t bytes = (size_t)(d->L * d->S) * ag_dtype_size(j->out->dtype);
    char *scratch = j->a->dropout_p > 0 ? malloc(bytes ? bytes : 1) : NULL;
    (void)tid;
    if (j->a->dropout_p > 0 && !scratch) {
        __atomic_store_n(&j->rc, AG_ERR_NOMEM, __ATOMIC_RELAXED);
        return;
    }
    for (int64_t b = lo; b < hi; b++)
        attn_matrix(j->f32, d, b, ag__ptr(j->q), ag__ptr(j->k), ag__ptr(j->v), ag__ptr(j->p),
                    ag__ptr(j->out), scratch, j->a, j->mv);
    free(scratch);
}

static int attn_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n;
    const struct attn_args *a = args;
    int nd = out->ndim;
    struct attn_dims d = {1, in[0]->shape[nd - 2], in[1]->shape[nd - 2], in[0]->shape[nd - 1],
                          in[2]->shape[nd - 1]};
    for (int i = 0; i < nd - 2; i++) d.B *= out->shape[i];
    int64_t ps[AG_MAX_DIMS];
    memcpy(ps, out->shape, sizeof ps);
    ps[nd - 1] = d.S;
    struct mask_view mv = {.t = a->has_mask ? in[3] : NULL, .nd = nd};
    if (mv.t) {
        memcpy(mv.shape, ps, sizeof ps);
        ag__broadcast_strides(mv.t, nd, ps, mv.stride);
    }
    ag_tensor *q = dense(in[0]), *k = dense(in[1]), *v = dense(in[2]);
    ag_tensor *p = ag__empty(out->dtype, nd, ps, "ag_scaled_dot_product_attention");
    int rc = AG_ERR_NOMEM;
    if (q && k && v && p) {
        bool f32 = out->dtype == AG_F32;
        struct attn_job j = {f32, &d, q, k, v, p, out, a, &mv, AG_OK};
        ag__parallel_for(d.B, 1, (double)(d.L * d.S * (d.E + d.Ev)), 1 << 16, attn_range, &j);
        rc = j.rc;
        if (rc && !p->arena) ag_tensor_free(p);
        else if (!rc) saved[0] = p;
    } else if (p && !p->arena) {
        ag_tensor_free(p);
    }
    release(q, in[0]), release(k, in[1]), release(v, in[2]);
    return rc;
}

/* ------------------------------------------------------------------ backward */
static ag_tensor *tr(ag_tensor *t) { return ag_transpose(t, t->ndim - 2, t->ndim - 1); }

/* P with public ops (create_graph): a differentiable function of q and k. */
static ag_tensor *probs_with_ops(struct ag_node *node) {
    const struct attn_args *a = AG_ARGS(node, struct attn_args);
    ag_tensor *q = node->in[0], *k = node->in[1];
    ag_tensor *s = ag_mul_scalar(ag_matmul(q, tr(k)), a->scale);
    int nd = q->ndim;
    if (a->causal) {
        int64_t ls[2] = {q->shape[nd - 2], k->shape[nd - 2]};
        s = ag_masked_fill(s, ag_triu(ag_ones(q->dtype, 2, ls), 1), -INFINITY);
    }
    if (a->has_mask) {
        ag_tensor *m = node->in[3];
        s = ag_masked_fill(s, ag_eq(m, ag_scalar(m->dtype, 0)), -INFINITY);
    }
    return ag_softmax(s, -1);
}

/* dS = scale P (dP - rowsum(dP P)): ops under create_graph, else the fused op. */
static ag_tensor *scores_grad(ag_tensor *dp, ag_tensor *p, const struct attn_args *a) {
    if (ag_is_grad_enabled())
        return ag_mul_scalar(ag_mul(p, ag_sub(dp, ag_sum_dim(ag_mul(dp, p), -1, true))), a->scale);
    return ag__apply(AG_OP_ATTENTION_SOFTMAX_BACKWARD, 2, (ag_tensor *const[]){dp, p}, a,
                     sizeof *a);
}

/* The dropout mask (0 or 1/(1-p)) as a constant of P's shape. */
static ag_tensor *drop_mask(const ag_tensor *p, const struct attn_args *a) {
    ag_tensor *m = ag__empty(p->dtype, p->ndim, p->shape, "ag_scaled_dot_product_attention");
    for (int64_t i = 0; m && i < m->numel; i++) {
        if (m->dtype == AG_F32) ((float *)ag__ptr(m))[i] = (float)drop_scale(a, i);
        else ((double *)ag__ptr(m))[i] = drop_scale(a, i);
    }
    return m;
}

static int attn_backward(struct ag_node *node, ag_tensor *g) {
    const struct attn_args *a = AG_ARGS(node, struct attn_args);
    ag_tensor *q = node->in[0], *k = node->in[1], *v = node->in[2];
    ag_tensor *p = ag_is_grad_enabled() ? probs_with_ops(node) : node->saved[0];
    ag_tensor *mask = a->dropout_p > 0 ? drop_mask(node->saved[0], a) : NULL;
    ag_tensor *pd = mask ? ag_mul(p, mask) : p;
    int rc = AG_OK;
    if (ag__needs_grad(node, 2)) rc = ag__accumulate(node, 2, ag_matmul(tr(pd), g));
    if (rc || !(ag__needs_grad(node, 0) || ag__needs_grad(node, 1))) return rc;
    ag_tensor *dpd = ag_matmul(g, tr(v));
    ag_tensor *ds = scores_grad(mask ? ag_mul(dpd, mask) : dpd, p, a);
    if (ag__needs_grad(node, 0)) rc = ag__accumulate(node, 0, ag_matmul(ds, k));
    if (!rc && ag__needs_grad(node, 1)) rc = ag__accumulate(node, 1, ag_matmul(tr(ds), q));
    return rc;
}

/* ------------------------------------------------------------------ checks */
/* An int64 mask [L, S] keeping key 0 and about half of the others in every row. */
static ag_tensor *random_keep_mask(int64_t L, int64_t S) {
    ag_tensor *m = ag_zeros(AG_I64, 2, (int64_t[]){L, S});
    for (int64_t i = 0; m && i < L * S; i++)
        ((int64_t *)ag__ptr(m))[i] = i % S == 0 || ag_random_u64() % 2;
    return m;
}

/* variant 0: causal with dropout 0.3, q [2,3,4], k [2,5,4], v [2,5,3]; variant 1: a mask [3,5] over
 * [2,2,3,4] queries given as a transposed view. Benchmark: a GPT's [B*4 heads, 64, 16]. */
static int attn_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct attn_args *a = args;
    if (size) {
        int64_t B = size / (64 * 16) > 1 ? size / (64 * 16) : 1;
        *a = (struct attn_args){.causal = true, .scale = 0.25};
        for (int i = 0; i < 3; i++) in[i] = ag__check_input(dt, 3, (int64_t[]){B, 64, 16}, -1, 1);
        return 3;
    }
    if (variant == 0) {
        *a = (struct attn_args){.causal = true, .scale = 0.5, .dropout_p = 0.3, .base = 777};
        in[0] = ag__check_input(dt, 3, (int64_t[]){2, 3, 4}, -1, 1);
        in[1] = ag__check_input(dt, 3, (int64_t[]){2, 5, 4}, -1, 1);
        in[2] = ag__check_input(dt, 3, (int64_t[]){2, 5, 3}, -1, 1);
        return 3;
    }
    *a = (struct attn_args){.has_mask = true, .scale = 0.5};
    ag_tensor *base = ag__check_input(dt, 4, (int64_t[]){2, 2, 4, 3}, -1, 1);
    bool prev = ag_set_grad_enabled(false);
    in[0] = ag_transpose(base, 2, 3);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(in[0], true);
    in[1] = ag__check_input(dt, 4, (int64_t[]){2, 2, 5, 4}, -1, 1);
    in[2] = ag__check_input(dt, 4, (int64_t[]){2, 2, 5, 2}, -1, 1);
    in[3] = random_keep_mask(3, 5);
    return 4;
}

const struct ag_op_def ag__op_scaled_dot_product_attention = {
    .name = "scaled_dot_product_attention",
    .arity = -1,
    .shape = attn_shape,
    .forward = attn_forward,
    .backward = attn_backward,
    .check = {.make = attn_make, .flops_per_elem = 64},
};

/* ------------------------------------------------------------------ attention_softmax_backward
 * (dP, P) -> scale P (dP - rowsum(dP P)) over the last dim, one pass per row (in double).
 * Run only with grad mode off (attn_backward); a recorded use cannot be differentiated. */
static int asb_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                     const char *fn) {
    (void)args;
    const ag_tensor *dp = in[0], *p = in[1];
    bool ok = dp->dtype == p->dtype && dp->ndim == p->ndim && p->ndim >= 1;
    for (int d = 0; ok && d < p->ndim; d++) ok = dp->shape[d] == p->shape[d];
    if (!ok)
        return ag__error(AG_ERR_SHAPE, fn, "grad %s %s and probabilities %s %s must match",
                         ag_dtype_name(dp->dtype), AG_SHAPE(dp), ag_dtype_name(p->dtype),
                         AG_SHAPE(p));
    return ag__shape_same(m, in + 1, n - 1, NULL, fn);
}

#define DEF_ASB_ROW(T, name)                                                               \
    static void name(T *restrict ds, const T *restrict dp, const T *restrict p, int64_t S, \
                     T scale) {                                                            \
        double s = 0;                                                                      \
        for (int64_t j = 0; j < S; j++) s += (double)dp[j] * (double)p[j];                 \
        T t = (T)s;                                                                        \
        for (int64_t j = 0; j < S; j++) ds[j] = scale * p[j] * (dp[j] - t);                \
    }
DEF_ASB_ROW(float, asb_row_f32)
DEF_ASB_ROW(double, asb_row_f64)

/* The softmax backward shared out over rows by ag__parallel_for. */
struct asb_job {
    ag_tensor *out;
    const ag_tensor *dp, *p;
    const struct attn_args *a;
    int64_t S;
};

static void asb_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct asb_job *j = ctx;
    ag_tensor *out = j->out;
    const ag_tensor *dp = j->dp, *p = j->p;
    const struct attn_args *a = j->a;
    int64_t S = j->S;
    (void)tid;
    for (int64_t r = lo; r < hi; r++) {
        if (out->dtype == AG_F32)
            asb_row_f32((float *)ag__ptr(out) + r * S, (const float *)ag__ptr(dp) + r * S,
                        (const float *)ag__ptr(p) + r * S, S, (float)a->scale);
        else
            asb_row_f64((double *)ag__ptr(out) + r * S, (const double *)ag__ptr(dp) + r * S,
                        (const double *)ag__ptr(p) + r * S, S, a->scale);
    }
}

static int asb_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                       ag_tensor **saved) {
    (void)n, (void)saved;
    const struct attn_args *a = args;
    ag_tensor *dp = dense(in[0]), *p = dense(in[1]);
    int rc = AG_ERR_NOMEM;
    if (dp && p) {
        int64_t S = out->shape[out->ndim - 1], rows = S ? out->numel / S : 0;
        struct asb_job j = {out, dp, p, a, S};
        ag__parallel_for(rows, 1, (double)S, 1 << 16, asb_range, &j);
        rc = AG_OK;
    }
    release(dp, in[0]), release(p, in[1]);
    return rc;
}

static int asb_no_backward(struct ag_node *node, ag_tensor *g) {
    (void)g;
    return ag__error(AG_ERR_STATE, "ag_attention_softmax_backward",
                     "not twice differentiable "
                     "(P %s); differentiate ag_scaled_dot_product_attention with create_graph",
                     AG_SHAPE(node->in[1]));
}

/* Rows of probabilities (positive, summing to 1) and a gradient. */
static int asb_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    *(struct attn_args *)args = (struct attn_args){.scale = 0.5};
    int64_t rows = size ? (size / 64 > 1 ? size / 64 : 1) : variant ? 3 : 4, S = size ? 64 : 5;
    in[0] = ag__check_input(dt, 2, (int64_t[]){rows, S}, -1, 1);
    bool prev = ag_set_grad_enabled(false);
    in[1] = ag_softmax(ag__check_input(dt, 2, (int64_t[]){rows, S}, -2, 2), 1);
    ag_set_grad_enabled(prev);
    return 2;
}

const struct ag_op_def ag__op_attention_softmax_backward = {
    .name = "attention_softmax_backward",
    .arity = 2,
    .shape = asb_shape,
    .forward = asb_forward,
    .backward = asb_no_backward,
    .check = {.make = asb_make, .no_grad = true, .flops_per_elem = 4},
};

/* ------------------------------------------------------------------ public function */
ag_tensor *ag_scaled_dot_product_attention(ag_tensor *q, ag_tensor *k, ag_tensor *v,
                                           ag_tensor *attn_mask, double dropout_p, bool is_causal) {
    const char *fn = "ag_scaled_dot_product_attention";
    if (!q || !k || !v) return NULL;
    if (!(dropout_p >= 0 && dropout_p <= 1)) {
        ag__error(AG_ERR_ARG, fn, "dropout_p %g must be in [0, 1] (q %s)", dropout_p, AG_SHAPE(q));
        return NULL;
    }
    if (is_causal && attn_mask) {
        ag__error(AG_ERR_ARG, fn, "give attn_mask %s or is_causal, not both (q %s)",
                  AG_SHAPE(attn_mask), AG_SHAPE(q));
        return NULL;
    }
    int64_t E = q->ndim ? q->shape[q->ndim - 1] : 0;
    struct attn_args a = {.causal = is_causal,
                          .has_mask = attn_mask != NULL,
                          .scale = E > 0 ? 1.0 / sqrt((double)E) : 1.0,
                          .dropout_p = dropout_p};
    if (dropout_p > 0 && q->ndim >= 2 && k->ndim >= 2) { /* one counter per score */
        int64_t n = k->shape[k->ndim - 2];
        for (int d = 0; d < q->ndim - 1; d++) n *= q->shape[d];
        a.base = ag__rng_reserve((uint64_t)n);
    }
    ag_tensor *const in[] = {q, k, v, attn_mask};
    return ag__apply(AG_OP_SCALED_DOT_PRODUCT_ATTENTION, 3 + a.has_mask, in, &a, sizeof a);
}
