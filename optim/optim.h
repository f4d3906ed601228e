/* Internal: the optimizer object and its per-dtype update kernels. */
#ifndef AG_OPTIM_INTERNAL_H
#define AG_OPTIM_INTERNAL_H

#include "autograd/node.h"   /* ag__grad_ready */

#define AG_OPTIM_MAX_STATE 3

enum ag__optim_kind { AG__SGD, AG__ADAM, AG__RMSPROP, AG__ADAGRAD };

struct ag_optim {
    enum ag__optim_kind kind;
    int n;
    ag_tensor **params;            /* not owned */
    int64_t *steps;                /* per parameter, as torch's state['step'] */
    double lr;                     /* current lr (schedules change it) */
    int n_state;
    void **state[AG_OPTIM_MAX_STATE];  /* [s][param]: heap arrays in the param's dtype */
    union {
        ag_sgd_opts sgd;
        ag_adam_opts adam;
        ag_rmsprop_opts rmsprop;
        ag_adagrad_opts adagrad;
    };
};

ag_optim *ag__optim_new(enum ag__optim_kind kind, ag_tensor **params, int n, int n_state,
                        const char *fn);

/* Update parameter i of o from its .grad (optim/update.c). */
void ag__sgd_f32(ag_optim *o, int i);
void ag__sgd_f64(ag_optim *o, int i);
void ag__adam_f32(ag_optim *o, int i);
void ag__adam_f64(ag_optim *o, int i);
void ag__rmsprop_f32(ag_optim *o, int i);
void ag__rmsprop_f64(ag_optim *o, int i);
void ag__adagrad_f32(ag_optim *o, int i);
void ag__adagrad_f64(ag_optim *o, int i);

#endif
