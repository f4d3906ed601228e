/* Copies: contiguous (a strided gather), cast (dtype conversion), and the strided
 * copies that slice, cat and the index ops place data with. */
#include "ops/iter.h"

/* ------------------------------------------------------------------ contiguous */
AG_ROW1(copy_1, uint8_t, a)
AG_ROW1(copy_4, float, a)
AG_ROW1(copy_8, double, a) /* int64 moves as 8-byte words: copying bits is exact */

static int any_dtype_same(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                          const char *fn) {
    (void)n, (void)args, (void)fn;
    m->dtype = in[0]->dtype;
    m->ndim = in[0]->ndim;
    memcpy(m->shape, in[0]->shape, sizeof(int64_t) * (size_t)m->ndim);
    return AG_OK;
}

static int contiguous_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                              ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    size_t es = ag_dtype_size(in[0]->dtype);
    ag__map1(out, in[0], es == 1 ? copy_1 : es == 4 ? copy_4 : copy_8, NULL);
    return AG_OK;
}

static int pass_backward(struct ag_node *node, ag_tensor *grad) {
    return ag__accumulate(node, 0, grad);
}

const struct ag_op_def ag__op_contiguous = {
    .name = "contiguous",
    .arity = 1,
    .shape = any_dtype_same,
    .forward = contiguous_forward,
    .backward = pass_backward,
    .check = {.lo = -2, .hi = 2},
};

ag_tensor *ag_contiguous(ag_tensor *t) {
    if (t && ag_is_contiguous(t)) return t;
    return AG_APPLY1(AG_OP_CONTIGUOUS, t);
}

ag_tensor *ag_clone(ag_tensor *t) { return AG_APPLY1(AG_OP_CONTIGUOUS, t); }

/* ------------------------------------------------------------------ cast */
struct cast_args {
    ag_dtype to;
};

static int cast_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                      const char *fn) {
    const struct cast_args *a = args;
    if (!ag__dtype_valid(a->to)) return ag__error(AG_ERR_DTYPE, fn, "unknown dtype %d", (int)a->to);
    any_dtype_same(m, in, n, args, fn);
    m->dtype = a->to;
    return AG_OK;
}

/* dst[i] = (to) src[i] for n contiguous elements: one typed loop per pair of dtypes. To
 * uint8, floats truncate toward zero and saturate to [0, 255] (NaN: 0; torch leaves the
 * out-of-range case undefined) and int64 wraps modulo 256 (as torch). */
#define CONVERT(to, from, expr)                        \
    do {                                               \
        to *restrict d = dst;                          \
        const from *restrict s = src;                  \
        for (int64_t i = 0; i < n; i++) d[i] = (expr); \
    } while (0)
#define SAT_U8(v) (uint8_t)((v) >= 255 ? 255 : (v) >= 0 ? (v) : 0)

static void convert_from_u8(void *dst, ag_dtype to, const void *src, int64_t n) {
    if (to == AG_F32) CONVERT(float, uint8_t, (float)s[i]);
    else if (to == AG_F64) CONVERT(double, uint8_t, (double)s[i]);
    else CONVERT(int64_t, uint8_t, (int64_t)s[i]);
}

static void convert_to_u8(void *dst, const void *src, ag_dtype from, int64_t n) {
    if (from == AG_F32) CONVERT(uint8_t, float, SAT_U8(s[i]));
    else if (from == AG_F64) CONVERT(uint8_t, double, SAT_U8(s[i]));
    else CONVERT(uint8_t, int64_t, (uint8_t)(uint64_t)s[i]);
}

static void convert(void *dst, ag_dtype to, const void *src, ag_dtype from, int64_t n) {
    if (from == AG_U8) convert_from_u8(dst, to, src, n);
    else if (to == AG_U8) convert_to_u8(dst, src, from, n);
    else if (to == AG_F32 && from == AG_F64) CONVERT(float, double, (float)s[i]);
    else if (to == AG_F32) CONVERT(float, int64_t, (float)s[i]);
    else if (to == AG_F64 && from == AG_F32) CONVERT(double, float, (double)s[i]);
    else if (to == AG_F64) CONVERT(double, int64_t, (double)s[i]);
    else if (from == AG_F32) CONVERT(int64_t, float, (int64_t)s[i]);
    else CONVERT(int64_t, double, (int64_t)s[i]);
}

static int cast_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                        ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    bool prev = ag_set_grad_enabled(false); /* a strided source is gathered first */
    ag_tensor *x = ag_contiguous(in[0]);
    ag_set_grad_enabled(prev);
    if (!x) return ag__last_error_code();
    convert(ag__ptr(out), out->dtype, ag__ptr(x), x->dtype, out->numel);
    if (x != in[0]) ag_tensor_free(x); /* frees heap temporaries; scoped ones wait */
    return AG_OK;
}

static int cast_backward(struct ag_node *node, ag_tensor *grad) {
    return ag__accumulate(node, 0, ag_cast(grad, node->in[0]->dtype));
}

static int cast_make(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size) {
    if (variant) return 0;
    *(struct cast_args *)args = (struct cast_args){dtype == AG_F32 ? AG_F64 : AG_F32};
    int64_t n = size ? size : 5;
    in[0] = ag__check_input(dtype, 1, &n, -2, 2);
    return 1;
}

const struct ag_op_def ag__op_cast = {
    .name = "cast",
    .arity = 1,
    .shape = cast_shape,
    .forward = cast_forward,
    .backward = cast_backward,
    .check = {.make = cast_make, .eps = 1e-2, .atol = 1e-4}, /* linear: a wide step is exact */
};

ag_tensor *ag_cast(ag_tensor *t, ag_dtype dtype) {
    if (t && t->dtype == dtype) return t;
    struct cast_args a = {dtype};
    if (ag__is_float(dtype)) return AG_APPLY_ARGS(AG_OP_CAST, 1, (ag_tensor *const[]){t}, a);
    bool prev = ag_set_grad_enabled(false); /* integers carry no gradient (as torch) */
    ag_tensor *out = AG_APPLY_ARGS(AG_OP_CAST, 1, (ag_tensor *const[]){t}, a);
    ag_set_grad_enabled(prev);
    return out;
}

/* ------------------------------------------------------------------ strided copies */
void ag__copy_strided(ag_dtype dt, char *dst, const int64_t *ds, const char *src, const int64_t *ss,
                      int ndim, const int64_t *shape, bool add) {
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= shape[d];
    if (numel == 0) return;
    size_t es = ag_dtype_size(dt);
    int64_t inner = ndim ? shape[ndim - 1] : 1, sd = ndim ? ds[ndim - 1] : 0,
            sx = ndim ? ss[ndim - 1] : 0;
    for (int64_t r = 0; r < numel / inner; r++) {
        int64_t od = 0, os = 0, rem = r;
        for (int d = ndim - 2; d >= 0; d--) {
            int64_t k = rem % shape[d];
            rem /= shape[d];
            od += k * ds[d];
            os += k * ss[d];
        }
        char *z = dst + (size_t)od * es;
        const char *x = src + (size_t)os * es;
        if (dt == AG_F32) {
            float *zf = (float *)(void *)z;
            const float *xf = (const float *)(const void *)x;
            for (int64_t i = 0; i < inner; i++) zf[i * sd] = (add ? zf[i * sd] : 0) + xf[i * sx];
        } else if (dt == AG_F64) {
            double *zf = (double *)(void *)z;
            const double *xf = (const double *)(const void *)x;
            for (int64_t i = 0; i < inner; i++) zf[i * sd] = (add ? zf[i * sd] : 0) + xf[i * sx];
        } else if (dt == AG_U8) { /* integers: copies only */
            uint8_t *zf = (uint8_t *)z;
            const uint8_t *xf = (const uint8_t *)x;
            for (int64_t i = 0; i < inner; i++) zf[i * sd] = xf[i * sx];
        } else {
            int64_t *zf = (int64_t *)(void *)z;
            const int64_t *xf = (const int64_t *)(const void *)x;
            for (int64_t i = 0; i < inner; i++) zf[i * sd] = (add ? zf[i * sd] : 0) + xf[i * sx];
        }
    }
}

void ag__place(ag_tensor *out, const ag_tensor *t, int dim, int64_t at, int64_t step, bool add) {
    int64_t os[AG_MAX_DIMS];
    ag__contiguous_strides(out->ndim, out->shape, os);
    char *base = (char *)ag__ptr(out) + (size_t)(at * os[dim]) * ag_dtype_size(out->dtype);
    os[dim] *= step;
    ag__copy_strided(out->dtype, base, os, ag__ptr(t), t->strides, t->ndim, t->shape, add);
}
