/* Internal: helpers shared by ops/loss.c and ops/cross_entropy.c. */
#ifndef AG_LOSS_H
#define AG_LOSS_H

#include "ops/iter.h"

/* Same shape and float dtype, or an error naming fn and both shapes. */
int ag__loss_pair_check(const ag_tensor *a, const ag_tensor *b, const char *fn);
/* ag_mean / ag_sum / t itself; an error naming fn for an unknown reduction. */
ag_tensor *ag__loss_reduce(ag_tensor *t, ag_reduction r, const char *fn);

#endif
