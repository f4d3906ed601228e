/* Tensors: creation, dtypes, views and strides, contiguous/to_array/cast, the seeded RNG,
 * and ag_snprint against torch's repr (golden bodies from tests/golden/gen_core.py). */
#include <string.h>

#include "golden/core_golden.h"
#include "helpers.h"

Test(tensor, creation_functions_fill_and_copy) {
    ag_scope_begin();
    double src[] = {1, 2, 3, 4, 5, 6};
    ag_tensor *t = ag_tensor_new(AG_F64, 2, (int64_t[]){2, 3}, src);
    src[0] = 100; /* the tensor holds a copy */
    assert_tensor_close(t, (double[]){1, 2, 3, 4, 5, 6}, 6, 0, 0);
    assert_tensor_close(ag_zeros(AG_F32, 1, (int64_t[]){3}), (double[]){0, 0, 0}, 3, 0, 0);
    assert_tensor_close(ag_ones(AG_I64, 1, (int64_t[]){2}), (double[]){1, 1}, 2, 0, 0);
    assert_tensor_close(ag_full(AG_F64, 2, (int64_t[]){1, 2}, -2.5), (double[]){-2.5, -2.5}, 2, 0,
                        0);
    assert_tensor_close(ag_arange(AG_F32, 0, 1, 0.25), (double[]){0, 0.25, 0.5, 0.75}, 4, 0, 0);
    assert_tensor_close(ag_arange(AG_I64, 5, 0, -2), (double[]){5, 3, 1}, 3, 0, 0);
    ag_tensor *s = ag_scalar(AG_F64, 7);
    cr_expect_eq(ag_ndim(s), 0);
    cr_expect_eq(ag_numel(s), 1);
    assert_close(ag_item(s), 7, 0, 0);
    cr_expect_eq(ag_numel(ag_zeros(AG_F64, 2, (int64_t[]){0, 5})), 0);
    ag_scope_end();
}

Test(tensor, dtypes_have_sizes_and_names) {
    cr_expect_eq(ag_dtype_size(AG_F32), 4);
    cr_expect_eq(ag_dtype_size(AG_F64), 8);
    cr_expect_eq(ag_dtype_size(AG_I64), 8);
    cr_expect_str_eq(ag_dtype_name(AG_F32), "float32");
    cr_expect_str_eq(ag_dtype_name(AG_F64), "float64");
    cr_expect_str_eq(ag_dtype_name(AG_I64), "int64");
    ag_scope_begin();
    cr_expect_eq(ag_dtype_of(ag_zeros(AG_I64, 0, NULL)), AG_I64);
    ag_scope_end();
}

Test(tensor, views_have_the_expected_strides) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 3, (int64_t[]){2, 3, 4});
    cr_expect_arr_eq(ag_strides(x), ((int64_t[]){12, 4, 1}), 3 * sizeof(int64_t));
    ag_tensor *t = ag_transpose(x, 0, 2);
    cr_expect_arr_eq(ag_shape(t), ((int64_t[]){4, 3, 2}), 3 * sizeof(int64_t));
    cr_expect_arr_eq(ag_strides(t), ((int64_t[]){1, 4, 12}), 3 * sizeof(int64_t));
    cr_expect(!ag_is_contiguous(t));
    ag_tensor *e = ag_expand(ag_zeros(AG_F32, 2, (int64_t[]){1, 4}), 2, (int64_t[]){5, 4});
    cr_expect_eq(ag_strides(e)[0], 0);
    cr_expect_eq(ag_strides(e)[1], 1);
    ag_scope_end();
}

Test(tensor, contiguous_copies_only_when_needed) {
    ag_scope_begin();
    ag_tensor *x = ag_reshape(ag_arange(AG_F64, 0, 6, 1), 2, (int64_t[]){2, 3});
    cr_expect_eq(ag_contiguous(x), x);
    ag_tensor *t = ag_transpose(x, 0, 1), *c = ag_contiguous(t);
    cr_expect_neq(c, t);
    cr_expect(ag_is_contiguous(c));
    cr_expect_neq(ag_data(c), ag_data(x));
    assert_tensor_close(c, (double[]){0, 3, 1, 4, 2, 5}, 6, 0, 0);
    cr_expect_null(ag_data(t)); /* not contiguous: no pointer */
    ag_scope_end();
}

Test(tensor, to_array_reads_a_transposed_view_in_row_major_order) {
    ag_scope_begin();
    ag_tensor *x = ag_reshape(ag_arange(AG_F32, 0, 6, 1), 2, (int64_t[]){2, 3});
    float out[6];
    cr_assert_eq(ag_to_array(ag_transpose(x, 0, 1), out), 0);
    float want[] = {0, 3, 1, 4, 2, 5};
    cr_expect_arr_eq(out, want, sizeof want);
    ag_scope_end();
}

Test(tensor, cast_converts_between_dtypes) {
    ag_scope_begin();
    ag_tensor *x = T64(1, SHAPE(4), 1.5, -2.7, 1e-40, 3);
    ag_tensor *f = ag_cast(x, AG_F32), *i = ag_cast(x, AG_I64);
    cr_expect_eq(ag_dtype_of(f), AG_F32);
    cr_expect_eq(ag_cast(f, AG_F32), f); /* same dtype: t itself */
    assert_tensor_close(f, (double[]){1.5, (float)-2.7, (float)1e-40, 3}, 4, 0, 0);
    assert_tensor_close(i, (double[]){1, -2, 0, 3}, 4, 0, 0); /* truncation, as torch */
    assert_tensor_close(ag_cast(i, AG_F64), (double[]){1, -2, 0, 3}, 4, 0, 0);
    ag_scope_end();
}

Test(tensor, same_seed_same_numbers_for_any_thread_count) {
    ag_scope_begin();
    double a[1000], b[1000];
    ag_set_num_threads(1);
    ag_manual_seed(123);
    cr_assert_eq(ag_to_array(ag_randn(AG_F64, 1, (int64_t[]){1000}), a), 0);
    ag_set_num_threads(2);
    ag_manual_seed(123);
    cr_assert_eq(ag_to_array(ag_randn(AG_F64, 1, (int64_t[]){1000}), b), 0);
    cr_expect_arr_eq(a, b, sizeof a);
    ag_manual_seed(124);
    cr_assert_eq(ag_to_array(ag_randn(AG_F64, 1, (int64_t[]){1000}), b), 0);
    cr_expect(memcmp(a, b, sizeof a) != 0, "another seed gives other numbers");
    ag_manual_seed(5);
    uint64_t r1 = ag_random_u64();
    ag_manual_seed(5);
    cr_expect_eq(ag_random_u64(), r1);
    ag_scope_end();
}

Test(tensor, randn_and_rand_have_sane_moments) {
    ag_scope_begin();
    ag_manual_seed(9);
    int64_t n = 200000;
    ag_tensor *z = ag_randn(AG_F64, 1, &n);
    double mean = ag_item(ag_mean(z)), var = ag_item(ag_var_dim(z, 0, false, 1));
    assert_close(mean, 0, 0.01, 0);
    assert_close(sqrt(var), 1, 0.01, 0);
    ag_tensor *u = ag_rand(AG_F32, 1, &n);
    assert_close(ag_item(ag_mean(u)), 0.5, 0.01, 0);
    cr_expect_lt(ag_item(ag_max(u)), 1.0);
    cr_expect_geq(-ag_item(ag_max(ag_neg(u))), 0.0);
    ag_scope_end();
}

/* ------------------------------------------------------------------ printing */
static ag_tensor *golden_tensor(const struct golden_print *g) {
    ag_tensor *t;
    if (g->data) {
        t = ag_tensor_new(AG_F64, g->ndim, g->shape, g->data);
    } else { /* element i is i / div, computed in the dtype as torch did */
        t = ag_arange((ag_dtype)g->dtype, 0, (double)g->n, 1);
        if (g->dtype != AG_I64) t = ag_div(t, ag_scalar((ag_dtype)g->dtype, g->div));
        t = ag_reshape(t, g->ndim, g->shape);
    }
    return ag_cast(t, (ag_dtype)g->dtype);
}

Test(tensor, snprint_matches_torch_repr) {
    for (size_t k = 0; k < sizeof golden_prints / sizeof golden_prints[0]; k++) {
        const struct golden_print *g = &golden_prints[k];
        ag_scope_begin();
        ag_tensor *t = golden_tensor(g);
        char buf[8192];
        int n = ag_snprint(buf, sizeof buf, t);
        cr_assert(n > 0 && (size_t)n < sizeof buf, "%s: length %d", g->name, n);
        size_t len = strlen(g->body);
        cr_expect(!strncmp(buf, g->body, len), "%s:\n%s\ntorch:\n%s", g->name, buf, g->body);
        cr_expect(!strncmp(buf + len, ", dtype=", 8) || !strncmp(buf + len, ",\n       dtype=", 15),
                  "%s: suffix \"%s\"", g->name, buf + len);
        ag_scope_end();
    }
}

Test(tensor, snprint_shows_dtype_shape_and_grad_state) {
    ag_scope_begin();
    char buf[512];
    ag_tensor *x = T64(2, SHAPE(2, 2), 1, 2, 3, 4);
    ag_snprint(buf, sizeof buf, x);
    cr_expect_str_eq(buf, "tensor([[1., 2.],\n        [3., 4.]], dtype=float64, shape=[2,2])");
    ag_set_requires_grad(x, true);
    ag_snprint(buf, sizeof buf, x);
    cr_expect(strstr(buf, "shape=[2,2], requires_grad=True)"), "%s", buf);
    ag_snprint(buf, sizeof buf, ag_mul(x, x));
    cr_expect(strstr(buf, "grad_fn=<mul>)"), "%s", buf);
    ag_snprint(buf, sizeof buf, ag_zeros(AG_F32, 2, (int64_t[]){0, 3}));
    cr_expect_str_eq(buf, "tensor([], dtype=float32, shape=[0,3])");
    ag_snprint(buf, sizeof buf,
               ag_transpose(ag_reshape(ag_arange(AG_I64, 0, 4, 1), 2, (int64_t[]){2, 2}), 0, 1));
    cr_expect_str_eq(buf, "tensor([[0, 2],\n        [1, 3]], dtype=int64, shape=[2,2])");
    cr_expect_eq(ag_snprint(buf, 5, x),
                 (int)strlen("tensor([[1., 2.],\n        [3., 4.]], "
                             "dtype=float64, shape=[2,2], requires_grad=True)"));
    cr_expect_str_eq(buf, "tens"); /* truncated like snprintf */
    ag_snprint(buf, sizeof buf, NULL);
    cr_expect_str_eq(buf, "NULL");
    ag_scope_end();
}

Test(tensor, cast_of_a_transposed_view_outside_scopes) {
    ag_tensor *x = ag_tensor_new(AG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ag_tensor *t = ag_transpose(x, 0, 1), *c = ag_cast(t, AG_F32); /* leak-checked by ASan */
    float got[6];
    ag_to_array(c, got);
    const float want[6] = {1, 4, 2, 5, 3, 6};
    for (int i = 0; i < 6; i++) cr_assert_eq(got[i], want[i]);
    ag_tensor_free(c);
    ag_tensor_free(t);
    ag_tensor_free(x);
}
