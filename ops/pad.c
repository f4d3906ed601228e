/* Index remapping along dims, each a separable map (ops/sep_map.h) along one dim:
 *   pad(x, pads, mode, value)   torch.nn.functional.pad: constant, reflect, replicate
 *   flip(x, dims)               torch.flip
 *   roll(x, shift, dim)         torch.roll along one dim
 *   repeat(x, repeats)          torch.Tensor.repeat (tiles; more repeats than dims add
 *                               leading dims)
 * A map per changed dim, applied one after the other; gradients are the transposed maps. */
#include "ops/sep_map.h"

/* x along dim through src(i) for i < out_len (src -1: fill). */
typedef int64_t (*src_fn)(int64_t i, int64_t len, const int64_t *p);
static ag_tensor *remap(ag_tensor *x, int dim, int64_t out_len, src_fn src, const int64_t *p,
                        bool has_fill, double fill, const char *fn) {
    ag_tensor *plan = ag__sep_plan(out_len, 1);
    if (!plan) return NULL;
    int64_t len = x->shape[dim];
    for (int64_t i = 0; i < out_len; i++) {
        int64_t s = src(i, len, p);
        if (s >= 0) ag__sep_plan_set(plan, i, 0, s, 1.0);
    }
    return ag__sep_map(x, dim, plan, has_fill, fill, fn);
}

/* ------------------------------------------------------------------ pad */
/* p = {left, mode} */
static int64_t pad_src(int64_t i, int64_t len, const int64_t *p) {
    int64_t s = i - p[0];
    if (s >= 0 && s < len) return s;
    if (p[1] == AG_PAD_CONSTANT) return -1;
    if (p[1] == AG_PAD_REPLICATE) return s < 0 ? 0 : len - 1;
    return s < 0 ? -s : 2 * (len - 1) - s; /* reflect (|pad| < len checked) */
}

ag_tensor *ag_pad(ag_tensor *x, int n, const int64_t *pads, ag_pad_mode mode, double value) {
    const char *fn = "ag_pad";
    if (!x) return NULL;
    if (n < 0 || n % 2 || n / 2 > x->ndim || (n && !pads)) {
        ag__error(AG_ERR_ARG, fn,
                  "pads must be pairs for at most the %d dims of x %s, got %d "
                  "values",
                  x->ndim, AG_SHAPE(x), n);
        return NULL;
    }
    if (mode != AG_PAD_CONSTANT && mode != AG_PAD_REFLECT && mode != AG_PAD_REPLICATE) {
        ag__error(AG_ERR_ARG, fn, "unknown mode %d (x %s)", (int)mode, AG_SHAPE(x));
        return NULL;
    }
    for (int k = 0; k < n / 2; k++) {
        int dim = x->ndim - 1 - k;
        int64_t len = x->shape[dim], l = pads[2 * k], r = pads[2 * k + 1];
        bool bad = len + l + r < 0 || (mode == AG_PAD_REFLECT && (l >= len || r >= len)) ||
                   (mode == AG_PAD_REPLICATE && len == 0 && l + r > 0);
        if (bad) {
            ag__error(AG_ERR_ARG, fn, "padding (%lld, %lld) of dim %d does not fit %s (%s mode)",
                      (long long)l, (long long)r, dim, AG_SHAPE(x),
                      mode == AG_PAD_REFLECT     ? "reflect: pads must be < the size"
                      : mode == AG_PAD_REPLICATE ? "replicate"
                                                 : "constant");
            return NULL;
        }
    }
    ag_tensor *y = x;
    for (int k = 0; k < n / 2 && y; k++) {
        int dim = x->ndim - 1 - k;
        int64_t l = pads[2 * k], r = pads[2 * k + 1];
        if (l == 0 && r == 0) continue;
        y = remap(y, dim, y->shape[dim] + l + r, pad_src, (int64_t[]){l, (int64_t)mode},
                  mode == AG_PAD_CONSTANT, value, fn);
    }
    return y == x ? ag_clone(x) : y;
}

/* ------------------------------------------------------------------ flip, roll, repeat */
static int64_t flip_src(int64_t i, int64_t len, const int64_t *p) {
    (void)p;
    return len - 1 - i;
}

ag_tensor *ag_flip(ag_tensor *x, int n, const int *dims) {
    const char *fn = "ag_flip";
    if (!x) return NULL;
    if (n < 0 || (n && !dims)) {
        ag__error(AG_ERR_ARG, fn, "needs n >= 0 dims, got %d (x %s)", n, AG_SHAPE(x));
        return NULL;
    }
    uint32_t seen = 0;
    ag_tensor *y = x;
    for (int k = 0; k < n && y; k++) {
        int d = ag__norm_dim(dims[k], x->ndim, fn);
        if (d < 0) return NULL;
        if (seen >> d & 1) {
            ag__error(AG_ERR_ARG, fn, "dim %d appears twice (x %s)", dims[k], AG_SHAPE(x));
            return NULL;
        }
        seen |= 1u << d;
        y = remap(y, d, x->shape[d], flip_src, NULL, false, 0, fn);
    }
    return y == x ? ag_clone(x) : y;
}

static int64_t roll_src(int64_t i, int64_t len, const int64_t *p) {
    int64_t s = (i - p[0]) % len;
    return s < 0 ? s + len : s;
}

ag_tensor *ag_roll(ag_tensor *x, int64_t shift, int dim) {
    const char *fn = "ag_roll";
    if (!x) return NULL;
    int d = ag__norm_dim(dim, x->ndim, fn);
    if (d < 0) return NULL;
    if (x->shape[d] == 0) return ag_clone(x);
    return remap(x, d, x->shape[d], roll_src, (int64_t[]){shift % x->shape[d]}, false, 0, fn);
}

static int64_t tile_src(int64_t i, int64_t len, const int64_t *p) {
    (void)p;
    return i % len;
}

ag_tensor *ag_repeat(ag_tensor *x, int n, const int64_t *repeats) {
    const char *fn = "ag_repeat";
    if (!x) return NULL;
    if (n < x->ndim || n > AG_MAX_DIMS || !repeats) {
        ag__error(AG_ERR_ARG, fn, "needs %d to %d repeats for x %s, got %d", x->ndim, AG_MAX_DIMS,
                  AG_SHAPE(x), n);
        return NULL;
    }
    int64_t shape[AG_MAX_DIMS] = {0};
    for (int d = 0; d < n; d++) {
        if (repeats[d] < 0) {
            ag__error(AG_ERR_ARG, fn, "repeats %s must be >= 0 (x %s)", ag__shape_str(n, repeats),
                      AG_SHAPE(x));
            return NULL;
        }
        shape[d] = d < n - x->ndim ? 1 : x->shape[d - (n - x->ndim)];
    }
    int64_t out[AG_MAX_DIMS], numel = 1;
    for (int d = 0; d < n; d++) numel *= out[d] = shape[d] * repeats[d];
    if (numel == 0) return ag_zeros(x->dtype, n, out); /* tiles of nothing */
    ag_tensor *y = ag_reshape(x, n, shape), *base = y;
    for (int d = 0; d < n && y; d++)
        if (repeats[d] != 1) y = remap(y, d, out[d], tile_src, NULL, false, 0, fn);
    return y == base ? ag_clone(y) : y;
}
