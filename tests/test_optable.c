/* Table-driven tests over every op in ops/ops.def: gradcheck in float64 on contiguous and
 * on transposed/broadcast inputs, a backward rule for every differentiable op, and float32
 * kernels agreeing with float64 ones. An op added to the table is tested from then on. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>

#include "ops/ops.h"

struct call {
    enum ag_op_id op;
    int n;
    alignas(16) unsigned char args[AG_ARGS_BYTES];
};

static ag_tensor *call_op(ag_tensor **in, void *ctx) {
    struct call *c = ctx;
    return ag__apply(c->op, c->n, in, c->args, AG_ARGS_BYTES);
}

static int op_ids[AG_OP_COUNT];

ParameterizedTestParameters(optable, gradcheck_f64) {
    for (int i = 0; i < AG_OP_COUNT; i++) op_ids[i] = i;
    return cr_make_param_array(int, op_ids, AG_OP_COUNT);
}

ParameterizedTest(int *op, optable, gradcheck_f64) {
    const struct ag_op_def *def = ag__ops[*op];
    if (def->check.no_grad) cr_skip_test("%s is not differentiable", def->name);
    int tested = 0;
    for (int variant = 0; variant < 2; variant++) {
        ag_manual_seed(42 + (uint64_t)variant);
        ag_scope_begin();
        struct call c = {.op = *op};
        ag_tensor *in[16] = {0};
        c.n = ag__check_make(def, in, c.args, AG_F64, variant, 0);
        cr_assert(c.n >= 0, "%s: making inputs failed: %s", def->name, ag_last_error());
        if (c.n > 0) {
            ag_gradcheck_opts o = {def->check.eps, def->check.atol, def->check.rtol};
            ag_gradcheck_result r = ag_gradcheck(call_op, &c, c.n, in, o);
            cr_expect(r.ok,
                      "%s variant %d: gradient wrong at input %d element %lld "
                      "(max abs err %g, rel %g) %s",
                      def->name, variant, r.input, (long long)r.index, r.max_abs_err, r.max_rel_err,
                      ag_last_error() ? ag_last_error() : "");
            tested++;
        }
        ag_scope_end();
    }
    cr_assert(tested > 0, "%s: no variant made inputs", def->name);
}

Test(optable, every_differentiable_op_has_a_backward_rule) {
    for (int i = 0; i < AG_OP_COUNT; i++) {
        const struct ag_op_def *d = ag__ops[i];
        cr_expect(d->backward || d->check.no_grad, "op %s has no backward rule", d->name);
        cr_expect(d->forward && d->shape, "op %s lacks forward or shape", d->name);
        cr_expect(d->name && !strcmp(ag__op_fnames[i] + 3, d->name), "op %d name mismatch", i);
    }
}

ParameterizedTestParameters(optable, float32_matches_float64) {
    for (int i = 0; i < AG_OP_COUNT; i++) op_ids[i] = i;
    return cr_make_param_array(int, op_ids, AG_OP_COUNT);
}

/* The same inputs (rounded to float32) through both kernels. */
ParameterizedTest(int *op, optable, float32_matches_float64) {
    const struct ag_op_def *def = ag__ops[*op];
    if (def->check.f64_only) cr_skip_test("%s has no float32 kernel", def->name);
    ag_scope_begin();
    struct call c32 = {.op = *op}, c64 = {.op = *op};
    ag_tensor *in32[16] = {0}, *in64[16] = {0};
    ag_manual_seed(7);
    c32.n = ag__check_make(def, in32, c32.args, AG_F32, 0, 0);
    ag_manual_seed(7);
    c64.n = ag__check_make(def, in64, c64.args, AG_F64, 0, 0);
    cr_assert(c32.n > 0 && c32.n == c64.n, "%s: inputs", def->name);
    for (int i = 0; i < c64.n; i++) /* feed float64 exactly the float32 values */
        if (ag_dtype_of(in64[i]) == AG_F64) in64[i] = ag_cast(ag_cast(in32[i], AG_F64), AG_F64);
    ag_tensor *y32 = call_op(in32, &c32), *y64 = call_op(in64, &c64);
    cr_assert(y32 && y64, "%s: %s", def->name, ag_last_error());
    cr_assert_eq(ag_numel(y32), ag_numel(y64));
    for (int64_t i = 0; i < ag_numel(y64); i++) {
        double a = ag__get_flat(y32, i), b = ag__get_flat(y64, i);
        cr_expect(fabs(a - b) <= 1e-5 + 1e-5 * fabs(b), "%s element %lld: f32 %.9g vs f64 %.9g",
                  def->name, (long long)i, a, b);
    }
    ag_scope_end();
}

/* ---- the fast paths: every op on contiguous inputs big and odd enough to take the vector
 * kernels (AG_ACT_VM_MIN 16, AG_EW_VM_MIN 64 elements) and their partial-vector tails (69,
 * 1043 elements), and for the ops the generic maker applies to (element-wise, reductions,
 * activations) one past the 64K-element thread chunk too (65545), forward and backward, in
 * float64 and float32, against the same values through the strided (scalar row) kernels in
 * float64. Ops with their own maker get about as many elements from it. A wrong vector
 * kernel for any op fails here, at sizes the [3,4] tests above never reach. */
static const int64_t big_shapes[][2] = {{3, 23}, {7, 149}, {5, 13109}};

/* The same values as t, not contiguous (every other element of a [..., 2] stack). */
static ag_tensor *strided_copy(ag_tensor *t) {
    bool prev = ag_set_grad_enabled(false);
    int nd = ag_ndim(t);
    ag_tensor *s =
        ag_squeeze(ag_slice(ag_stack((ag_tensor *const[]){t, t}, 2, nd), nd, 0, 1, 1), nd);
    ag_set_grad_enabled(prev);
    return s;
}

/* A leaf with t's values in dtype (requires_grad as given). */
static ag_tensor *leaf_copy(ag_tensor *t, ag_dtype dtype, bool strided, bool grad) {
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *c = ag_clone(ag_cast(t, dtype));
    if (strided) c = strided_copy(c);
    ag_set_grad_enabled(prev);
    if (c && grad) ag_set_requires_grad(c, true);
    return c;
}

static const double *as_f64(ag_tensor *t) {
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *c = ag_contiguous(ag_cast(t, AG_F64));
    ag_set_grad_enabled(prev);
    return c ? ag_data(c) : NULL;
}

/* float64: |got - ref| <= tol (1 + |ref|) element by element. float32 (norm-wise): <= tol
 * (1 + max |ref|), as sums of many float32 terms (conv gradients) carry the error of their
 * largest terms into their small results. A wrong kernel is off by far more. */
static void expect_same(const char *op, const char *what, int64_t n, ag_tensor *got, ag_tensor *ref,
                        double tol, bool normwise) {
    cr_assert(got && ref, "%s %s (%lld elements): %s", op, what, (long long)n,
              ag_last_error() ? ag_last_error() : "NULL");
    cr_assert_eq(ag_numel(got), ag_numel(ref));
    const double *a = as_f64(got), *b = as_f64(ref);
    cr_assert(a && b, "%s", ag_last_error());
    double scale = 0;
    for (int64_t i = 0; normwise && i < ag_numel(ref); i++) scale = fmax(scale, fabs(b[i]));
    int bad = 0;
    for (int64_t i = 0; i < ag_numel(ref) && bad < 3; i++) {
        double err = fabs(a[i] - b[i]), lim = tol * (1 + (normwise ? scale : fabs(b[i])));
        bool ok = err <= lim || (isnan(a[i]) && isnan(b[i]));
        bad += !ok;
        cr_expect(ok, "%s %s (%lld elements) element %lld: %.17g, strided float64 %.17g", op, what,
                  (long long)n, (long long)i, a[i], b[i]);
    }
}

/* y = op(in); with a gradient: d<y, gy>/d in[i] in grads[i] for the inputs needing it. */
static ag_tensor *run_op(struct call *c, ag_tensor **in, ag_tensor *gy, ag_tensor **grads) {
    ag_tensor *y = call_op(in, c);
    if (!y || !gy) return y;
    ag_tensor *wrt[16], *got[16] = {0};
    int m = 0;
    for (int i = 0; i < c->n; i++)
        if (ag_requires_grad(in[i])) wrt[m++] = in[i];
    bool prev = ag_set_grad_enabled(false);
    if (ag_dtype_of(gy) != ag_dtype_of(y)) gy = ag_cast(gy, ag_dtype_of(y)); /* cast's */
    ag_set_grad_enabled(prev);
    if (ag_autograd_grad(1, &y, &gy, m, wrt, got, (ag_grad_opts){.allow_unused = true}))
        return NULL;
    for (int i = 0, j = 0; i < c->n; i++) grads[i] = ag_requires_grad(in[i]) ? got[j++] : NULL;
    return y;
}

/* Inputs in dtype: the generic maker's rule on shape (2-D, U[lo, hi]), or the op's own
 * maker asked for about shape[0] * shape[1] elements. Returns the count (0: not applicable). */
static int make_big(const struct ag_op_def *def, ag_tensor **in, void *args, ag_dtype dtype,
                    const int64_t *shape) {
    const struct ag_op_check *k = &def->check;
    ag_manual_seed(11);
    if (k->make) return k->make(in, args, dtype, 0, shape[0] * shape[1]);
    double lo = k->lo, hi = k->hi;
    if (lo == 0 && hi == 0) lo = -2, hi = 2; /* the generic maker's default */
    if (k->args_size) memcpy(args, k->args, k->args_size);
    for (int i = 0; i < def->arity; i++)
        if (!(in[i] = ag__check_input(dtype, 2, shape, lo, hi))) return -1;
    return def->arity;
}

/* The float32 inputs in32 made again as float64 leaves x64 (exactly their values; other
 * dtypes as they are) and as a strided copy xs of those; returns whether any needs grad. */
static bool widen(const struct ag_op_def *def, int n, ag_tensor **in32, ag_tensor **x32,
                  ag_tensor **x64, ag_tensor **xs) {
    bool any = false;
    for (int i = 0; i < n; i++) {
        bool g = ag_requires_grad(in32[i]) && !def->check.no_grad;
        ag_dtype dt = ag_dtype_of(in32[i]), wide = dt == AG_F32 ? AG_F64 : dt;
        any |= g;
        x32[i] = leaf_copy(in32[i], dt, false, g);
        x64[i] = leaf_copy(in32[i], wide, false, g);
        xs[i] = leaf_copy(in32[i], wide, true, g);
        cr_assert(xs[i] && (ag_numel(xs[i]) < 2 || !ag_is_contiguous(xs[i])) &&
                      ag_is_contiguous(x64[i]),
                  "%s input %d", def->name, i);
    }
    return any;
}

static void check_big(const struct ag_op_def *def, enum ag_op_id op, const int64_t *shape) {
    struct call c32 = {.op = op}, c64 = {.op = op};
    ag_tensor *in32[16] = {0}, *in64[16] = {0}, *x32[16], *x64[16], *xs[16];
    c32.n = make_big(def, in32, c32.args, AG_F32, shape);
    c64.n = make_big(def, in64, c64.args, AG_F64, shape); /* for float64's args */
    cr_assert(c32.n >= 0 && c32.n == c64.n, "%s: making inputs failed: %s", def->name,
              ag_last_error());
    if (c32.n == 0) return;
    bool grad = widen(def, c32.n, in32, x32, x64, xs);
    ag_tensor *gy32 = NULL, *gy64 = NULL, *gys = NULL;
    ag_tensor *g32[16] = {0}, *g64[16] = {0}, *gs[16] = {0};
    if (grad) {
        ag_tensor *y = call_op(x64, &c64); /* for the output's shape */
        cr_assert(y, "%s: %s", def->name, ag_last_error());
        ag_tensor *g = ag__check_input(AG_F32, ag_ndim(y), ag_shape(y), -1, 1);
        gy32 = leaf_copy(g, AG_F32, false, false);
        gy64 = leaf_copy(g, AG_F64, false, false);
        gys = leaf_copy(g, AG_F64, true, false);
    }
    int64_t n = shape[0] * shape[1];
    ag_tensor *ys = run_op(&c64, xs, gys, gs), *y64 = run_op(&c64, x64, gy64, g64);
    ag_tensor *y32 = run_op(&c32, x32, gy32, g32);
    expect_same(def->name, "float64", n, y64, ys, 1e-12, false);
    expect_same(def->name, "float32", n, y32, ys, 1e-5, true);
    for (int i = 0; grad && i < c32.n; i++) {
        if (!gs[i] && !g64[i] && !g32[i]) continue; /* not used by the output */
        expect_same(def->name, "float64 gradient", n, g64[i], gs[i], 1e-12, false);
        expect_same(def->name, "float32 gradient", n, g32[i], gs[i], 1e-5, true);
    }
}

ParameterizedTestParameters(optable, vector_paths_match_strided_float64) {
    for (int i = 0; i < AG_OP_COUNT; i++) op_ids[i] = i;
    return cr_make_param_array(int, op_ids, AG_OP_COUNT);
}

ParameterizedTest(int *op, optable, vector_paths_match_strided_float64) {
    const struct ag_op_def *def = ag__ops[*op];
    if (def->check.f64_only) cr_skip_test("%s has no float32 kernel", def->name);
    for (size_t s = 0; s < sizeof big_shapes / sizeof *big_shapes; s++) {
        if (s == 2 && def->check.make) continue; /* past the chunk: generic ops only (cost) */
        ag_scope_begin();
        check_big(def, (enum ag_op_id) * op, big_shapes[s]);
        ag_scope_end();
    }
}
