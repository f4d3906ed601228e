/* ag_gradcheck: the analytic gradient against central differences, element by element,
 * as torch.autograd.gradcheck. A vector-valued f is reduced as L = sum(f(x) * w) with
 * fixed random weights w, so every output element takes part. */
#include "ops/ops.h"

#include <math.h>

/* L = sum(out * w) in double, without recording. */
static double weighted_sum(ag_fn f, void *ctx, ag_tensor **inputs, const ag_tensor *w, bool *ok) {
    ag_scope_begin();
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *out = f(inputs, ctx);
    double s = 0;
    *ok = out && out->numel == w->numel;
    for (int64_t i = 0; *ok && i < out->numel; i++) s += ag__get_flat(out, i) * ag__get_flat(w, i);
    ag_set_grad_enabled(prev);
    ag_scope_end();
    return s;
}

static void set_flat(ag_tensor *t, int64_t i, double v) {
    int64_t off = ag__flat_offset(t, i);
    if (t->dtype == AG_F32) ((float *)t->storage->data)[off] = (float)v;
    else ((double *)t->storage->data)[off] = v;
}

struct worst {
    double excess; /* |a - n| - (atol + rtol |n|): > 0 fails */
    double a, num; /* the worst element's gradients */
};

/* A non-finite gradient, analytic or numeric, fails with infinite errors (D20). */
static void compare(ag_gradcheck_result *r, struct worst *w, double a, double num, int input,
                    int64_t index, ag_gradcheck_opts o) {
    double err = fabs(a - num), rel = err / fmax(fabs(num), 1e-300);
    double excess = err - (o.atol + o.rtol * fabs(num));
    if (!isfinite(a) || !isfinite(num)) err = rel = excess = INFINITY;
    if (err > r->max_abs_err) r->max_abs_err = err;
    if (err > 0 && rel > r->max_rel_err) r->max_rel_err = rel;
    if (excess > w->excess) {
        w->excess = excess;
        w->a = a;
        w->num = num;
        r->input = input;
        r->index = index;
    }
}

/* r.why, and the last error naming the element, for a failed check. */
static void explain(ag_gradcheck_result *r, const struct worst *w) {
    r->why = !isfinite(w->a)     ? "the analytic gradient is not finite"
             : !isfinite(w->num) ? "the numeric gradient is not finite"
                                 : "the analytic and numeric gradients differ";
    ag__error(AG_ERR_ARG, "ag_gradcheck", "input %d, element %lld: %s (analytic %g, numeric %g)",
              r->input, (long long)r->index, r->why, w->a, w->num);
}

static ag_gradcheck_result failed(const char *why) {
    if (why) ag__error(AG_ERR_ARG, "ag_gradcheck", "%s", why);
    return (ag_gradcheck_result){.ok = false,
                                 .input = -1,
                                 .index = -1,
                                 .why = "the check could not run",
                                 .max_abs_err = INFINITY,
                                 .max_rel_err = INFINITY};
}

/* The analytic gradient of L for every input that requires grad (NULL for the others). */
static int analytic(ag_fn f, void *ctx, int n, ag_tensor **inputs, ag_tensor *w,
                    ag_tensor **grads) {
    ag_tensor *out = f(inputs, ctx);
    if (!out) return AG_ERR_ARG;
    if (!out->requires_grad) { /* no input reaches the output: all gradients are zero */
        for (int i = 0; i < n; i++)
            grads[i] = inputs[i]->requires_grad ? ag_zeros_like(inputs[i]) : NULL;
        return AG_OK;
    }
    ag_tensor *checked[64];
    int idx[64], k = 0;
    for (int i = 0; i < n; i++)
        if (inputs[i]->requires_grad) idx[k] = i, checked[k++] = inputs[i];
    ag_tensor *got[64] = {0};
    int rc = ag_autograd_grad(1, &out, &w, k, checked, got, (ag_grad_opts){.allow_unused = true});
    for (int j = 0; j < k && rc == AG_OK; j++)
        grads[idx[j]] = got[j] ? got[j] : ag_zeros_like(checked[j]);
    return rc;
}

ag_gradcheck_result ag_gradcheck(ag_fn f, void *ctx, int n, ag_tensor **inputs,
                                 ag_gradcheck_opts o) {
    if (!f || !inputs || n < 1 || n > 64) return failed("needs a function and 1..64 inputs");
    for (int i = 0; i < n; i++)
        if (!inputs[i]) return failed("an input is NULL");
    if (o.eps == 0) o.eps = 1e-6;
    if (o.atol == 0) o.atol = 1e-5;
    if (o.rtol == 0) o.rtol = 1e-3;
    ag_scope_begin();
    ag_gradcheck_result r = {.ok = true, .input = -1, .index = -1, .why = ""};
    ag_tensor *probe = f(inputs, ctx), *grads[64] = {0};
    ag_tensor *w = NULL; /* a scalar output is checked as it is; others through weights */
    if (probe && ag__is_float(probe->dtype))
        w = probe->numel == 1 ? ag_ones_like(probe)
                              : ag_randn(probe->dtype, probe->ndim, probe->shape);
    if (!w || analytic(f, ctx, n, inputs, w, grads)) {
        ag_scope_end();
        return failed(probe && !w ? "the function's output is not a float tensor" : NULL);
    }
    struct worst worst = {-INFINITY, 0, 0};
    for (int i = 0; i < n && r.ok; i++) {
        if (!grads[i]) continue;
        for (int64_t e = 0; e < inputs[i]->numel; e++) {
            double x = ag__get_flat(inputs[i], e);
            bool ok1, ok2;
            set_flat(inputs[i], e, x + o.eps);
            double hi = weighted_sum(f, ctx, inputs, w, &ok1);
            set_flat(inputs[i], e, x - o.eps);
            double lo = weighted_sum(f, ctx, inputs, w, &ok2);
            set_flat(inputs[i], e, x);
            if (!ok1 || !ok2) {
                r = failed(NULL);
                break;
            }
            compare(&r, &worst, ag__get_flat(grads[i], e), (hi - lo) / (2 * o.eps), i, e, o);
        }
    }
    if (worst.excess > 0) {
        r.ok = false;
        explain(&r, &worst);
    }
    ag_scope_end();
    return r;
}
