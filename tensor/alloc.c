/* The library's one way to the heap: every allocation goes through these, so a test can
 * make the Nth one fail (ag__alloc_fail_nth) and check that each failure ends in a clean
 * error. Memory from here is released with free(). Unarmed, the hook costs one relaxed
 * load per heap allocation (arena bumps do not come here). */
#include "tensor/tensor.h"

#include <stdatomic.h>
#include <string.h>

static atomic_bool armed;
static _Atomic int64_t calls, fail_at, bytes;

void ag__alloc_fail_nth(int64_t n) {
    atomic_store(&calls, 0);
    atomic_store(&bytes, 0);
    atomic_store(&fail_at, n);
    atomic_store(&armed, n > 0);
}

int64_t ag__alloc_calls(void) { return atomic_load(&calls); }
int64_t ag__alloc_bytes(void) { return atomic_load(&bytes); }

/* True when this allocation (of n bytes) is the one to fail. */
static bool fail_now(size_t n) {
    if (!atomic_load_explicit(&armed, memory_order_relaxed)) return false;
    atomic_fetch_add(&bytes, (int64_t)n);
    return atomic_fetch_add(&calls, 1) + 1 == atomic_load(&fail_at);
}

void *ag__malloc(size_t n) { return fail_now(n) ? NULL : malloc(n); }
void *ag__calloc(size_t n, size_t size) { return fail_now(n * size) ? NULL : calloc(n, size); }
void *ag__realloc(void *p, size_t n) { return fail_now(n) ? NULL : realloc(p, n); }
void *ag__aligned_alloc(size_t align, size_t n) {
    return fail_now(n) ? NULL : aligned_alloc(align, n);
}
char *ag__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = ag__malloc(n);
    return p ? memcpy(p, s, n) : NULL;
}
