/* Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_: in place on
 * each parameter's .grad, no graph. */
#include "optim/optim.h"

#include <math.h>

static double grad_norm(const ag_tensor *g, double type) {
    double acc = 0;
    for (int64_t j = 0; j < g->numel; j++) {
        double v = fabs(g->dtype == AG_F32 ? (double)((const float *)ag__ptr(g))[j]
                                           : ((const double *)ag__ptr(g))[j]);
        if (isinf(type)) acc = v > acc || isnan(v) ? v : acc;
        else acc += type == 2 ? v * v : pow(v, type);
    }
    return isinf(type) ? acc : type == 2 ? sqrt(acc) : pow(acc, 1.0 / type);
}

static int check(ag_tensor **params, int n, const char *fn) {
    if (!params || n < 0) return ag__error(AG_ERR_NULL, fn, "params is NULL or n %d < 0", n);
    for (int i = 0; i < n; i++) {
        if (!params[i]) return ag__error(AG_ERR_NULL, fn, "parameter %d is NULL", i);
        if (ag__grad_ready(params[i]) && !ag_is_contiguous(params[i]->grad))
            return ag__error(AG_ERR_STATE, fn, "gradient of parameter %d is not contiguous", i);
    }
    return AG_OK;
}

static void scale(ag_tensor *g, double c) {
    if (g->dtype == AG_F32) {
        float *d = ag__ptr(g), cf = (float)c;
        for (int64_t j = 0; j < g->numel; j++) d[j] *= cf;
    } else {
        double *d = ag__ptr(g);
        for (int64_t j = 0; j < g->numel; j++) d[j] *= c;
    }
}

double ag_clip_grad_norm(ag_tensor **params, int n, double max_norm, double norm_type) {
    const char *fn = "ag_clip_grad_norm";
    if (check(params, n, fn)) return NAN;
    if (norm_type == 0) norm_type = 2;
    if (!(norm_type > 0) || !(max_norm >= 0)) {
        ag__error(AG_ERR_ARG, fn, "norm_type %g must be > 0 and max_norm %g >= 0", norm_type,
                  max_norm);
        return NAN;
    }
    double total = 0;
    for (int i = 0; i < n; i++) {
        if (!params[i]->grad) continue;
        double v = grad_norm(params[i]->grad, norm_type);
        if (isinf(norm_type)) total = v > total || isnan(v) ? v : total;
        else total += norm_type == 2 ? v * v : pow(v, norm_type);
    }
    if (!isinf(norm_type)) total = norm_type == 2 ? sqrt(total) : pow(total, 1.0 / norm_type);
    double coef = max_norm / (total + 1e-6);
    if (coef < 1.0)
        for (int i = 0; i < n; i++)
            if (params[i]->grad) scale(params[i]->grad, coef);
    return total;
}

int ag_clip_grad_value(ag_tensor **params, int n, double clip) {
    const char *fn = "ag_clip_grad_value";
    int rc = check(params, n, fn);
    if (rc) return rc;
    if (!(clip >= 0)) return ag__error(AG_ERR_ARG, fn, "clip %g must be >= 0", clip);
    for (int i = 0; i < n; i++) {
        ag_tensor *g = params[i]->grad;
        if (!g) continue;
        if (g->dtype == AG_F32) {
            float *d = ag__ptr(g), c = (float)clip;
            for (int64_t j = 0; j < g->numel; j++) d[j] = d[j] < -c ? -c : d[j] > c ? c : d[j];
        } else {
            double *d = ag__ptr(g);
            for (int64_t j = 0; j < g->numel; j++)
                d[j] = d[j] < -clip ? -clip : d[j] > clip ? clip : d[j];
        }
    }
    return AG_OK;
}
