/* Internal: the distributed sampler (data/sampler.c) and the loader's hook for it
 * (data/dataset.c). A sampler gives each epoch's rows for one rank. */
#ifndef AG_DATA_SAMPLER_H
#define AG_DATA_SAMPLER_H

#include "tensor/tensor.h"

struct ag__sampler;
/* Fills out with this epoch's rows for the rank (at most ag__sampler_max rows) and moves to
 * the next epoch; returns how many. */
int64_t ag__sampler_order(struct ag__sampler *s, int64_t *out);
void ag__sampler_free(struct ag__sampler *s);
/* dataset.c: a loader over x/y whose rows come from s (owned: freed with the loader). */
ag_loader *ag__loader_new_sampled(ag_tensor *x, ag_tensor *y, int64_t batch_size,
                                  struct ag__sampler *s, const char *fn);
struct ag__sampler *ag__loader_sampler(ag_loader *l); /* NULL for a plain loader */
/* A byte loader's batches in dtype (float32 or float64; made float32): ag_train and
 * ag_evaluate ask for the default dtype, which lives above data/. 0, or an error. */
int ag__loader_set_batch_dtype(ag_loader *l, ag_dtype dtype);

#endif
