/* Initializers (torch.nn.init), in place on the raw data with no graph, from the seeded
 * stream; and the default dtype for new parameters. */
#include "nn/nn.h"

#include <math.h>

static _Thread_local ag_dtype default_dtype = AG_F32;
void ag_set_default_dtype(ag_dtype dtype) {
    if (ag__is_float(dtype)) default_dtype = dtype;
    else
        ag__error(AG_ERR_DTYPE, "ag_set_default_dtype", "%s is not a float dtype",
                  ag_dtype_name(dtype));
}
ag_dtype ag_get_default_dtype(void) { return default_dtype; }

static int check(ag_tensor *t, const char *fn) {
    if (!t) return ag__error(AG_ERR_NULL, fn, "tensor is NULL");
    if (!ag__is_float(t->dtype))
        return ag__error(AG_ERR_DTYPE, fn, "tensor %s is %s, not float", AG_SHAPE(t),
                         ag_dtype_name(t->dtype));
    return AG_OK;
}

static void set(ag_tensor *t, int64_t i, double v) {
    int64_t o = ag__flat_offset(t, i);
    if (t->dtype == AG_F32) ((float *)t->storage->data)[o] = (float)v;
    else ((double *)t->storage->data)[o] = v;
}

int ag_init_uniform_(ag_tensor *t, double lo, double hi) {
    int rc = check(t, "ag_init_uniform_");
    if (rc) return rc;
    uint64_t base = ag__rng_reserve((uint64_t)t->numel);
    for (int64_t i = 0; i < t->numel; i++)
        set(t, i, lo + (hi - lo) * ag__rng_uniform(base + (uint64_t)i));
    return AG_OK;
}

int ag_init_normal_(ag_tensor *t, double mean, double std) {
    int rc = check(t, "ag_init_normal_");
    if (rc) return rc;
    uint64_t base = ag__rng_reserve((uint64_t)(t->numel + 1) & ~(uint64_t)1);
    for (int64_t i = 0; i < t->numel; i++) {
        uint64_t pair = base + (uint64_t)(i & ~(int64_t)1);
        double u1 = 1.0 - ag__rng_uniform(pair), u2 = ag__rng_uniform(pair + 1);
        double r = sqrt(-2.0 * log(u1)), a = 6.283185307179586 * u2;
        set(t, i, mean + std * ((i & 1) ? r * sin(a) : r * cos(a)));
    }
    return AG_OK;
}

int ag_init_constant_(ag_tensor *t, double value) {
    int rc = check(t, "ag_init_constant_");
    if (rc) return rc;
    for (int64_t i = 0; i < t->numel; i++) set(t, i, value);
    return AG_OK;
}

int ag_init_zeros_(ag_tensor *t) { return ag_init_constant_(t, 0.0); }

/* torch's _calculate_fan_in_and_fan_out: dims 0 and 1 times the receptive field. */
static int fans(ag_tensor *t, double *fan_in, double *fan_out, const char *fn) {
    int rc = check(t, fn);
    if (rc) return rc;
    if (t->ndim < 2)
        return ag__error(AG_ERR_SHAPE, fn, "fan in and fan out need 2 or more dims, got %s",
                         AG_SHAPE(t));
    double field = 1;
    for (int d = 2; d < t->ndim; d++) field *= (double)t->shape[d];
    *fan_in = (double)t->shape[1] * field;
    *fan_out = (double)t->shape[0] * field;
    return AG_OK;
}

int ag_init_xavier_uniform_(ag_tensor *t, double gain) {
    double fi, fo;
    int rc = fans(t, &fi, &fo, "ag_init_xavier_uniform_");
    if (rc) return rc;
    double a = (gain ? gain : 1) * sqrt(6.0 / (fi + fo));
    return ag_init_uniform_(t, -a, a);
}

int ag_init_xavier_normal_(ag_tensor *t, double gain) {
    double fi, fo;
    int rc = fans(t, &fi, &fo, "ag_init_xavier_normal_");
    if (rc) return rc;
    return ag_init_normal_(t, 0, (gain ? gain : 1) * sqrt(2.0 / (fi + fo)));
}

static double kaiming_std(ag_tensor *t, double a, ag_fan_mode mode, const char *fn, int *rc) {
    double fi, fo;
    *rc = fans(t, &fi, &fo, fn);
    if (*rc) return 0;
    double fan = mode == AG_FAN_OUT ? fo : fi;
    return sqrt(2.0 / (1 + a * a)) / sqrt(fan ? fan : 1);
}

int ag_init_kaiming_uniform_(ag_tensor *t, double a, ag_fan_mode mode) {
    int rc;
    double std = kaiming_std(t, a, mode, "ag_init_kaiming_uniform_", &rc);
    if (rc) return rc;
    return ag_init_uniform_(t, -sqrt(3.0) * std, sqrt(3.0) * std);
}

int ag_init_kaiming_normal_(ag_tensor *t, double a, ag_fan_mode mode) {
    int rc;
    double std = kaiming_std(t, a, mode, "ag_init_kaiming_normal_", &rc);
    if (rc) return rc;
    return ag_init_normal_(t, 0, std);
}
