/* Internal: the tensor, its storage, scopes (arenas) and errors.
 * Everything in the library includes this; nothing here includes anything above tensor/. */
#ifndef AG_TENSOR_INTERNAL_H
#define AG_TENSOR_INTERNAL_H

#include <ag.h>
#include "tensor/alloc.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define AG_ALIGN 64

/* ------------------------------------------------------------------ errors
 * One X-macro: code, and the phrase that starts no message (messages are free text
 * naming the function and shapes; the code is for callers that branch on it). */
#define AG_ERRORS(X)                        \
    X(AG_ERR_NULL, "null argument")         \
    X(AG_ERR_SHAPE, "shape mismatch")       \
    X(AG_ERR_DTYPE, "dtype mismatch")       \
    X(AG_ERR_DIM, "dimension out of range") \
    X(AG_ERR_ARG, "invalid argument")       \
    X(AG_ERR_INDEX, "index out of range")   \
    X(AG_ERR_STATE, "invalid state")        \
    X(AG_ERR_NOMEM, "out of memory")        \
    X(AG_ERR_IO, "i/o error")

enum ag__error_code {
    AG_OK = 0,
#define X(code, text) code,
    AG_ERRORS(X)
#undef X
};

/* AG__EXPORT marks the few internal functions libag_dist.so (dist/) calls: libag.so is
 * built with -fvisibility=hidden and exports only ag.h's declarations plus these.
 * tests/check-symbols.sh allows exactly the names so marked. Not public API. */
#define AG__EXPORT __attribute__((visibility("default")))

/* Sets the thread's last error to "fn: <formatted>" and calls the handler. Returns code. */
AG__EXPORT int ag__error(int code, const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ag__last_error_code(void);
/* "[2,3,4]" in a rotating thread-local buffer (8 live at once). */
AG__EXPORT const char *ag__shape_str(int ndim, const int64_t *shape);
#define AG_SHAPE(t) ag__shape_str((t)->ndim, (t)->shape)

/* Invariant check of the library's own logic: stays on in release builds. */
#define AG_ASSERT(c)                                                                   \
    do {                                                                               \
        if (!(c)) {                                                                    \
            fprintf(stderr, "ag: internal error %s:%d: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* ------------------------------------------------------------------ arenas and scopes */
struct ag_arena *ag__current_arena(void); /* innermost scope's arena, or NULL (heap) */
/* Zeroed, AG_ALIGN-aligned memory from arena, or malloc'ed when arena is NULL.
 * Returns NULL (and sets AG_ERR_NOMEM naming fn) on failure. */
void *ag__alloc(struct ag_arena *arena, size_t bytes, const char *fn);
void *ag__alloc_uninit(struct ag_arena *arena, size_t bytes, const char *fn);
/* bytes in a chunk of arena's own (never shared with other allocations), whose data is
 * owner's: the chunk can be given back alone (ag__storage_release_early). */
struct ag_storage;
void *ag__alloc_solo(struct ag_arena *arena, size_t bytes, struct ag_storage *owner,
                     const char *fn);
/* Each scope's arena has a generation, new at every ag_scope_begin and 0 once it ended;
 * a tensor keeps its arena's. ag__scope_ended(t): t was made in a scope of this thread
 * that has ended (a use after the scope: its memory is free or reused). A tensor of
 * another thread's scope is not checked. */
#define AG_SCOPE_MAX_DEPTH 64
struct ag__chunk;
struct ag__cleanup;
struct ag_arena {
    uint32_t gen; /* 0: not open */
    struct ag__chunk *head;
    struct ag__cleanup *cleanups;
};
extern _Thread_local struct ag_arena ag__scopes[AG_SCOPE_MAX_DEPTH]; /* this thread's */
static inline uint32_t ag__arena_gen(const struct ag_arena *arena) {
    return arena ? arena->gen : 0;
}

/* The error for it: "fn: input <i> [shape] was made in a scope that has ended" (i < 0:
 * "tensor [shape] ..."). */
int ag__scope_ended_error(const ag_tensor *t, const char *fn, int i);
/* This thread's arena memory in bytes: in chunks of open scopes (live), in the cache of
 * freed chunks (cached), and the peaks of live and of live + cached since the thread
 * started or the last ag__arena_stats_reset_peak. Tests and memory measurements read it. */
struct ag__arena_stats {
    size_t live, cached, peak_live, peak_total;
};
struct ag__arena_stats ag__arena_stats(void);
void ag__arena_stats_reset_peak(void);
/* Registers a cleanup run when the arena is freed (for objects holding heap memory). */
int ag__arena_on_free(struct ag_arena *arena, void (*fn)(void *), void *p);

/* ------------------------------------------------------------------ storage and tensor */
struct ag_storage {
    void *data;
    size_t nbytes;
    int64_t refs;           /* heap storage only: tensors sharing it */
    struct ag_arena *arena; /* NULL: heap, freed when refs reaches 0 */
    /* Early release (docs/DESIGN.md, "Memory"): a big scoped storage has its data in an
     * arena chunk of its own (solo), which ag__storage_release_early gives back before its
     * scope ends when nothing can read it any more. */
    int32_t holds;  /* a backward walk's count of the readers still to come */
    bool solo;      /* data is an arena chunk of its own */
    bool internal;  /* library-made and never handed to the caller (ag__mark_internal) */
    bool escaped;   /* handed to the caller's code at some point: never released early */
    bool walk_temp; /* made by a backward rule of a walk that releases (ag__walk_temps) */
    bool released;  /* its data went back early: any read is an error */
};

struct ag_node;

struct ag_tensor { /* hot fields first: the first cache line is what the
                                     * apply path and the backward walk touch */
    ag_dtype dtype;
    int ndim;
    int64_t numel;
    int64_t offset; /* in elements, into storage */
    struct ag_storage *storage;
    struct ag_node *node;   /* the op that made it when recorded (grad_fn) */
    ag_tensor *grad;        /* leaves: accumulated gradient, same domain as the tensor */
    struct ag_arena *arena; /* where this struct lives; NULL: heap */
    bool requires_grad;
    bool grad_zero;     /* .grad's contents count as zeros (ag_zero_grad): the next
                                       backward copies over them instead of adding */
    uint32_t scope_gen; /* the generation of arena when made (ag__scope_ended) */
    int64_t shape[AG_MAX_DIMS];
    int64_t strides[AG_MAX_DIMS]; /* in elements; 0 on broadcast dims */
};

/* ------------------------------------------------------------------ dtypes
 * The one list of element types: enum (ag.h), C type, name (torch's), safetensors code,
 * float or not. Everything per dtype (size, name, element load, the safetensors code) comes
 * from it. Only float dtypes compute: the others (int64 labels and indices, uint8 bytes)
 * are stored, moved, indexed and cast. */
#define AG_DTYPES(X)                          \
    X(AG_F32, float, "float32", "F32", true)  \
    X(AG_F64, double, "float64", "F64", true) \
    X(AG_I64, int64_t, "int64", "I64", false) \
    X(AG_U8, uint8_t, "uint8", "U8", false)
#define AG__DTYPE_ONE(e, T, name, code, fl) +1
enum { AG_DTYPE_COUNT = 0 AG_DTYPES(AG__DTYPE_ONE) };
static inline bool ag__dtype_valid(ag_dtype d) { return (unsigned)d < AG_DTYPE_COUNT; }
/* Bytes per element: the inline twin of ag_dtype_size (0 for an unknown dtype). */
static inline size_t ag__dsize(ag_dtype d) {
    switch (d) {
#define AG__DTYPE_SIZE(e, T, name, code, fl) \
    case e: return sizeof(T);
        AG_DTYPES(AG__DTYPE_SIZE)
#undef AG__DTYPE_SIZE
    }
    return 0;
}
/* The safetensors code ("F32" ...), NULL for an unknown dtype; and back (-1: unknown). */
const char *ag__dtype_code(ag_dtype d);
int ag__dtype_from_code(const char *code, size_t len);
/* Element off of base (in elements) as double, any dtype. */
double ag__load(const void *base, ag_dtype d, int64_t off);
/* v into element off: floats rounded, int64 truncated (caller checks the range), uint8
 * truncated and saturated to [0, 255] (NaN: 0). */
void ag__store(void *base, ag_dtype d, int64_t off, double v);

/* Data pointer of element 0 (offset applied). */
static inline void *ag__ptr(const ag_tensor *t) {
    return (char *)t->storage->data + (size_t)t->offset * ag__dsize(t->dtype);
}
static inline bool ag__is_float(ag_dtype d) { return d == AG_F32 || d == AG_F64; }
/* Only this thread's arenas are read: a heap tensor, another thread's, or a struct already
 * overwritten (its arena field garbage) is never dereferenced. */
static inline bool ag__scope_ended(const ag_tensor *t) {
    uintptr_t off = (uintptr_t)t->arena - (uintptr_t)ag__scopes;
    return off < sizeof ag__scopes && t->scope_gen != t->arena->gen;
}

/* A new contiguous tensor in the current scope, or in arena (NULL: the heap): zeros, or
 * (empty) data uninitialised. */
ag_tensor *ag__empty(ag_dtype dtype, int ndim, const int64_t *shape, const char *fn);
ag_tensor *ag__zeros_in(struct ag_arena *arena, ag_dtype dtype, int ndim, const int64_t *shape,
                        const char *fn);
ag_tensor *ag__empty_in(struct ag_arena *arena, ag_dtype dtype, int ndim, const int64_t *shape,
                        const char *fn);
/* A view: new tensor struct sharing t's storage, with the given geometry. */
ag_tensor *ag__view_of(ag_tensor *t, int ndim, const int64_t *shape, const int64_t *strides,
                       int64_t offset, const char *fn);
/* Validates ndim/shape (0..8 dims, sizes >= 0, numel fits); sets error naming fn. */
int ag__check_shape(int ndim, const int64_t *shape, const char *fn);
void ag__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
/* Normalizes a possibly negative dim into [0, ndim); -1 and an error on failure. */
int ag__norm_dim(int dim, int ndim, const char *fn);

/* Element i (row-major over t's shape) as double, and store; any dtype, any strides. */
double ag__get_flat(const ag_tensor *t, int64_t i);
int64_t ag__flat_offset(const ag_tensor *t, int64_t i); /* storage offset of element i */

/* ------------------------------------------------------------------ random numbers
 * Counter-based: value k of the stream depends only on (seed, k), so filling in
 * parallel gives the same numbers for any thread count. */
uint64_t ag__rng_reserve(uint64_t count); /* returns the first counter of a block */
uint64_t ag__rng_bits(uint64_t counter);  /* 64 random bits for a counter */
double ag__rng_uniform(uint64_t counter); /* U[0,1) with 53 bits */

/* ------------------------------------------------------------------ early release
 * Storages are released before their scope ends only by a backward walk (autograd/tape.c)
 * or a no-grad Sequential forward (nn/sequential.c), and only when nothing can read them
 * again; see docs/DESIGN.md, "Memory". */
/* Gives s's solo data chunk back to the chunk cache (to free() under AG_POISON, so that a
 * read after it is caught by ASan); s->released is set and, outside AG_POISON, s->data is
 * NULL. Does nothing to a storage that is not solo or already released. */
void ag__storage_release_early(struct ag_storage *s);
/* t moved to the enclosing scope without a copy, as ag_keep does for a big contiguous
 * tensor whose data is a solo chunk of the innermost scope; NULL when t does not qualify
 * (nothing made, no error) or when out of memory (*err set non-zero, error recorded). */
ag_tensor *ag__keep_moved(ag_tensor *t, int *err);
/* Releases every walk_temp storage with no holds left in arena a. */
void ag__arena_release_unheld(struct ag_arena *a);
/* While true on this thread, new storages of the current scope are marked walk_temp (the
 * walk sets it around each backward rule it runs; a leaf's .grad, made in the leaf's
 * scope, is not). */
extern _Thread_local bool ag__walk_temps;
/* t's storage may be released early (internal), or never (escaped, which wins): what the
 * module layer knows of who can still read a tensor. NULL does nothing. */
void ag__mark_internal(ag_tensor *t);
void ag__mark_escaped(ag_tensor *t);
/* t cannot be read: its scope ended, or its storage was released early. */
static inline bool ag__tensor_gone(const ag_tensor *t) {
    return ag__scope_ended(t) || t->storage->released;
}
/* The error for a tensor whose storage was released early (i as ag__scope_ended_error). */
int ag__released_error(const ag_tensor *t, const char *fn, int i);

/* Heap storage: drops one reference and frees it at zero; scoped storage: nothing (it goes
 * with its scope). */
void ag__storage_release(struct ag_storage *s);

/* ------------------------------------------------------------------ the node hooks
 * A tensor made by a recorded op points at its node (autograd/node.h), whose layout
 * tensor/ does not know. The two things tensor/ needs from a node go through this table,
 * which autograd/ installs when it makes its first node: a tensor with a node can only
 * exist after that, and tensor/ links and runs without the layers above it. */
struct ag_node_hooks {
    const char *(*op_name)(const struct ag_node *node); /* "mul": ag_print's grad_fn */
    void (*free)(struct ag_node *node); /* a heap node and the saved tensors it owns */
};
void ag__set_node_hooks(const struct ag_node_hooks *hooks);
/* The installed hooks (asserts they are: only a tensor with a node asks). */
const struct ag_node_hooks *ag__node_hooks(void);
/* autograd/hooks.c: told of every heap tensor ag_tensor_free frees (a leaf's grad hooks go
 * with it). NULL: nobody. */
void ag__set_free_observer(void (*fn)(ag_tensor *t));

#endif
