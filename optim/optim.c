/* Optimizers: SGD, Adam/AdamW, RMSprop, Adagrad, as torch.optim (1.13, single-tensor path).
 *
 * Updates run on the raw arrays of each parameter and its .grad, with no graph; state
 * buffers (momentum, moments) are heap arrays in the parameter's dtype made at creation
 * and freed by ag_optim_free, so a step allocates nothing. The arithmetic follows torch's
 * order of operations so float64 runs agree to rounding. */
#include "optim/optim.h"

#include <omp.h>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include <math.h>
#include <string.h>

static int check_params(ag_tensor **params, int n, const char *fn) {
    if (!params || n < 1) return ag__error(AG_ERR_NULL, fn, "needs at least one parameter (n = %d)", n);
    for (int i = 0; i < n; i++) {
        ag_tensor *p = params[i];
        if (!p) return ag__error(AG_ERR_NULL, fn, "parameter %d is NULL", i);
        if (!ag__is_float(p->dtype))
            return ag__error(AG_ERR_DTYPE, fn, "parameter %d %s is %s, not float", i, AG_SHAPE(p),
                             ag_dtype_name(p->dtype));
        if (p->node || !p->requires_grad)
            return ag__error(AG_ERR_STATE, fn, "parameter %d %s must be a leaf with requires_grad",
                             i, AG_SHAPE(p));
        if (p->arena || !ag_is_contiguous(p))
            return ag__error(AG_ERR_STATE, fn,
                             "parameter %d %s must be contiguous and made outside every scope",
                             i, AG_SHAPE(p));
    }
    return AG_OK;
}

ag_optim *ag__optim_new(enum ag__optim_kind kind, ag_tensor **params, int n, int n_state,
                        const char *fn) {
    if (check_params(params, n, fn)) return NULL;
    ag_optim *o = ag__calloc(1, sizeof *o);
    if (!o) goto nomem;
    o->kind = kind;
    o->n = n;
    o->params = ag__calloc((size_t)n, sizeof *o->params);
    o->steps = ag__calloc((size_t)n, sizeof *o->steps);
    o->n_state = n_state;
    if (!o->params || !o->steps) goto nomem;
    memcpy(o->params, params, sizeof *params * (size_t)n);
    for (int s = 0; s < n_state; s++) {
        o->state[s] = ag__calloc((size_t)n, sizeof(void *));
        if (!o->state[s]) goto nomem;
        for (int i = 0; i < n; i++) {
            size_t bytes = (size_t)params[i]->numel * ag_dtype_size(params[i]->dtype);
            o->state[s][i] = ag__calloc(1, bytes ? bytes : 1);
            if (!o->state[s][i]) goto nomem;
        }
    }
    return o;
nomem:
    ag_optim_free(o);
    ag__error(AG_ERR_NOMEM, fn, "cannot allocate optimizer state for %d parameters", n);
    return NULL;
}

void ag_optim_free(ag_optim *o) {
    if (!o) return;
    for (int s = 0; s < AG_OPTIM_MAX_STATE; s++) {
        if (!o->state[s]) continue;
        for (int i = 0; i < o->n; i++) free(o->state[s][i]);
        free(o->state[s]);
    }
    free(o->params);
    free(o->steps);
    free(o);
}

/* torch's zero_grad(set_to_none=False): the .grad arrays stay (no malloc next step), and
 * count as zeros until the next backward writes them (ag_zero_grad). */
void ag_optim_zero_grad(ag_optim *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) ag_zero_grad(o->params[i]);
}

double ag_optim_get_lr(const ag_optim *o) { return o ? o->lr : NAN; }
void ag_optim_set_lr(ag_optim *o, double lr) {
    if (o) o->lr = lr;
}

/* ------------------------------------------------------------------ constructors */
ag_optim *ag_sgd_new(ag_tensor **params, int n, ag_sgd_opts opts) {
    const char *fn = "ag_sgd_new";
    if (!(opts.lr > 0) || opts.momentum < 0 || opts.weight_decay < 0) {
        ag__error(AG_ERR_ARG, fn, "lr %g must be > 0, momentum %g and weight_decay %g >= 0",
                  opts.lr, opts.momentum, opts.weight_decay);
        return NULL;
    }
    if (opts.nesterov && (opts.momentum <= 0 || opts.dampening != 0)) {
        ag__error(AG_ERR_ARG, fn, "nesterov needs momentum > 0 and dampening 0 (got %g, %g)",
                  opts.momentum, opts.dampening);
        return NULL;
    }
    ag_optim *o = ag__optim_new(AG__SGD, params, n, opts.momentum > 0 ? 1 : 0, fn);
    if (!o) return NULL;
    o->lr = opts.lr;
    o->sgd = opts;
    return o;
}

ag_optim *ag_adam_new(ag_tensor **params, int n, ag_adam_opts opts) {
    const char *fn = "ag_adam_new";
    if (opts.lr == 0) opts.lr = 1e-3;
    if (opts.beta1 == 0) opts.beta1 = 0.9;
    if (opts.beta2 == 0) opts.beta2 = 0.999;
    if (opts.eps == 0) opts.eps = 1e-8;
    if (opts.decoupled_weight_decay && opts.weight_decay == 0) opts.weight_decay = 1e-2;
    if (!(opts.lr > 0) || !(opts.beta1 >= 0 && opts.beta1 < 1) ||
        !(opts.beta2 >= 0 && opts.beta2 < 1) || !(opts.eps >= 0) || opts.weight_decay < 0) {
        ag__error(AG_ERR_ARG, fn, "invalid lr %g, betas (%g, %g), eps %g or weight_decay %g",
                  opts.lr, opts.beta1, opts.beta2, opts.eps, opts.weight_decay);
        return NULL;
    }
    ag_optim *o = ag__optim_new(AG__ADAM, params, n, 2, fn);
    if (!o) return NULL;
    o->lr = opts.lr;
    o->adam = opts;
    return o;
}

ag_optim *ag_rmsprop_new(ag_tensor **params, int n, ag_rmsprop_opts opts) {
    const char *fn = "ag_rmsprop_new";
    if (opts.lr == 0) opts.lr = 1e-2;
    if (opts.alpha == 0) opts.alpha = 0.99;
    if (opts.eps == 0) opts.eps = 1e-8;
    if (!(opts.lr > 0) || !(opts.alpha > 0 && opts.alpha <= 1) || opts.momentum < 0 ||
        opts.weight_decay < 0) {
        ag__error(AG_ERR_ARG, fn, "invalid lr %g, alpha %g, momentum %g or weight_decay %g",
                  opts.lr, opts.alpha, opts.momentum, opts.weight_decay);
        return NULL;
    }
    ag_optim *o = ag__optim_new(AG__RMSPROP, params, n, 3, fn);
    if (!o) return NULL;
    o->lr = opts.lr;
    o->rmsprop = opts;
    return o;
}

ag_optim *ag_adagrad_new(ag_tensor **params, int n, ag_adagrad_opts opts) {
    const char *fn = "ag_adagrad_new";
    if (opts.lr == 0) opts.lr = 1e-2;
    if (opts.eps == 0) opts.eps = 1e-10;
    if (!(opts.lr > 0) || opts.lr_decay < 0 || opts.weight_decay < 0 ||
        opts.initial_accumulator_value < 0) {
        ag__error(AG_ERR_ARG, fn, "invalid lr %g, lr_decay %g, weight_decay %g or "
                  "initial_accumulator_value %g", opts.lr, opts.lr_decay, opts.weight_decay,
                  opts.initial_accumulator_value);
        return NULL;
    }
    ag_optim *o = ag__optim_new(AG__ADAGRAD, params, n, 1, fn);
    if (!o) return NULL;
    o->lr = opts.lr;
    o->adagrad = opts;
    for (int i = 0; i < n; i++) {
        ag_tensor *p = params[i];
        for (int64_t j = 0; j < p->numel; j++) {
            if (p->dtype == AG_F32) ((float *)o->state[0][i])[j] = (float)opts.initial_accumulator_value;
            else ((double *)o->state[0][i])[j] = opts.initial_accumulator_value;
        }
    }
    return o;
}

/* ------------------------------------------------------------------ the step */
/* Subnormal floats in the state (the square of a tiny gradient, a moment decaying towards
 * zero) cost x86 CPUs a microcode assist per operation: the Fashion-MNIST MLP's Adam step
 * grew from 5% to 36% of an epoch within four epochs. So the step flushes subnormals to
 * zero, as torch.set_flush_denormal(True) does, on its own threads and for its own
 * duration only. Values at or above FLT_MIN (DBL_MIN) are untouched. */
#define FLUSH_BITS 0x8040u   /* MXCSR: flush-to-zero | denormals-are-zero */

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

static void update(ag_optim *o, int i) {
    bool f32 = o->params[i]->dtype == AG_F32;
    switch (o->kind) {
    case AG__SGD: f32 ? ag__sgd_f32(o, i) : ag__sgd_f64(o, i); break;
    case AG__ADAM: f32 ? ag__adam_f32(o, i) : ag__adam_f64(o, i); break;
    case AG__RMSPROP: f32 ? ag__rmsprop_f32(o, i) : ag__rmsprop_f64(o, i); break;
    case AG__ADAGRAD: f32 ? ag__adagrad_f32(o, i) : ag__adagrad_f64(o, i); break;
    }
}

void ag_optim_step(ag_optim *o) {
    if (!o) return;
    int64_t total = 0;
    for (int i = 0; i < o->n; i++)
        if (ag__grad_ready(o->params[i])) {   /* a zeroed one still steps, as in torch */
            o->steps[i]++;
            total += o->params[i]->numel;
        }
    /* one team for the whole step; each kernel shares its elements out over it */
    #pragma omp parallel if (total >= 32768 && !omp_in_parallel())
    {
        unsigned csr = flush_begin();
        for (int i = 0; i < o->n; i++)
            if (o->params[i]->grad) update(o, i);
        flush_end(csr);
    }
}
