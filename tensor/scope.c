/* Scopes: one arena per ag_scope_begin, freed whole by ag_scope_end.
 * An arena is a list of chunks filled by bumping a pointer. Freed chunks go to a
 * per-thread cache and are reused by the next scope, so a training loop reaches a
 * steady state with no malloc at all. With -DAG_POISON (sanitizer builds) nothing is
 * cached: chunks go straight back to free(), so a use after ag_scope_end is caught. */
#include "tensor/tensor.h"

#include <stdalign.h>
#include <string.h>

#define CHUNK_BYTES   ((size_t)1 << 20)
#define MAX_DEPTH     64
#define CACHE_BYTES   ((size_t)1 << 30)

struct chunk {
    struct chunk *next;
    size_t size;      /* usable bytes after the header */
    size_t used;
    alignas(AG_ALIGN) unsigned char mem[];
};

struct cleanup {
    struct cleanup *next;
    void (*fn)(void *);
    void *p;
};

struct ag_arena {
    struct chunk *head;
    struct cleanup *cleanups;
};

static _Thread_local struct ag_arena scopes[MAX_DEPTH];
static _Thread_local int depth;
static _Thread_local struct chunk *cache;
static _Thread_local size_t cached_bytes;

struct ag_arena *ag__current_arena(void) { return depth ? &scopes[depth - 1] : NULL; }
int ag_scope_depth(void) { return depth; }

static struct chunk *chunk_get(size_t need) {
    size_t want = need > CHUNK_BYTES ? need : CHUNK_BYTES;
    for (struct chunk **p = &cache; *p; p = &(*p)->next) {
        struct chunk *c = *p;
        if (c->size >= want && c->size <= 4 * want) {
            *p = c->next;
            cached_bytes -= c->size;
            c->used = 0;
            return c;
        }
    }
    want = (want + AG_ALIGN - 1) & ~(size_t)(AG_ALIGN - 1);
    struct chunk *c = aligned_alloc(AG_ALIGN, sizeof(struct chunk) + want);
    if (!c) return NULL;
    c->size = want;
    c->used = 0;
    return c;
}

static void chunk_put(struct chunk *c) {
#ifndef AG_POISON
    if (cached_bytes + c->size <= CACHE_BYTES) {
        c->next = cache;
        cache = c;
        cached_bytes += c->size;
        return;
    }
#endif
    free(c);
}

/* A chunk of a with n free bytes: the head, or a fresh one linked in; NULL: no memory. */
static struct chunk *chunk_with_room(struct ag_arena *a, size_t n) {
    struct chunk *head = a->head;
    if (head && head->size - head->used >= n) return head;
    struct chunk *fresh = chunk_get(n);
    if (!fresh) return NULL;
    if (head && n > CHUNK_BYTES / 2) {   /* a big one-off goes behind the head */
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
        void *p = aligned_alloc(AG_ALIGN, n ? n : AG_ALIGN);
        if (!p) goto nomem;
        return p;
    }
    struct chunk *c = chunk_with_room(a, n);
    if (!c) goto nomem;
    void *p = c->mem + c->used;
    c->used += n;
    return p;
nomem:
    ag__error(AG_ERR_NOMEM, fn, "cannot allocate %zu bytes", bytes);
    return NULL;
}

void *ag__alloc(struct ag_arena *a, size_t bytes, const char *fn) {
    void *p = ag__alloc_uninit(a, bytes, fn);
    if (p) memset(p, 0, bytes);
    return p;
}

int ag__arena_on_free(struct ag_arena *a, void (*fn)(void *), void *p) {
    if (!a) return AG_OK;
    struct cleanup *c = ag__alloc(a, sizeof *c, "ag_scope");
    if (!c) return AG_ERR_NOMEM;
    c->fn = fn;
    c->p = p;
    c->next = a->cleanups;
    a->cleanups = c;
    return AG_OK;
}

void ag_scope_begin(void) {
    if (depth == MAX_DEPTH) {
        ag__error(AG_ERR_STATE, "ag_scope_begin", "scopes nest at most %d deep", MAX_DEPTH);
        return;
    }
    scopes[depth].head = NULL;
    scopes[depth].cleanups = NULL;
    depth++;
}

void ag_scope_end(void) {
    if (depth == 0) {
        ag__error(AG_ERR_STATE, "ag_scope_end", "no open scope");
        return;
    }
    struct ag_arena *a = &scopes[--depth];
    for (struct cleanup *c = a->cleanups; c; c = c->next) c->fn(c->p);
    for (struct chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        chunk_put(c);
    }
    a->head = NULL;
    a->cleanups = NULL;
}

ag_tensor *ag_keep(ag_tensor *t) {
    if (!t) return NULL;
    if (depth == 0) {
        ag__error(AG_ERR_STATE, "ag_keep", "no open scope");
        return NULL;
    }
    struct ag_arena *parent = depth >= 2 ? &scopes[depth - 2] : NULL;
    ag_tensor *out = ag__zeros_in(parent, t->dtype, t->ndim, t->shape, "ag_keep");
    if (!out) return NULL;
    ag_copy_(out, t);   /* values only: the copy is a leaf with no graph */
    return out;
}
