/* Internal: the optimizer object, its parameter groups, and the vtable each kind of
 * optimizer fills in (optim/sgd.c, adam.c, rmsprop.c, adagrad.c). The shared part
 * (optim/optim.c) owns the parameter list, step counts, state arrays, groups and lr, and
 * runs the step; a kind only says how many state arrays a parameter needs, how to check
 * and complete its options, and how to update one parameter in float32 and float64.
 *
 * Adding an optimizer: optim/<kind>.c with its kernels, a static ag__optim_kind, and
 * ag_<kind>_defaults / ag_<kind>_new / ag_<kind>_add_param_group (thin calls to
 * ag__optim_new and ag__optim_add_group); its options struct and those three functions in
 * ag.h's optimizer section. mk/optim.mk already builds every optim/ file with
 * -fno-math-errno. Prove it with a config in tests/golden/gen_optim.py and a Test in
 * tests/test_optim.c. */
#ifndef AG_OPTIM_INTERNAL_H
#define AG_OPTIM_INTERNAL_H

#include "autograd/node.h" /* ag__grad_ready */

#define AG__OPTIM_MAX_STATE 3

/* What an update kernel sees for one parameter whose .grad is set. */
typedef struct {
    ag_tensor *p;       /* contiguous float leaf; p->grad has its shape and dtype */
    int64_t lo, n;      /* the elements this call updates: [lo, lo + n) of p and its grad */
    void *const *state; /* the kind's n_state arrays, from element lo, in p's dtype */
    int64_t step;       /* torch's state['step'], already counting this step (>= 1) */
    double lr;          /* the group's current lr (schedules change it) */
    const void *opts;   /* the group's options: the kind's opts struct, completed */
} ag__optim_param;

/* One kind of optimizer. A kind's file defines one of these and its public
 * ag_<kind>_new / ag_<kind>_add_param_group / ag_<kind>_defaults. */
typedef struct ag__optim_kind {
    const char *name; /* "adam": error messages name it */
    size_t opts_size; /* sizeof the kind's options struct (ag_adam_opts, ...) */
    /* Complete opts in place (a field a zero-initialised struct left at 0 takes base's
     * value, unless opts says it is exact) and check it; AG_OK or an error naming fn.
     * base: the torch defaults when the optimizer is made, its first group's options
     * when a group is added (torch fills a group's missing keys from the optimizer's). */
    int (*validate)(void *opts, const void *base, const char *fn);
    double (*lr_of)(const void *opts); /* the lr field of a completed opts */
    int (*n_state)(const void *opts);  /* state arrays per parameter, <= MAX */
    /* Fill a new parameter's state (NULL: the arrays stay zero). */
    void (*init_state)(const void *opts, const ag_tensor *p, void *const *state);
    void (*update_f32)(const ag__optim_param *u);
    void (*update_f64)(const ag__optim_param *u);
} ag__optim_kind;

typedef struct {
    double lr;      /* current lr: ag_optim_set_lr, set_group_lr and schedules set it */
    double base_lr; /* lr when the group was made: ag_optim_set_lr keeps the ratios */
    void *opts;     /* heap copy of the kind's completed options struct */
} ag__optim_group;

typedef struct {
    int64_t step; /* torch's state['step'] */
    int group;    /* index into groups */
    int n_state;
    void *state[AG__OPTIM_MAX_STATE]; /* heap arrays in the param's dtype */
} ag__optim_slot;

struct ag_optim {
    const ag__optim_kind *kind;
    int n;                 /* parameters over all groups, in the order they were given */
    ag_tensor **params;    /* [n], not owned (nn/trainer.c reads params and n) */
    ag__optim_slot *slots; /* [n] */
    int n_groups;
    ag__optim_group *groups; /* [n_groups]; groups[0] holds the constructor's options */
};

/* Make an optimizer of kind with one group: validate opts against base (the kind's torch
 * defaults), then allocate the state. NULL and an error naming fn on failure. */
ag_optim *ag__optim_new(const ag__optim_kind *kind, ag_tensor **params, int n, const void *opts,
                        const void *base, const char *fn);
/* Add a group to o (which must be of kind): opts are completed from group 0's. */
int ag__optim_add_group(ag_optim *o, const ag__optim_kind *kind, ag_tensor **params, int n,
                        const void *opts, const char *fn);

/* Complete one field of a zero-initialised options struct: 0 takes base's value. */
static inline void ag__opt_inherit(double *field, double base) {
    if (*field == 0) *field = base;
}

/* Kernels update the slice of one parameter that ag_optim_step gives them (it shares each
 * parameter's elements out over its threads); element-wise, so results do not depend on
 * it.  The loop over the slice vectorizes. */
#define AG__OPTIM_FOR _Pragma("omp simd")

/* The arrays every kernel starts from: p (param), g (grad), n elements, from element lo. */
#define AG__OPTIM_ARRAYS(T)                                     \
    ag_tensor *pt = u->p;                                       \
    T *restrict p = (T *)ag__ptr(pt) + u->lo;                   \
    const T *restrict g = (const T *)ag__ptr(pt->grad) + u->lo; \
    const int64_t n = u->n;

#endif
