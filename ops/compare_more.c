/* Comparisons lt le ge ne (eq and gt live with the element-wise ops): 1/0 in a's dtype
 * (float32, float64 or int64), a and b broadcast, not differentiable. NaN compares false
 * except for ne, as torch. */
#include "ops/iter.h"

AG_ROW2(lt_f32, float, (float)(a < b))
AG_ROW2(lt_f64, double, (double)(a < b))
AG_ROW2(lt_i64, int64_t, (int64_t)(a < b))
AG_ROW2(le_f32, float, (float)(a <= b))
AG_ROW2(le_f64, double, (double)(a <= b))
AG_ROW2(le_i64, int64_t, (int64_t)(a <= b))
AG_ROW2(ge_f32, float, (float)(a >= b))
AG_ROW2(ge_f64, double, (double)(a >= b))
AG_ROW2(ge_i64, int64_t, (int64_t)(a >= b))
AG_ROW2(ne_f32, float, (float)(a != b))
AG_ROW2(ne_f64, double, (double)(a != b))
AG_ROW2(ne_i64, int64_t, (int64_t)(a != b))

static int cmp_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                     const char *fn) {
    (void)n, (void)args;
    if (in[0]->dtype != in[1]->dtype)
        return ag__error(AG_ERR_DTYPE, fn, "dtypes %s %s and %s %s differ (use ag_cast)",
                         ag_dtype_name(in[0]->dtype), AG_SHAPE(in[0]),
                         ag_dtype_name(in[1]->dtype), AG_SHAPE(in[1]));
    m->dtype = in[0]->dtype;
    if (ag__broadcast_shapes(in[0]->ndim, in[0]->shape, in[1]->ndim, in[1]->shape, &m->ndim,
                             m->shape))
        return ag__error(AG_ERR_SHAPE, fn, "shapes %s and %s do not broadcast",
                         AG_SHAPE(in[0]), AG_SHAPE(in[1]));
    return AG_OK;
}

/* The row kernel for out's dtype from the op's three. */
static void cmp_run(ag_tensor *out, ag_tensor *const *in, ag_row2_fn f32, ag_row2_fn f64,
                    ag_row2_fn i64) {
    ag__map2(out, in[0], in[1], out->dtype == AG_F32 ? f32 : out->dtype == AG_F64 ? f64 : i64, NULL);
}

static int lt_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    cmp_run(out, in, lt_f32, lt_f64, lt_i64);
    return AG_OK;
}
static int le_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    cmp_run(out, in, le_f32, le_f64, le_i64);
    return AG_OK;
}
static int ge_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    cmp_run(out, in, ge_f32, ge_f64, ge_i64);
    return AG_OK;
}
static int ne_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                      ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    cmp_run(out, in, ne_f32, ne_f64, ne_i64);
    return AG_OK;
}

const struct ag_op_def ag__op_lt = {
    .name = "lt", .arity = 2, .shape = cmp_shape, .forward = lt_forward,
    .check = {.lo = -2, .hi = 2, .no_grad = true},
};
const struct ag_op_def ag__op_le = {
    .name = "le", .arity = 2, .shape = cmp_shape, .forward = le_forward,
    .check = {.lo = -2, .hi = 2, .no_grad = true},
};
const struct ag_op_def ag__op_ge = {
    .name = "ge", .arity = 2, .shape = cmp_shape, .forward = ge_forward,
    .check = {.lo = -2, .hi = 2, .no_grad = true},
};
const struct ag_op_def ag__op_ne = {
    .name = "ne", .arity = 2, .shape = cmp_shape, .forward = ne_forward,
    .check = {.lo = -2, .hi = 2, .no_grad = true},
};

ag_tensor *ag_lt(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_LT, a, b); }
ag_tensor *ag_le(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_LE, a, b); }
ag_tensor *ag_ge(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_GE, a, b); }
ag_tensor *ag_ne(ag_tensor *a, ag_tensor *b) { return AG_APPLY2(AG_OP_NE, a, b); }
