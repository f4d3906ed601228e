/* Optimizers, schedules and clipping against torch.optim: 100 steps of a fixed problem,
 * float64, every value within 1e-10 of tests/golden/optim.txt (tests/golden/gen_optim.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define STEPS 100
#define NP 10     /* parameter values: w[4], then b[2,3] */
#define MAX_NV 12 /* one lr per group (at most 2), then the parameter values */

static double golden[STEPS][MAX_NV];

/* Reads config name's 100 lines of nv values each. */
static void load_golden_nv(const char *name, int nv) {
    FILE *f = fopen("tests/golden/optim.txt", "r");
    cr_assert(f, "cannot open tests/golden/optim.txt (run from the repository root)");
    char line[4096], want[128];
    snprintf(want, sizeof want, "config %s\n", name);
    bool found = false;
    while (fgets(line, sizeof line, f))
        if (!strcmp(line, want)) {
            found = true;
            break;
        }
    cr_assert(found, "config %s not in the golden file", name);
    for (int s = 0; s < STEPS; s++) {
        cr_assert(fgets(line, sizeof line, f));
        char *p = line;
        for (int k = 0; k < nv; k++) golden[s][k] = strtod(p, &p);
        while (*p == ' ') p++;
        cr_assert(*p == '\n', "config %s step %d has more than %d values", name, s + 1, nv);
    }
    fclose(f);
}

static void load_golden(const char *name) { load_golden_nv(name, NP + 1); }

struct problem {
    ag_tensor *w, *b, *a, *c, *d, *e, *q;
};

static struct problem make_problem(void) {
    struct problem p;
    p.w = T64(1, SHAPE(4), 0.1, 0.2, -0.3, 0.4);
    p.b = T64(2, SHAPE(2, 3), -0.5, 0.6, 0.7, 0.8, -0.9, 1.0);
    p.a = T64(1, SHAPE(4), 1.0, 2.0, 0.5, 3.0);
    p.c = T64(1, SHAPE(4), 0.5, -1.0, 2.0, 0.25);
    p.d = T64(2, SHAPE(2, 3), 1.0, -2.0, 0.5, 0.0, 3.0, -1.5);
    p.e = T64(2, SHAPE(2, 3), 1.0, 0.5, 2.0, 1.5, 0.25, 1.0);
    p.q = ag_scalar(AG_F64, 0.1);
    ag_set_requires_grad(p.w, true);
    ag_set_requires_grad(p.b, true);
    return p;
}

static void free_problem(struct problem *p) {
    ag_tensor *all[] = {p->w, p->b, p->a, p->c, p->d, p->e, p->q};
    for (int i = 0; i < 7; i++) ag_tensor_free(all[i]);
}

/* sum(a*(w-c)^2) + sum(w^4 * 0.1) + sum(e*(b-d)^2), built with ops as torch builds it */
static ag_tensor *loss_of(struct problem *p) {
    ag_tensor *dw = ag_sub(p->w, p->c), *db = ag_sub(p->b, p->d);
    ag_tensor *w2 = ag_mul(p->w, p->w);
    ag_tensor *l1 = ag_sum(ag_mul(ag_mul(p->a, dw), dw));
    ag_tensor *l2 = ag_sum(ag_mul(ag_mul(w2, w2), p->q));
    ag_tensor *l3 = ag_sum(ag_mul(ag_mul(p->e, db), db));
    return ag_add(ag_add(l1, l2), l3);
}

enum clip { NO_CLIP, CLIP_NORM, CLIP_VALUE };
typedef ag_sched *(*sched_fn)(ag_optim *o);

static void run(const char *name, ag_optim *(*make)(ag_tensor **), sched_fn make_sched,
                enum clip clip) {
    struct problem p = make_problem();
    ag_tensor *params[2] = {p.w, p.b};
    ag_optim *o = make(params);
    cr_assert(o, "%s: %s", name, ag_last_error());
    int ng = ag_optim_num_groups(o), nv = ng + NP;
    cr_assert(ng >= 1 && ng <= MAX_NV - NP, "%s: %d groups", name, ng);
    load_golden_nv(name, nv);
    ag_sched *s = make_sched ? make_sched(o) : NULL;
    for (int step = 0; step < STEPS; step++) {
        ag_optim_zero_grad(o);
        ag_scope_begin();
        cr_assert_eq(ag_backward(loss_of(&p)), 0, "%s", ag_last_error());
        ag_scope_end();
        if (clip == CLIP_NORM) ag_clip_grad_norm(params, 2, 1.0, 2);
        if (clip == CLIP_VALUE) ag_clip_grad_value(params, 2, 0.5);
        ag_optim_step(o);
        ag_sched_step(s);
        double got[MAX_NV];
        for (int g = 0; g < ng; g++) got[g] = ag_optim_get_group_lr(o, g);
        ag_to_array(p.w, got + ng);
        ag_to_array(p.b, got + ng + 4);
        for (int k = 0; k < nv; k++) {
            cr_assert(fabs(got[k] - golden[step][k]) <= 1e-10,
                      "%s step %d value %d: %.17g, torch %.17g", name, step + 1, k, got[k],
                      golden[step][k]);
        }
    }
    ag_sched_free(s);
    ag_optim_free(o);
    free_problem(&p);
}

#define SGD(...) ag_sgd_new(p, 2, (ag_sgd_opts){__VA_ARGS__})
static ag_optim *sgd(ag_tensor **p) { return SGD(.lr = 0.01); }
static ag_optim *sgd_m(ag_tensor **p) { return SGD(.lr = 0.01, .momentum = 0.9); }
static ag_optim *sgd_dw(ag_tensor **p) {
    return SGD(.lr = 0.01, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01);
}
static ag_optim *sgd_n(ag_tensor **p) {
    return SGD(.lr = 0.01, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01);
}
static ag_optim *sgd02(ag_tensor **p) { return SGD(.lr = 0.02); }
static ag_optim *sgd05(ag_tensor **p) { return SGD(.lr = 0.05); }
static ag_optim *adam(ag_tensor **p) { return ag_adam_new(p, 2, (ag_adam_opts){.lr = 0.01}); }
static ag_optim *adam_wd(ag_tensor **p) {
    return ag_adam_new(
        p, 2,
        (ag_adam_opts){.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1});
}
static ag_optim *adamw(ag_tensor **p) {
    return ag_adam_new(
        p, 2, (ag_adam_opts){.lr = 0.01, .weight_decay = 0.1, .decoupled_weight_decay = true});
}
static ag_optim *rms(ag_tensor **p) { return ag_rmsprop_new(p, 2, (ag_rmsprop_opts){.lr = 0.01}); }
static ag_optim *rms_c(ag_tensor **p) {
    return ag_rmsprop_new(
        p, 2,
        (ag_rmsprop_opts){
            .lr = 0.01, .alpha = 0.9, .centered = true, .momentum = 0.5, .weight_decay = 0.01});
}
static ag_optim *adagrad(ag_tensor **p) {
    return ag_adagrad_new(p, 2, (ag_adagrad_opts){.lr = 0.1});
}
static ag_optim *adagrad_d(ag_tensor **p) {
    return ag_adagrad_new(
        p, 2,
        (ag_adagrad_opts){
            .lr = 0.1, .lr_decay = 0.01, .weight_decay = 0.01, .initial_accumulator_value = 0.1});
}
/* Explicit zeros: ag_adamw_defaults() with weight_decay 0 is torch.optim.AdamW(weight_decay=0);
 * a zero-initialised struct keeps meaning AdamW's default decay 1e-2, as before. */
static ag_optim *adamw_wd0(ag_tensor **p) {
    ag_adam_opts o = ag_adamw_defaults();
    o.lr = 0.01;
    o.weight_decay = 0;
    return ag_adam_new(p, 2, o);
}
static ag_optim *adamw_default_wd(ag_tensor **p) {
    return ag_adam_new(p, 2, (ag_adam_opts){.lr = 0.01, .decoupled_weight_decay = true});
}

/* Parameter groups, p = {w, b}. A group's zero-initialised fields come from the optimizer's
 * (torch: a group's missing keys from the defaults); an exact struct says 0 where it means 0. */
static ag_optim *adamw_groups(ag_tensor **p) { /* decay on the matrix b, none on w */
    ag_optim *o = ag_adam_new(
        &p[1], 1, (ag_adam_opts){.lr = 0.01, .weight_decay = 0.1, .decoupled_weight_decay = true});
    ag_adam_opts no_decay = ag_adamw_defaults();
    no_decay.lr = 0.01;
    no_decay.weight_decay = 0;
    cr_assert_eq(ag_adam_add_param_group(o, &p[0], 1, no_decay), 0, "%s", ag_last_error());
    return o;
}
static ag_optim *adam_groups(ag_tensor **p) {
    ag_optim *o = ag_adam_new(&p[1], 1, (ag_adam_opts){.lr = 0.01});
    cr_assert_eq(ag_adam_add_param_group(
                     o, &p[0], 1,
                     (ag_adam_opts){.beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1}),
                 0, "%s", ag_last_error());
    return o;
}
static ag_optim *sgd_groups(ag_tensor **p) { /* group 1 inherits momentum 0.9 */
    ag_optim *o = ag_sgd_new(&p[0], 1, (ag_sgd_opts){.lr = 0.01, .momentum = 0.9});
    cr_assert_eq(ag_sgd_add_param_group(o, &p[1], 1, (ag_sgd_opts){.lr = 0.003}), 0, "%s",
                 ag_last_error());
    return o;
}
static ag_optim *sgd_groups_mixed(ag_tensor **p) { /* w: plain SGD beside a Nesterov group */
    ag_optim *o = ag_sgd_new(
        &p[1], 1,
        (ag_sgd_opts){.lr = 0.02, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01});
    ag_sgd_opts plain = ag_sgd_defaults();
    plain.lr = 0.02;
    cr_assert_eq(ag_sgd_add_param_group(o, &p[0], 1, plain), 0, "%s", ag_last_error());
    return o;
}
static ag_optim *rms_groups(ag_tensor **p) {
    ag_optim *o = ag_rmsprop_new(&p[1], 1, (ag_rmsprop_opts){.lr = 0.01, .momentum = 0.5});
    cr_assert_eq(ag_rmsprop_add_param_group(
                     o, &p[0], 1, (ag_rmsprop_opts){.lr = 0.003, .alpha = 0.9, .centered = true}),
                 0, "%s", ag_last_error());
    return o;
}
static ag_optim *adagrad_groups(ag_tensor **p) {
    ag_optim *o =
        ag_adagrad_new(&p[1], 1, (ag_adagrad_opts){.lr = 0.1, .initial_accumulator_value = 0.1});
    cr_assert_eq(
        ag_adagrad_add_param_group(o, &p[0], 1, (ag_adagrad_opts){.lr = 0.05, .lr_decay = 0.01}), 0,
        "%s", ag_last_error());
    return o;
}
static ag_optim *sgd_two_lrs(ag_tensor **p) {
    ag_optim *o = ag_sgd_new(&p[0], 1, (ag_sgd_opts){.lr = 0.02});
    cr_assert_eq(ag_sgd_add_param_group(o, &p[1], 1, (ag_sgd_opts){.lr = 0.005}), 0, "%s",
                 ag_last_error());
    return o;
}
static ag_optim *adam_two_lrs(ag_tensor **p) {
    ag_optim *o = ag_adam_new(&p[0], 1, (ag_adam_opts){.lr = 0.02});
    cr_assert_eq(ag_adam_add_param_group(o, &p[1], 1, (ag_adam_opts){.lr = 0.005}), 0, "%s",
                 ag_last_error());
    return o;
}
static ag_sched *step_lr(ag_optim *o) { return ag_sched_step_new(o, 10, 0.5); }
static ag_sched *exp_lr(ag_optim *o) { return ag_sched_exponential_new(o, 0.97); }
static ag_sched *cos_lr(ag_optim *o) { return ag_sched_cosine_new(o, 30, 0.001); }
static ag_sched *lin_lr(ag_optim *o) { return ag_sched_linear_new(o, 0.1, 1.0, 20); }

Test(optim, sgd_matches_torch) { run("sgd", sgd, NULL, NO_CLIP); }
Test(optim, sgd_momentum_matches_torch) { run("sgd_momentum", sgd_m, NULL, NO_CLIP); }
Test(optim, sgd_dampening_weight_decay_matches_torch) {
    run("sgd_dampening_wd", sgd_dw, NULL, NO_CLIP);
}
Test(optim, sgd_nesterov_matches_torch) { run("sgd_nesterov", sgd_n, NULL, NO_CLIP); }
Test(optim, adam_matches_torch) { run("adam", adam, NULL, NO_CLIP); }
Test(optim, adam_weight_decay_matches_torch) { run("adam_wd", adam_wd, NULL, NO_CLIP); }
Test(optim, adamw_matches_torch) { run("adamw", adamw, NULL, NO_CLIP); }
Test(optim, rmsprop_matches_torch) { run("rmsprop", rms, NULL, NO_CLIP); }
Test(optim, rmsprop_centered_momentum_matches_torch) {
    run("rmsprop_centered", rms_c, NULL, NO_CLIP);
}
Test(optim, adagrad_matches_torch) { run("adagrad", adagrad, NULL, NO_CLIP); }
Test(optim, adagrad_decay_matches_torch) { run("adagrad_decay", adagrad_d, NULL, NO_CLIP); }
Test(optim, step_lr_matches_torch) { run("step_lr", sgd02, step_lr, NO_CLIP); }
Test(optim, exponential_lr_matches_torch) { run("exponential_lr", sgd02, exp_lr, NO_CLIP); }
Test(optim, cosine_lr_matches_torch) { run("cosine_lr", sgd02, cos_lr, NO_CLIP); }
Test(optim, linear_warmup_matches_torch) { run("linear_warmup", sgd02, lin_lr, NO_CLIP); }
Test(optim, clip_grad_norm_matches_torch) { run("clip_norm", sgd05, NULL, CLIP_NORM); }
Test(optim, clip_grad_value_matches_torch) { run("clip_value", sgd05, NULL, CLIP_VALUE); }

Test(optim, adamw_explicit_zero_weight_decay_matches_torch) {
    run("adamw_wd0", adamw_wd0, NULL, NO_CLIP);
}
Test(optim, adamw_zero_field_keeps_default_decay) {
    run("adamw_default_wd", adamw_default_wd, NULL, NO_CLIP);
}
Test(optim, adamw_two_groups_matches_torch) { run("adamw_groups", adamw_groups, NULL, NO_CLIP); }
Test(optim, adam_two_groups_matches_torch) { run("adam_groups", adam_groups, NULL, NO_CLIP); }
Test(optim, sgd_momentum_two_lrs_matches_torch) { run("sgd_groups", sgd_groups, NULL, NO_CLIP); }
Test(optim, sgd_plain_and_nesterov_groups_match_torch) {
    run("sgd_groups_mixed", sgd_groups_mixed, NULL, NO_CLIP);
}
Test(optim, rmsprop_two_groups_matches_torch) { run("rmsprop_groups", rms_groups, NULL, NO_CLIP); }
Test(optim, adagrad_two_groups_matches_torch) {
    run("adagrad_groups", adagrad_groups, NULL, NO_CLIP);
}
Test(optim, cosine_lr_two_groups_matches_torch) {
    run("cosine_groups", sgd_two_lrs, cos_lr, NO_CLIP);
}
Test(optim, linear_warmup_two_groups_matches_torch) {
    run("linear_warmup_groups", sgd_two_lrs, lin_lr, NO_CLIP);
}
Test(optim, step_lr_two_groups_matches_torch) {
    run("step_lr_groups", adam_two_lrs, step_lr, NO_CLIP);
}

Test(optim, float32_params_follow_float64) {
    /* the same Adam run in float32 stays within float rounding of the float64 one */
    load_golden("adam");
    ag_tensor *w = ag_tensor_new(AG_F32, 1, (int64_t[]){4}, (float[]){0.1f, 0.2f, -0.3f, 0.4f});
    ag_set_requires_grad(w, true);
    ag_tensor *a = ag_tensor_new(AG_F32, 1, (int64_t[]){4}, (float[]){1, 2, 0.5f, 3});
    ag_tensor *c = ag_tensor_new(AG_F32, 1, (int64_t[]){4}, (float[]){0.5f, -1, 2, 0.25f});
    ag_tensor *q = ag_scalar(AG_F32, 0.1);
    ag_optim *o = ag_adam_new(&w, 1, (ag_adam_opts){.lr = 0.01});
    for (int s = 0; s < STEPS; s++) {
        ag_optim_zero_grad(o);
        ag_scope_begin();
        ag_tensor *dw = ag_sub(w, c), *w2 = ag_mul(w, w);
        ag_backward(ag_add(ag_sum(ag_mul(ag_mul(a, dw), dw)), ag_sum(ag_mul(ag_mul(w2, w2), q))));
        ag_scope_end();
        ag_optim_step(o);
    }
    float got[4];
    ag_to_array(w, got);
    for (int k = 0; k < 4; k++) assert_close(got[k], golden[STEPS - 1][k + 1], 1e-4, 1e-4);
    ag_optim_free(o);
    ag_tensor *all[] = {w, a, c, q};
    for (int i = 0; i < 4; i++) ag_tensor_free(all[i]);
}

Test(optim, params_without_grad_are_skipped) {
    ag_tensor *w = T64(1, SHAPE(2), 1.0, 2.0);
    ag_set_requires_grad(w, true);
    ag_optim *o = ag_adam_new(&w, 1, (ag_adam_opts){0});
    ag_optim_step(o);
    assert_close(ag_get(w, (int64_t[]){1}), 2.0, 0, 0);
    cr_assert_float_eq(ag_optim_get_lr(o), 1e-3, 1e-15);
    ag_optim_set_lr(o, 0.5);
    cr_assert_float_eq(ag_optim_get_lr(o), 0.5, 1e-15);
    ag_optim_free(o);
    ag_tensor_free(w);
}

Test(optim, bad_arguments_are_errors) {
    ag_tensor *w = T64(1, SHAPE(2), 1.0, 2.0);
    cr_assert_null(ag_sgd_new(&w, 1, (ag_sgd_opts){.lr = 0.1})); /* no requires_grad */
    cr_assert(strstr(ag_last_error(), "ag_sgd_new"), "%s", ag_last_error());
    ag_set_requires_grad(w, true);
    cr_assert_null(ag_sgd_new(&w, 1, (ag_sgd_opts){0})); /* lr has no default */
    cr_assert(strstr(ag_last_error(), "lr"), "%s", ag_last_error());
    cr_assert_null(ag_sgd_new(&w, 1, (ag_sgd_opts){.lr = 0.1, .nesterov = true}));
    cr_assert(strstr(ag_last_error(), "nesterov"), "%s", ag_last_error());
    cr_assert_null(ag_sgd_new(NULL, 1, (ag_sgd_opts){.lr = 0.1}));
    cr_assert_null(ag_adam_new(&w, 1, (ag_adam_opts){.beta1 = 1.5}));
    cr_assert_null(ag_rmsprop_new(&w, 1, (ag_rmsprop_opts){.momentum = -1}));
    cr_assert_null(ag_adagrad_new(&w, 1, (ag_adagrad_opts){.lr_decay = -1}));
    ag_scope_begin();
    ag_tensor *s = ag_ones(AG_F64, 1, (int64_t[]){2});
    ag_set_requires_grad(s, true);
    cr_assert_null(ag_sgd_new(&s, 1, (ag_sgd_opts){.lr = 0.1})); /* scoped param */
    cr_assert(strstr(ag_last_error(), "outside every scope"), "%s", ag_last_error());
    ag_scope_end();
    ag_optim *o = ag_sgd_new(&w, 1, (ag_sgd_opts){.lr = 0.1});
    cr_assert_null(ag_sched_step_new(o, 0, 0.5));
    cr_assert_null(ag_sched_exponential_new(o, 0));
    cr_assert_null(ag_sched_cosine_new(o, 0, 0));
    cr_assert_null(ag_sched_linear_new(o, 0, 1, 5));
    cr_assert_null(ag_sched_step_new(NULL, 1, 0.5));
    cr_assert(isnan(ag_clip_grad_norm(NULL, 1, 1, 2)));
    cr_assert(isnan(ag_clip_grad_norm(&w, 1, -1, 2)));
    cr_assert_neq(ag_clip_grad_value(&w, 1, -1), 0);
    ag_optim_step(NULL);
    ag_optim_zero_grad(NULL);
    ag_optim_free(NULL);
    ag_optim_free(o);
    ag_tensor_free(w);
}

Test(optim, clip_grad_norm_inf_and_returns_total) {
    ag_tensor *w = T64(1, SHAPE(3), 1.0, 2.0, 3.0);
    ag_set_requires_grad(w, true);
    ag_scope_begin();
    ag_backward(ag_sum(ag_mul(w, w))); /* grad 2, 4, 6 */
    ag_scope_end();
    assert_close(ag_clip_grad_norm(&w, 1, 100, INFINITY), 6.0, 0, 0);
    assert_close(ag_clip_grad_norm(&w, 1, 1.0, 0), sqrt(56.0), 1e-12, 0);
    double g[3];
    ag_to_array(ag_grad(w), g);
    assert_close(sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]), 1.0, 1e-5, 0);
    ag_tensor_free(w);
}

#if defined(__SSE2__)
#include <xmmintrin.h>
/* The step flushes subnormals only while it runs: the caller's MXCSR comes back as it was,
 * and a subnormal square of a gradient leaves the state at zero, not subnormal. */
Test(optim, step_flushes_subnormals_and_restores_the_float_mode) {
    unsigned before = _mm_getcsr();
    ag_tensor *p = ag_ones(AG_F32, 1, (int64_t[]){4});
    ag_set_requires_grad(p, true);
    ag_scope_begin();
    ag_tensor *loss = ag_sum(ag_mul_scalar(p, 1e-20)); /* grad 1e-20: its square is subnormal */
    cr_assert_eq(ag_backward(loss), 0);
    ag_scope_end();
    ag_optim *o = ag_adam_new(&p, 1, (ag_adam_opts){0});
    ag_optim_step(o);
    unsigned modes = ~0x3fu; /* the low six bits are sticky exception flags, not modes */
    cr_assert_eq(_mm_getcsr() & modes, before & modes, "MXCSR %#x, was %#x", _mm_getcsr(), before);
    float v = 1e-20f * 1e-20f * 0.001f; /* what torch would keep: subnormal */
    cr_assert(v != 0, "the test needs a subnormal");
    float got[4];
    ag_to_array(p, got);
    /* torch: 1 - lr * m_hat / (sqrt(v_hat) + eps) = 1 - 1e-3 * 1e-20 / 1e-8, which is 1 in
     * float32 whether v_hat is the subnormal 1e-40 or flushed to 0 */
    for (int i = 0; i < 4; i++) cr_assert_eq(got[i], 1.0f, "p = %.9g", got[i]);
    ag_optim_free(o);
    ag_tensor_free(p);
}
#endif

/* A parameter whose gradient was zeroed and not written again still steps with a zero
 * gradient (torch's set_to_none=False): weight decay moves it. */
Test(optim, zeroed_gradient_counts_as_zero_in_the_step) {
    ag_tensor *p = ag_ones(AG_F64, 1, (int64_t[]){2});
    ag_set_requires_grad(p, true);
    ag_scope_begin();
    cr_assert_eq(ag_backward(ag_sum(ag_mul_scalar(p, 5.0))), 0);
    ag_scope_end();
    ag_optim *o = ag_sgd_new(&p, 1, (ag_sgd_opts){.lr = 0.1, .weight_decay = 0.5});
    ag_optim_zero_grad(o);
    ag_optim_step(o); /* grad 0 + wd * p = 0.5: p = 1 - 0.1 * 0.5 */
    double got[2];
    ag_to_array(p, got);
    cr_assert_float_eq(got[0], 0.95, 1e-15);
    cr_assert_float_eq(got[1], 0.95, 1e-15);
    ag_optim_free(o);
    ag_tensor_free(p);
}

/* The *_defaults() initialisers are torch 1.13's defaults, marked exact. */
Test(optim, defaults_are_torchs) {
    ag_adam_opts a = ag_adam_defaults(), w = ag_adamw_defaults();
    cr_assert(a.exact && w.exact);
    cr_assert(a.lr == 1e-3 && a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8);
    cr_assert(a.weight_decay == 0 && !a.decoupled_weight_decay);
    cr_assert(w.lr == 1e-3 && w.weight_decay == 1e-2 && w.decoupled_weight_decay);
    ag_sgd_opts s = ag_sgd_defaults();
    cr_assert(s.exact && isnan(s.lr) && s.momentum == 0 && s.dampening == 0 && !s.nesterov);
    ag_rmsprop_opts r = ag_rmsprop_defaults();
    cr_assert(r.exact && r.lr == 1e-2 && r.alpha == 0.99 && r.eps == 1e-8 && r.momentum == 0 &&
              !r.centered);
    ag_adagrad_opts g = ag_adagrad_defaults();
    cr_assert(g.exact && g.lr == 1e-2 && g.eps == 1e-10 && g.lr_decay == 0 &&
              g.initial_accumulator_value == 0);
}

/* An exact zero is a zero: AdamW with weight_decay 0 on a zero gradient leaves p alone
 * (the zero-initialised struct decays it by lr * 1e-2, as before). */
Test(optim, exact_zero_is_not_the_default) {
    ag_tensor *p = ag_ones(AG_F64, 1, (int64_t[]){2}), *q = ag_ones(AG_F64, 1, (int64_t[]){2});
    ag_set_requires_grad(p, true);
    ag_set_requires_grad(q, true);
    ag_scope_begin();
    cr_assert_eq(ag_backward(ag_sum(ag_mul_scalar(ag_add(p, q), 0.0))), 0, "%s", ag_last_error());
    ag_scope_end();
    ag_adam_opts zero = ag_adamw_defaults();
    zero.lr = 0.1;
    zero.weight_decay = 0;
    ag_optim *a = ag_adam_new(&p, 1, zero);
    ag_optim *b = ag_adam_new(&q, 1, (ag_adam_opts){.lr = 0.1, .decoupled_weight_decay = true});
    ag_optim_step(a);
    ag_optim_step(b);
    cr_assert_eq(ag_get(p, (int64_t[]){0}), 1.0);
    cr_assert_float_eq(ag_get(q, (int64_t[]){0}), 1.0 - 0.1 * 1e-2, 1e-15);
    ag_sgd_opts s = ag_sgd_defaults(); /* SGD's lr stays required */
    cr_assert_null(ag_sgd_new(&p, 1, s));
    cr_assert(strstr(ag_last_error(), "ag_sgd_new: lr has no default"), "%s", ag_last_error());
    ag_optim_free(a);
    ag_optim_free(b);
    ag_tensor_free(p);
    ag_tensor_free(q);
}

/* set_lr scales every group by group 0's factor; set_group_lr touches one group. */
Test(optim, group_learning_rates) {
    ag_tensor *w = T64(1, SHAPE(2), 1.0, 2.0), *b = T64(1, SHAPE(1), 3.0);
    ag_set_requires_grad(w, true);
    ag_set_requires_grad(b, true);
    ag_optim *o = ag_sgd_new(&w, 1, (ag_sgd_opts){.lr = 0.1, .momentum = 0.9});
    cr_assert_eq(ag_optim_num_groups(o), 1);
    cr_assert_eq(ag_sgd_add_param_group(o, &b, 1, (ag_sgd_opts){.lr = 0.01}), 0, "%s",
                 ag_last_error());
    cr_assert_eq(ag_optim_num_groups(o), 2);
    cr_assert_eq(ag_optim_get_group_lr(o, 1), 0.01);
    ag_optim_set_lr(o, 0.05);
    cr_assert_eq(ag_optim_get_lr(o), 0.05);
    cr_assert_float_eq(ag_optim_get_group_lr(o, 1), 0.005, 1e-17);
    cr_assert_eq(ag_optim_set_group_lr(o, 1, 0.2), 0);
    cr_assert_eq(ag_optim_get_group_lr(o, 1), 0.2);
    cr_assert_eq(ag_optim_get_lr(o), 0.05);
    cr_assert_neq(ag_optim_set_group_lr(o, 2, 0.1), 0);
    cr_assert(strstr(ag_last_error(), "ag_optim_set_group_lr: group 2"), "%s", ag_last_error());
    cr_assert_neq(ag_optim_set_group_lr(o, 0, -1), 0);
    cr_assert_neq(ag_optim_set_group_lr(NULL, 0, 0.1), 0);
    cr_assert(isnan(ag_optim_get_group_lr(o, -1)));
    cr_assert(strstr(ag_last_error(), "ag_optim_get_group_lr"), "%s", ag_last_error());
    cr_assert(isnan(ag_optim_get_group_lr(NULL, 0)));
    cr_assert_eq(ag_optim_num_groups(NULL), 0);
    ag_optim_free(o);
    ag_tensor_free(w);
    ag_tensor_free(b);
}

/* A schedule steps the groups the optimizer had when it was made; a later one keeps its lr. */
Test(optim, schedule_covers_the_groups_it_saw) {
    ag_tensor *w = T64(1, SHAPE(2), 1.0, 2.0), *b = T64(1, SHAPE(1), 3.0),
              *c = T64(1, SHAPE(1), 4.0);
    ag_tensor *all[] = {w, b, c};
    for (int i = 0; i < 3; i++) ag_set_requires_grad(all[i], true);
    ag_optim *o = ag_adam_new(&w, 1, (ag_adam_opts){.lr = 0.1});
    cr_assert_eq(ag_adam_add_param_group(o, &b, 1, (ag_adam_opts){.lr = 0.4}), 0);
    ag_sched *s = ag_sched_exponential_new(o, 0.5);
    cr_assert_eq(ag_adam_add_param_group(o, &c, 1, (ag_adam_opts){.lr = 0.3}), 0);
    ag_sched_step(s);
    cr_assert_float_eq(ag_optim_get_group_lr(o, 0), 0.05, 1e-17);
    cr_assert_float_eq(ag_optim_get_group_lr(o, 1), 0.2, 1e-17);
    cr_assert_eq(ag_optim_get_group_lr(o, 2), 0.3);
    cr_assert_float_eq(ag_sched_get_lr(s), 0.05, 1e-17);
    ag_sched_free(s);
    ag_optim_free(o);
    for (int i = 0; i < 3; i++) ag_tensor_free(all[i]);
}

Test(optim, add_param_group_errors) {
    ag_tensor *w = T64(1, SHAPE(2), 1.0, 2.0), *b = T64(1, SHAPE(1), 3.0),
              *n = T64(1, SHAPE(1), 5.0);
    ag_set_requires_grad(w, true);
    ag_set_requires_grad(b, true);
    ag_optim *o = ag_adam_new(&w, 1, (ag_adam_opts){.lr = 0.1, .decoupled_weight_decay = true});
    cr_assert_neq(ag_sgd_add_param_group(o, &b, 1, (ag_sgd_opts){.lr = 0.1}), 0);
    cr_assert(strstr(ag_last_error(), "ag_sgd_add_param_group: the optimizer is adam, not sgd"),
              "%s", ag_last_error());
    cr_assert_neq(ag_adam_add_param_group(o, &w, 1, (ag_adam_opts){0}), 0); /* already in */
    cr_assert(strstr(ag_last_error(), "already in the optimizer"), "%s", ag_last_error());
    ag_tensor *twice[] = {b, b};
    cr_assert_neq(ag_adam_add_param_group(o, twice, 2, (ag_adam_opts){0}), 0);
    cr_assert(strstr(ag_last_error(), "is also parameter 0"), "%s", ag_last_error());
    cr_assert_neq(ag_adam_add_param_group(o, &n, 1, (ag_adam_opts){0}), 0); /* no grad */
    cr_assert(strstr(ag_last_error(), "requires_grad"), "%s", ag_last_error());
    /* an Adam group in an AdamW optimizer would silently change the decay: refused */
    cr_assert_neq(ag_adam_add_param_group(o, &b, 1, ag_adam_defaults()), 0);
    cr_assert(strstr(ag_last_error(), "decoupled_weight_decay"), "%s", ag_last_error());
    cr_assert_neq(ag_adam_add_param_group(o, &b, 1, (ag_adam_opts){.beta2 = 1}), 0);
    cr_assert(strstr(ag_last_error(), "betas"), "%s", ag_last_error());
    cr_assert_neq(ag_adam_add_param_group(NULL, &b, 1, (ag_adam_opts){0}), 0);
    cr_assert_neq(ag_adam_add_param_group(o, NULL, 1, (ag_adam_opts){0}), 0);
    cr_assert_eq(ag_optim_num_groups(o), 1); /* nothing was added by a failed call */
    cr_assert_eq(ag_adam_add_param_group(o, &b, 1, (ag_adam_opts){.weight_decay = 0.5}), 0);
    cr_assert_eq(ag_optim_num_groups(o), 2);
    ag_sgd_opts nest = {.lr = 0.1, .nesterov = true};
    ag_optim *s = ag_sgd_new(&n, 1, (ag_sgd_opts){.lr = 0.1, .momentum = 0.9});
    cr_assert_null(s); /* n has no requires_grad */
    ag_set_requires_grad(n, true);
    s = ag_sgd_new(&n, 1, (ag_sgd_opts){.lr = 0.1});
    cr_assert_neq(ag_sgd_add_param_group(s, &b, 1, nest), 0); /* inherits momentum 0 */
    cr_assert(strstr(ag_last_error(), "nesterov"), "%s", ag_last_error());
    cr_assert_null(ag_rmsprop_new(&b, 1, (ag_rmsprop_opts){.exact = true, .alpha = -1}));
    cr_assert_null(ag_adagrad_new(&b, 1, (ag_adagrad_opts){.exact = true, .eps = NAN}));
    ag_optim_free(s);
    ag_optim_free(o);
    ag_tensor_free(w);
    ag_tensor_free(b);
    ag_tensor_free(n);
}

/* Each group's kernel sees its own options: a float32 and a float64 group side by side,
 * and a group with momentum (state) next to one without. */
Test(optim, groups_keep_their_own_state_and_dtype) {
    ag_tensor *w = ag_tensor_new(AG_F32, 1, (int64_t[]){2}, (float[]){1, 2});
    ag_tensor *b = T64(1, SHAPE(1), 3.0);
    ag_set_requires_grad(w, true);
    ag_set_requires_grad(b, true);
    ag_sgd_opts plain = ag_sgd_defaults();
    plain.lr = 0.5;
    ag_optim *o = ag_sgd_new(&w, 1, (ag_sgd_opts){.lr = 0.1, .momentum = 0.5});
    cr_assert_eq(ag_sgd_add_param_group(o, &b, 1, plain), 0, "%s", ag_last_error());
    for (int step = 0; step < 2; step++) {
        ag_optim_zero_grad(o);
        ag_scope_begin();
        ag_tensor *wsum = ag_cast(ag_sum(w), AG_F64);
        cr_assert_eq(ag_backward(ag_add(wsum, ag_sum(b))), 0, "%s", ag_last_error());
        ag_scope_end();
        ag_optim_step(o);
    }
    /* w: buf 1 then 1.5: 1 - 0.1 - 0.15; b: plain, 3 - 0.5 - 0.5 */
    float got[2];
    ag_to_array(w, got);
    cr_assert_float_eq(got[0], 1.0f - 0.1f - 0.15f, 1e-6);
    cr_assert_eq(ag_get(b, (int64_t[]){0}), 2.0);
    ag_optim_free(o);
    ag_tensor_free(w);
    ag_tensor_free(b);
}
