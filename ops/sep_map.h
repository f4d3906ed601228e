/* Internal: separable linear maps along one dim (ops/sep_map.c), the one op behind pad,
 * flip, roll, repeat (ops/pad.c), upsample nearest/bilinear and adaptive average pooling
 * (ops/resample.c).
 *
 * A plan is a float64 tensor [out_len, taps, 2]: for each output index i along the dim, up
 * to `taps` pairs (source index, weight); a source index of -1 is no tap. A row with no
 * tap is the fill value (constant padding) when has_fill, else 0. out[..., i, ...] =
 * sum_t weight[i][t] * x[..., col[i][t], ...] (+ fill). The gradient is the transposed map
 * (a scatter-add, its own op); each is the other's backward, so both are differentiable
 * any number of times. */
#ifndef AG_SEP_MAP_H
#define AG_SEP_MAP_H

#include "ops/ops.h"

/* A plan of out_len rows and `taps` taps per row, all "no tap" (-1, weight 0), in the
 * current scope; fill it with ag__sep_plan_set. */
ag_tensor *ag__sep_plan(int64_t out_len, int taps);
void ag__sep_plan_set(ag_tensor *plan, int64_t row, int tap, int64_t col, double weight);

/* x mapped along dim by plan (fill: the value of rows with no tap, when has_fill). A
 * non-float x fails with an error naming fn (the public function). */
ag_tensor *ag__sep_map(ag_tensor *x, int dim, ag_tensor *plan, bool has_fill, double fill,
                       const char *fn);

#endif
