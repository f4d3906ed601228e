/* Activations: second derivatives against closed forms, gradients of gradients gradchecked
 * for every activation, strided inputs against contiguous ones, and every error path. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"
#include "ops/act_math.h"
#include "ops/ops.h"

typedef ag_tensor *(*act_fn)(ag_tensor *x, ag_tensor *w);

static ag_tensor *a_sigmoid(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_sigmoid(x);
}
static ag_tensor *a_tanh(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_tanh(x);
}
static ag_tensor *a_relu(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_relu(x);
}
static ag_tensor *a_selu(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_selu(x);
}
static ag_tensor *a_softplus(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_softplus(x);
}
static ag_tensor *a_softplus2(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_softplus_ex(x, 2, 3);
}
static ag_tensor *a_gelu(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_gelu(x);
}
static ag_tensor *a_gelu_tanh(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_gelu_tanh(x);
}
static ag_tensor *a_silu(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_silu(x);
}
static ag_tensor *a_leaky(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_leaky_relu(x, 0.1);
}
static ag_tensor *a_elu(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_elu(x, 1.3);
}
static ag_tensor *a_hardtanh(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_hardtanh(x, -0.5, 2);
}
static ag_tensor *a_hardsigmoid(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_hardsigmoid(x);
}
static ag_tensor *a_softmax(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_softmax(x, -1);
}
static ag_tensor *a_softmax0(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_softmax(x, 0);
}
static ag_tensor *a_log_softmax(ag_tensor *x, ag_tensor *w) {
    (void)w;
    return ag_log_softmax(x, 1);
}
static ag_tensor *a_prelu(ag_tensor *x, ag_tensor *w) { return ag_prelu(x, w); }

static const struct {
    const char *name;
    act_fn f;
} acts[] = {
    {"sigmoid", a_sigmoid},
    {"tanh", a_tanh},
    {"relu", a_relu},
    {"selu", a_selu},
    {"softplus", a_softplus},
    {"softplus_ex", a_softplus2},
    {"gelu", a_gelu},
    {"gelu_tanh", a_gelu_tanh},
    {"silu", a_silu},
    {"leaky_relu", a_leaky},
    {"elu", a_elu},
    {"hardtanh", a_hardtanh},
    {"hardsigmoid", a_hardsigmoid},
    {"softmax", a_softmax},
    {"softmax0", a_softmax0},
    {"log_softmax", a_log_softmax},
    {"prelu", a_prelu},
};
#define NACTS (int)(sizeof acts / sizeof acts[0])

/* Inputs of shape [3,4] away from every kink (0, +-0.5, 2, +-3). */
static ag_tensor *kinkless(ag_dtype dt) {
    double v[12] = {-2.2, -1.1, -0.3, 0.2, 0.7, 1.3, -0.8, 2.6, -4.0, 0.35, 1.7, 3.4};
    return ag_cast(T64(2, SHAPE(3, 4), v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
                       v[10], v[11]),
                   dt);
}

/* d^2/dx^2 of sum(f(x)) element-wise, through create_graph. */
static ag_tensor *second_derivative(act_fn f, ag_tensor *x) {
    ag_tensor *g1 = NULL, *g2 = NULL, *y = ag_sum(f(x, NULL));
    cr_assert_eq(ag_autograd_grad(1, &y, NULL, 1, &x, &g1, (ag_grad_opts){.create_graph = true}), 0,
                 "%s", ag_last_error());
    ag_tensor *s = ag_sum(g1);
    cr_assert_eq(ag_autograd_grad(1, &s, NULL, 1, &x, &g2, (ag_grad_opts){0}), 0, "%s",
                 ag_last_error());
    return g2;
}

static double sig(double x) { return 1 / (1 + exp(-x)); }

Test(activation, second_derivatives_match_closed_forms) {
    ag_scope_begin();
    ag_tensor *x = kinkless(AG_F64);
    ag_set_requires_grad(x, true);
    struct {
        act_fn f;
        const char *name;
    } cases[] = {
        {a_tanh, "tanh"}, {a_sigmoid, "sigmoid"}, {a_softplus, "softplus"}, {a_gelu, "gelu"},
        {a_silu, "silu"}, {a_elu, "elu"},         {a_relu, "relu"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ag_tensor *d2 = second_derivative(cases[c].f, x);
        for (int64_t i = 0; i < 12; i++) {
            double v = ag_get(x, (int64_t[]){i / 4, i % 4}), want = 0, t = tanh(v), s = sig(v);
            switch (c) {
            case 0: want = -2 * t * (1 - t * t); break;
            case 1: want = s * (1 - s) * (1 - 2 * s); break;
            case 2: want = s * (1 - s); break;
            case 3: want = exp(-v * v / 2) / sqrt(2 * M_PI) * (2 - v * v); break;
            case 4: want = s * (1 - s) * (2 + v * (1 - 2 * s)); break;
            case 5: want = v > 0 ? 0 : 1.3 * exp(v); break;
            default: want = 0;
            }
            double got = ag_get(d2, (int64_t[]){i / 4, i % 4});
            cr_expect(fabs(got - want) <= 1e-12 + 1e-10 * fabs(want),
                      "%s'' at %g: %.17g, want %.17g", cases[c].name, v, got, want);
        }
    }
    ag_scope_end();
}

/* Gradients of gradients: gradcheck x -> d/dx sum(f(x) * w), for every activation. */
struct gg_ctx {
    act_fn f;
    ag_tensor *w;
    bool prelu;
};
static ag_tensor *first_grad(ag_tensor **in, void *ctx) {
    struct gg_ctx *c = ctx;
    bool prev = ag_set_grad_enabled(true); /* gradcheck evaluates f under no_grad */
    ag_tensor *y = c->f(in[0], c->prelu ? in[1] : NULL);
    ag_tensor *l = ag_sum(ag_mul(y, c->w)), *g[2] = {0};
    int n = c->prelu ? 2 : 1;
    int rc = ag_autograd_grad(1, &l, NULL, n, in, g, (ag_grad_opts){.create_graph = prev});
    ag_set_grad_enabled(prev);
    if (rc) return NULL;
    return n == 2 ? ag_add(ag_sum(ag_mul(g[0], g[0])), ag_sum(ag_mul(g[1], g[1]))) : g[0];
}

Test(activation, gradients_of_gradients_gradcheck_for_every_activation) {
    for (int a = 0; a < NACTS; a++) {
        ag_scope_begin();
        ag_manual_seed(3);
        bool prelu = !strcmp(acts[a].name, "prelu");
        ag_tensor *in[2] = {kinkless(AG_F64), T64(1, SHAPE(4), 0.1, -0.2, 0.3, 0.4)};
        if (prelu) /* a strided [3,4] view */
            in[0] = ag_transpose(ag_reshape(in[0], 2, (int64_t[]){4, 3}), 0, 1);
        ag_set_requires_grad(in[0], true);
        ag_set_requires_grad(in[1], true);
        struct gg_ctx c = {acts[a].f, ag_randn(AG_F64, 2, (int64_t[]){3, 4}), prelu};
        ag_gradcheck_result r =
            ag_gradcheck(first_grad, &c, prelu ? 2 : 1, in, (ag_gradcheck_opts){0});
        cr_expect(r.ok, "%s: second derivative wrong at input %d element %lld (abs %g rel %g) %s",
                  acts[a].name, r.input, (long long)r.index, r.max_abs_err, r.max_rel_err,
                  ag_last_error() ? ag_last_error() : "");
        ag_scope_end();
    }
}

Test(activation, third_derivative_is_a_clear_error) {
    ag_scope_begin();
    ag_tensor *x = kinkless(AG_F64), *g1 = NULL, *g2 = NULL, *g3 = NULL;
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_sum(ag_gelu(x));
    ag_grad_opts cg = {.create_graph = true};
    cr_assert_eq(ag_autograd_grad(1, &y, NULL, 1, &x, &g1, cg), 0);
    ag_tensor *s1 = ag_sum(g1);
    cr_assert_eq(ag_autograd_grad(1, &s1, NULL, 1, &x, &g2, cg), 0);
    ag_tensor *s2 = ag_sum(g2);
    cr_assert_neq(ag_autograd_grad(1, &s2, NULL, 1, &x, &g3, (ag_grad_opts){0}), 0);
    cr_assert(strstr(ag_last_error(), "third derivatives of gelu"), "%s", ag_last_error());
    /* tanh's backward is written with ops all the way down: a third derivative works */
    ag_tensor *t = ag_sum(ag_tanh(x)), *h1 = NULL, *h2 = NULL, *h3 = NULL;
    cr_assert_eq(ag_autograd_grad(1, &t, NULL, 1, &x, &h1, cg), 0);
    ag_tensor *t1 = ag_sum(h1);
    cr_assert_eq(ag_autograd_grad(1, &t1, NULL, 1, &x, &h2, cg), 0);
    ag_tensor *t2 = ag_sum(h2);
    cr_assert_eq(ag_autograd_grad(1, &t2, NULL, 1, &x, &h3, (ag_grad_opts){0}), 0);
    double v = 0.7, th = tanh(v), want = -2 * (1 - th * th) * (1 - 3 * th * th);
    assert_close(ag_get(h3, (int64_t[]){1, 0}), want, 1e-12, 1e-10);
    ag_scope_end();
}

/* The vector path (contiguous) and the scalar path (strided) agree, float32 and float64,
 * on a tensor big enough to be split over threads. */
Test(activation, strided_inputs_match_contiguous_ones) {
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = d ? AG_F64 : AG_F32;
        for (int a = 0; a < NACTS; a++) {
            ag_scope_begin();
            ag_manual_seed(11);
            ag_tensor *base = ag_mul(ag_randn(dt, 2, (int64_t[]){301, 257}), ag_scalar(dt, 4));
            ag_tensor *xt = ag_transpose(base, 0, 1), *xc = ag_contiguous(xt);
            ag_tensor *w = ag_tensor_new(AG_F64, 1, (int64_t[]){301}, NULL);
            for (int i = 0; i < 301; i++) ((double *)ag_data(w))[i] = 0.01 * (i % 13);
            w = ag_cast(w, dt);
            ag_set_requires_grad(xt, true);
            ag_set_requires_grad(xc, true);
            ag_tensor *yt = acts[a].f(xt, w), *yc = acts[a].f(xc, w);
            cr_assert(yt && yc, "%s: %s", acts[a].name, ag_last_error());
            ag_tensor *seed = ag_randn(dt, 2, (int64_t[]){257, 301}), *gt = NULL, *gc = NULL;
            cr_assert_eq(ag_autograd_grad(1, &yt, &seed, 1, &xt, &gt, (ag_grad_opts){0}), 0);
            cr_assert_eq(ag_autograd_grad(1, &yc, &seed, 1, &xc, &gc, (ag_grad_opts){0}), 0);
            /* float32: the vector kernels compute in float, where 1 - tanh^2 and 1 + erf
             * cancel (about 1e-6 absolute, as torch's float32); the scalar path is in double */
            double tol = d ? 1e-13 : 1e-5;
            ag_tensor *pairs[2][2] = {{yt, yc}, {gt, gc}};
            for (int p = 0; p < 2; p++) {
                ag_tensor *u = ag_contiguous(ag_cast(pairs[p][0], AG_F64));
                ag_tensor *v = ag_contiguous(ag_cast(pairs[p][1], AG_F64));
                const double *pu = ag_data(u), *pv = ag_data(v);
                int bad = 0;
                for (int64_t i = 0; i < ag_numel(u) && bad < 3; i++)
                    if (!(fabs(pu[i] - pv[i]) <= tol * (1 + fabs(pv[i])))) {
                        bad++;
                        cr_expect(0, "%s %s %s[%lld]: strided %.9g, contiguous %.9g", acts[a].name,
                                  ag_dtype_name(dt), p ? "grad" : "out", (long long)i, pu[i],
                                  pv[i]);
                    }
            }
            ag_scope_end();
        }
    }
}

Test(activation, softmax_negative_dims_and_rows_summing_to_one) {
    ag_scope_begin();
    ag_tensor *x = ag_randn(AG_F64, 3, (int64_t[]){2, 3, 4});
    for (int d = 0; d < 3; d++) {
        ag_tensor *a = ag_softmax(x, d), *b = ag_softmax(x, d - 3);
        ag_tensor *s = ag_sum_dim(a, d, false);
        for (int64_t i = 0; i < ag_numel(a); i++)
            cr_expect_eq(ag_get(ag_reshape(a, 1, (int64_t[]){24}), &i),
                         ag_get(ag_reshape(b, 1, (int64_t[]){24}), &i));
        for (int64_t i = 0; i < ag_numel(s); i++)
            assert_close(ag_get(ag_reshape(s, 1, (int64_t[]){ag_numel(s)}), &i), 1.0, 1e-15, 0);
        ag_tensor *ls = ag_log_softmax(x, d), *el = ag_exp(ls);
        for (int64_t i = 0; i < 24; i++)
            assert_close(ag_get(ag_reshape(el, 1, (int64_t[]){24}), &i),
                         ag_get(ag_reshape(a, 1, (int64_t[]){24}), &i), 1e-15, 1e-14);
    }
    ag_tensor *s0 = ag_softmax(ag_scalar(AG_F64, 3.0), 0); /* 0-d: one element */
    assert_close(ag_item(s0), 1.0, 0, 0);
    ag_scope_end();
}

Test(activation, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *x = kinkless(AG_F64), *xi = ag_zeros(AG_I64, 2, (int64_t[]){3, 2});
    act_fn all[] = {a_sigmoid,  a_tanh,        a_relu,    a_selu,       a_softplus,
                    a_gelu,     a_gelu_tanh,   a_silu,    a_leaky,      a_elu,
                    a_hardtanh, a_hardsigmoid, a_softmax, a_log_softmax};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        cr_expect_null(all[i](xi, NULL), "int64 input accepted by activation %zu", i);
        cr_expect(strstr(ag_last_error(), "int64"), "%s", ag_last_error());
        cr_expect_null(all[i](NULL, NULL)); /* NULL passes through */
    }
    cr_expect_null(ag_softmax(x, 2));
    cr_expect(strstr(ag_last_error(), "ag_softmax") && strstr(ag_last_error(), "dim 2"), "%s",
              ag_last_error());
    cr_expect_null(ag_log_softmax(x, -3));
    cr_expect(strstr(ag_last_error(), "ag_log_softmax"), "%s", ag_last_error());
    cr_expect_null(ag_hardtanh(x, 1, -1));
    cr_expect(strstr(ag_last_error(), "ag_hardtanh"), "%s", ag_last_error());
    cr_expect_null(ag_softplus_ex(x, 0, 20));
    cr_expect(strstr(ag_last_error(), "ag_softplus"), "%s", ag_last_error());
    /* prelu: weight size, ndim, dtype */
    cr_expect_null(ag_prelu(x, T64(1, SHAPE(3), 0.1, 0.2, 0.3)));
    cr_expect(strstr(ag_last_error(), "ag_prelu") && strstr(ag_last_error(), "[3]") &&
                  strstr(ag_last_error(), "[3,4]"),
              "%s", ag_last_error());
    cr_expect_null(ag_prelu(x, T64(2, SHAPE(1, 1), 0.1)));
    cr_expect_null(ag_prelu(x, ag_cast(T64(1, SHAPE(1), 0.1), AG_F32)));
    cr_expect(strstr(ag_last_error(), "dtypes differ"), "%s", ag_last_error());
    cr_expect_null(
        ag_prelu(T64(1, SHAPE(2), 1, 2), T64(1, SHAPE(2), 0.1, 0.2))); /* 1-D: one weight */
    cr_expect_not_null(ag_prelu(T64(1, SHAPE(2), 1, -2), T64(1, SHAPE(1), 0.1)));
    ag_scope_end();
}

Test(activation, values_at_simple_points) {
    ag_scope_begin();
    ag_tensor *x = T64(1, SHAPE(4), -2, -0.5, 0.5, 2);
    double relu[] = {0, 0, 0.5, 2}, leaky[] = {-0.2, -0.05, 0.5, 2};
    double hsig[] = {-2 / 6.0 + 0.5, -0.5 / 6 + 0.5, 0.5 / 6 + 0.5, 2 / 6.0 + 0.5};
    double ht[] = {-1, -0.5, 0.5, 1};
    assert_tensor_close(ag_relu(x), relu, 4, 0, 0);
    assert_tensor_close(ag_leaky_relu(x, 0.1), leaky, 4, 0, 1e-15);
    assert_tensor_close(ag_hardsigmoid(x), hsig, 4, 0, 1e-15);
    assert_tensor_close(ag_hardtanh(x, -1, 1), ht, 4, 0, 0);
    double prelu[] = {-0.5, -0.125, 0.5, 2};
    assert_tensor_close(ag_prelu(x, T64(1, SHAPE(1), 0.25)), prelu, 4, 0, 0);
    ag_scope_end();
}

/* The public layer-activation values are API (saved programs pass them): they must not
 * move when AG_ACTIVATION_LIST grows; names and forward come from the same lines. */
Test(activation, layer_activation_values_names_and_forward) {
    cr_expect_eq(AG_ACTIVATION_NONE, 0);
    cr_expect_eq(AG_ACTIVATION_RELU, 1);
    cr_expect_eq(AG_ACTIVATION_SIGMOID, 2);
    cr_expect_eq(AG_ACTIVATION_TANH, 3);
    cr_expect_eq(AG_ACTIVATION_SOFTPLUS, 4);
    cr_expect_eq(AG_ACTIVATION_GELU, 5);
    cr_expect_eq(AG_ACTIVATION_SILU, 6);
    cr_expect_eq(AG_ACTIVATION_SOFTMAX, 7);
    cr_expect_eq(AG_ACTIVATION_LOG_SOFTMAX, 8);
    cr_expect_eq(AG_ACTIVATION_COUNT, 9);
    ag_scope_begin();
    ag_tensor *x = T64(2, SHAPE(2, 3), -1.5, -0.25, 0, 0.5, 1, 2.5);
    const char *names[] = {"Identity", "ReLU", "Sigmoid", "Tanh",      "Softplus",
                           "GELU",     "SiLU", "Softmax", "LogSoftmax"};
    ag_tensor *want[] = {x,          ag_relu(x),       ag_sigmoid(x),
                         ag_tanh(x), ag_softplus(x),   ag_gelu(x),
                         ag_silu(x), ag_softmax(x, 1), ag_log_softmax(x, 1)};
    for (int a = 0; a < AG_ACTIVATION_COUNT; a++) {
        ag_layer *l = ag_activation_layer((ag_activation)a);
        cr_assert_not_null(l, "%s", ag_last_error());
        cr_expect_str_eq(ag_layer_name(l), names[a]);
        ag_tensor *y = ag_layer_forward(l, x);
        cr_assert_not_null(y, "%s: %s", names[a], ag_last_error());
        for (int64_t i = 0; i < 6; i++)
            cr_expect_eq(ag_get(y, (int64_t[]){i / 3, i % 3}),
                         ag_get(want[a], (int64_t[]){i / 3, i % 3}), "%s element %lld", names[a],
                         (long long)i);
        ag_layer_free(l);
    }
    cr_expect_null(ag_activation_layer(AG_ACTIVATION_COUNT));
    ag_scope_end();
}

/* The guard for "an activation computes the wrong function on the vector path" (which once
 * meant exp, from a missing table entry, on 16 elements or more): every activation op in
 * the table (the ops sharing relu's forward) names its own vector function, and that
 * function's vector kernels (forward and backward, float64 and float32, on an odd length)
 * agree with the scalar math the strided path runs. A function with no kernels does not
 * compile (AG_VM_FN_LIST in ops/kernels/vmath.h). */
Test(activation, every_activation_has_its_own_vector_kernel) {
    enum { N = 1031 };
    static double x[N], g[N], y[N], gx[N];
    static float xf[N], gf[N], yf[N], gxf[N];
    int seen = 0;
    for (int op = 0; op < AG_OP_COUNT; op++) {
        const struct ag_op_def *d = ag__ops[op];
        if (d->forward != ag__op_relu.forward) continue;
        const struct act_args *a = d->check.args;
        ag_vm_params p = {a->a, a->b};
        seen++;
        cr_expect_str_eq(ag__vm_name(a->fn), d->name, "op %s runs vector function %s", d->name,
                         ag__vm_name(a->fn));
        for (int i = 0; i < N; i++) { /* [-4, 4], the points 0 and +-3 among them */
            x[i] = -4 + 8.0 * i / (N - 1);
            g[i] = 1 + 0.001 * i;
            xf[i] = (float)x[i], gf[i] = (float)g[i];
        }
        ag__vm_forward_f64(a->fn, y, x, N, p);
        ag__vm_backward_f64(a->fn, gx, g, x, y, N, p);
        ag__vm_forward_f32(a->fn, yf, xf, N, p);
        ag__vm_backward_f32(a->fn, gxf, gf, xf, yf, N, p);
        int bad = 0;
        for (int i = 0; i < N && bad < 3; i++) {
            double f = ag__act_f(a->fn, x[i], a->a, a->b);
            double df = g[i] * ag__act_d1(a->fn, x[i], a->a, a->b);
            double f32 = ag__act_f(a->fn, xf[i], (float)a->a, (float)a->b);
            double df32 = gf[i] * ag__act_d1(a->fn, xf[i], (float)a->a, (float)a->b);
            bool ok = fabs(y[i] - f) <= 1e-12 * (1 + fabs(f)) &&
                      fabs(gx[i] - df) <= 1e-12 * (1 + fabs(df)) &&
                      fabs(yf[i] - f32) <= 1e-6 * (1 + fabs(f32)) &&
                      fabs(gxf[i] - df32) <= 1e-6 * (1 + fabs(df32));
            bad += !ok;
            cr_expect(ok,
                      "%s at x = %.17g: vector f %.17g f' %.17g (float32 %.9g %.9g), scalar "
                      "f %.17g f' %.17g",
                      d->name, x[i], y[i], gx[i], yf[i], gxf[i], f, df);
        }
    }
    cr_expect_geq(seen, 12, "found %d activation ops", seen);
}
