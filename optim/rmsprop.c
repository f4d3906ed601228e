/* RMSprop, as torch.optim.RMSprop (1.13, single-tensor path, same order of operations):
 * three state arrays per parameter (square average, gradient average for centered,
 * momentum buffer). */
#include "optim/optim.h"

#include <math.h>

ag_rmsprop_opts ag_rmsprop_defaults(void) {
    return (ag_rmsprop_opts){.lr = 1e-2, .alpha = 0.99, .eps = 1e-8, .exact = true};
}

static int rmsprop_validate(void *opts, const void *base, const char *fn) {
    ag_rmsprop_opts *o = opts;
    const ag_rmsprop_opts *b = base;
    if (!o->exact) {
        ag__opt_inherit(&o->lr, b->lr);
        ag__opt_inherit(&o->alpha, b->alpha);
        ag__opt_inherit(&o->eps, b->eps);
        ag__opt_inherit(&o->weight_decay, b->weight_decay);
        ag__opt_inherit(&o->momentum, b->momentum);
        o->centered = o->centered || b->centered;
        o->exact = true;
    }
    if (!(o->lr >= 0) || !(o->alpha >= 0 && o->alpha <= 1) || !(o->eps >= 0) ||
        !(o->momentum >= 0) || !(o->weight_decay >= 0))
        return ag__error(AG_ERR_ARG, fn,
                         "invalid lr %g, alpha %g, eps %g, momentum %g or weight_decay %g", o->lr,
                         o->alpha, o->eps, o->momentum, o->weight_decay);
    return AG_OK;
}

static double rmsprop_lr(const void *opts) { return ((const ag_rmsprop_opts *)opts)->lr; }
static int rmsprop_n_state(const void *opts) { return (void)opts, 3; }

/* torch RMSprop: sq = alpha*sq + (1-alpha)*g^2; centered: ga likewise, avg = sqrt(sq - ga^2);
 * avg += eps; momentum: buf = m*buf + g/avg, p -= lr*buf; else p -= lr * g/avg.
 * The options that change the arithmetic are literal 0/1 in each expansion. */
#define RMSPROP_LOOP(T, SQRT, WD, CENTERED, MOM)   \
    do {                                           \
        AG__OPTIM_FOR                              \
        for (int64_t j = 0; j < n; j++) {          \
            T gj = WD ? g[j] + wd * p[j] : g[j];   \
            T s = sq[j] * alpha + c * gj * gj;     \
            sq[j] = s;                             \
            T avg;                                 \
            if (CENTERED) {                        \
                T gm = ga[j] * alpha + c * gj;     \
                ga[j] = gm;                        \
                avg = SQRT(s + (T)(-1) * gm * gm); \
            } else {                               \
                avg = SQRT(s);                     \
            }                                      \
            avg = avg + eps;                       \
            if (MOM) {                             \
                T b = buf[j] * mom + gj / avg;     \
                buf[j] = b;                        \
                p[j] = p[j] + (-lr) * b;           \
            } else {                               \
                p[j] = p[j] + (-lr) * (gj / avg);  \
            }                                      \
        }                                          \
    } while (0)
#define RMSPROP_CASES(T, SQRT, WD)                                \
    do {                                                          \
        if (centered && use_mom) RMSPROP_LOOP(T, SQRT, WD, 1, 1); \
        else if (centered) RMSPROP_LOOP(T, SQRT, WD, 1, 0);       \
        else if (use_mom) RMSPROP_LOOP(T, SQRT, WD, 0, 1);        \
        else RMSPROP_LOOP(T, SQRT, WD, 0, 0);                     \
    } while (0)
#define RMSPROP_BODY(T, SQRT)                                                   \
    {                                                                           \
        AG__OPTIM_ARRAYS(T)                                                     \
        const ag_rmsprop_opts *r = u->opts;                                     \
        T *restrict sq = u->state[0], *restrict ga = u->state[1];               \
        T *restrict buf = u->state[2];                                          \
        const T lr = (T)u->lr, alpha = (T)r->alpha, c = (T)(1.0 - r->alpha);    \
        const T eps = (T)r->eps, wd = (T)r->weight_decay, mom = (T)r->momentum; \
        const bool centered = r->centered, use_mom = r->momentum > 0;           \
        if (wd != 0) RMSPROP_CASES(T, SQRT, 1);                                 \
        else RMSPROP_CASES(T, SQRT, 0);                                         \
    }

static void rmsprop_f32(const ag__optim_param *u)
    RMSPROP_BODY(float, sqrtf) static void rmsprop_f64(const ag__optim_param *u)
        RMSPROP_BODY(double, sqrt)

            static const ag__optim_kind rmsprop_kind = {
                .name = "rmsprop",
                .opts_size = sizeof(ag_rmsprop_opts),
                .validate = rmsprop_validate,
                .lr_of = rmsprop_lr,
                .n_state = rmsprop_n_state,
                .update_f32 = rmsprop_f32,
                .update_f64 = rmsprop_f64,
};

ag_optim *ag_rmsprop_new(ag_tensor **params, int n, ag_rmsprop_opts opts) {
    ag_rmsprop_opts torch = ag_rmsprop_defaults();
    return ag__optim_new(&rmsprop_kind, params, n, &opts, &torch, "ag_rmsprop_new");
}

int ag_rmsprop_add_param_group(ag_optim *o, ag_tensor **params, int n, ag_rmsprop_opts opts) {
    return ag__optim_add_group(o, &rmsprop_kind, params, n, &opts, "ag_rmsprop_add_param_group");
}
