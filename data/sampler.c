/* The distributed sampler (torch.utils.data.DistributedSampler) behind
 * ag_loader_new_distributed: every rank draws the same permutation of the rows from a
 * shared seed and the epoch (not from the process's random stream, which ranks may have
 * used differently), pads it by repeating its start (or drops the tail, with drop_last)
 * to a multiple of the world size, and takes rows rank, rank + W, rank + 2W, ...: disjoint
 * equal shards that together cover the epoch once. */
#include "data/sampler.h"

#include <string.h>

struct ag__sampler {
    int64_t n; /* rows in the data set */
    int rank, world;
    bool shuffle, drop_last;
    uint64_t seed;
    int64_t next_epoch; /* the epoch the next ag__sampler_order draws */
    int64_t *all;       /* scratch: the whole epoch's permutation */
};

static uint64_t mix(uint64_t z) { /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int64_t per_rank(const struct ag__sampler *s) {
    return s->drop_last ? s->n / s->world : (s->n + s->world - 1) / s->world;
}

int64_t ag__sampler_order(struct ag__sampler *s, int64_t *out) {
    int64_t n = s->n, epoch = s->next_epoch++;
    for (int64_t i = 0; i < n; i++) s->all[i] = i;
    if (s->shuffle) { /* Fisher-Yates from hash(seed, epoch, i) */
        uint64_t key = mix(s->seed ^ 0x5851f42d4c957f2dULL) + mix((uint64_t)epoch + 0x9e37ULL);
        for (int64_t i = n - 1; i > 0; i--) {
            uint64_t r = mix(key + (uint64_t)i * 0x9e3779b97f4a7c15ULL);
            int64_t j = (int64_t)((double)(r >> 11) * 0x1.0p-53 * (double)(i + 1));
            int64_t t = s->all[i];
            s->all[i] = s->all[j];
            s->all[j] = t;
        }
    }
    int64_t m = per_rank(s);
    for (int64_t k = 0; k < m; k++) { /* position rank + k*W of the padded order */
        int64_t pos = s->rank + k * s->world;
        out[k] = s->all[pos % n]; /* padding repeats the order from its start */
    }
    return m;
}

void ag__sampler_free(struct ag__sampler *s) {
    if (!s) return;
    free(s->all);
    free(s);
}

ag_loader *ag_loader_new_distributed(ag_tensor *x, ag_tensor *y, int64_t batch_size, bool shuffle,
                                     int rank, int world_size, bool drop_last) {
    const char *fn = "ag_loader_new_distributed";
    if (!x) return ag__error(AG_ERR_NULL, fn, "x is NULL"), NULL;
    if (world_size < 1 || rank < 0 || rank >= world_size)
        return ag__error(AG_ERR_ARG, fn, "rank %d is not in a world of %d", rank, world_size), NULL;
    int64_t n = x->ndim ? x->shape[0] : 0;
    if (n < 1 || (drop_last && n < world_size))
        return ag__error(AG_ERR_ARG, fn, "%lld rows cannot be shared by %d ranks%s", (long long)n,
                         world_size, drop_last ? " with drop_last" : ""),
               NULL;
    struct ag__sampler *s = ag__malloc(sizeof *s);
    int64_t *all = ag__malloc((size_t)n * sizeof *all);
    if (!s || !all) {
        free(s);
        free(all);
        return ag__error(AG_ERR_NOMEM, fn, "out of memory for %lld rows", (long long)n), NULL;
    }
    *s = (struct ag__sampler){n, rank, world_size, shuffle, drop_last, 0, 0, all};
    ag_loader *l = ag__loader_new_sampled(x, y, batch_size, s, fn);
    if (!l) ag__sampler_free(s);
    return l;
}

static struct ag__sampler *sampler_of(ag_loader *l, const char *fn) {
    struct ag__sampler *s = l ? ag__loader_sampler(l) : NULL;
    if (!s)
        ag__error(l ? AG_ERR_ARG : AG_ERR_NULL, fn,
                  "needs a loader from "
                  "ag_loader_new_distributed");
    return s;
}

int ag_loader_set_epoch(ag_loader *l, int64_t epoch) {
    struct ag__sampler *s = sampler_of(l, "ag_loader_set_epoch");
    if (!s) return AG_ERR_ARG;
    s->next_epoch = epoch;
    ag_loader_reset(l);
    return AG_OK;
}

int ag_loader_set_seed(ag_loader *l, uint64_t seed) {
    struct ag__sampler *s = sampler_of(l, "ag_loader_set_seed");
    if (!s) return AG_ERR_ARG;
    s->seed = seed;
    s->next_epoch--; /* redraw the current epoch with the new seed */
    ag_loader_reset(l);
    return AG_OK;
}
