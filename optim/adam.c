/* Adam and AdamW, as torch.optim.Adam / torch.optim.AdamW (1.13, single-tensor path, same
 * order of operations): two state arrays per parameter, the first and second moments.
 * AdamW is Adam with decoupled_weight_decay (p *= 1 - lr*wd before the update). */
#include "optim/optim.h"

#include <math.h>

ag_adam_opts ag_adam_defaults(void) {
    return (ag_adam_opts){
        .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0, .exact = true};
}

ag_adam_opts ag_adamw_defaults(void) {
    ag_adam_opts o = ag_adam_defaults();
    o.weight_decay = 1e-2;
    o.decoupled_weight_decay = true;
    return o;
}

static int adam_validate(void *opts, const void *base, const char *fn) {
    ag_adam_opts *o = opts;
    const ag_adam_opts *b = base;
    if (!o->exact) {
        /* base is AdamW's defaults when o asks for decoupled decay (ag_adam_new) */
        ag__opt_inherit(&o->lr, b->lr);
        ag__opt_inherit(&o->beta1, b->beta1);
        ag__opt_inherit(&o->beta2, b->beta2);
        ag__opt_inherit(&o->eps, b->eps);
        ag__opt_inherit(&o->weight_decay, b->weight_decay);
        o->decoupled_weight_decay = o->decoupled_weight_decay || b->decoupled_weight_decay;
        o->exact = true;
    }
    if (!(o->lr >= 0) || !(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1) ||
        !(o->eps >= 0) || !(o->weight_decay >= 0))
        return ag__error(AG_ERR_ARG, fn, "invalid lr %g, betas (%g, %g), eps %g or weight_decay %g",
                         o->lr, o->beta1, o->beta2, o->eps, o->weight_decay);
    if (o->decoupled_weight_decay != b->decoupled_weight_decay)
        return ag__error(AG_ERR_ARG, fn,
                         "decoupled_weight_decay %d differs from the optimizer's %d "
                         "(Adam and AdamW groups cannot mix)",
                         o->decoupled_weight_decay, b->decoupled_weight_decay);
    return AG_OK;
}

static double adam_lr(const void *opts) { return ((const ag_adam_opts *)opts)->lr; }
static int adam_n_state(const void *opts) { return (void)opts, 2; }

/* torch Adam / AdamW (decoupled: p *= 1 - lr*wd first). The options that change the
 * arithmetic are literal 0/1 in each expansion, so the loops have no branches. */
#define ADAM_LOOP(T, SQRT, DECOUPLED, WD)            \
    do {                                             \
        AG__OPTIM_FOR                                \
        for (int64_t j = 0; j < n; j++) {            \
            T gj = g[j], pj = p[j];                  \
            if (DECOUPLED) pj = pj * decay;          \
            if (WD) gj = gj + wd * pj;               \
            T mj = m[j] * b1 + c1 * gj;              \
            T vj = v[j] * b2 + c2 * gj * gj;         \
            m[j] = mj;                               \
            v[j] = vj;                               \
            T denom = SQRT(vj) / bc2_sqrt + eps;     \
            p[j] = pj + (-step_size) * (mj / denom); \
        }                                            \
    } while (0)
#define ADAM_BODY(T, SQRT)                                                             \
    {                                                                                  \
        AG__OPTIM_ARRAYS(T)                                                            \
        const ag_adam_opts *a = u->opts;                                               \
        T *restrict m = u->state[0], *restrict v = u->state[1];                        \
        const double step = (double)u->step;                                           \
        const double bc1 = 1.0 - pow(a->beta1, step), bc2 = 1.0 - pow(a->beta2, step); \
        const T step_size = (T)(u->lr / bc1), bc2_sqrt = (T)sqrt(bc2);                 \
        const T b1 = (T)a->beta1, b2 = (T)a->beta2, eps = (T)a->eps;                   \
        const T c1 = (T)(1.0 - a->beta1), c2 = (T)(1.0 - a->beta2);                    \
        const T wd = (T)a->weight_decay, decay = (T)(1.0 - u->lr * a->weight_decay);   \
        if (a->decoupled_weight_decay) ADAM_LOOP(T, SQRT, 1, 0);                       \
        else if (wd != 0) ADAM_LOOP(T, SQRT, 0, 1);                                    \
        else ADAM_LOOP(T, SQRT, 0, 0);                                                 \
    }

static void adam_f32(const ag__optim_param *u)
    ADAM_BODY(float, sqrtf) static void adam_f64(const ag__optim_param *u) ADAM_BODY(double, sqrt)

        static const ag__optim_kind adam_kind = {
            .name = "adam",
            .opts_size = sizeof(ag_adam_opts),
            .validate = adam_validate,
            .lr_of = adam_lr,
            .n_state = adam_n_state,
            .update_f32 = adam_f32,
            .update_f64 = adam_f64,
};

ag_optim *ag_adam_new(ag_tensor **params, int n, ag_adam_opts opts) {
    ag_adam_opts torch = opts.decoupled_weight_decay ? ag_adamw_defaults() : ag_adam_defaults();
    return ag__optim_new(&adam_kind, params, n, &opts, &torch, "ag_adam_new");
}

int ag_adam_add_param_group(ag_optim *o, ag_tensor **params, int n, ag_adam_opts opts) {
    return ag__optim_add_group(o, &adam_kind, params, n, &opts, "ag_adam_add_param_group");
}
