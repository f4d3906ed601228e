/* Tensors: storage, creation, geometry, views and element access. */
#include "tensor/tensor.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

size_t ag_dtype_size(ag_dtype d) { return ag__dsize(d); }

const char *ag_dtype_name(ag_dtype d) {
    switch (d) {
#define NAME(e, T, name, code, fl) \
    case e: return name;
        AG_DTYPES(NAME)
#undef NAME
    }
    return "?";
}

const char *ag__dtype_code(ag_dtype d) {
    switch (d) {
#define CODE(e, T, name, code, fl) \
    case e: return code;
        AG_DTYPES(CODE)
#undef CODE
    }
    return NULL;
}

int ag__dtype_from_code(const char *code, size_t len) {
#define FROM_CODE(e, T, name, c, fl) \
    if (len == sizeof c - 1 && !memcmp(code, c, len)) return e;
    AG_DTYPES(FROM_CODE)
#undef FROM_CODE
    return -1;
}

double ag__load(const void *base, ag_dtype d, int64_t off) {
    switch (d) {
#define LOAD(e, T, name, code, fl) \
    case e: return (double)((const T *)base)[off];
        AG_DTYPES(LOAD)
#undef LOAD
    }
    return NAN;
}

void ag__store(void *base, ag_dtype d, int64_t off, double v) {
    switch (d) {
    case AG_F32: ((float *)base)[off] = (float)v; break;
    case AG_F64: ((double *)base)[off] = v; break;
    case AG_I64: ((int64_t *)base)[off] = (int64_t)v; break;
    case AG_U8: ((uint8_t *)base)[off] = (uint8_t)(v >= 255 ? 255 : v >= 0 ? v : 0); break;
    }
}

int ag__check_shape(int ndim, const int64_t *shape, const char *fn) {
    if (ndim < 0 || ndim > AG_MAX_DIMS)
        return ag__error(AG_ERR_DIM, fn, "ndim %d is outside 0..%d", ndim, AG_MAX_DIMS);
    if (ndim > 0 && !shape) return ag__error(AG_ERR_NULL, fn, "shape is NULL");
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return ag__error(AG_ERR_SHAPE, fn, "negative size in shape %s",
                             ag__shape_str(ndim, shape));
        int64_t s = shape[i] ? shape[i] : 1; /* a 0 must not lift the bound: strides */
        if (n > (INT64_MAX / 8) / s)
            return ag__error(AG_ERR_SHAPE, fn, "shape %s is too large", ag__shape_str(ndim, shape));
        n *= s;
    }
    return AG_OK;
}

void ag__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] ? shape[i] : 1;
    }
}

int ag__norm_dim(int dim, int ndim, const char *fn) {
    int n = ndim ? ndim : 1; /* a 0-d tensor accepts dim 0 and -1, as torch */
    if (dim < -n || dim >= n) {
        ag__error(AG_ERR_DIM, fn, "dim %d is out of range for %d dims", dim, ndim);
        return -1;
    }
    return dim < 0 ? dim + n : dim;
}

/* Fills a tensor struct: contiguous geometry is left to the caller. */
static void tensor_init(ag_tensor *t, struct ag_arena *arena, ag_dtype dtype, int ndim,
                        const int64_t *shape) {
    *t = (ag_tensor){.dtype = dtype,
                     .ndim = ndim,
                     .numel = 1,
                     .arena = arena,
                     .scope_gen = ag__arena_gen(arena)};
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->numel *= shape[i];
    }
}

static ag_tensor *tensor_struct(struct ag_arena *arena, ag_dtype dtype, int ndim,
                                const int64_t *shape, const char *fn) {
    ag_tensor *t = ag__alloc_uninit(arena, sizeof *t, fn);
    if (t) tensor_init(t, arena, dtype, ndim, shape);
    return t;
}

_Thread_local bool ag__walk_temps;

/* Storage header and data: data starts AG_ALIGN bytes in, unless set after (solo). */
static void storage_init(struct ag_storage *s, struct ag_arena *arena, size_t nbytes) {
    *s = (struct ag_storage){.data = (unsigned char *)s + AG_ALIGN,
                             .nbytes = nbytes,
                             .refs = 1,
                             .arena = arena,
                             .walk_temp = ag__walk_temps && arena && arena == ag__current_arena()};
}

/* Data bigger than this gets an arena chunk of its own, which can be released early. */
#define SOLO_BYTES ((size_t)1 << 19)

/* In a scope, tensor struct, storage header and data are one block (one bump of the
 * arena: this is the per-op hot path), except big data, which is a solo chunk (so that it
 * can go back before the scope ends: ag__storage_release_early); on the heap they stay
 * apart, because the storage may outlive the struct (views share it). */
static ag_tensor *new_in(struct ag_arena *arena, ag_dtype dtype, int ndim, const int64_t *shape,
                         bool zero, const char *fn) {
    if (!ag__dtype_valid(dtype)) {
        ag__error(AG_ERR_DTYPE, fn, "unknown dtype %d", (int)dtype);
        return NULL;
    }
    if (ag__check_shape(ndim, shape, fn)) return NULL;
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i];
    size_t nbytes = (size_t)numel * ag_dtype_size(dtype);
    size_t head = (sizeof(ag_tensor) + AG_ALIGN - 1) & ~(size_t)(AG_ALIGN - 1);
    ag_tensor *t;
    struct ag_storage *s;
    void *solo = NULL;
    if (arena) {
        bool big = nbytes > SOLO_BYTES;
        unsigned char *p = ag__alloc_uninit(arena, head + AG_ALIGN + (big ? 0 : nbytes), fn);
        if (!p) return NULL;
        t = (ag_tensor *)p;
        s = (struct ag_storage *)(p + head);
        if (big && !(solo = ag__alloc_solo(arena, nbytes, s, fn))) return NULL;
    } else {
        t = ag__alloc_uninit(NULL, sizeof *t, fn);
        s = t ? ag__alloc_uninit(NULL, AG_ALIGN + nbytes, fn) : NULL;
        if (!s) {
            free(t);
            return NULL;
        }
    }
    tensor_init(t, arena, dtype, ndim, shape);
    storage_init(s, arena, nbytes);
    if (solo) s->data = solo, s->solo = true;
    if (zero) memset(s->data, 0, nbytes);
    t->storage = s;
    ag__contiguous_strides(ndim, shape, t->strides);
    return t;
}

ag_tensor *ag__zeros_in(struct ag_arena *arena, ag_dtype dtype, int ndim, const int64_t *shape,
                        const char *fn) {
    return new_in(arena, dtype, ndim, shape, true, fn);
}

ag_tensor *ag__empty_in(struct ag_arena *arena, ag_dtype dtype, int ndim, const int64_t *shape,
                        const char *fn) {
    return new_in(arena, dtype, ndim, shape, false, fn);
}

ag_tensor *ag__empty(ag_dtype dtype, int ndim, const int64_t *shape, const char *fn) {
    return new_in(ag__current_arena(), dtype, ndim, shape, false, fn);
}

ag_tensor *ag__view_of(ag_tensor *t, int ndim, const int64_t *shape, const int64_t *strides,
                       int64_t offset, const char *fn) {
    struct ag_arena *arena = ag__current_arena();
    ag_tensor *v = tensor_struct(arena, t->dtype, ndim, shape, fn);
    if (!v) return NULL;
    memcpy(v->strides, strides, sizeof(int64_t) * (size_t)ndim);
    v->offset = offset;
    v->storage = t->storage;
    if (!arena && !t->storage->arena) t->storage->refs++;
    return v;
}

void ag__storage_release(struct ag_storage *s) {
    if (s && !s->arena && --s->refs == 0) free(s);
}

static _Atomic(const struct ag_node_hooks *) node_hooks;

void ag__set_node_hooks(const struct ag_node_hooks *hooks) {
    if (atomic_load_explicit(&node_hooks, memory_order_relaxed) != hooks)
        atomic_store_explicit(&node_hooks, hooks, memory_order_release);
}

const struct ag_node_hooks *ag__node_hooks(void) {
    const struct ag_node_hooks *h = atomic_load_explicit(&node_hooks, memory_order_acquire);
    AG_ASSERT(h);
    return h;
}

static _Atomic(void (*)(ag_tensor *)) free_observer;

void ag__set_free_observer(void (*fn)(ag_tensor *t)) { atomic_store(&free_observer, fn); }

void ag_tensor_free(ag_tensor *t) {
    if (!t || t->arena) return; /* scoped tensors go with their scope */
    void (*observe)(ag_tensor *) = atomic_load(&free_observer);
    if (observe) observe(t);
    ag_tensor_free(t->grad);
    if (t->node) ag__node_hooks()->free(t->node);
    ag__storage_release(t->storage);
    free(t);
}

ag_tensor *ag_tensor_new(ag_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    ag_tensor *t = new_in(ag__current_arena(), dtype, ndim, shape, data == NULL, "ag_tensor_new");
    if (t && data) memcpy(t->storage->data, data, (size_t)t->numel * ag_dtype_size(dtype));
    return t;
}

ag_tensor *ag_zeros(ag_dtype dtype, int ndim, const int64_t *shape) {
    return new_in(ag__current_arena(), dtype, ndim, shape, true, "ag_zeros");
}

static ag_tensor *full_named(ag_dtype dtype, int ndim, const int64_t *shape, double value,
                             const char *fn) {
    ag_tensor *t = new_in(ag__current_arena(), dtype, ndim, shape, false, fn);
    if (t && ag_fill_(t, value)) {
        ag__error(AG_ERR_ARG, fn, "%g does not fit %s", value, ag_dtype_name(dtype));
        ag_tensor_free(t);
        return NULL;
    }
    return t;
}

ag_tensor *ag_full(ag_dtype dtype, int ndim, const int64_t *shape, double value) {
    return full_named(dtype, ndim, shape, value, "ag_full");
}

ag_tensor *ag_ones(ag_dtype dtype, int ndim, const int64_t *shape) {
    return full_named(dtype, ndim, shape, 1.0, "ag_ones");
}

ag_tensor *ag_scalar(ag_dtype dtype, double value) {
    return full_named(dtype, 0, NULL, value, "ag_scalar");
}

ag_tensor *ag_zeros_like(const ag_tensor *t) {
    return t ? ag_zeros(t->dtype, t->ndim, t->shape) : NULL;
}
ag_tensor *ag_ones_like(const ag_tensor *t) {
    return t ? ag_ones(t->dtype, t->ndim, t->shape) : NULL;
}

ag_tensor *ag_arange(ag_dtype dtype, double start, double end, double step) {
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step) ||
        (end - start) / step < 0) {
        ag__error(AG_ERR_ARG, "ag_arange", "bad range start=%g end=%g step=%g", start, end, step);
        return NULL;
    }
    double count = ceil((end - start) / step); /* checked before it becomes an int (D16) */
    bool fits = dtype == AG_I64  ? fabs(start) < 0x1p63 && fabs(end) < 0x1p63
                : dtype == AG_U8 ? start >= 0 && start <= 255 && end >= -1 && end <= 256
                                 : true;
    if (!(count < 0x1p62) || !fits) {
        ag__error(AG_ERR_ARG, "ag_arange", "start=%g end=%g step=%g: %s%s", start, end, step,
                  count < 0x1p62 ? "values do not fit " : "too many elements",
                  count < 0x1p62 ? ag_dtype_name(dtype) : "");
        return NULL;
    }
    int64_t n = (int64_t)count;
    ag_tensor *t = new_in(ag__current_arena(), dtype, 1, &n, false, "ag_arange");
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) ag__store(t->storage->data, dtype, i, start + (double)i * step);
    return t;
}

/* ------------------------------------------------------------------ geometry */
ag_dtype ag_dtype_of(const ag_tensor *t) { return t ? t->dtype : AG_F32; }
int ag_ndim(const ag_tensor *t) { return t ? t->ndim : -1; }
const int64_t *ag_shape(const ag_tensor *t) { return t ? t->shape : NULL; }
const int64_t *ag_strides(const ag_tensor *t) { return t ? t->strides : NULL; }
int64_t ag_numel(const ag_tensor *t) { return t ? t->numel : -1; }

int64_t ag_size(const ag_tensor *t, int dim) {
    if (!t) return -1;
    int d = ag__norm_dim(dim, t->ndim, "ag_size");
    if (d < 0) return -1;
    return t->ndim ? t->shape[d] : 1;
}

bool ag_is_contiguous(const ag_tensor *t) {
    if (!t) return false;
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

void *ag_data(ag_tensor *t) {
    if (!t) return NULL;
    if (!ag_is_contiguous(t)) {
        ag__error(AG_ERR_ARG, "ag_data", "tensor %s is not contiguous", AG_SHAPE(t));
        return NULL;
    }
    return ag__ptr(t);
}

/* ------------------------------------------------------------------ element access */
int64_t ag__flat_offset(const ag_tensor *t, int64_t i) {
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t n = t->shape[d];
        off += (i % n) * t->strides[d];
        i /= n;
    }
    return off;
}

double ag__get_flat(const ag_tensor *t, int64_t i) {
    return ag__load(t->storage->data, t->dtype, ag__flat_offset(t, i));
}

double ag_item(const ag_tensor *t) {
    if (!t) return NAN;
    if (ag__scope_ended(t)) return ag__scope_ended_error(t, "ag_item", -1), NAN;
    if (t->storage->released) return ag__released_error(t, "ag_item", -1), NAN;
    if (t->numel != 1) {
        ag__error(AG_ERR_SHAPE, "ag_item", "tensor %s has %lld elements, not 1", AG_SHAPE(t),
                  (long long)t->numel);
        return NAN;
    }
    return ag__load(t->storage->data, t->dtype, t->offset);
}

double ag_get(const ag_tensor *t, const int64_t *index) {
    if (!t) return NAN;
    if (ag__scope_ended(t)) return ag__scope_ended_error(t, "ag_get", -1), NAN;
    if (t->storage->released) return ag__released_error(t, "ag_get", -1), NAN;
    if (t->ndim && !index) {
        ag__error(AG_ERR_NULL, "ag_get", "index is NULL");
        return NAN;
    }
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        if (index[d] < 0 || index[d] >= t->shape[d]) {
            ag__error(AG_ERR_INDEX, "ag_get", "index %lld is out of range for dim %d of %s",
                      (long long)index[d], d, AG_SHAPE(t));
            return NAN;
        }
        off += index[d] * t->strides[d];
    }
    return ag__load(t->storage->data, t->dtype, off);
}

int ag_to_array(const ag_tensor *t, void *dst) {
    if (!t || !dst) return ag__error(AG_ERR_NULL, "ag_to_array", "NULL argument");
    size_t es = ag_dtype_size(t->dtype);
    if (ag_is_contiguous(t)) {
        memcpy(dst, ag__ptr(t), (size_t)t->numel * es);
        return AG_OK;
    }
    for (int64_t i = 0; i < t->numel; i++)
        memcpy((char *)dst + (size_t)i * es,
               (char *)t->storage->data + (size_t)ag__flat_offset(t, i) * es, es);
    return AG_OK;
}

int ag_fill_(ag_tensor *t, double v) {
    if (!t) return ag__error(AG_ERR_NULL, "ag_fill_", "NULL tensor");
    /* cppcheck-suppress incorrectLogicOperator ; cppcheck 2.10 misreads hex-float literals */
    if ((t->dtype == AG_I64 && !(v >= -0x1p63 && v < 0x1p63)) || /* NaN fails too (D17) */
        (t->dtype == AG_U8 && !(v >= 0 && v < 256)))
        return ag__error(AG_ERR_ARG, "ag_fill_", "%g does not fit a %s tensor %s", v,
                         ag_dtype_name(t->dtype), AG_SHAPE(t));
    if (ag_is_contiguous(t)) { /* the common case: one tight loop per dtype */
        char *d = (char *)t->storage->data;
        if (t->dtype == AG_F32) {
            float *p = (float *)(void *)d + t->offset, fv = (float)v;
#pragma omp simd
            for (int64_t i = 0; i < t->numel; i++) p[i] = fv;
        } else if (t->dtype == AG_F64) {
            double *p = (double *)(void *)d + t->offset;
#pragma omp simd
            for (int64_t i = 0; i < t->numel; i++) p[i] = v;
        } else if (t->dtype == AG_I64)
            for (int64_t i = 0; i < t->numel; i++)
                ((int64_t *)(void *)d)[t->offset + i] = (int64_t)v;
        else
            for (int64_t i = 0; i < t->numel; i++) ag__store(d, t->dtype, t->offset + i, v);
        return AG_OK;
    }
    for (int64_t i = 0; i < t->numel; i++)
        ag__store(t->storage->data, t->dtype, ag__flat_offset(t, i), v);
    return AG_OK;
}

int ag_copy_(ag_tensor *dst, const ag_tensor *src) {
    if (!dst || !src) return ag__error(AG_ERR_NULL, "ag_copy_", "NULL tensor");
    if (dst->dtype != src->dtype || dst->ndim != src->ndim ||
        memcmp(dst->shape, src->shape, sizeof(int64_t) * (size_t)src->ndim))
        return ag__error(AG_ERR_SHAPE, "ag_copy_", "%s %s into %s %s differ",
                         ag_dtype_name(src->dtype), AG_SHAPE(src), ag_dtype_name(dst->dtype),
                         AG_SHAPE(dst));
    size_t es = ag_dtype_size(src->dtype);
    if (ag_is_contiguous(dst) && ag_is_contiguous(src)) {
        memmove(ag__ptr(dst), ag__ptr(src), (size_t)src->numel * es);
        return AG_OK;
    }
    for (int64_t i = 0; i < src->numel; i++)
        memcpy((char *)dst->storage->data + (size_t)ag__flat_offset(dst, i) * es,
               (char *)src->storage->data + (size_t)ag__flat_offset(src, i) * es, es);
    return AG_OK;
}
