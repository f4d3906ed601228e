/* Learning-rate schedules, as torch.optim.lr_scheduler (1.13): each step computes the new lr
 * from the optimizer's current one with torch's recursive ("chainable") formulas, so a
 * float64 run agrees with torch to rounding. Each parameter group has its own lr and base
 * (torch's base_lrs): the groups the optimizer has when the schedule is made. */
#include "optim/optim.h"

#include <math.h>

enum kind { STEP, EXPONENTIAL, COSINE, LINEAR };

struct ag_sched {
    enum kind kind;
    ag_optim *o;
    int64_t epoch;   /* torch's last_epoch */
    int n_groups;    /* the optimizer's groups at creation; later ones are not scheduled */
    double *base_lr; /* [n_groups]: each group's lr at creation */
    int step_size, t_max, total_iters;
    double gamma, eta_min, start, end;
};

static ag_sched *sched_new(ag_optim *o, enum kind kind, const char *fn) {
    if (!o) {
        ag__error(AG_ERR_NULL, fn, "optimizer is NULL");
        return NULL;
    }
    ag_sched *s = ag__calloc(1, sizeof *s);
    if (!s) {
        ag__error(AG_ERR_NOMEM, fn, "out of memory");
        return NULL;
    }
    s->kind = kind;
    s->o = o;
    s->n_groups = o->n_groups;
    s->base_lr = ag__malloc(sizeof *s->base_lr * (size_t)o->n_groups);
    if (!s->base_lr) {
        free(s);
        ag__error(AG_ERR_NOMEM, fn, "out of memory");
        return NULL;
    }
    for (int g = 0; g < o->n_groups; g++) s->base_lr[g] = o->groups[g].lr;
    return s;
}

ag_sched *ag_sched_step_new(ag_optim *o, int step_size, double gamma) {
    if (o && (step_size < 1 || !(gamma > 0))) {
        ag__error(AG_ERR_ARG, "ag_sched_step_new", "step_size %d must be >= 1 and gamma %g > 0",
                  step_size, gamma);
        return NULL;
    }
    ag_sched *s = sched_new(o, STEP, "ag_sched_step_new");
    if (s) s->step_size = step_size, s->gamma = gamma;
    return s;
}

ag_sched *ag_sched_exponential_new(ag_optim *o, double gamma) {
    if (o && !(gamma > 0)) {
        ag__error(AG_ERR_ARG, "ag_sched_exponential_new", "gamma %g must be > 0", gamma);
        return NULL;
    }
    ag_sched *s = sched_new(o, EXPONENTIAL, "ag_sched_exponential_new");
    if (s) s->gamma = gamma;
    return s;
}

ag_sched *ag_sched_cosine_new(ag_optim *o, int t_max, double eta_min) {
    if (o && (t_max < 1 || eta_min < 0)) {
        ag__error(AG_ERR_ARG, "ag_sched_cosine_new", "t_max %d must be >= 1 and eta_min %g >= 0",
                  t_max, eta_min);
        return NULL;
    }
    ag_sched *s = sched_new(o, COSINE, "ag_sched_cosine_new");
    if (s) s->t_max = t_max, s->eta_min = eta_min;
    return s;
}

ag_sched *ag_sched_linear_new(ag_optim *o, double start_factor, double end_factor,
                              int total_iters) {
    if (o && (!(start_factor > 0 && start_factor <= 1) || !(end_factor >= 0 && end_factor <= 1) ||
              total_iters < 1)) {
        ag__error(AG_ERR_ARG, "ag_sched_linear_new",
                  "start_factor %g must be in (0,1], end_factor %g in [0,1], total_iters %d >= 1",
                  start_factor, end_factor, total_iters);
        return NULL;
    }
    ag_sched *s = sched_new(o, LINEAR, "ag_sched_linear_new");
    if (!s) return NULL;
    s->start = start_factor;
    s->end = end_factor;
    s->total_iters = total_iters;
    for (int g = 0; g < s->n_groups; g++) /* torch applies the epoch-0 factor at construction */
        o->groups[g].lr = o->groups[g].lr * start_factor;
    return s;
}

static double next_lr(const ag_sched *s, double lr, double base_lr) {
    int64_t e = s->epoch;
    switch (s->kind) {
    case STEP: return e % s->step_size == 0 ? lr * s->gamma : lr;
    case EXPONENTIAL: return lr * s->gamma;
    case COSINE: {
        int64_t m = 2 * (int64_t)s->t_max, r = ((e - 1 - s->t_max) % m + m) % m;
        if (r == 0) return lr + (base_lr - s->eta_min) * (1 - cos(M_PI / s->t_max)) / 2;
        return (1 + cos(M_PI * (double)e / s->t_max)) /
                   (1 + cos(M_PI * (double)(e - 1) / s->t_max)) * (lr - s->eta_min) +
               s->eta_min;
    }
    case LINEAR:
        if (e > s->total_iters) return lr;
        return lr * (1. + (s->end - s->start) /
                              (s->total_iters * s->start + (double)(e - 1) * (s->end - s->start)));
    }
    return lr;
}

void ag_sched_step(ag_sched *s) {
    if (!s) return;
    s->epoch++;
    for (int g = 0; g < s->n_groups; g++) {
        ag__optim_group *gr = &s->o->groups[g];
        gr->lr = next_lr(s, gr->lr, s->base_lr[g]);
    }
}

double ag_sched_get_lr(const ag_sched *s) { return s ? ag_optim_get_lr(s->o) : NAN; }

void ag_sched_free(ag_sched *s) {
    if (!s) return;
    free(s->base_lr);
    free(s);
}
