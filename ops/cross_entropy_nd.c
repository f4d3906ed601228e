/* Cross-entropy over [N, C, d1, ..., dk] logits and [N, d1, ..., dk] int64 labels, torch's
 * K-dimensional form, with ignore_index and label smoothing (torch 1.13 semantics):
 *   loss at a position = -(1 - eps) log p[y] - eps/C sum_c log p[c], p = softmax over C;
 *   ignored positions give 0 and do not count: MEAN divides by the positions that count
 *   (NaN when none does, as torch).
 *   cross_entropy_loss_nd(x, y)                  the loss (0-d for MEAN/SUM, y's shape
 *                                                for NONE)
 *   cross_entropy_loss_nd_backward(g, x, y)      dx = G (p - target distribution), G the
 *                                                position's scale (0 where ignored)
 * Positions are independent (threads split them) and the reduction adds in position
 * order: results do not depend on the thread count. Without create_graph the backward
 * is the fused op; with it, the same formula with ops (softmax), differentiable again. */
#include "ops/kernels/vmath.h"
#include "ops/ops.h"
#include "runtime/parallel.h"

#include <math.h>

struct cend_args {
    int reduction; /* ag_reduction */
    double smoothing;
    bool use_ignore;
    int64_t ignore_index;
};

/* The geometry: N, C and S = d1 * ... * dk; class c of position (n, s) at n*C*S + c*S + s. */
struct cend_geom {
    int64_t N, C, S;
};

static struct cend_geom geom_of(const ag_tensor *x) {
    struct cend_geom g = {x->shape[0], x->shape[1], 1};
    for (int d = 2; d < x->ndim; d++) g.S *= x->shape[d];
    return g;
}

static int64_t label_at(const ag_tensor *y, int64_t i) {
    if (ag_is_contiguous(y)) return ((const int64_t *)ag__ptr(y))[i];
    return ((const int64_t *)y->storage->data)[ag__flat_offset(y, i)];
}

static double elem_at(const ag_tensor *x, int64_t i) { /* contiguous x */
    return x->dtype == AG_F32 ? ((const float *)ag__ptr(x))[i] : ((const double *)ag__ptr(x))[i];
}

static bool ignored(const struct cend_args *a, int64_t label) {
    return a->use_ignore && label == a->ignore_index;
}

/* x float [N, C, d...]; y int64 [N, d...] with labels in [0, C) or ignore_index. */
static int check_pair(const ag_tensor *x, const ag_tensor *y, const struct cend_args *a,
                      const char *fn) {
    if (!ag__is_float(x->dtype) || x->ndim < 2)
        return ag__error(x->ndim < 2 ? AG_ERR_SHAPE : AG_ERR_DTYPE, fn,
                         "logits must be float "
                         "[N, C, d1, ...], got %s %s",
                         ag_dtype_name(x->dtype), AG_SHAPE(x));
    bool ok = y->dtype == AG_I64 && y->ndim == x->ndim - 1 && y->shape[0] == x->shape[0];
    for (int d = 1; ok && d < y->ndim; d++) ok = y->shape[d] == x->shape[d + 1];
    if (!ok)
        return ag__error(y->dtype != AG_I64 ? AG_ERR_DTYPE : AG_ERR_SHAPE, fn,
                         "target must be "
                         "int64 [N, d1, ...] for logits %s, got %s %s",
                         AG_SHAPE(x), ag_dtype_name(y->dtype), AG_SHAPE(y));
    for (int64_t i = 0; i < y->numel; i++) {
        int64_t c = label_at(y, i);
        if ((c < 0 || c >= x->shape[1]) && !ignored(a, c))
            return ag__error(AG_ERR_INDEX, fn,
                             "label %lld at position %lld is out of range "
                             "[0, %lld) for logits %s",
                             (long long)c, (long long)i, (long long)x->shape[1], AG_SHAPE(x));
    }
    return AG_OK;
}

static ag_tensor *dense(ag_tensor *t) {
    if (!t || ag_is_contiguous(t)) return t;
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *c = ag_contiguous(t);
    ag_set_grad_enabled(prev);
    return c;
}

/* ------------------------------------------------------------------ slabs
 * Sample n's logits are a slab [C, S] (class stride S). Per slab: mx[s] = the max over the
 * classes (0 when infinite, as torch's logsumexp), e = exp(x - mx) through the vector
 * kernels, sum[s] = sum over the classes of e in double; loops run along s, contiguous. */
struct slab {
    double *mx, *sum, *aux; /* [S] each; aux: the per-position scale in backward */
    void *e;                /* [C, S] in x's dtype */
};

static bool slab_alloc(struct slab *sb, struct cend_geom g, size_t es) {
    size_t S = (size_t)(g.S ? g.S : 1), CS = (size_t)((g.C && g.S) ? g.C * g.S : 1);
    sb->mx = malloc(3 * S * sizeof(double));
    sb->sum = sb->mx ? sb->mx + S : NULL;
    sb->aux = sb->mx ? sb->mx + 2 * S : NULL;
    sb->e = malloc(CS * es);
    return sb->mx && sb->e;
}
static void slab_free(struct slab *sb) {
    free(sb->mx);
    free(sb->e);
}

#define DEF_SLAB(T, name, vm_forward)                                                \
    static void name(const T *restrict xs, int64_t C, int64_t S, struct slab *sb) {  \
        T *restrict e = sb->e;                                                       \
        double *restrict mx = sb->mx, *restrict sum = sb->sum;                       \
        for (int64_t s = 0; s < S; s++) mx[s] = -INFINITY, sum[s] = 0;               \
        for (int64_t c = 0; c < C; c++)                                              \
            for (int64_t s = 0; s < S; s++) {                                        \
                double v = xs[c * S + s];                                            \
                if (v > mx[s] || v != v) mx[s] = v;                                  \
            }                                                                        \
        for (int64_t s = 0; s < S; s++) mx[s] = isinf(mx[s]) ? 0 : mx[s];            \
        for (int64_t c = 0; c < C; c++)                                              \
            for (int64_t s = 0; s < S; s++) e[c * S + s] = xs[c * S + s] - (T)mx[s]; \
        vm_forward(AG_VM_EXP, e, e, C *S, (ag_vm_params){0, 0});                     \
        for (int64_t c = 0; c < C; c++)                                              \
            for (int64_t s = 0; s < S; s++) sum[s] += e[c * S + s];                  \
    }
DEF_SLAB(float, slab_softmax_f32, ag__vm_forward_f32)
DEF_SLAB(double, slab_softmax_f64, ag__vm_forward_f64)

static void slab_softmax(const ag_tensor *x, int64_t n, struct cend_geom g, struct slab *sb) {
    if (x->dtype == AG_F32)
        slab_softmax_f32((const float *)ag__ptr(x) + n * g.C * g.S, g.C, g.S, sb);
    else slab_softmax_f64((const double *)ag__ptr(x) + n * g.C * g.S, g.C, g.S, sb);
}

/* ------------------------------------------------------------------ cross_entropy_loss_nd */
static int cend_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                      const char *fn) {
    (void)n;
    const struct cend_args *a = args;
    if (check_pair(in[0], in[1], a, fn)) return ag__last_error_code();
    m->dtype = in[0]->dtype;
    m->ndim = a->reduction == AG_REDUCTION_NONE ? in[1]->ndim : 0;
    memcpy(m->shape, in[1]->shape, sizeof(int64_t) * (size_t)in[1]->ndim);
    return AG_OK;
}

/* One loss (or its gradient) shared out over the batch by ag__parallel_for; each call
 * has a softmax slab of its own, and `sample` does one sample's work after its softmax. */
struct cend_job {
    const struct cend_args *a;
    ag_tensor *x;
    const ag_tensor *y;
    const ag_tensor *g; /* backward: grad_output */
    ag_tensor *out;     /* backward: the gradient */
    double *loss;       /* forward: per position */
    struct cend_geom geo;
    double scale, base_t;
    bool f32;
    int rc; /* AG_ERR_NOMEM when a slab could not be had */
    void (*sample)(const struct cend_job *j, int64_t n, struct slab *sb);
};

static void slab_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    struct cend_job *j = ctx;
    struct slab sb;
    (void)tid;
    if (!slab_alloc(&sb, j->geo, ag_dtype_size(j->x->dtype))) {
        __atomic_store_n(&j->rc, AG_ERR_NOMEM, __ATOMIC_RELAXED);
        slab_free(&sb);
        return;
    }
    for (int64_t n = lo; n < hi; n++) {
        slab_softmax(j->x, n, j->geo, &sb);
        j->sample(j, n, &sb);
    }
    slab_free(&sb);
}

/* j->sample over every sample, in parallel when the batch is large: AG_OK or AG_ERR_NOMEM. */
static int run_slabs(struct cend_job *j) {
    ag__parallel_for(j->geo.N, 1, (double)(j->geo.S * j->geo.C), 1 << 15, slab_range, j);
    return j->rc;
}

/* The loss of each position of sample n. */
static void sample_loss(const struct cend_job *j, int64_t n, struct slab *sb) {
    const struct cend_args *a = j->a;
    const ag_tensor *x = j->x;
    struct cend_geom g = j->geo;
    for (int64_t s = 0; s < g.S; s++) {
        int64_t i = n * g.S + s, y = label_at(j->y, i), base = n * g.C * g.S + s;
        if (ignored(a, y)) {
            j->loss[i] = 0;
            continue;
        }
        double lse = log(sb->sum[s]) + sb->mx[s], all = 0;
        for (int64_t c = 0; a->smoothing != 0 && c < g.C; c++) all += elem_at(x, base + c * g.S);
        j->loss[i] = (1 - a->smoothing) * (lse - elem_at(x, base + y * g.S)) +
                     (a->smoothing != 0 ? a->smoothing * (lse - all / (double)g.C) : 0);
    }
}

static int cend_forward(ag_tensor *out, ag_tensor *const *in, int n_in, const void *args,
                        ag_tensor **saved) {
    (void)n_in, (void)saved;
    const struct cend_args *a = args;
    ag_tensor *x = dense(in[0]);
    struct cend_geom g = geom_of(in[0]);
    int64_t P = g.N * g.S;
    double *loss = malloc(sizeof(double) * (size_t)(P ? P : 1));
    if (!x || !loss) {
        free(loss);
        if (x && x != in[0] && !x->arena) ag_tensor_free(x);
        return ag__error(AG_ERR_NOMEM, "ag_cross_entropy_loss_nd", "out of memory (logits %s)",
                         AG_SHAPE(in[0]));
    }
    struct cend_job j = {a, x, in[1], NULL, NULL, loss, g, 0, 0, false, AG_OK, sample_loss};
    int rc = run_slabs(&j);
    if (rc) {
        free(loss);
        if (x != in[0] && !x->arena) ag_tensor_free(x);
        return ag__error(rc, "ag_cross_entropy_loss_nd", "out of memory (logits %s)",
                         AG_SHAPE(in[0]));
    }
    if (a->reduction == AG_REDUCTION_NONE) {
        for (int64_t i = 0; i < P; i++) {
            if (out->dtype == AG_F32) ((float *)ag__ptr(out))[i] = (float)loss[i];
            else ((double *)ag__ptr(out))[i] = loss[i];
        }
    } else {
        double total = 0;
        int64_t count = 0;
        for (int64_t i = 0; i < P; i++) total += loss[i], count += !ignored(a, label_at(in[1], i));
        if (a->reduction == AG_REDUCTION_MEAN) total /= (double)count;
        if (out->dtype == AG_F32) *(float *)ag__ptr(out) = (float)total;
        else *(double *)ag__ptr(out) = total;
    }
    free(loss);
    if (x != in[0] && !x->arena) ag_tensor_free(x);
    return AG_OK;
}

/* Positions that count (not ignored). */
static int64_t counted(const ag_tensor *y, const struct cend_args *a) {
    int64_t k = 0;
    for (int64_t i = 0; i < y->numel; i++) k += !ignored(a, label_at(y, i));
    return k;
}

/* The per-position scale of g (0 where ignored) as a constant of y's shape, and the target
 * distribution as a constant of x's shape: the pieces of the composite backward. */
static ag_tensor *position_weights(const ag_tensor *y, const struct cend_args *a, ag_dtype dt) {
    ag_tensor *w = ag_zeros(dt, y->ndim, y->shape);
    double scale = a->reduction == AG_REDUCTION_MEAN ? 1.0 / (double)counted(y, a) : 1.0;
    for (int64_t i = 0; w && i < y->numel; i++) {
        double v = ignored(a, label_at(y, i)) ? 0 : scale;
        if (dt == AG_F32) ((float *)ag__ptr(w))[i] = (float)v;
        else ((double *)ag__ptr(w))[i] = v;
    }
    return w;
}
static ag_tensor *target_distribution(const ag_tensor *x, const ag_tensor *y,
                                      const struct cend_args *a) {
    struct cend_geom g = geom_of(x);
    ag_tensor *t = ag_full(x->dtype, x->ndim, x->shape, a->smoothing / (double)g.C);
    for (int64_t i = 0; t && i < g.N * g.S; i++) {
        int64_t c = label_at(y, i), off = (i / g.S) * g.C * g.S + i % g.S;
        if (ignored(a, c)) continue;
        off += c * g.S;
        double v = 1 - a->smoothing + a->smoothing / (double)g.C;
        if (x->dtype == AG_F32) ((float *)ag__ptr(t))[off] = (float)v;
        else ((double *)ag__ptr(t))[off] = v;
    }
    return t;
}

/* dx = G (softmax(x, 1) - T) with ops: differentiable in x and g. */
static ag_tensor *cend_grad_with_ops(ag_tensor *g, ag_tensor *x, ag_tensor *y,
                                     const struct cend_args *a) {
    ag_tensor *w = position_weights(y, a, x->dtype);
    ag_tensor *G = ag_unsqueeze(ag_mul(g, w), 1); /* g 0-d or y's shape; [N, 1, d...] */
    return ag_mul(G, ag_sub(ag_softmax(x, 1), target_distribution(x, y, a)));
}

static int cend_backward(struct ag_node *node, ag_tensor *g) {
    const struct cend_args *a = AG_ARGS(node, struct cend_args);
    ag_tensor *x = node->in[0], *y = node->in[1];
    if (ag_is_grad_enabled()) return ag__accumulate(node, 0, cend_grad_with_ops(g, x, y, a));
    ag_tensor *const in[] = {g, x, y};
    return ag__accumulate(node, 0,
                          ag__apply(AG_OP_CROSS_ENTROPY_LOSS_ND_BACKWARD, 3, in, a, sizeof *a));
}

/* Labels below C, with about one in four set to the ignored index. */
static ag_tensor *random_labels(int ndim, const int64_t *shape, int64_t C, int64_t ignore) {
    ag_tensor *t = ag_zeros(AG_I64, ndim, shape);
    for (int64_t i = 0; t && i < t->numel; i++) {
        uint64_t r = ag_random_u64();
        ((int64_t *)ag__ptr(t))[i] = i > 0 && r % 4 == 0 ? ignore : (int64_t)(r / 4 % (uint64_t)C);
    }
    return t;
}

/* variant 0: [2,4,3,2] logits (K = 2), ignore_index 1, mean; variant 1: transposed [5,3]
 * logits, ignore_index -100, smoothing 0.2, 'none'. Benchmark: [size/(8*16), 8, 16]. */
static int cend_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct cend_args *a = args;
    if (size) {
        int64_t N = size / 128 > 1 ? size / 128 : 1;
        *a = (struct cend_args){AG_REDUCTION_MEAN, 0, true, -100};
        in[0] = ag__check_input(dt, 3, (int64_t[]){N, 8, 16}, -3, 3);
        in[1] = random_labels(2, (int64_t[]){N, 16}, 8, -100);
        return 2;
    }
    if (variant == 0) {
        *a = (struct cend_args){AG_REDUCTION_MEAN, 0, true, 1};
        in[0] = ag__check_input(dt, 4, (int64_t[]){2, 4, 3, 2}, -3, 3);
        in[1] = random_labels(3, (int64_t[]){2, 3, 2}, 4, 1);
        return 2;
    }
    *a = (struct cend_args){AG_REDUCTION_NONE, 0.2, true, -100};
    ag_tensor *base = ag__check_input(dt, 2, (int64_t[]){3, 5}, -3, 3);
    bool prev = ag_set_grad_enabled(false);
    in[0] = ag_transpose(base, 0, 1);
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(in[0], true);
    in[1] = random_labels(1, (int64_t[]){5}, 3, -100);
    return 2;
}

const struct ag_op_def ag__op_cross_entropy_loss_nd = {
    .name = "cross_entropy_loss_nd",
    .arity = 2,
    .shape = cend_shape,
    .forward = cend_forward,
    .backward = cend_backward,
    .check = {.make = cend_make, .flops_per_elem = 25},
};

/* ------------------------------------------------------------------ cross_entropy_loss_nd_backward */
static int cendb_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                       const char *fn) {
    (void)n;
    const struct cend_args *a = args;
    const ag_tensor *g = in[0], *x = in[1], *y = in[2];
    if (check_pair(x, y, a, fn)) return ag__last_error_code();
    bool none = a->reduction == AG_REDUCTION_NONE;
    bool ok = g->dtype == x->dtype && g->ndim == (none ? y->ndim : 0);
    for (int d = 0; ok && none && d < y->ndim; d++) ok = g->shape[d] == y->shape[d];
    if (!ok)
        return ag__error(AG_ERR_SHAPE, fn,
                         "grad_output %s %s does not match target %s of logits "
                         "%s %s",
                         ag_dtype_name(g->dtype), AG_SHAPE(g), AG_SHAPE(y), ag_dtype_name(x->dtype),
                         AG_SHAPE(x));
    return ag__shape_same(m, in + 1, 1, NULL, fn);
}

/* The gradient of sample n's logits (sb's sum and aux are overwritten). */
static void sample_grad(const struct cend_job *j, int64_t n, struct slab *sb) {
    const struct cend_args *a = j->a;
    const ag_tensor *g = j->g, *y = j->y;
    struct cend_geom geo = j->geo;
    double scale = j->scale, base_t = j->base_t;
    bool f32 = j->f32;
    for (int64_t s = 0; s < geo.S; s++) { /* G / sum per position, 0 where ignored */
        int64_t i = n * geo.S + s;
        double G = ignored(a, label_at(y, i))
                       ? 0
                       : ag__get_flat(g, a->reduction == AG_REDUCTION_NONE ? i : 0) * scale;
        sb->aux[s] = G;
        sb->sum[s] = G / sb->sum[s];
    }
    for (int64_t c = 0; c < geo.C; c++)
        for (int64_t s = 0; s < geo.S; s++) {
            int64_t at = c * geo.S + s;
            double e = f32 ? ((const float *)sb->e)[at] : ((const double *)sb->e)[at];
            double v = sb->sum[s] * e - sb->aux[s] * base_t;
            if (f32) ((float *)ag__ptr(j->out))[n * geo.C * geo.S + at] = (float)v;
            else ((double *)ag__ptr(j->out))[n * geo.C * geo.S + at] = v;
        }
    for (int64_t s = 0; s < geo.S; s++) { /* the label's entry: - G (1 - eps) */
        int64_t i = n * geo.S + s, c0 = label_at(y, i);
        if (ignored(a, c0)) continue;
        int64_t at = n * geo.C * geo.S + c0 * geo.S + s;
        double e =
            f32 ? ((const float *)sb->e)[c0 * geo.S + s] : ((const double *)sb->e)[c0 * geo.S + s];
        double v = sb->sum[s] * e - sb->aux[s] * (base_t + 1 - a->smoothing);
        if (f32) ((float *)ag__ptr(j->out))[at] = (float)v;
        else ((double *)ag__ptr(j->out))[at] = v;
    }
}

static int cendb_forward(ag_tensor *out, ag_tensor *const *in, int n_in, const void *args,
                         ag_tensor **saved) {
    (void)n_in, (void)saved;
    const struct cend_args *a = args;
    ag_tensor *x = dense(in[1]);
    if (!x) return AG_ERR_NOMEM;
    const ag_tensor *g = in[0], *y = in[2];
    struct cend_geom geo = geom_of(x);
    double scale = a->reduction == AG_REDUCTION_MEAN ? 1.0 / (double)counted(y, a) : 1.0;
    double base_t = geo.C ? a->smoothing / (double)geo.C : 0;
    struct cend_job j = {
        a, x, y, g, out, NULL, geo, scale, base_t, out->dtype == AG_F32, AG_OK, sample_grad};
    int rc = run_slabs(&j);
    if (rc)
        ag__error(rc, "ag_cross_entropy_loss_nd_backward", "out of memory (logits %s)",
                  AG_SHAPE(in[1]));
    if (x != in[1] && !x->arena) ag_tensor_free(x);
    return rc;
}

/* Never recorded (cend_backward uses it only with grad mode off). */
static int cendb_no_backward(struct ag_node *node, ag_tensor *g) {
    (void)g;
    return ag__error(
        AG_ERR_STATE, "ag_cross_entropy_loss_nd_backward",
        "not twice differentiable "
        "(logits %s); differentiate ag_cross_entropy_loss_nd with create_graph instead",
        AG_SHAPE(node->in[1]));
}

static int cendb_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    cend_make(in + 1, args, dt, variant, size);
    const struct cend_args *a = args;
    in[0] = a->reduction == AG_REDUCTION_NONE
                ? ag__check_input(dt, in[2]->ndim, in[2]->shape, -2, 2)
                : ag__check_input(dt, 0, NULL, 0.5, 2);
    return 3;
}

const struct ag_op_def ag__op_cross_entropy_loss_nd_backward = {
    .name = "cross_entropy_loss_nd_backward",
    .arity = 3,
    .shape = cendb_shape,
    .forward = cendb_forward,
    .backward = cendb_no_backward,
    .check = {.make = cendb_make, .no_grad = true, .flops_per_elem = 25},
};

/* ------------------------------------------------------------------ public function */
ag_tensor *ag_cross_entropy_loss_nd(ag_tensor *logits, ag_tensor *target,
                                    ag_cross_entropy_nd_opts opts) {
    const char *fn = "ag_cross_entropy_loss_nd";
    if (!logits || !target) return NULL;
    if (opts.reduction < AG_REDUCTION_MEAN || opts.reduction > AG_REDUCTION_NONE) {
        ag__error(AG_ERR_ARG, fn, "unknown reduction %d (logits %s)", (int)opts.reduction,
                  AG_SHAPE(logits));
        return NULL;
    }
    if (!(opts.label_smoothing >= 0 && opts.label_smoothing <= 1)) {
        ag__error(AG_ERR_ARG, fn, "label_smoothing must lie in [0, 1], got %g (logits %s)",
                  opts.label_smoothing, AG_SHAPE(logits));
        return NULL;
    }
    struct cend_args a = {(int)opts.reduction, opts.label_smoothing, opts.use_ignore_index,
                          opts.ignore_index};
    return ag__apply(AG_OP_CROSS_ENTROPY_LOSS_ND, 2, (ag_tensor *const[]){logits, target}, &a,
                     sizeof a);
}
