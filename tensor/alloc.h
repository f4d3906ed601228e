/* Internal: the library's one way to the heap (tensor/alloc.c). Every heap allocation in
 * the library goes through these; free() frees. Standalone (kernels include it too).
 * Test hook: ag__alloc_fail_nth(n) makes the nth allocation from now fail (0: none), and
 * ag__alloc_calls() counts the allocations since, ag__alloc_bytes() their bytes (armed with
 * a large n, the hook only counts). */
#ifndef AG_ALLOC_INTERNAL_H
#define AG_ALLOC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

void *ag__malloc(size_t bytes);
void *ag__calloc(size_t n, size_t size);
void *ag__realloc(void *p, size_t bytes);
void *ag__aligned_alloc(size_t align, size_t bytes);
char *ag__strdup(const char *s);
void ag__alloc_fail_nth(int64_t n);
int64_t ag__alloc_calls(void);
int64_t ag__alloc_bytes(void);

#endif
