/* lstm_scan: an LSTM layer's recurrence over a whole sequence as one op (torch.nn.LSTM's
 * loop, the input projection done by the caller).
 *   lstm_scan(gx, w_hh, b_hh, h0, c0)   gx [T,B,4H] ([B,T,4H] batch_first) the input
 *        projections x_t W_ih^T + b_ih of every step (gate order i, f, g, o), w_hh [4H,H],
 *        b_hh [4H], h0, c0 [B,H]; out [T+1,B,H] ([B,T+1,H]): entries 0..T-1 along the time
 *        dim are h_1..h_T, entry T is the last cell state c_T.
 * Inside, a step works on transposed [features, B] blocks, so that W_hh is the GEMMs' A
 * operand, read in place (only the small h or dgates is packed), and every point-wise
 * stage is one vector call (ops/kernels/vmath.h, the kernels of ag_sigmoid, ag_tanh and
 * ag_mul) over a whole contiguous gate block [H,B]:
 *   forward:  gates^T = (gx_t + b_hh)^T + W_hh h_{t-1}^T, then i f o = sigmoid, g = tanh,
 *             c_t = f c_{t-1} + i g, h_t = o tanh(c_t). Saved: the activated gates
 *             [T,4H,B] and c_t, tanh(c_t) [T,2,H,B].
 *   backward (without create_graph): the steps in reverse, the cell's backward as vector
 *             calls, then dh_{t-1}^T = g_{t-1}^T + W_hh^T dgates_t^T (one GEMM); after the
 *             loop ONE GEMM for dW_hh = dgates^T [h_0..h_{T-1}] over all T*B rows (not T
 *             GEMMs of B rows each) and one column sum for db_hh.
 * With create_graph the same recurrence is written with public ops (differentiable
 * again). GEMM splits only M/N and the vector calls fixed chunks: the same bits for any
 * thread count. */
#include "ops/kernels/gemm.h"
#include "ops/kernels/vmath.h"
#include "ops/lstm_gates.h"
#include "ops/ops.h"
#include "tensor/alloc.h"

#include <stdlib.h>

struct scan_args {
    bool batch_first;
};

/* Sizes and the layout of the time and batch dims. */
struct geo {
    int64_t T, B, H;
    bool bf;
    size_t es;
};

static struct geo geo_of(const ag_tensor *gx, const ag_tensor *h0, bool bf) {
    return (struct geo){gx->shape[bf ? 1 : 0], gx->shape[bf ? 0 : 1], h0->shape[1], bf,
                        ag_dtype_size(gx->dtype)};
}

/* ------------------------------------------------------------------ shape */
static int scan_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                      const char *fn) {
    (void)n;
    const struct scan_args *a = args;
    const ag_tensor *gx = in[0], *w = in[1], *b = in[2], *h0 = in[3], *c0 = in[4];
    bool dt = ag__is_float(gx->dtype);
    for (int i = 1; i < 5; i++) dt = dt && in[i]->dtype == gx->dtype;
    if (!dt)
        return ag__error(AG_ERR_DTYPE, fn,
                         "gx %s %s, w_hh %s, b_hh, h0, c0 must share a float dtype",
                         ag_dtype_name(gx->dtype), AG_SHAPE(gx), ag_dtype_name(w->dtype));
    int64_t H = h0->ndim == 2 ? h0->shape[1] : 0;
    int64_t B = gx->ndim == 3 ? gx->shape[a->batch_first ? 0 : 1] : -1;
    bool ok = gx->ndim == 3 && H > 0 && gx->shape[a->batch_first ? 1 : 0] > 0 &&
              gx->shape[2] == 4 * H && h0->shape[0] == B && w->ndim == 2 && w->shape[0] == 4 * H &&
              w->shape[1] == H && b->ndim == 1 && b->shape[0] == 4 * H && c0->ndim == 2 &&
              c0->shape[0] == B && c0->shape[1] == H;
    if (!ok)
        return ag__error(AG_ERR_SHAPE, fn,
                         "gx %s, w_hh %s, b_hh %s, h0 %s, c0 %s do not fit %s, [4H,H], [4H], "
                         "[B,H] (T >= 1)",
                         AG_SHAPE(gx), AG_SHAPE(w), AG_SHAPE(b), AG_SHAPE(h0), AG_SHAPE(c0),
                         a->batch_first ? "[B,T,4H]" : "[T,B,4H]");
    m->dtype = gx->dtype;
    m->ndim = 3;
    m->shape[0] = a->batch_first ? B : gx->shape[0] + 1;
    m->shape[1] = a->batch_first ? gx->shape[1] + 1 : B;
    m->shape[2] = H;
    return AG_OK;
}

/* ------------------------------------------------------------------ dtype dispatch */
static int gemm(ag_dtype dt, int64_t M, int64_t N, int64_t K, const void *A, int64_t rsa,
                int64_t csa, const void *B, int64_t rsb, int64_t csb, double beta, void *C,
                int64_t rsc) {
    if (dt == AG_F32)
        return ag__gemm_f32(M, N, K, 1.0f, A, rsa, csa, B, rsb, csb, (float)beta, C, rsc, 1);
    return ag__gemm_f64(M, N, K, 1.0, A, rsa, csa, B, rsb, csb, beta, C, rsc, 1);
}

/* z = x op y over n contiguous elements (z may alias x or y). */
static void bin(ag_dtype dt, ag_vm_binop op, void *z, const void *x, const void *y, int64_t n) {
    if (dt == AG_F32) ag__vm_binary_f32(op, z, x, y, n);
    else ag__vm_binary_f64(op, z, x, y, n);
}

/* y = f(x) over n contiguous elements (y may be x). */
static void act(ag_dtype dt, ag_vm_fn f, void *y, const void *x, int64_t n) {
    ag_vm_params p = {0, 0};
    if (dt == AG_F32) ag__vm_forward_f32(f, y, x, n, p);
    else ag__vm_forward_f64(f, y, x, n, p);
}

/* The [R,C] matrix at x (strides rs, cs) into y [C,R] contiguous (y[c*R + r] = x[r,c]), or
 * with `add` (a vector of C at stride sa) added: y[c*R + r] = x[r,c] + add[c]. */
static void transpose_into(ag_dtype dt, void *y, const void *x, int64_t R, int64_t C, int64_t rs,
                           int64_t cs, const void *add, int64_t sa) {
    if (dt == AG_F32) {
        float *o = y;
        const float *a = x, *b = add;
        for (int64_t r = 0; r < R; r++)
            if (b)
                for (int64_t c = 0; c < C; c++) o[c * R + r] = a[r * rs + c * cs] + b[c * sa];
            else
                for (int64_t c = 0; c < C; c++) o[c * R + r] = a[r * rs + c * cs];
    } else {
        double *o = y;
        const double *a = x, *b = add;
        for (int64_t r = 0; r < R; r++)
            if (b)
                for (int64_t c = 0; c < C; c++) o[c * R + r] = a[r * rs + c * cs] + b[c * sa];
            else
                for (int64_t c = 0; c < C; c++) o[c * R + r] = a[r * rs + c * cs];
    }
}

/* x [C,R] contiguous into the [R,C] matrix at y (strides rs, 1): y[r,c] = x[c*R + r]. Rows
 * of y are written one after the other (y's rows can be far apart). */
static void untranspose(ag_dtype dt, void *y, int64_t rs, const void *x, int64_t R, int64_t C) {
    if (dt == AG_F32) {
        float *o = y;
        const float *a = x;
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++) o[r * rs + c] = a[c * R + r];
    } else {
        double *o = y;
        const double *a = x;
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++) o[r * rs + c] = a[c * R + r];
    }
}

static void fill_one(ag_dtype dt, void *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (dt == AG_F32) ((float *)x)[i] = 1;
        else ((double *)x)[i] = 1;
}

/* A 64-byte aligned heap buffer of at least `bytes` (aligned_alloc wants a multiple). */
static char *scratch(size_t bytes) { return ag__aligned_alloc(64, (bytes + 63) / 64 * 64); }

static const char *elem(const ag_tensor *t) {
    return (const char *)t->storage->data + (size_t)t->offset * ag_dtype_size(t->dtype);
}
static char *at(const void *base, int64_t i, size_t es) { return (char *)base + (size_t)i * es; }

/* Element offset of out's entry (t, b) and of row (t, b) in a tensor laid out as gx. */
static int64_t out_at(const struct geo *g, int64_t t, int64_t b) {
    return g->bf ? (b * (g->T + 1) + t) * g->H : (t * g->B + b) * g->H;
}
static int64_t gx_at(const struct geo *g, int64_t t, int64_t b) {
    return g->bf ? (b * g->T + t) * 4 * g->H : (t * g->B + b) * 4 * g->H;
}

/* ------------------------------------------------------------------ forward */
/* One step's point-wise part on the transposed blocks (n = H*B each): P = [i f g o] pre-
 * activations in, activations out; C = c_t from cp = c_{t-1}, TC = tanh(c_t), h = h_t. */
static void cell_forward(ag_dtype dt, size_t es, int64_t n, char *P, char *C, char *TC,
                         const char *cp, char *h, char *tmp) {
    char *I = P, *F = at(P, n, es), *G = at(P, 2 * n, es), *O = at(P, 3 * n, es);
    act(dt, AG_VM_SIGMOID, I, I, 2 * n); /* i and f */
    act(dt, AG_VM_TANH, G, G, n);
    act(dt, AG_VM_SIGMOID, O, O, n);
    bin(dt, AG_VM_MUL, C, F, cp, n);  /* f c */
    bin(dt, AG_VM_MUL, tmp, I, G, n); /* i g */
    bin(dt, AG_VM_ADD, C, C, tmp, n);
    act(dt, AG_VM_TANH, TC, C, n);
    bin(dt, AG_VM_MUL, h, O, TC, n); /* o tanh(c) */
}

static int scan_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n;
    const ag_tensor *gx = in[0], *w = in[1], *bias = in[2], *h0 = in[3], *c0 = in[4];
    struct geo g = geo_of(gx, h0, ((const struct scan_args *)args)->batch_first);
    int64_t T = g.T, B = g.B, H = g.H, HB = H * B, st = gx->strides[g.bf], sb = gx->strides[!g.bf];
    ag_dtype dt = gx->dtype;
    size_t es = g.es;
    ag_tensor *ga = ag__empty(dt, 3, (int64_t[]){T, 4 * H, B}, "ag_lstm_scan");
    ag_tensor *cs = ga ? ag__empty(dt, 4, (int64_t[]){T, 2, H, B}, "ag_lstm_scan") : NULL;
    char *scr = cs ? scratch((size_t)(3 * HB) * es) : NULL; /* hT c0T tmp */
    if (!scr) {
        for (ag_tensor *t = ga; t; t = t == ga ? cs : NULL)
            if (!t->arena) ag_tensor_free(t);
        return ag__error(AG_ERR_NOMEM, "ag_lstm_scan", "out of memory for %s", AG_SHAPE(gx));
    }
    char *hT = scr, *c0T = at(scr, HB, es), *tmp = at(scr, 2 * HB, es);
    transpose_into(dt, c0T, elem(c0), B, H, c0->strides[0], c0->strides[1], NULL, 0);
    int rc = AG_OK;
    for (int64_t t = 0; t < T && !rc; t++) {
        char *P = at(ag__ptr(ga), t * 4 * HB, es), *C = at(ag__ptr(cs), t * 2 * HB, es);
        transpose_into(dt, P, at(elem(gx), t * st, es), B, 4 * H, sb, gx->strides[2], elem(bias),
                       bias->strides[0]);   /* (gx_t + b_hh)^T ... */
        const char *hp = t ? hT : elem(h0); /* ... + W_hh h_{t-1}^T */
        int64_t rsb = t ? B : h0->strides[1], csb = t ? 1 : h0->strides[0];
        if (gemm(dt, 4 * H, B, H, elem(w), w->strides[0], w->strides[1], hp, rsb, csb, 1.0, P, B))
            rc =
                ag__error(AG_ERR_NOMEM, "ag_lstm_scan", "out of memory for GEMM (%s)", AG_SHAPE(w));
        if (rc) break;
        cell_forward(dt, es, HB, P, C, at(C, HB, es), t ? at(C, -2 * HB, es) : c0T, hT, tmp);
        untranspose(dt, at(ag__ptr(out), out_at(&g, t, 0), es), g.bf ? (T + 1) * H : H, hT, B, H);
    }
    if (!rc) /* entry T: c_T */
        untranspose(dt, at(ag__ptr(out), out_at(&g, T, 0), es), g.bf ? (T + 1) * H : H,
                    at(ag__ptr(cs), (T - 1) * 2 * HB, es), B, H);
    free(scr);
    if (rc) {
        if (!ga->arena) ag_tensor_free(ga), ag_tensor_free(cs);
        return rc;
    }
    saved[0] = ga, saved[1] = cs;
    return AG_OK;
}

/* ------------------------------------------------------------------ backward */
/* One step's point-wise backward on the transposed blocks (n = H*B): from the activations
 * A = [i f g o], TC = tanh(c_t), cp = c_{t-1}, dH = dL/dh_t and dC = dL/dc_t (replaced by
 * dL/dc_{t-1}), D = dL/d(pre-activations) [4H,B]. s holds 3 scratch blocks, one = ones.
 * Products in the order the cell written with ops takes them. */
static void cell_backward(ag_dtype dt, size_t es, int64_t n, const char *A, const char *TC,
                          const char *cp, const char *dH, char *dC, char *D, char *s,
                          const char *one) {
    const char *I = A, *F = at(A, n, es), *G = at(A, 2 * n, es), *O = at(A, 3 * n, es);
    char *s1 = s, *s2 = at(s, n, es), *dct = at(s, 2 * n, es);
    bin(dt, AG_VM_MUL, s1, TC, TC, n);
    bin(dt, AG_VM_SUB, s1, one, s1, n); /* 1 - tanh^2 */
    bin(dt, AG_VM_MUL, s2, dH, O, n);
    bin(dt, AG_VM_MUL, s2, s2, s1, n);
    bin(dt, AG_VM_ADD, dct, dC, s2, n); /* dL/dc_t, all paths */
    const char *x[4] = {G, cp, I, TC}, *y[4] = {dct, dct, dct, dH};
    for (int k = 0; k < 4; k++) { /* d_k = (dct or dh * x_k) * act'(gate k) */
        bin(dt, AG_VM_MUL, s1, y[k], x[k], n);
        const char *a = (const char *[]){I, F, G, O}[k];
        if (k == 2) { /* tanh': 1 - g^2 */
            bin(dt, AG_VM_MUL, s2, a, a, n);
            bin(dt, AG_VM_SUB, s2, one, s2, n);
        } else { /* sigmoid': a (1 - a) */
            bin(dt, AG_VM_SUB, s2, one, a, n);
            bin(dt, AG_VM_MUL, s2, a, s2, n);
        }
        bin(dt, AG_VM_MUL, at(D, k * n, es), s1, s2, n);
    }
    bin(dt, AG_VM_MUL, dC, dct, F, n);
}

struct bwd {
    struct geo g;
    ag_dtype dt;
    char *d;         /* dgates, laid out as gx */
    char *dhT, *dcT; /* running dh^T, dc^T [H,B] */
};

/* The output's gradient at time entry t, transposed into dst [H,B]. */
static void grad_entry(const struct bwd *j, const ag_tensor *gr, char *dst, int64_t t) {
    int td = j->g.bf ? 1 : 0;
    transpose_into(j->dt, dst, at(elem(gr), t * gr->strides[td], j->g.es), j->g.B, j->g.H,
                   gr->strides[1 - td], gr->strides[2], NULL, 0);
}

/* The steps in reverse: dgates into j->d (gx's layout); j->dhT, j->dcT end as the
 * gradients of h0 and c0, transposed. */
static int backward_steps(struct bwd *j, struct ag_node *node, const ag_tensor *gr) {
    const struct geo *g = &j->g;
    const ag_tensor *w = node->in[1], *c0 = node->in[4];
    int64_t B = g->B, H = g->H, HB = H * B;
    size_t es = g->es;
    char *scr = scratch((size_t)(9 * HB) * es); /* s 3, one, c0T, DT 4 */
    if (!scr) return ag__error(AG_ERR_NOMEM, "ag_backward", "out of memory (%s)", AG_SHAPE(gr));
    char *one = at(scr, 3 * HB, es), *c0T = at(scr, 4 * HB, es), *DT = at(scr, 5 * HB, es);
    fill_one(j->dt, one, HB);
    transpose_into(j->dt, c0T, elem(c0), B, H, c0->strides[0], c0->strides[1], NULL, 0);
    grad_entry(j, gr, j->dhT, g->T - 1);
    grad_entry(j, gr, j->dcT, g->T);
    const char *ga = ag__ptr(node->saved[0]), *cs = ag__ptr(node->saved[1]);
    int rc = AG_OK;
    for (int64_t t = g->T - 1; t >= 0 && !rc; t--) {
        const char *C = at(cs, t * 2 * HB, es);
        cell_backward(j->dt, es, HB, at(ga, t * 4 * HB, es), at(C, HB, es),
                      t ? at(C, -2 * HB, es) : c0T, j->dhT, j->dcT, DT, scr, one);
        untranspose(j->dt, at(j->d, gx_at(g, t, 0), es), g->bf ? g->T * 4 * H : 4 * H, DT, B,
                    4 * H);
        if (t) grad_entry(j, gr, j->dhT, t - 1); /* dh_{t-1}^T = g_{t-1}^T + W_hh^T DT */
        if (gemm(j->dt, H, B, 4 * H, elem(w), w->strides[1], w->strides[0], DT, B, 1, t ? 1.0 : 0.0,
                 j->dhT, B))
            rc = ag__error(AG_ERR_NOMEM, "ag_backward", "out of memory for GEMM (%s)", AG_SHAPE(w));
    }
    free(scr);
    return rc;
}

/* dW_hh = dgates^T [h_0 .. h_{T-1}] (rows in gx's order): one GEMM over all T*B rows,
 * straight into W's gradient buffer when it has one. */
static int weight_grad(struct ag_node *node, const struct bwd *j) {
    const struct geo *g = &j->g;
    const ag_tensor *h0 = node->in[3], *out = node->out;
    int64_t H = g->H, rows = g->T * g->B;
    char *hp = scratch((size_t)(rows * H) * g->es);
    if (!hp) return ag__error(AG_ERR_NOMEM, "ag_backward", "out of memory (%s)", AG_SHAPE(out));
    for (int64_t t = 0; t < g->T; t++)
        for (int64_t b = 0; b < g->B; b++) { /* row (t, b): h_{t-1} of sequence b */
            char *dst = at(hp, gx_at(g, t, b) / 4, g->es);
            const char *src = t ? at(ag__ptr(out), out_at(g, t - 1, b), g->es)
                                : at(elem(h0), b * h0->strides[0], g->es);
            transpose_into(j->dt, dst, src, H, 1, t ? 1 : h0->strides[1], 0, NULL, 0);
        }
    ag_tensor *G = ag__grad_sink(node, 1), *fresh = NULL;
    if (!G) G = fresh = ag__empty(j->dt, 2, (int64_t[]){4 * H, H}, "ag_backward");
    int rc =
        !G ? AG_ERR_NOMEM
        : gemm(j->dt, 4 * H, H, rows, j->d, 1, 4 * H, hp, H, 1, fresh ? 0.0 : 1.0, ag__ptr(G), H)
            ? ag__error(AG_ERR_NOMEM, "ag_backward", "out of memory for GEMM")
            : AG_OK;
    free(hp);
    if (!rc && fresh) rc = ag__accumulate(node, 1, fresh);
    return rc;
}

/* db_hh: the column sums of dgates over all T*B rows, in row order. */
static int bias_grad(struct ag_node *node, const struct bwd *j) {
    int64_t n = 4 * j->g.H, rows = j->g.T * j->g.B;
    ag_tensor *db = ag__empty(j->dt, 1, &n, "ag_backward");
    if (!db) return AG_ERR_NOMEM;
    memcpy(ag__ptr(db), j->d, (size_t)n * j->g.es);
    for (int64_t r = 1; r < rows; r++)
        bin(j->dt, AG_VM_ADD, ag__ptr(db), ag__ptr(db), at(j->d, r * n, j->g.es), n);
    return ag__accumulate(node, 2, db);
}

static int scan_backward_composite(struct ag_node *node, ag_tensor *g);

static int scan_backward(struct ag_node *node, ag_tensor *g) {
    if (ag_is_grad_enabled()) return scan_backward_composite(node, g);
    ag_tensor *gx = node->in[0];
    struct geo geo = geo_of(gx, node->in[3], AG_ARGS(node, struct scan_args)->batch_first);
    int64_t B = geo.B, H = geo.H;
    /* the walk's own scope holds these (and whatever accumulate keeps of them) */
    ag_tensor *d = ag__empty(gx->dtype, 3, gx->shape, "ag_backward");
    ag_tensor *dh = ag__empty(gx->dtype, 2, (int64_t[]){H, B}, "ag_backward");
    ag_tensor *dc = ag__empty(gx->dtype, 2, (int64_t[]){H, B}, "ag_backward");
    if (!d || !dh || !dc) return AG_ERR_NOMEM;
    struct bwd j = {geo, gx->dtype, ag__ptr(d), ag__ptr(dh), ag__ptr(dc)};
    int rc = backward_steps(&j, node, g);
    if (!rc && ag__needs_grad(node, 0)) rc = ag__accumulate(node, 0, d);
    if (!rc && ag__needs_grad(node, 1)) rc = weight_grad(node, &j);
    if (!rc && ag__needs_grad(node, 2)) rc = bias_grad(node, &j);
    if (!rc && ag__needs_grad(node, 3)) rc = ag__accumulate(node, 3, ag_transpose(dh, 0, 1));
    if (!rc && ag__needs_grad(node, 4)) rc = ag__accumulate(node, 4, ag_transpose(dc, 0, 1));
    return rc;
}

/* ------------------------------------------------------------------ create_graph */
/* t's entry k along dim, squeezed. */
static ag_tensor *entry(ag_tensor *t, int dim, int64_t k) {
    return ag_squeeze(ag_slice(t, dim, k, k + 1, 1), dim);
}

/* The same gradients with public ops: the forward recomputed step by step (pre-activations
 * and states kept), then the reverse recurrence written with ops. */
static int scan_backward_composite(struct ag_node *node, ag_tensor *g) {
    ag_tensor *gx = node->in[0], *w = node->in[1], *bias = node->in[2];
    int td = AG_ARGS(node, struct scan_args)->batch_first ? 1 : 0;
    int64_t T = gx->shape[td];
    ag_tensor **v = ag__calloc(4 * (size_t)T, sizeof *v);
    if (!v) return ag__error(AG_ERR_NOMEM, "ag_backward", "out of memory (T = %lld)", (long long)T);
    ag_tensor **pre = v, **hp = v + T, **cp = v + 2 * T, **ds = v + 3 * T;
    ag_tensor *h = node->in[3], *c = node->in[4];
    for (int64_t t = 0; t < T; t++) { /* pre_t, h_{t-1}, c_{t-1} */
        ag_tensor *hc[2] = {NULL, NULL};
        hp[t] = h, cp[t] = c;
        pre[t] = ag_add(entry(gx, td, t), ag_linear(h, w, bias));
        ag_chunk(ag_lstm_gates(pre[t], NULL, c), 2, 1, hc);
        h = hc[0], c = hc[1];
    }
    ag_tensor *dh = entry(g, td, T - 1), *dc = entry(g, td, T), *dw = NULL, *db = NULL;
    for (int64_t t = T - 1; t >= 0; t--) {
        ag_tensor *d = NULL, *dcp = NULL;
        ag__lstm_gates_grad(pre[t], cp[t], dh, dc, &d, &dcp);
        ag_tensor *pw = ag_matmul(ag_transpose(d, 0, 1), hp[t]), *pb = ag_sum_dim(d, 0, false);
        dw = dw ? ag_add(dw, pw) : pw, db = db ? ag_add(db, pb) : pb;
        dh = ag_matmul(d, w);
        if (t) dh = ag_add(entry(g, td, t - 1), dh);
        dc = dcp, ds[t] = d;
    }
    ag_tensor *grads[5] = {ag_stack(ds, (int)T, td), dw, db, dh, dc};
    free(v);
    int rc = AG_OK;
    for (int i = 0; i < 5 && !rc; i++)
        if (ag__needs_grad(node, i)) rc = ag__accumulate(node, i, grads[i]);
    return rc;
}

/* variant 0: batch_first, gx [2,3,8] (B 2, T 3, H 2); variant 1: time-major, gx [3,2,8],
 * h0 a transposed view. Benchmark: B 16, T 8, H from the size. */
static int scan_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct scan_args *a = args;
    a->batch_first = variant == 0;
    int64_t B = 2, T = 3, H = 2;
    if (size > 0) {
        if (variant) return 0;
        B = 16, T = 8, H = ag__check_bench_cols(size / (4 * 16 * 8) + 1);
    }
    int64_t gs[3] = {a->batch_first ? B : T, a->batch_first ? T : B, 4 * H};
    in[0] = ag__check_input(dt, 3, gs, -1.5, 1.5);
    in[1] = ag__check_input(dt, 2, (int64_t[]){4 * H, H}, -1, 1);
    in[2] = ag__check_input(dt, 1, (int64_t[]){4 * H}, -1, 1);
    in[3] = variant ? ag__check_transposed(ag__check_input(dt, 2, (int64_t[]){H, B}, -1, 1))
                    : ag__check_input(dt, 2, (int64_t[]){B, H}, -1, 1);
    in[4] = ag__check_input(dt, 2, (int64_t[]){B, H}, -1, 1);
    for (int i = 0; i < 5; i++)
        if (!in[i]) return -1;
    return 5;
}

const struct ag_op_def ag__op_lstm_scan = {
    .name = "lstm_scan",
    .arity = 5,
    .shape = scan_shape,
    .forward = scan_forward,
    .backward = scan_backward,
    .check = {.make = scan_make, .args_size = sizeof(struct scan_args), .flops_per_elem = 60},
};

ag_tensor *ag_lstm_scan(ag_tensor *gx, ag_tensor *w_hh, ag_tensor *b_hh, ag_tensor *h0,
                        ag_tensor *c0, bool batch_first) {
    struct scan_args a = {batch_first};
    return AG_APPLY_ARGS(AG_OP_LSTM_SCAN, 5, ((ag_tensor *const[]){gx, w_hh, b_hh, h0, c0}), a);
}
