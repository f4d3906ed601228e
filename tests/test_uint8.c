/* AG_U8, the storage dtype for data kept as bytes: creation, fill, element access, casts
 * (to and from every dtype), printing, and every op in ops/ops.def given uint8 inputs:
 * either the right answer (the ops that move and select: views, slices, index ops, cat)
 * or NULL with a one-line error naming the op, never a silently wrong result. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>

#include "ops/ops.h"

struct call {
    enum ag_op_id op;
    int n;
    alignas(16) unsigned char args[AG_ARGS_BYTES];
};

static ag_tensor *call_op(ag_tensor **in, struct call *c) {
    return ag__apply(c->op, c->n, in, c->args, AG_ARGS_BYTES);
}

/* x's values mapped to bytes 0..255, with x's geometry when x is a 2-D transposed view. */
static ag_tensor *as_bytes(ag_tensor *x) {
    ag_tensor *u = ag_cast(ag_mul_scalar(ag_abs(x), 60.0), AG_U8);
    if (!ag_is_contiguous(x) && ag_ndim(x) == 2)
        u = ag_transpose(ag_contiguous(ag_transpose(u, 0, 1)), 0, 1);
    return u;
}

static int op_ids[AG_OP_COUNT];

ParameterizedTestParameters(uint8, every_op_is_right_or_refuses) {
    for (int i = 0; i < AG_OP_COUNT; i++) op_ids[i] = i;
    return cr_make_param_array(int, op_ids, AG_OP_COUNT);
}

/* Float inputs become uint8 (their float64 twins hold the same values): the op's result on
 * bytes must equal its result on the twins, or the op must refuse with its name. */
ParameterizedTest(int *op, uint8, every_op_is_right_or_refuses) {
    const struct ag_op_def *def = ag__ops[*op];
    for (int variant = 0; variant < 2; variant++) {
        ag_manual_seed(11 + (uint64_t)variant);
        ag_scope_begin();
        struct call c = {.op = *op};
        ag_tensor *in[16] = {0}, *u8[16] = {0}, *f64[16] = {0};
        c.n = ag__check_make(def, in, c.args, AG_F64, variant, 0);
        cr_assert(c.n >= 0, "%s: making inputs failed: %s", def->name, ag_last_error());
        bool prev = ag_set_grad_enabled(false);
        for (int i = 0; i < c.n; i++) {
            bool fl = in[i] && ag_dtype_of(in[i]) == AG_F64;
            u8[i] = fl ? as_bytes(in[i]) : in[i];
            f64[i] = fl ? ag_cast(u8[i], AG_F64) : in[i];
            cr_assert(!fl || (u8[i] && f64[i]), "%s: %s", def->name, ag_last_error());
        }
        ag_set_grad_enabled(prev);
        ag_clear_error();
        ag_tensor *yu = c.n ? call_op(u8, &c) : NULL;
        if (c.n && !yu) {
            const char *e = ag_last_error();
            char want[64];
            snprintf(want, sizeof want, "%s: ", ag__op_fnames[*op]);
            cr_expect(e && !strncmp(e, want, strlen(want)) && strstr(e, "uint8") &&
                          !strchr(e, '\n'),
                      "%s refused uint8 without a one-line message naming it: '%s'", def->name,
                      e ? e : "(null)");
        } else if (c.n) {
            ag_tensor *yf = call_op(f64, &c);
            cr_assert(yf, "%s: the float64 twin failed: %s", def->name, ag_last_error());
            cr_expect(!ag_requires_grad(yu), "%s: a uint8 result requires grad", def->name);
            cr_assert_eq(ag_numel(yu), ag_numel(yf), "%s: sizes differ", def->name);
            for (int64_t i = 0; i < ag_numel(yf); i++)
                cr_expect_eq(ag__get_flat(yu, i), ag__get_flat(yf, i),
                             "%s variant %d element %lld: uint8 %g vs float64 %g", def->name,
                             variant, (long long)i, ag__get_flat(yu, i), ag__get_flat(yf, i));
        }
        ag_scope_end();
    }
}

Test(uint8, size_name_and_creation) {
    cr_expect_eq(ag_dtype_size(AG_U8), 1);
    cr_expect_str_eq(ag_dtype_name(AG_U8), "uint8");
    cr_expect_str_eq(ag_dtype_name((ag_dtype)99), "?");
    ag_tensor *z = ag_zeros(AG_U8, 2, (int64_t[]){2, 3});
    cr_assert(z && ag_dtype_of(z) == AG_U8 && ag_numel(z) == 6);
    ag_tensor *s = ag_full(AG_U8, 0, NULL, 255);
    cr_expect_eq(ag_item(s), 255);
    ag_tensor_free(s);
    ag_tensor *r = ag_arange(AG_U8, 250, 256, 1);
    cr_assert(r && ag_numel(r) == 6);
    cr_expect_eq(ag_get(r, (int64_t[]){5}), 255);
    uint8_t bytes[3] = {0, 7, 200}, back[3];
    ag_tensor *t = ag_tensor_new(AG_U8, 1, (int64_t[]){3}, bytes);
    cr_assert_eq(ag_to_array(t, back), 0);
    cr_expect_eq(memcmp(bytes, back, 3), 0);
    cr_expect_eq(((uint8_t *)ag_data(t))[2], 200);
    ag_tensor_free(z);
    ag_tensor_free(r);
    ag_tensor_free(t);
}

Test(uint8, values_that_do_not_fit_are_refused) {
    ag_clear_error();
    cr_expect_null(ag_full(AG_U8, 1, (int64_t[]){2}, 256));
    cr_expect(strstr(ag_last_error(), "ag_full") && strstr(ag_last_error(), "uint8"), "%s",
              ag_last_error());
    cr_expect_null(ag_scalar(AG_U8, -1));
    cr_expect_null(ag_scalar(AG_U8, NAN));
    cr_expect_null(ag_arange(AG_U8, -3, 3, 1));
    cr_expect(strstr(ag_last_error(), "ag_arange"), "%s", ag_last_error());
    ag_tensor *t = ag_zeros(AG_U8, 1, (int64_t[]){2});
    cr_expect_neq(ag_fill_(t, 300), 0);
    cr_expect(strstr(ag_last_error(), "ag_fill_") && strstr(ag_last_error(), "uint8"));
    cr_expect_eq(ag_fill_(t, 9.75), 0); /* truncates as the cast does */
    cr_expect_eq(ag_get(t, (int64_t[]){1}), 9);
    ag_tensor_free(t);
}

Test(uint8, random_and_grad_are_refused) {
    cr_expect_null(ag_rand(AG_U8, 1, (int64_t[]){2}));
    cr_expect(strstr(ag_last_error(), "ag_rand: ") && strstr(ag_last_error(), "uint8"));
    cr_expect_null(ag_randn(AG_U8, 1, (int64_t[]){2}));
    cr_expect(strstr(ag_last_error(), "ag_randn: "));
    ag_tensor *t = ag_zeros(AG_U8, 1, (int64_t[]){2});
    ag_clear_error();
    ag_set_requires_grad(t, true);
    cr_expect(!ag_requires_grad(t));
    cr_expect(ag_last_error() && strstr(ag_last_error(), "uint8"), "%s",
              ag_last_error() ? ag_last_error() : "(null)");
    ag_tensor_free(t);
}

/* As torch: to uint8 a float truncates toward zero (out of range saturates here, where torch
 * is undefined), an int64 wraps modulo 256; from uint8 every value is exact. */
Test(uint8, casts_to_and_from_every_dtype) {
    ag_scope_begin();
    double fv[] = {0, 1.9, 254.99, 255, -0.5, -3, 300, INFINITY, NAN};
    uint8_t want[] = {0, 1, 254, 255, 0, 0, 255, 255, 0};
    ag_tensor *f64 = ag_tensor_new(AG_F64, 1, (int64_t[]){9}, fv);
    for (int k = 0; k < 2; k++) {
        ag_tensor *src = k ? ag_cast(f64, AG_F32) : f64;
        ag_tensor *u = ag_cast(src, AG_U8);
        cr_assert(u && ag_dtype_of(u) == AG_U8, "%s", ag_last_error());
        for (int64_t i = 0; i < 9; i++)
            cr_expect_eq(ag_get(u, &i), want[i], "from %s element %lld: %g",
                         ag_dtype_name(ag_dtype_of(src)), (long long)i, ag_get(u, &i));
    }
    int64_t iv[] = {0, 255, 256, -1, 513};
    ag_tensor *u = ag_cast(ag_tensor_new(AG_I64, 1, (int64_t[]){5}, iv), AG_U8);
    double wrapped[] = {0, 255, 0, 255, 1};
    for (int64_t i = 0; i < 5; i++) cr_expect_eq(ag_get(u, &i), wrapped[i]);
    ag_tensor *back[] = {ag_cast(u, AG_F32), ag_cast(u, AG_F64), ag_cast(u, AG_I64)};
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < 5; i++) cr_expect_eq(ag_get(back[k], &i), wrapped[i]);
    ag_scope_end();
}

Test(uint8, cast_of_a_grad_tensor_to_bytes_carries_no_grad) {
    ag_tensor *x = ag_full(AG_F32, 1, (int64_t[]){3}, 2.5);
    ag_set_requires_grad(x, true);
    ag_scope_begin();
    ag_tensor *u = ag_cast(x, AG_U8);
    cr_assert(u);
    cr_expect(!ag_requires_grad(u));
    cr_expect_null(ag_add(u, u));
    cr_expect(strstr(ag_last_error(), "ag_add: ") && strstr(ag_last_error(), "uint8"));
    ag_scope_end();
    ag_tensor_free(x);
}

Test(uint8, strided_views_copy_and_select) {
    ag_scope_begin();
    uint8_t v[12];
    for (int i = 0; i < 12; i++) v[i] = (uint8_t)(250 - i);
    ag_tensor *t = ag_tensor_new(AG_U8, 2, (int64_t[]){3, 4}, v);
    ag_tensor *tt = ag_contiguous(ag_transpose(t, 0, 1)); /* [4,3] */
    cr_assert(tt && ag_dtype_of(tt) == AG_U8);
    cr_expect_eq(ag_get(tt, (int64_t[]){3, 2}), v[2 * 4 + 3]);
    ag_tensor *rows =
        ag_index_select(t, 0, ag_tensor_new(AG_I64, 1, (int64_t[]){2}, (int64_t[]){2, 0}));
    cr_assert(rows);
    cr_expect_eq(ag_get(rows, (int64_t[]){0, 1}), v[9]);
    cr_expect_eq(ag_get(rows, (int64_t[]){1, 3}), v[3]);
    ag_tensor *sl = ag_slice(t, 1, 1, 3, 1);
    ag_tensor *cp = ag_zeros(AG_U8, 2, (int64_t[]){3, 2});
    cr_assert_eq(ag_copy_(cp, sl), 0);
    cr_expect_eq(ag_get(cp, (int64_t[]){2, 1}), v[2 * 4 + 2]);
    ag_tensor_free(cp);
    ag_scope_end();
}

Test(uint8, prints_like_torch) {
    ag_scope_begin();
    ag_tensor *t = ag_tensor_new(AG_U8, 2, (int64_t[]){2, 2}, (uint8_t[]){0, 7, 200, 255});
    char buf[256];
    cr_assert(ag_snprint(buf, sizeof buf, t) > 0);
    cr_expect_str_eq(buf, "tensor([[  0,   7],\n        [200, 255]], dtype=uint8, shape=[2,2])");
    ag_scope_end();
}

/* Bytes as masks and conditions (any dtype is accepted there): the same answer as int64. */
Test(uint8, bytes_as_masks_and_conditions) {
    ag_scope_begin();
    ag_manual_seed(3);
    ag_tensor *x = ag_randn(AG_F64, 2, (int64_t[]){3, 4}),
              *k = ag_randn(AG_F64, 2, (int64_t[]){4, 4});
    int64_t mv[12] = {1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1};
    uint8_t mb[12];
    for (int i = 0; i < 12; i++) mb[i] = (uint8_t)(mv[i] * (i + 1));
    ag_tensor *m64 = ag_tensor_new(AG_I64, 2, (int64_t[]){3, 4}, mv);
    ag_tensor *m8 = ag_tensor_new(AG_U8, 2, (int64_t[]){3, 4}, mb);
    ag_tensor *pairs[][2] = {
        {ag_masked_fill(x, m64, -7), ag_masked_fill(x, m8, -7)},
        {ag_masked_fill(x, ag_transpose(ag_contiguous(ag_transpose(m64, 0, 1)), 0, 1), -7),
         ag_masked_fill(x, ag_transpose(ag_contiguous(ag_transpose(m8, 0, 1)), 0, 1), -7)},
        {ag_where(m64, x, ag_neg(x)), ag_where(m8, x, ag_neg(x))},
        {ag_scaled_dot_product_attention(x, k, k, m64, 0, false), /* scores [3,4] */
         ag_scaled_dot_product_attention(x, k, k, m8, 0, false)},
    };
    for (int k = 0; k < 4; k++) {
        cr_assert(pairs[k][0] && pairs[k][1], "case %d: %s", k, ag_last_error());
        for (int64_t i = 0; i < 12; i++)
            cr_expect_eq(ag__get_flat(pairs[k][1], i), ag__get_flat(pairs[k][0], i),
                         "case %d element %lld", k, (long long)i);
    }
    ag_scope_end();
}
