/* SGD with momentum, dampening, weight decay and Nesterov, as torch.optim.SGD (1.13,
 * single-tensor path, same order of operations): one state array (the momentum buffer)
 * when the group has momentum, none otherwise. */
#include "optim/optim.h"

#include <math.h>

/* torch 1.13 has no default lr for SGD ("required"): NAN makes a missing one an error. */
ag_sgd_opts ag_sgd_defaults(void) { return (ag_sgd_opts){.lr = NAN, .exact = true}; }

static int sgd_validate(void *opts, const void *base, const char *fn) {
    ag_sgd_opts *o = opts;
    const ag_sgd_opts *b = base;
    if (!o->exact) {
        ag__opt_inherit(&o->lr, b->lr);
        ag__opt_inherit(&o->momentum, b->momentum);
        ag__opt_inherit(&o->dampening, b->dampening);
        ag__opt_inherit(&o->weight_decay, b->weight_decay);
        o->nesterov = o->nesterov || b->nesterov;
        o->exact = true;
    }
    if (isnan(o->lr)) return ag__error(AG_ERR_ARG, fn, "lr has no default for SGD: set it");
    if (!(o->lr >= 0) || !(o->momentum >= 0) || !(o->weight_decay >= 0) || isnan(o->dampening))
        return ag__error(
            AG_ERR_ARG, fn,
            "lr %g, momentum %g and weight_decay %g must be >= 0, dampening %g a number", o->lr,
            o->momentum, o->weight_decay, o->dampening);
    if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
        return ag__error(AG_ERR_ARG, fn, "nesterov needs momentum > 0 and dampening 0 (got %g, %g)",
                         o->momentum, o->dampening);
    return AG_OK;
}

static double sgd_lr(const void *opts) { return ((const ag_sgd_opts *)opts)->lr; }

static int sgd_n_state(const void *opts) {
    return ((const ag_sgd_opts *)opts)->momentum > 0 ? 1 : 0;
}

/* The options that change the arithmetic (weight decay on or off, Nesterov, ...) are
 * passed to each loop as literal 0/1 (the *_LOOP macros are expanded once per case), so
 * the loops have no branches and vectorize, and each case does exactly torch's operations.
 * torch: d_p = g + wd*p; buf = buf*m + (1-damp)*d_p (first step: buf = d_p);
 * d_p = nesterov ? d_p + m*buf : buf; p = p - lr*d_p */
#define SGD_LOOP(T, WD, MOM, FIRST, NESTEROV)              \
    do {                                                   \
        AG__OPTIM_FOR                                      \
        for (int64_t j = 0; j < n; j++) {                  \
            T d = WD ? g[j] + wd * p[j] : g[j];            \
            if (MOM) {                                     \
                T b = FIRST ? d : buf[j] * mom + keep * d; \
                buf[j] = b;                                \
                d = NESTEROV ? d + mom * b : b;            \
            }                                              \
            p[j] = p[j] + (-lr) * d;                       \
        }                                                  \
    } while (0)
#define SGD_CASES(T, WD)                                      \
    do {                                                      \
        if (!buf) SGD_LOOP(T, WD, 0, 0, 0);                   \
        else if (first && nesterov) SGD_LOOP(T, WD, 1, 1, 1); \
        else if (first) SGD_LOOP(T, WD, 1, 1, 0);             \
        else if (nesterov) SGD_LOOP(T, WD, 1, 0, 1);          \
        else SGD_LOOP(T, WD, 1, 0, 0);                        \
    } while (0)
#define SGD_BODY(T)                                                           \
    {                                                                         \
        AG__OPTIM_ARRAYS(T)                                                   \
        const ag_sgd_opts *o = u->opts;                                       \
        const T lr = (T)u->lr, wd = (T)o->weight_decay, mom = (T)o->momentum; \
        const T keep = (T)(1.0 - o->dampening);                               \
        const bool first = u->step == 1, nesterov = o->nesterov;              \
        T *restrict buf = o->momentum > 0 ? u->state[0] : NULL;               \
        if (wd != 0) SGD_CASES(T, 1);                                         \
        else SGD_CASES(T, 0);                                                 \
    }

static void sgd_f32(const ag__optim_param *u)
    SGD_BODY(float) static void sgd_f64(const ag__optim_param *u) SGD_BODY(double)

        static const ag__optim_kind sgd_kind = {
            .name = "sgd",
            .opts_size = sizeof(ag_sgd_opts),
            .validate = sgd_validate,
            .lr_of = sgd_lr,
            .n_state = sgd_n_state,
            .update_f32 = sgd_f32,
            .update_f64 = sgd_f64,
};

ag_optim *ag_sgd_new(ag_tensor **params, int n, ag_sgd_opts opts) {
    ag_sgd_opts torch = ag_sgd_defaults();
    return ag__optim_new(&sgd_kind, params, n, &opts, &torch, "ag_sgd_new");
}

int ag_sgd_add_param_group(ag_optim *o, ag_tensor **params, int n, ag_sgd_opts opts) {
    return ag__optim_add_group(o, &sgd_kind, params, n, &opts, "ag_sgd_add_param_group");
}
