/* Every activation and loss against torch 1.13 on fixed inputs (tests/golden/act_loss.txt,
 * written by tests/golden/gen_act_loss.py): forward values and gradients of
 * L = sum(out * w), in float64 (1e-10 relative) and float32 (1e-5 relative), including
 * |x| up to 1e4. The golden file is checked in, so no torch is needed here. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ag.h>

#define GOLDEN "tests/golden/act_loss.txt"
#define MAXV 64

struct vec {
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    int64_t n;
    double v[MAXV];
};

struct gcase {
    char name[32], dtype[8];
    double p1, p2;
    int nin;
    char kind[4];
    struct vec in[4], w, out, grad[4];
    bool has_grad[4];
};

static ag_tensor *call(const struct gcase *c, ag_tensor **in) {
    const char *n = c->name;
    ag_reduction r = (ag_reduction)(int)c->p2;
    if (!strcmp(n, "sigmoid")) return ag_sigmoid(in[0]);
    if (!strcmp(n, "tanh")) return ag_tanh(in[0]);
    if (!strcmp(n, "relu")) return ag_relu(in[0]);
    if (!strcmp(n, "selu")) return ag_selu(in[0]);
    if (!strcmp(n, "softplus")) return ag_softplus(in[0]);
    if (!strcmp(n, "softplus_ex")) return ag_softplus_ex(in[0], c->p1, c->p2);
    if (!strcmp(n, "gelu")) return ag_gelu(in[0]);
    if (!strcmp(n, "gelu_tanh")) return ag_gelu_tanh(in[0]);
    if (!strcmp(n, "silu")) return ag_silu(in[0]);
    if (!strcmp(n, "leaky_relu")) return ag_leaky_relu(in[0], c->p1);
    if (!strcmp(n, "elu")) return ag_elu(in[0], c->p1);
    if (!strcmp(n, "hardtanh")) return ag_hardtanh(in[0], c->p1, c->p2);
    if (!strcmp(n, "hardsigmoid")) return ag_hardsigmoid(in[0]);
    if (!strcmp(n, "softmax")) return ag_softmax(in[0], (int)c->p1);
    if (!strcmp(n, "log_softmax")) return ag_log_softmax(in[0], (int)c->p1);
    if (!strcmp(n, "prelu")) return ag_prelu(in[0], in[1]);
    if (!strcmp(n, "mse")) return ag_mse_loss_ex(in[0], in[1], r);
    if (!strcmp(n, "l1")) return ag_l1_loss_ex(in[0], in[1], r);
    if (!strcmp(n, "huber")) return ag_huber_loss_ex(in[0], in[1], c->p1, r);
    if (!strcmp(n, "bce")) return ag_bce_loss_ex(in[0], in[1], r);
    if (!strcmp(n, "bce_logits")) return ag_bce_with_logits_loss_ex(in[0], in[1], r);
    if (!strcmp(n, "kl_div")) return ag_kl_div_loss_ex(in[0], in[1], r);
    if (!strcmp(n, "ce") || !strcmp(n, "ce_probs"))
        return ag_cross_entropy_loss_ex(in[0], in[1], (ag_cross_entropy_opts){r, c->p1});
    if (!strcmp(n, "nll")) return ag_nll_loss_ex(in[0], in[1], r);
    cr_assert_fail("golden case %s has no function here", n);
    return NULL;
}

/* Reads n values from the token stream into v. */
static void read_vals(char **save, int64_t n, double *v) {
    cr_assert(n <= MAXV, "golden record too long");
    for (int64_t i = 0; i < n; i++) {
        char *tok = strtok_r(NULL, " \n", save);
        cr_assert(tok, "golden record truncated");
        v[i] = strtod(tok, NULL);
    }
}
static int64_t next_int(char **save) {
    char *tok = strtok_r(NULL, " \n", save);
    cr_assert(tok, "golden record truncated");
    return strtoll(tok, NULL, 10);
}
static void read_shaped(char **save, struct vec *x) {
    x->ndim = (int)next_int(save);
    for (int d = 0; d < x->ndim; d++) x->shape[d] = next_int(save);
    x->n = next_int(save);
    read_vals(save, x->n, x->v);
}

/* |got - want| <= atol + rtol |want|, with matching infinities; returns true when close. */
static bool close_to(double got, double want, double rtol, double atol) {
    if (isnan(want) || isnan(got)) return isnan(want) && isnan(got);
    if (isinf(want) || isinf(got)) return got == want;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

static int run_case(const struct gcase *c, double rtol, double atol) {
    ag_dtype dt = !strcmp(c->dtype, "f32") ? AG_F32 : AG_F64;
    int bad = 0;
    ag_scope_begin();
    ag_tensor *in[4], *want_grad[4];
    int nw = 0;
    for (int k = 0; k < c->nin; k++) {
        const struct vec *x = &c->in[k];
        if (c->kind[k] == 'i') {
            int64_t lab[MAXV];
            for (int64_t i = 0; i < x->n; i++) lab[i] = (int64_t)x->v[i];
            in[k] = ag_tensor_new(AG_I64, x->ndim, x->shape, lab);
        } else {
            in[k] = ag_cast(ag_tensor_new(AG_F64, x->ndim, x->shape, x->v), dt);
            ag_set_requires_grad(in[k], true);
            want_grad[nw++] = in[k];
        }
    }
    ag_tensor *y = call(c, in);
    cr_assert(y, "%s %s: %s", c->name, c->dtype, ag_last_error());
    cr_assert_eq(ag_numel(y), c->out.n, "%s: numel %lld, torch %lld", c->name,
                 (long long)ag_numel(y), (long long)c->out.n);
    cr_assert_eq(ag_ndim(y), c->out.ndim, "%s: ndim", c->name);
    double got[MAXV];
    ag_tensor *y64 = ag_cast(y, AG_F64);
    ag_to_array(y64, got);
    for (int64_t i = 0; i < c->out.n; i++)
        if (!close_to(got[i], c->out.v[i], rtol, atol)) {
            bad++;
            cr_expect(0, "%s %s p=(%g,%g) out[%lld] = %.17g, torch %.17g", c->name, c->dtype, c->p1,
                      c->p2, (long long)i, got[i], c->out.v[i]);
        }
    ag_tensor *w = ag_cast(ag_tensor_new(AG_F64, ag_ndim(y), ag_shape(y), c->w.v), dt);
    ag_tensor *grads[4] = {0};
    int rc = ag_autograd_grad(1, &y, &w, nw, want_grad, grads, (ag_grad_opts){0});
    cr_assert_eq(rc, 0, "%s: autograd: %s", c->name, ag_last_error());
    for (int k = 0, j = 0; k < c->nin; k++) {
        if (c->kind[k] == 'i') continue;
        ag_tensor *g = grads[j++];
        if (!c->has_grad[k]) continue;
        cr_assert(g, "%s: no gradient for input %d", c->name, k);
        ag_to_array(ag_cast(g, AG_F64), got);
        /* torch's hardsigmoid backward multiplies by a float32 1/6 even in float64 */
        double grtol = !strcmp(c->name, "hardsigmoid") ? fmax(rtol, 1e-7) : rtol;
        for (int64_t i = 0; i < c->grad[k].n; i++)
            if (!close_to(got[i], c->grad[k].v[i], grtol, atol)) {
                bad++;
                cr_expect(0, "%s %s p=(%g,%g) grad %d[%lld] = %.17g, torch %.17g", c->name,
                          c->dtype, c->p1, c->p2, k, (long long)i, got[i], c->grad[k].v[i]);
            }
    }
    ag_scope_end();
    return bad;
}

/* Runs every case of one dtype; returns how many cases ran. */
static int run_golden(const char *dtype, double rtol, double atol) {
    FILE *f = fopen(GOLDEN, "r");
    cr_assert(f, "cannot open %s (run the tests from the repository root)", GOLDEN);
    static char line[1 << 14];
    static struct gcase c;
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *tok = strtok_r(line, " \n", &save);
        if (!tok || tok[0] == '#') continue;
        if (!strcmp(tok, "case")) {
            memset(&c, 0, sizeof c);
            snprintf(c.name, sizeof c.name, "%s", strtok_r(NULL, " \n", &save));
            snprintf(c.dtype, sizeof c.dtype, "%s", strtok_r(NULL, " \n", &save));
            c.p1 = strtod(strtok_r(NULL, " \n", &save), NULL);
            c.p2 = strtod(strtok_r(NULL, " \n", &save), NULL);
            c.nin = (int)next_int(&save);
        } else if (!strcmp(tok, "in")) {
            int k = (int)next_int(&save);
            c.kind[k] = strtok_r(NULL, " \n", &save)[0];
            read_shaped(&save, &c.in[k]);
        } else if (!strcmp(tok, "w")) {
            c.w.n = next_int(&save);
            read_vals(&save, c.w.n, c.w.v);
        } else if (!strcmp(tok, "out")) {
            read_shaped(&save, &c.out);
        } else if (!strcmp(tok, "grad")) {
            int k = (int)next_int(&save);
            c.has_grad[k] = true;
            c.grad[k].n = next_int(&save);
            read_vals(&save, c.grad[k].n, c.grad[k].v);
        } else if (!strcmp(tok, "end") && !strcmp(c.dtype, dtype)) {
            run_case(&c, rtol, atol);
            cases++;
        }
    }
    fclose(f);
    return cases;
}

/* The absolute floors cover cancellation near 0 (torch computes 1 + erf(x/sqrt2) or
 * 1 - tanh^2 in the working precision, where the true value is far smaller than the
 * terms): 1e-14 in float64, 1e-6 (about 16 float32 ulps of 1) in float32. */
Test(golden, activations_and_losses_f64_match_torch) {
    int n = run_golden("f64", 1e-10, 1e-14);
    cr_assert(n >= 50, "only %d float64 golden cases ran", n);
}

Test(golden, activations_and_losses_f32_match_torch) {
    int n = run_golden("f32", 1e-5, 1e-6);
    cr_assert(n >= 50, "only %d float32 golden cases ran", n);
}
