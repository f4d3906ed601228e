/* Linear algebra: matmul with torch.matmul's rules, and linear (x · Wᵀ + b) fused.
 *
 * Both run through one strided batched GEMM loop: per batch, pointers are computed from
 * the (broadcast) batch strides and the GEMM kernel reads any row/column strides, so
 * transposed or expanded inputs are never copied. Backward rules are matmuls of
 * transposed views, so create_graph works; broadcast batch dims are summed away by
 * ag__accumulate. */
#include "ops/ops.h"
#include "ops/kernels/gemm.h"
#include "runtime/parallel.h"
#include "runtime/precision.h"

/* The GEMM in use (ops/kernels/gemm.h: BLIS-style, any strides). */
#define GEMM_F32 ag__gemm_f32
#define GEMM_F64 ag__gemm_f64

/* A matmul as batch x [M,K]·[K,N] with element strides for every operand. */
struct mm {
    int nb; /* broadcast batch dims */
    int64_t bshape[AG_MAX_DIMS];
    int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS]; /* batch strides of a and b (0: broadcast) */
    int64_t M, N, K, rsa, csa, rsb, csb;
    bool a_vec, b_vec; /* 1-D operands: their dim is removed */
};

/* Plans a·b (b may be a transposed stack view of a weight); fills out's meta. */
static int mm_plan(struct mm *p, struct ag_meta *m, const ag_tensor *a, const ag_tensor *b,
                   const char *fn) {
    if (a->dtype != b->dtype || !ag__is_float(a->dtype))
        return ag__error(AG_ERR_DTYPE, fn, "dtypes %s %s and %s %s: need one float dtype",
                         ag_dtype_name(a->dtype), AG_SHAPE(a), ag_dtype_name(b->dtype),
                         AG_SHAPE(b));
    if (a->ndim < 1 || b->ndim < 1)
        return ag__error(AG_ERR_SHAPE, fn, "shapes %s and %s: both need at least 1 dim",
                         AG_SHAPE(a), AG_SHAPE(b));
    int na = a->ndim, nbd = b->ndim;
    *p = (struct mm){.a_vec = na == 1, .b_vec = nbd == 1};
    p->M = p->a_vec ? 1 : a->shape[na - 2];
    p->K = a->shape[na - 1];
    p->rsa = p->a_vec ? 0 : a->strides[na - 2];
    p->csa = a->strides[na - 1];
    int64_t kb = p->b_vec ? b->shape[0] : b->shape[nbd - 2];
    p->N = p->b_vec ? 1 : b->shape[nbd - 1];
    p->rsb = p->b_vec ? b->strides[0] : b->strides[nbd - 2];
    p->csb = p->b_vec ? 0 : b->strides[nbd - 1];
    if (p->K != kb)
        return ag__error(AG_ERR_SHAPE, fn, "shapes %s and %s do not fit (%lld != %lld)",
                         AG_SHAPE(a), AG_SHAPE(b), (long long)p->K, (long long)kb);
    int ba = na > 2 ? na - 2 : 0, bb = nbd > 2 ? nbd - 2 : 0;
    if (ag__broadcast_shapes(ba, a->shape, bb, b->shape, &p->nb, p->bshape))
        return ag__error(AG_ERR_SHAPE, fn,
                         "shapes %s and %s: batch dims %s and %s do not broadcast", AG_SHAPE(a),
                         AG_SHAPE(b), ag__shape_str(ba, a->shape), ag__shape_str(bb, b->shape));
    for (int i = 0; i < p->nb; i++) {
        int ja = i - (p->nb - ba), jb = i - (p->nb - bb);
        p->sa[i] = ja < 0 || a->shape[ja] == 1 ? 0 : a->strides[ja];
        p->sb[i] = jb < 0 || b->shape[jb] == 1 ? 0 : b->strides[jb];
    }
    m->dtype = a->dtype;
    m->ndim = p->nb;
    memcpy(m->shape, p->bshape, sizeof(int64_t) * (size_t)p->nb);
    if (!p->a_vec) m->shape[m->ndim++] = p->M;
    if (!p->b_vec) m->shape[m->ndim++] = p->N;
    return AG_OK;
}

/* A few rows times a column-major B (a transposed weight, as in x·Wᵀ) run as
 * Cᵀ = Bᵀ·Aᵀ: the GEMM reads Bᵀ row-major in place and packs only the small Aᵀ, instead
 * of gathering all of B's columns into panels for a handful of rows (the 16-row step of
 * an LSTM: packing was as costly as the products). Every element is the same sum over k
 * in the same order, so the result is the same. */
#define MM_SWAP_ROWS 64
static bool swap_operands(int64_t M, int64_t N, int64_t rsb, int64_t csb) {
    return M <= MM_SWAP_ROWS && N > M && rsb == 1 && csb != 1;
}

/* C [M,N] row-major = A·B + beta C; non-zero when GEMM's packing scratch cannot be had. */
static int gemm(ag_dtype dt, int64_t M, int64_t N, int64_t K, const char *A, int64_t rsa,
                int64_t csa, const char *B, int64_t rsb, int64_t csb, double beta, char *C) {
    if (swap_operands(M, N, rsb, csb)) {
        if (dt == AG_F32)
            return GEMM_F32(N, M, K, 1.0f, (const float *)(const void *)B, csb, rsb,
                            (const float *)(const void *)A, csa, rsa, (float)beta,
                            (float *)(void *)C, 1, N);
        return GEMM_F64(N, M, K, 1.0, (const double *)(const void *)B, csb, rsb,
                        (const double *)(const void *)A, csa, rsa, beta, (double *)(void *)C, 1, N);
    }
    if (dt == AG_F32)
        return GEMM_F32(M, N, K, 1.0f, (const float *)(const void *)A, rsa, csa,
                        (const float *)(const void *)B, rsb, csb, (float)beta, (float *)(void *)C,
                        N, 1);
    return GEMM_F64(M, N, K, 1.0, (const double *)(const void *)A, rsa, csa,
                    (const double *)(const void *)B, rsb, csb, beta, (double *)(void *)C, N, 1);
}

/* True when b is shared by every batch and a's batch and row dims fold into one row
 * dim: then the whole product is one GEMM with M' = batch * M. */
static bool foldable(const struct mm *p) {
    int64_t expect = p->M * p->rsa;
    for (int i = p->nb - 1; i >= 0; i--) {
        if (p->sb[i] != 0 && p->bshape[i] != 1) return false;
        if (p->bshape[i] != 1 && p->sa[i] != expect) return false;
        expect *= p->bshape[i];
    }
    return !p->a_vec;
}

/* The batches shared out by ag__parallel_for. */
struct mm_job {
    const struct mm *p;
    const char *A, *B;
    char *C;
    size_t es;
    ag_dtype dt;
    ag_precision prec; /* the caller's: workers take it */
    int fail;
};

static void mm_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    struct mm_job *j = ctx;
    const struct mm *p = j->p;
    size_t es = j->es;
    int fail = 0;
    (void)tid;
    for (int64_t t = lo; t < hi; t++) {
        ag_precision old_prec = ag__precision_swap(j->prec);
        int64_t oa = 0, ob = 0, r = t;
        for (int i = p->nb - 1; i >= 0; i--) {
            int64_t k = r % p->bshape[i];
            r /= p->bshape[i];
            oa += k * p->sa[i];
            ob += k * p->sb[i];
        }
        fail |= gemm(j->dt, p->M, p->N, p->K, j->A + (size_t)oa * es, p->rsa, p->csa,
                     j->B + (size_t)ob * es, p->rsb, p->csb, 0.0,
                     j->C + (size_t)(t * p->M * p->N) * es);
        ag__precision_swap(old_prec);
    }
    if (fail) __atomic_fetch_or(&j->fail, fail, __ATOMIC_RELAXED);
}

/* One GEMM per batch, in parallel when they are small. */
static int mm_batches(const struct mm *p, const char *A, const char *B, char *C, size_t es,
                      int64_t batches, ag_dtype dt) {
    struct mm_job j = {p, A, B, C, es, dt, ag_get_float32_matmul_precision(), 0};
    if (p->M * p->N * p->K < ((int64_t)1 << 18))
        ag__parallel_for(batches, 1, 1.0, 0.0, mm_range, &j);
    else mm_range(&j, 0, batches, 0); /* big GEMMs: each threads itself */
    return j.fail;
}

/* out (contiguous) = a·b over every batch; AG_ERR_NOMEM (and an error) when GEMM cannot
 * get its packing scratch (D9). */
static int mm_run(const struct mm *p, const ag_tensor *a, const ag_tensor *b, ag_tensor *out) {
    size_t es = ag_dtype_size(out->dtype);
    const char *A = ag__ptr(a), *B = ag__ptr(b);
    char *C = ag__ptr(out);
    int64_t batches = 1;
    for (int i = 0; i < p->nb; i++) batches *= p->bshape[i];
    int fail = 0;
    if (batches == 0 || p->M == 0 || p->N == 0) return AG_OK;
    if (batches == 1 || foldable(p))
        fail = gemm(out->dtype, batches * p->M, p->N, p->K, A, p->rsa, p->csa, B, p->rsb, p->csb,
                    0.0, C);
    else fail = mm_batches(p, A, B, C, es, batches, out->dtype);
    return fail ? ag__error(AG_ERR_NOMEM, "ag_matmul",
                            "out of memory for GEMM's packing "
                            "buffers (%s)",
                            AG_SHAPE(out))
                : AG_OK;
}

/* ------------------------------------------------------------------ matmul */
static int matmul_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                        const char *fn) {
    (void)n, (void)args;
    struct mm p;
    return mm_plan(&p, m, in[0], in[1], fn);
}

static int matmul_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                          ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    struct mm p;
    struct ag_meta m;
    if (mm_plan(&p, &m, in[0], in[1], "ag_matmul")) return AG_ERR_SHAPE;
    return mm_run(&p, in[0], in[1], out);
}

/* The product of all dims but the last: the rows of t seen as a matrix. Explicit, as a -1
 * cannot be inferred beside a 0 (a [2,0] gradient). */
static int64_t lead_rows(const ag_tensor *t) {
    int64_t r = 1;
    for (int d = 0; d + 1 < t->ndim; d++) r *= t->shape[d];
    return r;
}

/* g with a broadcast (stride-0) dim, as ag_sum's gradient is, written out once: the two
 * GEMMs of a backward then read packed rows instead of re-reading one element per
 * stride-0 step (2x slower); any other g as it is. */
static ag_tensor *dense_grad(ag_tensor *g) {
    for (int d = 0; g && d < g->ndim; d++)
        if (g->strides[d] == 0 && g->shape[d] > 1) return ag_contiguous(g);
    return g;
}

/* torch's rule: 1-D operands get their dim back (a: [1,K], b: [K,1]), the products
 * are batched matmuls of transposed views, and the added dims are squeezed away. */
static int matmul_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *a = node->in[0], *b = node->in[1];
    bool av = a->ndim == 1, bv = b->ndim == 1;
    g = dense_grad(g);
    if (bv) g = ag_unsqueeze(g, g->ndim);
    if (av) g = ag_unsqueeze(g, g->ndim - 1);
    ag_tensor *a2 = av ? ag_unsqueeze(a, 0) : a, *b2 = bv ? ag_unsqueeze(b, 1) : b;
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) {
        ag_tensor *ga = ag_matmul(g, ag_transpose(b2, -1, -2));
        rc = ag__accumulate(node, 0, av ? ag_squeeze(ga, -2) : ga);
    }
    if (!rc && ag__needs_grad(node, 1)) {
        ag_tensor *gb;
        if (b2->ndim == 2 && a2->ndim > 2) { /* b shared by all batches: one GEMM */
            int64_t K = a2->shape[a2->ndim - 1], N = b2->shape[1];
            gb = ag_matmul(ag_transpose(ag_reshape(a2, 2, (int64_t[]){lead_rows(a2), K}), 0, 1),
                           ag_reshape(g, 2, (int64_t[]){lead_rows(g), N}));
        } else {
            gb = ag_matmul(ag_transpose(a2, -1, -2), g);
        }
        rc = ag__accumulate(node, 1, bv ? ag_squeeze(gb, -1) : gb);
    }
    return rc;
}

/* variant 0: [2,3,4]·[4,5]; variant 1: [2,1,3,4]·[3,4,2] with b a transposed view and
 * the batch dims broadcast. */
static int matmul_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    (void)args;
    if (size > 0) { /* benchmark: square matrices with about size elements */
        int64_t s = 1;
        while ((s + 1) * (s + 1) <= size) s++;
        in[0] = ag__check_input(dtype, 2, (int64_t[]){s, s}, -1, 1);
        in[1] = ag__check_input(dtype, 2, (int64_t[]){s, s}, -1, 1);
        return variant ? 0 : 2;
    }
    if (variant == 0) {
        in[0] = ag__check_input(dtype, 3, (int64_t[]){2, 3, 4}, -2, 2);
        in[1] = ag__check_input(dtype, 2, (int64_t[]){4, 5}, -2, 2);
        return 2;
    }
    in[0] = ag__check_input(dtype, 4, (int64_t[]){2, 1, 3, 4}, -2, 2);
    ag_tensor *base = ag__check_input(dtype, 3, (int64_t[]){3, 2, 4}, -2, 2);
    bool prev = ag_set_grad_enabled(false);
    in[1] = ag_transpose(base, 1, 2);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(in[1], true);
    return in[0] && in[1] ? 2 : -1;
}

/* 2 x output elements x K (the contracted dimension: a's last). */
static double matmul_flops(ag_tensor *const *in, int n, const void *args, const ag_tensor *out) {
    (void)n, (void)args;
    return 2.0 * (double)out->numel * (double)in[0]->shape[in[0]->ndim - 1];
}

const struct ag_op_def ag__op_matmul = {
    .name = "matmul",
    .arity = 2,
    .shape = matmul_shape,
    .forward = matmul_forward,
    .backward = matmul_backward,
    .check = {.make = matmul_make, .flops = matmul_flops},
};

ag_tensor *ag_matmul(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_MATMUL, a, b); }

/* ------------------------------------------------------------------ linear */
/* W [out,in] seen as Wᵀ [in,out]: a struct copy with the two dims swapped (no data). */
static ag_tensor transposed(const ag_tensor *w) {
    ag_tensor t = *w;
    t.shape[0] = w->shape[1], t.shape[1] = w->shape[0];
    t.strides[0] = w->strides[1], t.strides[1] = w->strides[0];
    return t;
}

static int linear_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                        const char *fn) {
    (void)args;
    const ag_tensor *x = in[0], *w = in[1];
    if (n < 2 || n > 3) return ag__error(AG_ERR_ARG, fn, "takes x, weight and an optional bias");
    if (w->ndim != 2)
        return ag__error(AG_ERR_SHAPE, fn, "weight %s must be [out,in] (input %s)", AG_SHAPE(w),
                         AG_SHAPE(x));
    if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
        return ag__error(AG_ERR_SHAPE, fn,
                         "input %s does not fit weight %s (last dim must be %lld)", AG_SHAPE(x),
                         AG_SHAPE(w), (long long)w->shape[1]);
    ag_tensor wt = transposed(w);
    struct mm p;
    if (mm_plan(&p, m, x, &wt, fn)) return AG_ERR_SHAPE;
    if (n == 3 && (in[2]->ndim != 1 || in[2]->shape[0] != w->shape[0] || in[2]->dtype != w->dtype))
        return ag__error(AG_ERR_SHAPE, fn, "bias %s %s must be [%lld] %s for weight %s",
                         ag_dtype_name(in[2]->dtype), AG_SHAPE(in[2]), (long long)w->shape[0],
                         ag_dtype_name(w->dtype), AG_SHAPE(w));
    return AG_OK;
}

/* out = x·Wᵀ (one GEMM, beta 0), then the bias added to every row. */
static int linear_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                          ag_tensor **saved) {
    (void)args, (void)saved;
    ag_tensor wt = transposed(in[1]);
    struct mm p;
    struct ag_meta m;
    if (mm_plan(&p, &m, in[0], &wt, "ag_linear")) return AG_ERR_SHAPE;
    if (mm_run(&p, in[0], &wt, out)) return AG_ERR_NOMEM;
    if (n < 3 || out->numel == 0) return AG_OK;
    const ag_tensor *b = in[2];
    int64_t N = b->shape[0], rows = out->numel / N, sb = b->strides[0];
    if (out->dtype == AG_F32) {
        float *o = ag__ptr(out);
        const float *bb = ag__ptr(b);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < N; j++) o[r * N + j] += bb[j * sb];
    } else {
        double *o = ag__ptr(out);
        const double *bb = ag__ptr(b);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < N; j++) o[r * N + j] += bb[j * sb];
    }
    return AG_OK;
}

/* dW += gᵀ·x straight into W's gradient buffer G [O,I] (one GEMM, beta 1): no product
 * tensor and no separate add (an LSTM's recurrent weight took one of each per step). */
static int weight_grad_into(ag_tensor *G, const ag_tensor *g2, const ag_tensor *x2) {
    int64_t O = G->shape[0], I = G->shape[1], rows = g2->shape[0];
    if (gemm(G->dtype, O, I, rows, ag__ptr(g2), g2->strides[1], g2->strides[0], ag__ptr(x2),
             x2->strides[0], x2->strides[1], 1.0, ag__ptr(G)))
        return ag__error(AG_ERR_NOMEM, "ag_linear", "out of memory for GEMM's packing buffers (%s)",
                         AG_SHAPE(G));
    return AG_OK;
}

static int linear_backward(struct ag_node *node, ag_tensor *g) {
    ag_tensor *x = node->in[0], *w = node->in[1];
    int rc = AG_OK;
    if (ag__needs_grad(node, 0) || ag__needs_grad(node, 1)) g = dense_grad(g);
    if (ag__needs_grad(node, 0)) rc = ag__accumulate(node, 0, ag_matmul(g, w));
    if (!rc && ag__needs_grad(node, 1)) {
        int64_t O = w->shape[0], I = w->shape[1];
        ag_tensor *g2 = ag_reshape(g, 2, (int64_t[]){lead_rows(g), O});
        ag_tensor *x2 = ag_reshape(x, 2, (int64_t[]){lead_rows(x), I});
        ag_tensor *G = g2 && x2 && g2->dtype == w->dtype ? ag__grad_sink(node, 1) : NULL;
        rc = G ? weight_grad_into(G, g2, x2)
               : ag__accumulate(node, 1, ag_matmul(ag_transpose(g2, 0, 1), x2));
    }
    if (!rc && node->n_in == 3 && ag__needs_grad(node, 2))
        rc = ag__accumulate(node, 2, g); /* summed over rows to [out] */
    return rc;
}

/* variant 0: x [3,4], W [5,4], b [5]; variant 1: x [2,3,4] batched, W a transposed view,
 * no bias. */
static int linear_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    (void)args;
    if (size > 0) {
        int64_t s = 1;
        while ((s + 1) * (s + 1) <= size) s++;
        if (variant) return 0;
        in[0] = ag__check_input(dtype, 2, (int64_t[]){s, s}, -1, 1);
        in[1] = ag__check_input(dtype, 2, (int64_t[]){s, s}, -1, 1);
        in[2] = ag__check_input(dtype, 1, (int64_t[]){s}, -1, 1);
        return 3;
    }
    if (variant == 0) {
        in[0] = ag__check_input(dtype, 2, (int64_t[]){3, 4}, -2, 2);
        in[1] = ag__check_input(dtype, 2, (int64_t[]){5, 4}, -2, 2);
        in[2] = ag__check_input(dtype, 1, (int64_t[]){5}, -2, 2);
        return 3;
    }
    in[0] = ag__check_input(dtype, 3, (int64_t[]){2, 3, 4}, -2, 2);
    ag_tensor *base = ag__check_input(dtype, 2, (int64_t[]){4, 5}, -2, 2);
    bool prev = ag_set_grad_enabled(false);
    in[1] = ag_transpose(base, 0, 1);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(in[1], true);
    return in[0] && in[1] ? 2 : -1;
}

const struct ag_op_def ag__op_linear = {
    .name = "linear",
    .arity = -1,
    .shape = linear_shape,
    .forward = linear_forward,
    .backward = linear_backward,
    .check = {.make = linear_make, .flops = matmul_flops},
};

ag_tensor *ag_linear(ag_tensor *x, ag_tensor *weight, ag_tensor *bias) {
    if (bias) return ag__apply(AG_OP_LINEAR, 3, (ag_tensor *const[]){x, weight, bias}, NULL, 0);
    return ag__apply(AG_OP_LINEAR, 2, (ag_tensor *const[]){x, weight}, NULL, 0);
}
