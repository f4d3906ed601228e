/* The seeded random stream. Counter-based (a splitmix64-style hash of seed and counter),
 * so element k of a fill depends only on (seed, k): the same numbers for any thread
 * count. Process-wide, as torch.manual_seed. */
#include "tensor/tensor.h"

#include <math.h>
#include <stdatomic.h>

static uint64_t seed_value = 0x853c49e6748fea9bULL;
static _Atomic uint64_t next_counter;

void ag_manual_seed(uint64_t seed) {
    seed_value = seed;
    atomic_store(&next_counter, 0);
}

uint64_t ag__rng_reserve(uint64_t count) { return atomic_fetch_add(&next_counter, count); }

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t ag__rng_bits(uint64_t counter) {
    return mix(mix(seed_value ^ 0x6a09e667f3bcc909ULL) + counter * 0x9e3779b97f4a7c15ULL);
}

double ag__rng_uniform(uint64_t counter) {
    return (double)(ag__rng_bits(counter) >> 11) * 0x1.0p-53;
}

uint64_t ag_random_u64(void) { return ag__rng_bits(ag__rng_reserve(1)); }

static void store(ag_tensor *t, int64_t i, double v) {
    ag__store(t->storage->data, t->dtype, i, v);
}

/* Random values are float: an integer dtype is the caller's mistake (NULL, AG_ERR_DTYPE). */
static ag_tensor *float_empty(ag_dtype dtype, int ndim, const int64_t *shape, const char *fn) {
    if (ag__dtype_valid(dtype) && !ag__is_float(dtype)) {
        ag__error(AG_ERR_DTYPE, fn, "expects float32 or float64, got %s", ag_dtype_name(dtype));
        return NULL;
    }
    return ag__empty(dtype, ndim, shape, fn);
}

ag_tensor *ag_rand(ag_dtype dtype, int ndim, const int64_t *shape) {
    ag_tensor *t = float_empty(dtype, ndim, shape, "ag_rand");
    if (!t) return NULL;
    uint64_t base = ag__rng_reserve((uint64_t)t->numel);
    for (int64_t i = 0; i < t->numel; i++) {
        double u = ag__rng_uniform(base + (uint64_t)i);
        if (dtype == AG_F32 && (float)u >= 1.0f) u = 0x1.fffffep-1; /* keep [0,1) in float */
        store(t, i, u);
    }
    return t;
}

ag_tensor *ag_randn(ag_dtype dtype, int ndim, const int64_t *shape) {
    ag_tensor *t = float_empty(dtype, ndim, shape, "ag_randn");
    if (!t) return NULL;
    uint64_t base = ag__rng_reserve((uint64_t)(t->numel + 1) & ~(uint64_t)1);
    for (int64_t i = 0; i < t->numel; i++) { /* Box-Muller: a pair of uniforms, two normals */
        uint64_t pair = base + (uint64_t)(i & ~(int64_t)1);
        double u1 = 1.0 - ag__rng_uniform(pair), u2 = ag__rng_uniform(pair + 1);
        double r = sqrt(-2.0 * log(u1)), a = 6.283185307179586 * u2;
        store(t, i, (i & 1) ? r * sin(a) : r * cos(a));
    }
    return t;
}
