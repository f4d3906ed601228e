/* The shared part of every optimizer, as torch.optim (1.13, single-tensor path): the
 * parameter list, parameter groups and their lr, per-parameter step counts and state,
 * zero_grad, and the step that calls each kind's update kernel (optim/optim.h).
 *
 * Updates run on the raw arrays of each parameter and its .grad, with no graph; state
 * buffers (momentum, moments) are heap arrays in the parameter's dtype made when the
 * parameter is added and freed by ag_optim_free, so a step allocates nothing. */
#include "optim/optim.h"
#include "runtime/parallel.h"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include <math.h>
#include <string.h>

static int check_param(const ag_optim *o, ag_tensor *p, int i, const char *fn) {
    if (!p) return ag__error(AG_ERR_NULL, fn, "parameter %d is NULL", i);
    if (!ag__is_float(p->dtype))
        return ag__error(AG_ERR_DTYPE, fn, "parameter %d %s is %s, not float", i, AG_SHAPE(p),
                         ag_dtype_name(p->dtype));
    if (p->node || !p->requires_grad)
        return ag__error(AG_ERR_STATE, fn, "parameter %d %s must be a leaf with requires_grad", i,
                         AG_SHAPE(p));
    if (p->arena || !ag_is_contiguous(p))
        return ag__error(AG_ERR_STATE, fn,
                         "parameter %d %s must be contiguous and made outside every scope", i,
                         AG_SHAPE(p));
    for (int k = 0; o && k < o->n; k++) /* torch: "some parameters appear in more than one" */
        if (o->params[k] == p)
            return ag__error(AG_ERR_ARG, fn, "parameter %d %s is already in the optimizer", i,
                             AG_SHAPE(p));
    return AG_OK;
}

static int check_params(const ag_optim *o, ag_tensor **params, int n, const char *fn) {
    if (!params || n < 1)
        return ag__error(AG_ERR_NULL, fn, "needs at least one parameter (n = %d)", n);
    for (int i = 0; i < n; i++) {
        if (check_param(o, params[i], i, fn)) return AG_ERR_ARG;
        for (int k = 0; k < i; k++)
            if (params[k] == params[i])
                return ag__error(AG_ERR_ARG, fn, "parameter %d %s is also parameter %d", i,
                                 AG_SHAPE(params[i]), k);
    }
    return AG_OK;
}

/* Append group g's parameters to o: grow params and slots, allocate and fill their state.
 * On failure o keeps its old parameters (the new slots' state is freed). */
static int add_params(ag_optim *o, ag_tensor **params, int n, int g) {
    ag_tensor **ps = ag__realloc(o->params, sizeof *ps * (size_t)(o->n + n));
    if (ps) o->params = ps;
    ag__optim_slot *ss = ag__realloc(o->slots, sizeof *ss * (size_t)(o->n + n));
    if (ss) o->slots = ss;
    if (!ps || !ss) return AG_ERR_NOMEM;
    const void *opts = o->groups[g].opts;
    int n_state = o->kind->n_state(opts);
    for (int i = 0; i < n; i++) {
        ag__optim_slot *s = &o->slots[o->n + i];
        *s = (ag__optim_slot){.group = g};
        size_t bytes = (size_t)params[i]->numel * ag_dtype_size(params[i]->dtype);
        for (; s->n_state < n_state; s->n_state++) {
            s->state[s->n_state] = ag__calloc(1, bytes ? bytes : 1);
            if (!s->state[s->n_state]) {
                for (int k = 0; k <= i; k++)
                    for (int j = 0; j < o->slots[o->n + k].n_state; j++)
                        free(o->slots[o->n + k].state[j]);
                return AG_ERR_NOMEM;
            }
        }
        if (o->kind->init_state) o->kind->init_state(opts, params[i], s->state);
        o->params[o->n + i] = params[i];
    }
    o->n += n;
    return AG_OK;
}

/* Append a group (taking ownership of its completed opts) with its parameters. */
static int add_group(ag_optim *o, ag_tensor **params, int n, void *opts) {
    ag__optim_group *gs = ag__realloc(o->groups, sizeof *gs * (size_t)(o->n_groups + 1));
    if (!gs) return AG_ERR_NOMEM;
    o->groups = gs;
    double lr = o->kind->lr_of(opts);
    gs[o->n_groups] = (ag__optim_group){.lr = lr, .base_lr = lr, .opts = opts};
    if (add_params(o, params, n, o->n_groups)) return AG_ERR_NOMEM;
    o->n_groups++;
    return AG_OK;
}

/* A heap copy of opts completed from base and checked (the caller's struct stays as it
 * was); NULL and the error on failure. */
static void *completed(const ag__optim_kind *kind, const void *opts, const void *base,
                       const char *fn) {
    void *copy = ag__malloc(kind->opts_size);
    if (!copy) {
        ag__error(AG_ERR_NOMEM, fn, "out of memory");
        return NULL;
    }
    memcpy(copy, opts, kind->opts_size);
    if (kind->validate(copy, base, fn)) {
        free(copy);
        return NULL;
    }
    return copy;
}

ag_optim *ag__optim_new(const ag__optim_kind *kind, ag_tensor **params, int n, const void *opts,
                        const void *base, const char *fn) {
    void *copy = completed(kind, opts, base, fn);
    if (!copy) return NULL;
    if (check_params(NULL, params, n, fn)) {
        free(copy);
        return NULL;
    }
    ag_optim *o = ag__calloc(1, sizeof *o);
    if (o) o->kind = kind;
    if (!o || add_group(o, params, n, copy)) {
        free(copy);
        ag_optim_free(o);
        ag__error(AG_ERR_NOMEM, fn, "cannot allocate %s state for %d parameters", kind->name, n);
        return NULL;
    }
    return o;
}

int ag__optim_add_group(ag_optim *o, const ag__optim_kind *kind, ag_tensor **params, int n,
                        const void *opts, const char *fn) {
    if (!o) return ag__error(AG_ERR_NULL, fn, "optimizer is NULL");
    if (o->kind != kind)
        return ag__error(AG_ERR_ARG, fn, "the optimizer is %s, not %s", o->kind->name, kind->name);
    if (check_params(o, params, n, fn)) return AG_ERR_ARG;
    void *copy = completed(kind, opts, o->groups[0].opts, fn);
    if (!copy) return AG_ERR_ARG;
    if (add_group(o, params, n, copy)) {
        free(copy);
        return ag__error(AG_ERR_NOMEM, fn, "cannot allocate %s state for %d parameters", kind->name,
                         n);
    }
    return AG_OK;
}

void ag_optim_free(ag_optim *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++)
        for (int s = 0; s < o->slots[i].n_state; s++) free(o->slots[i].state[s]);
    for (int g = 0; g < o->n_groups; g++) free(o->groups[g].opts);
    free(o->groups);
    free(o->slots);
    free(o->params);
    free(o);
}

/* torch's zero_grad(set_to_none=False): the .grad arrays stay (no malloc next step), and
 * count as zeros until the next backward writes them (ag_zero_grad). */
void ag_optim_zero_grad(ag_optim *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) ag_zero_grad(o->params[i]);
}

/* ------------------------------------------------------------------ groups and lr */
int ag_optim_num_groups(const ag_optim *o) { return o ? o->n_groups : 0; }

double ag_optim_get_lr(const ag_optim *o) { return o ? o->groups[0].lr : NAN; }

double ag_optim_get_group_lr(const ag_optim *o, int group) {
    if (!o || group < 0 || group >= o->n_groups) {
        ag__error(o ? AG_ERR_ARG : AG_ERR_NULL, "ag_optim_get_group_lr",
                  "group %d is not in [0, %d)", group, o ? o->n_groups : 0);
        return NAN;
    }
    return o->groups[group].lr;
}

int ag_optim_set_group_lr(ag_optim *o, int group, double lr) {
    const char *fn = "ag_optim_set_group_lr";
    if (!o) return ag__error(AG_ERR_NULL, fn, "optimizer is NULL");
    if (group < 0 || group >= o->n_groups)
        return ag__error(AG_ERR_ARG, fn, "group %d is not in [0, %d)", group, o->n_groups);
    if (!(lr >= 0)) return ag__error(AG_ERR_ARG, fn, "lr %g must be >= 0", lr);
    o->groups[group].lr = lr;
    return AG_OK;
}

/* Group 0 gets lr; every other group the same factor of its own lr at creation, as a
 * torch scheduler's factor applies to each group's initial lr. */
void ag_optim_set_lr(ag_optim *o, double lr) {
    if (!o) return;
    double base0 = o->groups[0].base_lr;
    for (int g = 0; g < o->n_groups; g++)
        o->groups[g].lr = g == 0 || base0 == 0 ? lr : o->groups[g].base_lr * (lr / base0);
}

/* ------------------------------------------------------------------ the step */
/* Subnormal floats in the state (the square of a tiny gradient, a moment decaying towards
 * zero) cost x86 CPUs a microcode assist per operation: the Fashion-MNIST MLP's Adam step
 * grew from 5% to 36% of an epoch within four epochs. So the step flushes subnormals to
 * zero, as torch.set_flush_denormal(True) does, on its own threads and for its own
 * duration only. Values at or above FLT_MIN (DBL_MIN) are untouched. */
#define FLUSH_BITS 0x8040u /* MXCSR: flush-to-zero | denormals-are-zero */

static unsigned flush_begin(void) {
#if defined(__SSE2__)
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | FLUSH_BITS);
    return csr;
#else
    return 0;
#endif
}

static void flush_end(unsigned csr) {
#if defined(__SSE2__)
    _mm_setcsr(csr);
#else
    (void)csr;
#endif
}

/* Elements [lo, hi) of parameter i. */
static void update(const ag_optim *o, int i, int64_t lo, int64_t hi) {
    const ag__optim_slot *s = &o->slots[i];
    const ag__optim_group *g = &o->groups[s->group];
    size_t es = ag_dtype_size(o->params[i]->dtype);
    void *state[AG__OPTIM_MAX_STATE] = {0};
    for (int k = 0; k < s->n_state; k++) state[k] = (char *)s->state[k] + (size_t)lo * es;
    ag__optim_param u = {.p = o->params[i],
                         .lo = lo,
                         .n = hi - lo,
                         .state = state,
                         .step = s->step,
                         .lr = g->lr,
                         .opts = g->opts};
    if (u.p->dtype == AG_F32) o->kind->update_f32(&u);
    else o->kind->update_f64(&u);
}

/* Member m of nth updates its share of every parameter's elements. */
static void step_member(void *ctx, int m, int nth) {
    const ag_optim *o = ctx;
    unsigned csr = flush_begin();
    for (int i = 0; i < o->n; i++)
        if (o->params[i]->grad) {
            int64_t n = o->params[i]->numel;
            update(o, i, n * m / nth, n * (m + 1) / nth);
        }
    flush_end(csr);
}

void ag_optim_step(ag_optim *o) {
    if (!o) return;
    int64_t total = 0;
    for (int i = 0; i < o->n; i++)
        if (ag__grad_ready(o->params[i])) { /* a zeroed one still steps, as in torch */
            o->slots[i].step++;
            total += o->params[i]->numel;
        }
    /* one team for the whole step; each member updates its share of every parameter */
    ag__parallel_team(total >= 32768 ? ag__parallel_threads() : 1, step_member, o);
}
