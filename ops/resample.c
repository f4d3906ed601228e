/* Resampling the last two dims of [N, C, H, W] (or [C, H, W]) with torch's index rules,
 * each a separable map (ops/sep_map.h) along H then W:
 *   upsample_nearest2d(x, sh, sw)            out[i] = x[i / s]
 *   upsample_bilinear2d(x, oh, ow, align)    two taps per output index, torch's
 *                                            area_pixel source index (align_corners or not)
 *   adaptive_avg_pool2d(x, oh, ow)           bin i averages [floor(i*in/out), ceil((i+1)*in/out))
 * Gradients are the transposed maps (scatter-adds). */
#include "ops/sep_map.h"

#include <math.h>

static int check_image(const ag_tensor *x, const char *fn) {
    if (x->ndim != 3 && x->ndim != 4)
        return ag__error(AG_ERR_SHAPE, fn, "x %s must be [N, C, H, W] or [C, H, W]", AG_SHAPE(x));
    return AG_OK;
}

/* Applies the plans for H and W (either may be NULL: unchanged). */
static ag_tensor *map_hw(ag_tensor *x, ag_tensor *ph, ag_tensor *pw, const char *fn) {
    int h = x->ndim - 2;
    ag_tensor *y = ph ? ag__sep_map(x, h, ph, false, 0, fn) : x;
    return pw ? ag__sep_map(y, h + 1, pw, false, 0, fn) : y;
}

/* ------------------------------------------------------------------ nearest */
static ag_tensor *nearest_plan(int64_t in, int64_t scale) {
    ag_tensor *p = ag__sep_plan(in * scale, 1);
    for (int64_t i = 0; p && i < in * scale; i++) ag__sep_plan_set(p, i, 0, i / scale, 1.0);
    return p;
}

ag_tensor *ag_upsample_nearest2d(ag_tensor *x, int scale_h, int scale_w) {
    const char *fn = "ag_upsample_nearest2d";
    if (!x || check_image(x, fn)) return NULL;
    if (scale_h < 1 || scale_w < 1) {
        ag__error(AG_ERR_ARG, fn, "scales %d, %d must be >= 1 (x %s)", scale_h, scale_w,
                  AG_SHAPE(x));
        return NULL;
    }
    int h = x->ndim - 2;
    ag_tensor *y = map_hw(x, scale_h > 1 ? nearest_plan(x->shape[h], scale_h) : NULL,
                          scale_w > 1 ? nearest_plan(x->shape[h + 1], scale_w) : NULL, fn);
    return y == x ? ag_clone(x) : y;
}

/* ------------------------------------------------------------------ bilinear */
/* torch's area_pixel_compute_scale / _source_index (no scale factor given). */
static ag_tensor *linear_plan(int64_t in, int64_t out, bool align) {
    ag_tensor *p = ag__sep_plan(out, 2);
    double scale =
        align ? (out > 1 ? (double)(in - 1) / (double)(out - 1) : 0) : (double)in / (double)out;
    for (int64_t i = 0; p && i < out; i++) {
        double src = align ? scale * (double)i : scale * ((double)i + 0.5) - 0.5;
        if (src < 0) src = 0;
        int64_t i0 = (int64_t)src, i1 = i0 + (i0 < in - 1 ? 1 : 0);
        double l1 = src - (double)i0;
        ag__sep_plan_set(p, i, 0, i0, 1 - l1);
        ag__sep_plan_set(p, i, 1, i1, l1);
    }
    return p;
}

ag_tensor *ag_upsample_bilinear2d(ag_tensor *x, int64_t out_h, int64_t out_w, bool align_corners) {
    const char *fn = "ag_upsample_bilinear2d";
    if (!x || check_image(x, fn)) return NULL;
    int h = x->ndim - 2;
    if (out_h < 1 || out_w < 1 || x->shape[h] < 1 || x->shape[h + 1] < 1) {
        ag__error(AG_ERR_ARG, fn, "output size %lldx%lld and the input's H, W must be >= 1 (x %s)",
                  (long long)out_h, (long long)out_w, AG_SHAPE(x));
        return NULL;
    }
    return map_hw(x, linear_plan(x->shape[h], out_h, align_corners),
                  linear_plan(x->shape[h + 1], out_w, align_corners), fn);
}

/* ------------------------------------------------------------------ adaptive average */
static ag_tensor *adaptive_plan(int64_t in, int64_t out) {
    int taps = 1;
    for (int64_t i = 0; i < out; i++) {
        int64_t a = i * in / out, b = ((i + 1) * in + out - 1) / out;
        if (b - a > taps) taps = (int)(b - a);
    }
    ag_tensor *p = ag__sep_plan(out, taps);
    for (int64_t i = 0; p && i < out; i++) {
        int64_t a = i * in / out, b = ((i + 1) * in + out - 1) / out;
        for (int64_t j = a; j < b; j++)
            ag__sep_plan_set(p, i, (int)(j - a), j, 1.0 / (double)(b - a));
    }
    return p;
}

ag_tensor *ag_adaptive_avg_pool2d(ag_tensor *x, int64_t out_h, int64_t out_w) {
    const char *fn = "ag_adaptive_avg_pool2d";
    if (!x || check_image(x, fn)) return NULL;
    int h = x->ndim - 2;
    if (out_h < 1 || out_w < 1 || x->shape[h] < 1 || x->shape[h + 1] < 1) {
        ag__error(AG_ERR_ARG, fn, "output size %lldx%lld and the input's H, W must be >= 1 (x %s)",
                  (long long)out_h, (long long)out_w, AG_SHAPE(x));
        return NULL;
    }
    return map_hw(x, adaptive_plan(x->shape[h], out_h), adaptive_plan(x->shape[h + 1], out_w), fn);
}
