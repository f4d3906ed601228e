/* Adagrad, as torch.optim.Adagrad (1.13, single-tensor path, same order of operations):
 * one state array per parameter, the sum of squared gradients, starting at
 * initial_accumulator_value. */
#include "optim/optim.h"

#include <math.h>

ag_adagrad_opts ag_adagrad_defaults(void) {
    return (ag_adagrad_opts){.lr = 1e-2, .eps = 1e-10, .exact = true};
}

static int adagrad_validate(void *opts, const void *base, const char *fn) {
    ag_adagrad_opts *o = opts;
    const ag_adagrad_opts *b = base;
    if (!o->exact) {
        ag__opt_inherit(&o->lr, b->lr);
        ag__opt_inherit(&o->lr_decay, b->lr_decay);
        ag__opt_inherit(&o->weight_decay, b->weight_decay);
        ag__opt_inherit(&o->initial_accumulator_value, b->initial_accumulator_value);
        ag__opt_inherit(&o->eps, b->eps);
        o->exact = true;
    }
    if (!(o->lr >= 0) || !(o->lr_decay >= 0) || !(o->weight_decay >= 0) ||
        !(o->initial_accumulator_value >= 0) || !(o->eps >= 0))
        return ag__error(AG_ERR_ARG, fn,
                         "invalid lr %g, lr_decay %g, weight_decay %g, "
                         "initial_accumulator_value %g or eps %g",
                         o->lr, o->lr_decay, o->weight_decay, o->initial_accumulator_value, o->eps);
    return AG_OK;
}

static double adagrad_lr(const void *opts) { return ((const ag_adagrad_opts *)opts)->lr; }
static int adagrad_n_state(const void *opts) { return (void)opts, 1; }

static void adagrad_init_state(const void *opts, const ag_tensor *p, void *const *state) {
    double v = ((const ag_adagrad_opts *)opts)->initial_accumulator_value;
    for (int64_t j = 0; j < p->numel; j++) {
        if (p->dtype == AG_F32) ((float *)state[0])[j] = (float)v;
        else ((double *)state[0])[j] = v;
    }
}

/* torch Adagrad: clr = lr / (1 + (step-1)*lr_decay); sum += g^2; p -= clr * g/(sqrt(sum)+eps) */
#define ADAGRAD_LOOP(T, SQRT, WD)                          \
    do {                                                   \
        AG__OPTIM_FOR                                      \
        for (int64_t j = 0; j < n; j++) {                  \
            T gj = WD ? g[j] + wd * p[j] : g[j];           \
            T s = sum[j] + gj * gj;                        \
            sum[j] = s;                                    \
            p[j] = p[j] + (-clr) * (gj / (SQRT(s) + eps)); \
        }                                                  \
    } while (0)
#define ADAGRAD_BODY(T, SQRT)                                                   \
    {                                                                           \
        AG__OPTIM_ARRAYS(T)                                                     \
        const ag_adagrad_opts *a = u->opts;                                     \
        T *restrict sum = u->state[0];                                          \
        const T clr = (T)(u->lr / (1.0 + (double)(u->step - 1) * a->lr_decay)); \
        const T eps = (T)a->eps, wd = (T)a->weight_decay;                       \
        if (wd != 0) ADAGRAD_LOOP(T, SQRT, 1);                                  \
        else ADAGRAD_LOOP(T, SQRT, 0);                                          \
    }

static void adagrad_f32(const ag__optim_param *u)
    ADAGRAD_BODY(float, sqrtf) static void adagrad_f64(const ag__optim_param *u)
        ADAGRAD_BODY(double, sqrt)

            static const ag__optim_kind adagrad_kind = {
                .name = "adagrad",
                .opts_size = sizeof(ag_adagrad_opts),
                .validate = adagrad_validate,
                .lr_of = adagrad_lr,
                .n_state = adagrad_n_state,
                .init_state = adagrad_init_state,
                .update_f32 = adagrad_f32,
                .update_f64 = adagrad_f64,
};

ag_optim *ag_adagrad_new(ag_tensor **params, int n, ag_adagrad_opts opts) {
    ag_adagrad_opts torch = ag_adagrad_defaults();
    return ag__optim_new(&adagrad_kind, params, n, &opts, &torch, "ag_adagrad_new");
}

int ag_adagrad_add_param_group(ag_optim *o, ag_tensor **params, int n, ag_adagrad_opts opts) {
    return ag__optim_add_group(o, &adagrad_kind, params, n, &opts, "ag_adagrad_add_param_group");
}
