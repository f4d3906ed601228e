/* lstm_gates: the point-wise part of an LSTM cell in one op (one tape node per time step
 * instead of thirteen).
 *   lstm_gates(a, [b], c)   a, b [B,4H] gate pre-activations (gate order i, f, g, o; b is
 *                           optional and added to a: x W_ih^T + b_ih and h W_hh^T + b_hh),
 *                           c [B,H] the cell state; out [B,2H] = [h' | c'] with
 *                           c' = f c + i g, h' = o tanh(c'), i f o = sigmoid, g = tanh.
 * Forward keeps the activated gates [B,4H] and tanh(c') [B,H]. Backward without
 * create_graph is one pass per row from those; with create_graph (grad mode on during the
 * walk) the same gradients are written with public ops from the inputs, so they are
 * differentiable again. Rows go to threads whole (each row's arithmetic is the same for
 * any thread count); sigmoid and tanh use the vector kernels of ops/kernels/vmath.h, the
 * same as ag_sigmoid and ag_tanh. Strided inputs are read in place. */
#include "ops/kernels/vmath.h"
#include "ops/lstm_gates.h"
#include "ops/ops.h"
#include "runtime/parallel.h"

/* A row-major view of a 2-D tensor's elements: base pointer and strides. */
struct mat {
    const char *p;
    int64_t rs, cs;
};

static struct mat mat_of(const ag_tensor *t) {
    size_t es = ag_dtype_size(t->dtype);
    return (struct mat){(const char *)t->storage->data + (size_t)t->offset * es, t->strides[0],
                        t->strides[1]};
}

/* ------------------------------------------------------------------ shape */
static int gates_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                       const char *fn) {
    (void)args;
    if (n != 2 && n != 3) return ag__error(AG_ERR_ARG, fn, "takes a, an optional b, and c");
    const ag_tensor *a = in[0], *b = n == 3 ? in[1] : NULL, *c = in[n - 1];
    if (!ag__is_float(a->dtype) || c->dtype != a->dtype || (b && b->dtype != a->dtype))
        return ag__error(AG_ERR_DTYPE, fn, "a %s %s, b and c %s %s must share a float dtype",
                         ag_dtype_name(a->dtype), AG_SHAPE(a), ag_dtype_name(c->dtype),
                         AG_SHAPE(c));
    bool ok = a->ndim == 2 && c->ndim == 2 && a->shape[0] == c->shape[0] &&
              a->shape[1] == 4 * c->shape[1] && c->shape[1] > 0;
    if (b) ok = ok && b->ndim == 2 && b->shape[0] == a->shape[0] && b->shape[1] == a->shape[1];
    if (!ok)
        return ag__error(AG_ERR_SHAPE, fn, "gates %s%s%s and state %s do not fit [B,4H] and [B,H]",
                         AG_SHAPE(a), b ? " + " : "", b ? AG_SHAPE(b) : "", AG_SHAPE(c));
    m->dtype = a->dtype;
    m->ndim = 2;
    m->shape[0] = a->shape[0];
    m->shape[1] = 2 * c->shape[1];
    return AG_OK;
}

/* ------------------------------------------------------------------ row kernels
 * One row, float32 and float64; sigmoid and tanh through the vector kernels (as ag_sigmoid
 * and ag_tanh), products in the order the cell written with ops takes them. Inputs are
 * read at element strides (ca, cb, cc, sh, sc); outputs are contiguous. */
/* act = the activated gates of a + b (4H; b may be NULL), tc = tanh(c') (H),
 * c_out = c' = f c + i g, h_out = h' = o tanh(c'). */
#define LSTM_FWD_ROW(name, T, VMF)                                                          \
    static void name(T *act, T *tc, T *h_out, T *c_out, const T *a, int64_t ca, const T *b, \
                     int64_t cb, const T *c, int64_t cc, int64_t H) {                       \
        ag_vm_params p = {0, 0};                                                            \
        if (b)                                                                              \
            for (int64_t j = 0; j < 4 * H; j++) act[j] = a[j * ca] + b[j * cb];             \
        else if (a != act)                                                                  \
            for (int64_t j = 0; j < 4 * H; j++) act[j] = a[j * ca];                         \
        VMF(AG_VM_SIGMOID, act, act, 2 * H, p);                                             \
        VMF(AG_VM_TANH, act + 2 * H, act + 2 * H, H, p);                                    \
        VMF(AG_VM_SIGMOID, act + 3 * H, act + 3 * H, H, p);                                 \
        for (int64_t j = 0; j < H; j++)                                                     \
            c_out[j] = act[H + j] * c[j * cc] + act[j] * act[2 * H + j];                    \
        VMF(AG_VM_TANH, tc, c_out, H, p);                                                   \
        for (int64_t j = 0; j < H; j++) h_out[j] = act[3 * H + j] * tc[j];                  \
    }
LSTM_FWD_ROW(lstm_fwd_row_f32, float, ag__vm_forward_f32)
LSTM_FWD_ROW(lstm_fwd_row_f64, double, ag__vm_forward_f64)

/* From gh = dL/dh', gc = dL/dc' (element strides sh, sc), the saved act and tc and the old
 * state c: d = dL/d(pre-activations) (4H), dc = dL/dc (H). dc may be gc (sc 1). */
#define LSTM_BWD_ROW(name, T)                                                                     \
    static void name(T *d, T *dc, const T *gh, int64_t sh, const T *gc, int64_t sc, const T *act, \
                     const T *tc, const T *c, int64_t cc, int64_t H) {                            \
        for (int64_t j = 0; j < H; j++) {                                                         \
            T i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j], t = tc[j];      \
            T dh = gh[j * sh], dct = gc[j * sc] + (dh * o) * (1 - t * t);                         \
            d[j] = (dct * g) * (i * (1 - i));                                                     \
            d[H + j] = (dct * c[j * cc]) * (f * (1 - f));                                         \
            d[2 * H + j] = (dct * i) * (1 - g * g);                                               \
            d[3 * H + j] = (dh * t) * (o * (1 - o));                                              \
            dc[j] = dct * f;                                                                      \
        }                                                                                         \
    }
LSTM_BWD_ROW(lstm_bwd_row_f32, float)
LSTM_BWD_ROW(lstm_bwd_row_f64, double)

/* ------------------------------------------------------------------ forward */
struct fwd_job {
    ag_tensor *out, *act, *tc;
    struct mat a, b, c;
    bool has_b;
    int64_t H;
};

static void fwd_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    (void)tid;
    const struct fwd_job *j = ctx;
    int64_t H = j->H;
    for (int64_t r = lo; r < hi; r++) {
        if (j->out->dtype == AG_F32) {
            const float *a = (const float *)(const void *)j->a.p + r * j->a.rs,
                        *b = j->has_b ? (const float *)(const void *)j->b.p + r * j->b.rs : NULL,
                        *c = (const float *)(const void *)j->c.p + r * j->c.rs;
            float *o = (float *)ag__ptr(j->out) + r * 2 * H;
            lstm_fwd_row_f32((float *)ag__ptr(j->act) + r * 4 * H, (float *)ag__ptr(j->tc) + r * H,
                             o, o + H, a, j->a.cs, b, j->b.cs, c, j->c.cs, H);
        } else {
            const double *a = (const double *)(const void *)j->a.p + r * j->a.rs,
                         *b = j->has_b ? (const double *)(const void *)j->b.p + r * j->b.rs : NULL,
                         *c = (const double *)(const void *)j->c.p + r * j->c.rs;
            double *o = (double *)ag__ptr(j->out) + r * 2 * H;
            lstm_fwd_row_f64((double *)ag__ptr(j->act) + r * 4 * H,
                             (double *)ag__ptr(j->tc) + r * H, o, o + H, a, j->a.cs, b, j->b.cs, c,
                             j->c.cs, H);
        }
    }
}

/* Rows worth about this many element-operations go to threads (a row is ~30 per gate). */
#define GATES_PARALLEL_MIN (1 << 17)

static int gates_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                         ag_tensor **saved) {
    (void)args;
    const ag_tensor *c = in[n - 1];
    int64_t B = out->shape[0], H = c->shape[1];
    ag_tensor *act = ag__empty(out->dtype, 2, (int64_t[]){B, 4 * H}, "ag_lstm_gates");
    ag_tensor *tc = act ? ag__empty(out->dtype, 2, (int64_t[]){B, H}, "ag_lstm_gates") : NULL;
    if (!tc) {
        if (act && !act->arena) ag_tensor_free(act);
        return AG_ERR_NOMEM;
    }
    struct fwd_job j = {
        out,       act,    tc, mat_of(in[0]), n == 3 ? mat_of(in[1]) : (struct mat){0},
        mat_of(c), n == 3, H};
    ag__parallel_for(B, 1, 30.0 * (double)(4 * H), GATES_PARALLEL_MIN, fwd_range, &j);
    saved[0] = act, saved[1] = tc;
    return AG_OK;
}

/* ------------------------------------------------------------------ backward */
struct bwd_job {
    ag_tensor *d, *dc, *act, *tc;
    struct mat g, c;
    int64_t H;
};

static void bwd_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    (void)tid;
    const struct bwd_job *j = ctx;
    int64_t H = j->H, sg = j->g.cs;
    for (int64_t r = lo; r < hi; r++) {
        if (j->d->dtype == AG_F32) {
            const float *g = (const float *)(const void *)j->g.p + r * j->g.rs;
            lstm_bwd_row_f32((float *)ag__ptr(j->d) + r * 4 * H, (float *)ag__ptr(j->dc) + r * H, g,
                             sg, g + H * sg, sg, (const float *)ag__ptr(j->act) + r * 4 * H,
                             (const float *)ag__ptr(j->tc) + r * H,
                             (const float *)(const void *)j->c.p + r * j->c.rs, j->c.cs, H);
        } else {
            const double *g = (const double *)(const void *)j->g.p + r * j->g.rs;
            lstm_bwd_row_f64((double *)ag__ptr(j->d) + r * 4 * H, (double *)ag__ptr(j->dc) + r * H,
                             g, sg, g + H * sg, sg, (const double *)ag__ptr(j->act) + r * 4 * H,
                             (const double *)ag__ptr(j->tc) + r * H,
                             (const double *)(const void *)j->c.p + r * j->c.rs, j->c.cs, H);
        }
    }
}

void ag__lstm_gates_grad(ag_tensor *pre, ag_tensor *c, ag_tensor *gh, ag_tensor *gc, ag_tensor **d,
                         ag_tensor **dc) {
    int64_t H = c->shape[1];
    ag_tensor *q[4];
    for (int k = 0; k < 4; k++) q[k] = ag_slice(pre, 1, k * H, (k + 1) * H, 1);
    ag_tensor *i = ag_sigmoid(q[0]), *f = ag_sigmoid(q[1]), *g = ag_tanh(q[2]),
              *o = ag_sigmoid(q[3]);
    ag_tensor *t = ag_tanh(ag_add(ag_mul(f, c), ag_mul(i, g)));
    ag_tensor *one = ag_scalar(pre->dtype, 1);
    ag_tensor *dct = ag_add(gc, ag_mul(ag_mul(gh, o), ag_sub(one, ag_mul(t, t))));
    ag_tensor *dq[4] = {ag_mul(ag_mul(dct, g), ag_mul(i, ag_sub(one, i))),
                        ag_mul(ag_mul(dct, c), ag_mul(f, ag_sub(one, f))),
                        ag_mul(ag_mul(dct, i), ag_sub(one, ag_mul(g, g))),
                        ag_mul(ag_mul(gh, t), ag_mul(o, ag_sub(one, o)))};
    *d = ag_cat(dq, 4, 1);
    *dc = ag_mul(dct, f);
}

/* The same gradients written with public ops from the inputs (create_graph). */
static int gates_backward_composite(struct ag_node *node, ag_tensor *g) {
    int n = node->n_in;
    ag_tensor *c = node->in[n - 1], *pre = n == 3 ? ag_add(node->in[0], node->in[1]) : node->in[0];
    int64_t H = c->shape[1];
    ag_tensor *d, *dc;
    ag__lstm_gates_grad(pre, c, ag_slice(g, 1, 0, H, 1), ag_slice(g, 1, H, 2 * H, 1), &d, &dc);
    int rc = AG_OK;
    for (int k = 0; k < n - 1 && !rc; k++)
        if (ag__needs_grad(node, k)) rc = ag__accumulate(node, k, d);
    if (!rc && ag__needs_grad(node, n - 1)) rc = ag__accumulate(node, n - 1, dc);
    return rc;
}

static int gates_backward(struct ag_node *node, ag_tensor *g) {
    if (ag_is_grad_enabled()) return gates_backward_composite(node, g);
    int n = node->n_in;
    const ag_tensor *c = node->in[n - 1];
    int64_t B = c->shape[0], H = c->shape[1];
    /* the walk's own scope holds these (and whatever accumulate keeps of them) */
    ag_tensor *d = ag__empty(g->dtype, 2, (int64_t[]){B, 4 * H}, "ag_backward");
    ag_tensor *dc = ag__empty(g->dtype, 2, (int64_t[]){B, H}, "ag_backward");
    if (!d || !dc) return ag__last_error_code() ? ag__last_error_code() : AG_ERR_NOMEM;
    struct bwd_job j = {d, dc, node->saved[0], node->saved[1], mat_of(g), mat_of(c), H};
    ag__parallel_for(B, 1, 12.0 * (double)(4 * H), GATES_PARALLEL_MIN, bwd_range, &j);
    int rc = AG_OK;
    for (int k = 0; k < n - 1 && !rc; k++)
        if (ag__needs_grad(node, k)) rc = ag__accumulate(node, k, d);
    if (!rc && ag__needs_grad(node, n - 1)) rc = ag__accumulate(node, n - 1, dc);
    return rc;
}

/* variant 0: a, b [3,8], c [3,2]; variant 1: a transposed (strided), no b, c [3,2].
 * Benchmark: [64, 4H] gates. */
static int gates_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    (void)args;
    int64_t B = size > 0 ? AG_CHECK_BENCH_ROWS : 3, H = size > 0 ? ag__check_bench_cols(size) : 2;
    if (variant == 0) {
        in[0] = ag__check_input(dt, 2, (int64_t[]){B, 4 * H}, -2, 2);
        in[1] = ag__check_input(dt, 2, (int64_t[]){B, 4 * H}, -2, 2);
        in[2] = ag__check_input(dt, 2, (int64_t[]){B, H}, -2, 2);
        return in[0] && in[1] && in[2] ? 3 : -1;
    }
    if (size > 0) return 0;
    in[0] = ag__check_transposed(ag__check_input(dt, 2, (int64_t[]){4 * H, B}, -2, 2));
    in[1] = ag__check_input(dt, 2, (int64_t[]){B, H}, -2, 2);
    return in[0] && in[1] ? 2 : -1;
}

const struct ag_op_def ag__op_lstm_gates = {
    .name = "lstm_gates",
    .arity = -1,
    .shape = gates_shape,
    .forward = gates_forward,
    .backward = gates_backward,
    .check = {.make = gates_make, .flops_per_elem = 60},
};

ag_tensor *ag_lstm_gates(ag_tensor *a, ag_tensor *b, ag_tensor *c) {
    if (b) return ag__apply(AG_OP_LSTM_GATES, 3, (ag_tensor *const[]){a, b, c}, NULL, 0);
    return ag__apply(AG_OP_LSTM_GATES, 2, (ag_tensor *const[]){a, c}, NULL, 0);
}
