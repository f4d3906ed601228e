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
            cr_expect(r.ok, "%s variant %d: gradient wrong at input %d element %lld "
                      "(max abs err %g, rel %g) %s", def->name, variant, r.input,
                      (long long)r.index, r.max_abs_err, r.max_rel_err,
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
    for (int i = 0; i < c64.n; i++)   /* feed float64 exactly the float32 values */
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
