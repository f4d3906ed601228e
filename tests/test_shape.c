/* Shape ops: views share storage (strides, writes through the base show in the view),
 * reshape copies when no view exists and ag_view refuses, slice/cat/stack/index_select/
 * gather/one_hot values against torch, gradients through them, and every error path. */
#include "helpers.h"

#include <string.h>

static ag_tensor *arange12(void) { /* [[0..3],[4..7],[8..11]] */
    return ag_reshape(ag_arange(AG_F64, 0, 12, 1), 2, (int64_t[]){3, 4});
}

#define ASSERT_ERR(expr, needle)                                                                   \
    do {                                                                                           \
        ag_clear_error();                                                                          \
        cr_assert_null(expr, #expr " should fail");                                                \
        cr_assert(ag_last_error() && strstr(ag_last_error(), needle), "error \"%s\" lacks \"%s\"", \
                  ag_last_error() ? ag_last_error() : "(none)", needle);                           \
    } while (0)

Test(shape, views_share_storage_and_have_the_right_strides) {
    ag_scope_begin();
    ag_tensor *t = arange12();
    double *base = ag_data(t);
    ag_tensor *tr = ag_transpose(t, 0, 1);
    cr_assert_eq(ag_strides(tr)[0], 1);
    cr_assert_eq(ag_strides(tr)[1], 4);
    cr_assert(!ag_is_contiguous(tr));
    ag_tensor *p = ag_permute(ag_reshape(t, 3, (int64_t[]){3, 2, 2}), (int[]){2, 0, 1});
    cr_assert_eq(ag_strides(p)[0], 1);
    cr_assert_eq(ag_strides(p)[1], 4);
    cr_assert_eq(ag_strides(p)[2], 2);
    ag_tensor *e = ag_expand(ag_reshape(ag_slice(t, 0, 0, 1, 1), 2, (int64_t[]){4, 1}), 3,
                             (int64_t[]){2, 4, 5});
    cr_assert_eq(ag_strides(e)[0], 0);
    cr_assert_eq(ag_strides(e)[2], 0);
    ag_tensor *sq = ag_squeeze(ag_unsqueeze(t, 1), 1), *us = ag_unsqueeze(t, -1);
    cr_assert_eq(ag_ndim(us), 3);
    cr_assert_eq(ag_shape(us)[2], 1);
    ag_tensor *fl = ag_flatten(t, 0, -1), *v = ag_view(t, 2, (int64_t[]){2, 6});
    ag_tensor *s = ag_slice(t, 1, 1, 4, 2); /* columns 1, 3 */
    cr_assert_eq(ag_strides(s)[1], 2);
    base[5] = 100; /* t[1][1]: every view sees it */
    assert_close(ag_get(tr, (int64_t[]){1, 1}), 100, 0, 0);
    assert_close(ag_get(p, (int64_t[]){1, 1, 0}), 100, 0, 0);
    assert_close(ag_get(sq, (int64_t[]){1, 1}), 100, 0, 0);
    assert_close(ag_get(fl, (int64_t[]){5}), 100, 0, 0);
    assert_close(ag_get(v, (int64_t[]){0, 5}), 100, 0, 0);
    assert_close(ag_get(s, (int64_t[]){1, 0}), 100, 0, 0);
    base[1] = -7;
    assert_close(ag_get(e, (int64_t[]){1, 1, 3}), -7, 0, 0);
    ag_scope_end();
}

Test(shape, reshape_of_a_transposed_tensor_copies_and_view_refuses) {
    ag_scope_begin();
    ag_tensor *tr = ag_transpose(arange12(), 0, 1); /* [4,3], not viewable as [12] */
    ag_tensor *r = ag_reshape(tr, 1, (int64_t[]){-1});
    cr_assert(ag_is_contiguous(r));
    ((double *)ag_data(ag_contiguous(r)))[0] = 0;
    assert_tensor_close(r, (double[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, 12, 0, 0);
    ASSERT_ERR(ag_view(tr, 1, (int64_t[]){12}),
               "ag_view: [4,3] with strides [1,4] cannot be viewed as [12]");
    /* a transposed tensor can still be viewed where dims stay contiguous */
    ag_tensor *ok = ag_view(ag_transpose(ag_reshape(arange12(), 3, (int64_t[]){3, 2, 2}), 0, 1), 4,
                            (int64_t[]){2, 3, 2, 1});
    cr_assert(ok, "%s", ag_last_error());
    ag_scope_end();
}

Test(shape, slice_follows_torch_wrapping_and_clamping) {
    ag_scope_begin();
    ag_tensor *t = arange12();
    assert_tensor_close(ag_slice(t, 1, -3, 10, 2), (double[]){1, 3, 5, 7, 9, 11}, 6, 0, 0);
    assert_tensor_close(ag_slice(t, 0, 1, -1, 1), (double[]){4, 5, 6, 7}, 4, 0, 0);
    assert_tensor_close(ag_slice(t, -1, -100, 100, 3), (double[]){0, 3, 4, 7, 8, 11}, 6, 0, 0);
    cr_assert_eq(ag_numel(ag_slice(t, 0, 2, 1, 1)), 0); /* end before start: empty */
    ASSERT_ERR(ag_slice(t, 0, 0, 2, 0), "ag_slice: step 0 must be positive");
    ASSERT_ERR(ag_slice(t, 2, 0, 2, 1), "ag_slice: dim 2 is out of range for 2 dims");
    ASSERT_ERR(ag_slice(ag_scalar(AG_F64, 1), 0, 0, 1, 1), "0-d");
    cr_assert_null(ag_slice(NULL, 0, 0, 1, 1));
    ag_scope_end();
}

Test(shape, slice_gradient_scatters_into_zeros_and_is_twice_differentiable) {
    ag_scope_begin();
    ag_tensor *x = ag_reshape(ag_arange(AG_F64, 1, 7, 1), 2, (int64_t[]){2, 3});
    x = ag_contiguous(ag_detach(x));
    ag_set_requires_grad(x, true);
    ag_tensor *s = ag_slice(x, 1, 0, 3, 2);         /* columns 0, 2 */
    ag_tensor *y = ag_sum(ag_mul(ag_mul(s, s), s)); /* sum s^3 */
    ag_tensor *g[1];
    cr_assert_eq(ag_autograd_grad(1, &y, NULL, 1, &x, g, (ag_grad_opts){.create_graph = true}), 0,
                 "%s", ag_last_error());
    assert_tensor_close(g[0], (double[]){3, 0, 27, 48, 0, 108}, 6, 1e-12, 0); /* 3 x^2 */
    cr_assert_eq(ag_backward(ag_sum(g[0])), 0, "%s", ag_last_error());
    assert_tensor_close(ag_grad(x), (double[]){6, 0, 18, 24, 0, 36}, 6, 1e-12, 0); /* 6 x */
    ag_scope_end();
}

Test(shape, cat_and_stack) {
    ag_scope_begin();
    ag_tensor *a = T64(2, SHAPE(2, 2), 1, 2, 3, 4), *b = T64(2, SHAPE(2, 1), 5, 6);
    ag_tensor *c = ag_cat((ag_tensor *[]){a, b, a}, 3, -1);
    assert_tensor_close(c, (double[]){1, 2, 5, 1, 2, 3, 4, 6, 3, 4}, 10, 0, 0);
    ag_tensor *c0 = ag_cat((ag_tensor *[]){a, ag_transpose(a, 0, 1)}, 2, 0);
    assert_tensor_close(c0, (double[]){1, 2, 3, 4, 1, 3, 2, 4}, 8, 0, 0);
    ag_tensor *s = ag_stack((ag_tensor *[]){a, ag_transpose(a, 0, 1)}, 2, 1); /* [2,2,2] */
    cr_assert_eq(ag_shape(s)[1], 2);
    assert_tensor_close(s, (double[]){1, 2, 1, 3, 3, 4, 2, 4}, 8, 0, 0);
    ag_tensor *s_end = ag_stack((ag_tensor *[]){b, b}, 2, -1);
    cr_assert_eq(ag_ndim(s_end), 3);
    cr_assert_eq(ag_shape(s_end)[2], 2);
    cr_assert_eq(ag_cat((ag_tensor *[]){a}, 1, 0) != NULL, true);
    /* gradients: each input gets its own part of g, a used twice sums */
    ag_set_requires_grad(a, true);
    ag_set_requires_grad(b, true);
    ag_tensor *w = ag_reshape(ag_arange(AG_F64, 0, 10, 1), 2, (int64_t[]){2, 5});
    cr_assert_eq(ag_backward(ag_sum(ag_mul(ag_cat((ag_tensor *[]){a, b, a}, 3, 1), w))), 0);
    assert_tensor_close(ag_grad(a), (double[]){0 + 3, 1 + 4, 5 + 8, 6 + 9}, 4, 0, 0);
    assert_tensor_close(ag_grad(b), (double[]){2, 7}, 2, 0, 0);
    ASSERT_ERR(ag_cat((ag_tensor *[]){a, b}, 2, 0),
               "ag_cat: tensor 1 [2,1] does not match tensor 0 [2,2] outside dim 0");
    ASSERT_ERR(ag_cat((ag_tensor *[]){a, b}, 2, 2), "ag_cat: dim 2 is out of range");
    ASSERT_ERR(ag_cat((ag_tensor *[]){a}, 0, 0), "ag_cat: needs an array of at least one tensor");
    ASSERT_ERR(ag_cat((ag_tensor *[]){a, ag_zeros(AG_F32, 2, (int64_t[]){2, 2})}, 2, 0),
               "tensor 1 is float32");
    ASSERT_ERR(ag_stack((ag_tensor *[]){a, b}, 2, 0),
               "ag_stack: tensor 1 [2,1] differs from tensor 0 [2,2]");
    ASSERT_ERR(ag_stack((ag_tensor *[]){a, a}, 2, 4), "ag_stack: dim 4 is out of range");
    cr_assert_null(ag_cat((ag_tensor *[]){a, NULL}, 2, 0));
    ag_scope_end();
}

Test(shape, index_select_and_its_gradient_add_repeats) {
    ag_scope_begin();
    ag_tensor *t = arange12();
    ag_tensor *ix = ag_tensor_new(AG_I64, 1, (int64_t[]){3}, (int64_t[]){3, 0, 3});
    assert_tensor_close(ag_index_select(t, 1, ix), (double[]){3, 0, 3, 7, 4, 7, 11, 8, 11}, 9, 0,
                        0);
    ag_tensor *ix2 = ag_tensor_new(AG_I64, 1, (int64_t[]){2}, (int64_t[]){2, 0});
    assert_tensor_close(ag_index_select(ag_transpose(t, 0, 1), 1, ix2),
                        (double[]){8, 0, 9, 1, 10, 2, 11, 3}, 8, 0, 0);
    ag_tensor *x = ag_zeros(AG_F64, 2, (int64_t[]){2, 4});
    ag_set_requires_grad(x, true);
    cr_assert_eq(ag_backward(ag_sum(ag_index_select(x, 1, ix))), 0);
    assert_tensor_close(ag_grad(x), (double[]){1, 0, 0, 2, 1, 0, 0, 2}, 8, 0, 0);
    ag_tensor *bad = ag_tensor_new(AG_I64, 1, (int64_t[]){2}, (int64_t[]){1, 4});
    ASSERT_ERR(ag_index_select(t, 1, bad),
               "ag_index_select: index 4 is out of range for dim 1 of [3,4] (size 4)");
    ag_tensor *neg = ag_tensor_new(AG_I64, 1, (int64_t[]){1}, (int64_t[]){-1});
    ASSERT_ERR(ag_index_select(t, 0, neg), "index -1 is out of range");
    ASSERT_ERR(ag_index_select(t, 0, ag_zeros(AG_F64, 1, (int64_t[]){1})), "index must be int64");
    ASSERT_ERR(ag_index_select(t, 0, ag_zeros(AG_I64, 2, (int64_t[]){1, 1})), "index must be 1-D");
    ASSERT_ERR(ag_index_select(t, 3, ix), "dim 3 is out of range");
    ag_scope_end();
}

Test(shape, gather_matches_torch_and_scatter_adds_its_gradient) {
    ag_scope_begin();
    ag_tensor *x = T64(2, SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    ag_tensor *i1 = ag_tensor_new(AG_I64, 2, (int64_t[]){2, 2}, (int64_t[]){2, 0, 1, 1});
    assert_tensor_close(ag_gather(x, 1, i1), (double[]){3, 1, 5, 5}, 4, 0, 0); /* torch */
    ag_set_requires_grad(x, true);
    ag_tensor *i2 = ag_tensor_new(AG_I64, 2, (int64_t[]){2, 3}, (int64_t[]){2, 0, 2, 1, 1, 1});
    ag_tensor *w = T64(2, SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    cr_assert_eq(ag_backward(ag_sum(ag_mul(ag_gather(x, 1, i2), w))), 0);
    assert_tensor_close(ag_grad(x), (double[]){2, 0, 4, 0, 15, 0}, 6, 0, 0); /* torch */
    ag_tensor *i0 = ag_tensor_new(AG_I64, 2, (int64_t[]){1, 3}, (int64_t[]){1, 0, 1});
    assert_tensor_close(ag_gather(ag_transpose(ag_detach(x), 0, 1), 0, ag_transpose(i0, 0, 1)),
                        (double[]){2, 1, 2}, 3, 0, 0);
    ag_tensor *bad = ag_tensor_new(AG_I64, 2, (int64_t[]){1, 1}, (int64_t[]){3});
    ASSERT_ERR(ag_gather(x, 1, bad),
               "ag_gather: index 3 is out of range for dim 1 of [2,3] (size 3)");
    ASSERT_ERR(ag_gather(x, 1, ag_zeros(AG_I64, 1, (int64_t[]){2})),
               "index [2] does not fit input [2,3]");
    ASSERT_ERR(ag_gather(x, 1, ag_zeros(AG_I64, 2, (int64_t[]){3, 1})), "index [3,1] does not fit");
    ASSERT_ERR(ag_gather(x, -3, i1), "dim -3 is out of range");
    ag_scope_end();
}

Test(shape, one_hot) {
    ag_scope_begin();
    ag_tensor *l = ag_tensor_new(AG_I64, 2, (int64_t[]){2, 2}, (int64_t[]){0, 2, 1, 0});
    ag_tensor *h = ag_one_hot(l, 3, AG_F32);
    cr_assert_eq(ag_dtype_of(h), AG_F32);
    cr_assert_eq(ag_ndim(h), 3);
    assert_tensor_close(h, (double[]){1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0}, 12, 0, 0);
    cr_assert_eq(ag_shape(ag_one_hot(l, -1, AG_I64))[2], 3);
    cr_assert(!ag_requires_grad(h));
    ASSERT_ERR(ag_one_hot(l, 2, AG_F32), "ag_one_hot: index 2 is out of range");
    ASSERT_ERR(ag_one_hot(l, 0, AG_F32), "num_classes 0 must be positive");
    ASSERT_ERR(ag_one_hot(ag_zeros(AG_F32, 1, (int64_t[]){2}), 3, AG_F32), "labels must be int64");
    ag_scope_end();
}

Test(shape, errors_of_the_view_ops) {
    ag_scope_begin();
    ag_tensor *t = arange12();
    ASSERT_ERR(ag_reshape(t, 2, (int64_t[]){5, -1}),
               "ag_reshape: [3,4] cannot be reshaped to [5,-1]");
    ASSERT_ERR(ag_reshape(t, 1, (int64_t[]){13}), "[3,4] (12 elements) cannot be reshaped to [13]");
    ASSERT_ERR(ag_expand(t, 2, (int64_t[]){3, 5}), "ag_expand: [3,4] cannot be expanded to [3,5]");
    ASSERT_ERR(ag_permute(t, (int[]){0, 0}), "ag_permute: dims are not a permutation");
    ASSERT_ERR(ag_transpose(t, 0, 2), "ag_transpose: dim 2 is out of range");
    ASSERT_ERR(ag_unsqueeze(t, 3), "ag_unsqueeze: dim 3 is out of range");
    ASSERT_ERR(ag_squeeze(t, -3), "ag_squeeze: dim -3 is out of range");
    ASSERT_ERR(ag_flatten(t, 1, 0), "ag_flatten: start_dim 1 is after end_dim 0");
    ag_tensor *q = ag_squeeze(t, 0); /* size 3: nothing to squeeze, as torch: still a */
    cr_assert(q && q != t && ag_ndim(q) == 2 && ag_shape(q)[0] == 3); /* node of its own */
    ag_scope_end();
}
