/* Scopes: one arena per ag_scope_begin, freed whole by ag_scope_end.
 * An arena is a list of chunks filled by bumping a pointer. Freed chunks go to a
 * per-thread cache and are reused by the next scope, so a training loop reaches a
 * steady state with no malloc at all. With -DAG_POISON (sanitizer builds) nothing is
 * cached: chunks go straight back to free(), so a use after ag_scope_end is caught. */
#include "tensor/tensor.h"

#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#define CHUNK_BYTES ((size_t)1 << 20)
#define CACHE_BYTES ((size_t)1 << 30)

struct ag__chunk {
    struct ag__chunk *next;
    size_t size;              /* usable bytes after the header */
    size_t used;              /* a solo chunk is full: no bump allocation lands in it */
    struct ag_storage *owner; /* solo: the storage whose data mem is; else NULL */
    alignas(AG_ALIGN) unsigned char mem[];
};

struct ag__cleanup {
    struct ag__cleanup *next;
    void (*fn)(void *);
    void *p;
};

_Thread_local struct ag_arena ag__scopes[AG_SCOPE_MAX_DEPTH];
static _Thread_local int depth;
static _Thread_local struct ag__chunk *cache;
static _Thread_local size_t cached_bytes;
static _Thread_local uint32_t last_gen;
static _Thread_local struct ag__arena_stats stats;

struct ag__arena_stats ag__arena_stats(void) {
    return stats;
}
void ag__arena_stats_reset_peak(void) {
    stats.peak_live = stats.live;
    stats.peak_total = stats.live + stats.cached;
}
static void stats_live(size_t add, size_t sub) {
    stats.live = stats.live + add - sub;
    stats.cached = cached_bytes;
    if (stats.live > stats.peak_live) stats.peak_live = stats.live;
    if (stats.live + stats.cached > stats.peak_total) stats.peak_total = stats.live + stats.cached;
}

struct ag_arena *ag__current_arena(void) {
    return depth ? &ag__scopes[depth - 1] : NULL;
}
int ag_scope_depth(void) { return depth; }

/* A chunk of at least need bytes: the smallest cached one up to twice the size (a
 * training loop asks for the same sizes every step, so best fit reuses each chunk for the
 * tensor it held last step), else a new one. */
static struct ag__chunk *chunk_get(size_t need) {
    size_t want = need > CHUNK_BYTES ? need : CHUNK_BYTES;
    struct ag__chunk **best = NULL;
    for (struct ag__chunk **p = &cache; *p; p = &(*p)->next) {
        size_t sz = (*p)->size;
        if (sz >= want && sz <= 2 * want && (!best || sz < (*best)->size)) best = p;
        if (best && (*best)->size == want) break;
    }
    if (best) {
        struct ag__chunk *c = *best;
        *best = c->next;
        cached_bytes -= c->size;
        c->used = 0;
        c->owner = NULL;
        stats_live(c->size, 0);
        return c;
    }
    want = (want + AG_ALIGN - 1) & ~(size_t)(AG_ALIGN - 1);
    struct ag__chunk *c = ag__aligned_alloc(AG_ALIGN, sizeof(struct ag__chunk) + want);
    if (!c) return NULL;
    c->size = want;
    c->used = 0;
    c->owner = NULL;
    stats_live(want, 0);
    return c;
}

static void chunk_put(struct ag__chunk *c) {
#ifndef AG_POISON
    if (cached_bytes + c->size <= CACHE_BYTES) {
        c->next = cache;
        cache = c;
        cached_bytes += c->size;
        stats_live(0, c->size);
        return;
    }
#endif
    stats_live(0, c->size);
    free(c);
}

/* A chunk of a with n free bytes: the head, or a fresh one linked in; NULL: no memory. */
static struct ag__chunk *chunk_with_room(struct ag_arena *a, size_t n) {
    struct ag__chunk *head = a->head;
    if (head && head->size - head->used >= n) return head;
    struct ag__chunk *fresh = chunk_get(n);
    if (!fresh) return NULL;
    if (head && n > CHUNK_BYTES / 2) { /* a big one-off goes behind the head */
        fresh->next = head->next;
        head->next = fresh;
    } else {
        fresh->next = head;
        a->head = fresh;
    }
    return fresh;
}

void *ag__alloc_uninit(struct ag_arena *a, size_t bytes, const char *fn) {
    size_t n = (bytes + AG_ALIGN - 1) & ~(size_t)(AG_ALIGN - 1);
    if (n < bytes) goto nomem;
    if (!a) {
        void *p = ag__aligned_alloc(AG_ALIGN, n ? n : AG_ALIGN);
        if (!p) goto nomem;
        return p;
    }
    struct ag__chunk *c = chunk_with_room(a, n);
    if (!c) goto nomem;
    void *p = c->mem + c->used;
    c->used += n;
    return p;
nomem:
    ag__error(AG_ERR_NOMEM, fn, "cannot allocate %zu bytes", bytes);
    return NULL;
}

void *ag__alloc_solo(struct ag_arena *a, size_t bytes, struct ag_storage *owner, const char *fn) {
    size_t n = (bytes + AG_ALIGN - 1) & ~(size_t)(AG_ALIGN - 1);
    struct ag__chunk *c = n < bytes ? NULL : chunk_get(n);
    if (!c) {
        ag__error(AG_ERR_NOMEM, fn, "cannot allocate %zu bytes", bytes);
        return NULL;
    }
    c->used = c->size;
    c->owner = owner;
    if (a->head) { /* behind the head, which bump allocations keep using */
        c->next = a->head->next;
        a->head->next = c;
    } else {
        c->next = NULL;
        a->head = c;
    }
    return c->mem;
}

static struct ag__chunk *chunk_of(const struct ag_storage *s) {
    return (struct ag__chunk *)(void *)((unsigned char *)s->data - offsetof(struct ag__chunk, mem));
}

/* Takes c out of a's list; false when it is not there. */
static bool unlink_chunk(struct ag_arena *a, const struct ag__chunk *c) {
    for (struct ag__chunk **p = &a->head; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return true;
        }
    return false;
}

/* c (out of its arena's list) back to the cache; its storage can no longer be read. */
static void give_back(struct ag__chunk *c) {
    struct ag_storage *s = c->owner;
    chunk_put(c);
    s->released = true;
#ifndef AG_POISON
    s->data = NULL; /* a read after release faults at once instead of reading reused data */
#endif
}

void ag__storage_release_early(struct ag_storage *s) {
    if (!s || !s->solo || s->released || !s->arena) return;
    struct ag__chunk *c = chunk_of(s);
    bool linked = c->owner == s && unlink_chunk(s->arena, c);
    AG_ASSERT(linked);
    give_back(c);
}

void ag__arena_release_unheld(struct ag_arena *a) {
    for (struct ag__chunk **p = &a->head, *c; (c = *p);) {
        if (c->owner && c->owner->walk_temp && c->owner->holds <= 0) {
            *p = c->next;
            give_back(c);
        } else {
            p = &c->next;
        }
    }
}

void ag__mark_internal(ag_tensor *t) {
    if (t) t->storage->internal = true;
}
void ag__mark_escaped(ag_tensor *t) {
    if (t) t->storage->escaped = true;
}

int ag__released_error(const ag_tensor *t, const char *fn, int i) {
    char what[32] = "tensor";
    if (i >= 0) snprintf(what, sizeof what, "input %d", i);
    return ag__error(AG_ERR_STATE, fn,
                     "%s %s was an intermediate whose memory the backward pass gave back "
                     "(only library-internal tensors are released)",
                     what, AG_SHAPE(t));
}

void *ag__alloc(struct ag_arena *a, size_t bytes, const char *fn) {
    void *p = ag__alloc_uninit(a, bytes, fn);
    if (p) memset(p, 0, bytes);
    return p;
}

int ag__arena_on_free(struct ag_arena *a, void (*fn)(void *), void *p) {
    if (!a) return AG_OK;
    struct ag__cleanup *c = ag__alloc(a, sizeof *c, "ag_scope");
    if (!c) return AG_ERR_NOMEM;
    c->fn = fn;
    c->p = p;
    c->next = a->cleanups;
    a->cleanups = c;
    return AG_OK;
}

void ag_scope_begin(void) {
    if (depth == AG_SCOPE_MAX_DEPTH) {
        ag__error(AG_ERR_STATE, "ag_scope_begin", "scopes nest at most %d deep",
                  AG_SCOPE_MAX_DEPTH);
        return;
    }
    ag__scopes[depth].head = NULL;
    ag__scopes[depth].cleanups = NULL;
    if (++last_gen == 0) last_gen = 1;
    ag__scopes[depth].gen = last_gen;
    depth++;
}

void ag_scope_end(void) {
    if (depth == 0) {
        ag__error(AG_ERR_STATE, "ag_scope_end", "no open scope");
        return;
    }
    struct ag_arena *a = &ag__scopes[--depth];
    for (struct ag__cleanup *c = a->cleanups; c; c = c->next) c->fn(c->p);
    for (struct ag__chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        chunk_put(c);
    }
    a->head = NULL;
    a->cleanups = NULL;
    a->gen = 0;
}

int ag__scope_ended_error(const ag_tensor *t, const char *fn, int i) {
    char what[32] = "tensor";
    if (i >= 0) snprintf(what, sizeof what, "input %d", i);
    return ag__error(AG_ERR_STATE, fn,
                     "%s %s was made in a scope that has ended (keep it with "
                     "ag_keep, or make it outside scopes)",
                     what, AG_SHAPE(t));
}

/* The link to the chunk of arena a that holds t's data and nothing else, or NULL. Only a
 * big contiguous tensor over its whole storage qualifies: its data is a solo chunk
 * (ag__alloc_solo); a small tensor shares one. */
static struct ag__chunk **solo_chunk(struct ag_arena *a, const ag_tensor *t) {
    const struct ag_storage *s = t->storage;
    size_t nbytes = (size_t)t->numel * ag__dsize(t->dtype);
    if (ag__tensor_gone(t) || s->arena != a || !s->solo || t->offset || nbytes != s->nbytes ||
        !ag_is_contiguous(t))
        return NULL;
    const struct ag__chunk *c = chunk_of(s);
    for (struct ag__chunk **p = &a->head; *p; p = &(*p)->next)
        if (*p == c) return p;
    return NULL;
}

/* t kept without a copy: its data's chunk moves from arena a to parent, under a new
 * struct and storage header made in parent. NULL with *moved false: t does not qualify. */
static ag_tensor *keep_moving(struct ag_arena *a, struct ag_arena *parent, ag_tensor *t,
                              bool *moved) {
    struct ag__chunk **link = solo_chunk(a, t);
    *moved = link != NULL;
    if (!link) return NULL;
    size_t head = (sizeof(ag_tensor) + AG_ALIGN - 1) & ~(size_t)(AG_ALIGN - 1);
    unsigned char *p = ag__alloc_uninit(parent, head + sizeof(struct ag_storage), "ag_keep");
    if (!p) return NULL;
    struct ag_storage *s = (struct ag_storage *)(p + head);
    *s = (struct ag_storage){.data = t->storage->data,
                             .nbytes = t->storage->nbytes,
                             .refs = 1,
                             .arena = parent,
                             .solo = true};
    ag_tensor *out = (ag_tensor *)p;
    *out = (ag_tensor){.dtype = t->dtype,
                       .ndim = t->ndim,
                       .numel = t->numel,
                       .storage = s,
                       .arena = parent,
                       .scope_gen = parent->gen};
    memcpy(out->shape, t->shape, sizeof out->shape);
    memcpy(out->strides, t->strides, sizeof out->strides);
    struct ag__chunk *c = *link; /* parent->head is set: the header was just made there */
    *link = c->next;
    c->next = parent->head->next; /* behind the head: no bump allocation lands in it */
    parent->head->next = c;
    c->owner = s;
    t->storage->solo = false; /* the chunk is the new storage's now */
    return out;
}

ag_tensor *ag__keep_moved(ag_tensor *t, int *err) {
    *err = 0;
    if (!t || depth < 2 || t->storage->released) return NULL;
    bool moved = false;
    ag_tensor *out = keep_moving(&ag__scopes[depth - 1], &ag__scopes[depth - 2], t, &moved);
    if (moved && !out) *err = AG_ERR_NOMEM;
    return out;
}

ag_tensor *ag_keep(ag_tensor *t) {
    if (!t) return NULL;
    if (depth == 0) {
        ag__error(AG_ERR_STATE, "ag_keep", "no open scope");
        return NULL;
    }
    struct ag_arena *parent = depth >= 2 ? &ag__scopes[depth - 2] : NULL;
    bool moved = false;
    if (t->storage->released) {
        ag__released_error(t, "ag_keep", -1);
        return NULL;
    }
    ag_tensor *out = parent ? keep_moving(&ag__scopes[depth - 1], parent, t, &moved) : NULL;
    if (moved) return out;
    out = ag__zeros_in(parent, t->dtype, t->ndim, t->shape, "ag_keep");
    if (!out) return NULL;
    ag_copy_(out, t); /* values only: the copy is a leaf with no graph */
    return out;
}
