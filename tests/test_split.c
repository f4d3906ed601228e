/* ag_split / ag_chunk / ag_split_with_sizes: torch's piece counts, views equal to slices,
 * gradients into one shared gradient (unused pieces leave zeros), retain_graph, second
 * derivatives through create_graph, errors. */
#include "ops9_helpers.h"

static ag_tensor *leaf_randn(int ndim, const int64_t *shape) {
    ag_tensor *t = ag_randn(AG_F64, ndim, shape);
    ag_set_requires_grad(t, true);
    return t;
}

Test(split, piece_counts_follow_torch) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 2, (int64_t[]){6, 7}), *out[8];
    cr_expect_eq(ag_chunk(x, 3, 1, out), 3); /* 3,3,1 */
    cr_expect(ag_shape(out[0])[1] == 3 && ag_shape(out[2])[1] == 1);
    cr_expect_eq(ag_chunk(x, 4, 0, out), 3);     /* torch.chunk(6 rows, 4): 2,2,2 */
    cr_expect_eq(ag_split(x, 2, -1, out, 8), 4); /* 2,2,2,1 */
    cr_expect_eq(ag_shape(out[3])[1], 1);
    cr_expect_eq(ag_split_with_sizes(x, 3, (int64_t[]){1, 0, 5}, 0, out), 3);
    cr_expect(ag_shape(out[1])[0] == 0 && ag_shape(out[2])[0] == 5);
    ag_scope_end();
}

Test(split, pieces_are_views_equal_to_slices) {
    ag_scope_begin();
    ag_manual_seed(1);
    ag_tensor *x = ag_randn(AG_F64, 3, (int64_t[]){2, 7, 3}), *out[3];
    cr_assert_eq(ag_chunk(x, 3, 1, out), 3);
    for (int i = 0; i < 3; i++) {
        ag_tensor *s = ag_slice(x, 1, 3 * i, 3 * i + 3, 1);
        cr_expect(ag_data(x) != NULL);
        assert_tensor_close(out[i], ag_data(ag_contiguous(s)), ag_numel(s), 0, 0);
    }
    cr_expect(!ag_is_contiguous(out[0]), "a piece in the middle dim is a strided view");
    ag_scope_end();
}

/* q, k, v of an attention projection: unequal uses, one piece unused. */
static ag_tensor *use_pieces(ag_tensor **p) {
    return ag_add(ag_sum(ag_mul(p[0], p[0])), ag_sum(ag_mul(ag_sin(p[1]), ag_scalar(AG_F64, 3))));
}

Test(split, gradients_match_the_slice_path_and_unused_pieces_get_zeros) {
    ag_scope_begin();
    ag_manual_seed(2);
    ag_tensor *x = leaf_randn(2, (int64_t[]){4, 9}), *y = ag_detach(ag_clone(x)), *p[3], *q[3];
    ag_set_requires_grad(y, true);
    cr_assert_eq(ag_chunk(ag_mul_scalar(x, 2), 3, 1, p), 3); /* a non-leaf parent */
    ag_tensor *y2 = ag_mul_scalar(y, 2);
    for (int i = 0; i < 3; i++) q[i] = ag_slice(y2, 1, 3 * i, 3 * i + 3, 1);
    cr_assert_eq(ag_backward_ex(use_pieces(p), (ag_backward_opts){.retain_graph = true}), 0, "%s",
                 ag_last_error());
    cr_assert_eq(ag_backward(use_pieces(q)), 0);
    assert_tensor_close(ag_grad(x), ag_data(ag_grad(y)), 36, 1e-15, 0);
    for (int r = 0; r < 4; r++)
        for (int c = 6; c < 9; c++) cr_expect_eq(ag_get(ag_grad(x), (int64_t[]){r, c}), 0.0);
    ag_scope_end();
}

Test(split, retain_graph_backward_twice_adds_twice) {
    ag_scope_begin();
    ag_manual_seed(3);
    ag_tensor *x = leaf_randn(1, (int64_t[]){10}), *p[4];
    cr_assert_eq(ag_split(x, 3, 0, p, 4), 4);
    ag_tensor *loss = ag_add(ag_sum(ag_mul(p[0], p[0])), ag_sum(p[3]));
    cr_assert_eq(ag_backward_ex(loss, (ag_backward_opts){.retain_graph = true}), 0);
    cr_assert_eq(ag_backward(loss), 0);
    for (int i = 0; i < 10; i++) {
        double xi = ag_get(x, (int64_t[]){i}), want = i < 3 ? 4 * xi : i == 9 ? 2 : 0;
        assert_close(ag_get(ag_grad(x), (int64_t[]){i}), want, 1e-15, 1e-15);
    }
    ag_scope_end();
}

static ag_tensor *pieces_product(ag_tensor *x, void *ctx) {
    (void)ctx;
    ag_tensor *p[3];
    ag_split_with_sizes(x, 3, (int64_t[]){2, 2, 1}, 1, p);
    return ag_cat((ag_tensor *[]){ag_mul(ag_mul(p[0], p[1]), p[0]), ag_exp(p[2])}, 2, 1);
}

Test(split, second_derivative_through_create_graph) {
    ag_scope_begin();
    ag_manual_seed(4);
    expect_second_derivative(pieces_product, NULL, ag_randn(AG_F64, 2, (int64_t[]){3, 5}), 1e-6);
    ag_scope_end();
}

Test(split, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 2, (int64_t[]){4, 6}), *out[4];
    expect_error((void *)(intptr_t)(ag_split(x, 1, 1, out, 4) + 1), "ag_split", "[4,6]");
    expect_error((void *)(intptr_t)(ag_split(x, 0, 1, out, 4) + 1), "ag_split", "must be positive");
    expect_error((void *)(intptr_t)(ag_chunk(x, 0, 0, out) + 1), "ag_chunk", "[4,6]");
    expect_error((void *)(intptr_t)(ag_chunk(x, 2, 2, out) + 1), "ag_chunk", "dim");
    expect_error((void *)(intptr_t)(ag_split_with_sizes(x, 2, (int64_t[]){1, 2}, 0, out) + 1),
                 "ag_split_with_sizes", "sum to 4");
    expect_error((void *)(intptr_t)(ag_chunk(ag_scalar(AG_F32, 1), 2, 0, out) + 1), "ag_chunk",
                 "0-d");
    cr_expect_eq(ag_split(NULL, 1, 0, out, 4), -1);
    ag_scope_end();
}
