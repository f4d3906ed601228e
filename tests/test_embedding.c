/* ag_embedding: torch's values and scatter-added gradient, gradients of gradients, errors. */
#include "ops9_helpers.h"

Test(embedding, matches_torch_with_repeated_indices) {
    ag_scope_begin();
    ag_tensor *ix = gold_i64(2, (int64_t[]){2, 5}, emb_ix),
              *w = gold(2, (int64_t[]){7, 3}, emb_w, true);
    ag_tensor *y = ag_embedding(ix, w);
    cr_assert_eq(ag_ndim(y), 3);
    cr_expect(ag_shape(y)[0] == 2 && ag_shape(y)[1] == 5 && ag_shape(y)[2] == 3);
    expect_gold(y, emb_y, NELEM(emb_y), "y");
    backward_gold(y, emb_gy);
    expect_gold(ag_grad(w), emb_dw, NELEM(emb_dw), "dw");
    ag_scope_end();
}

/* d/dg of <H, embedding_backward(g)> is embedding(indices, H): checked via create_graph. */
Test(embedding, gradient_of_the_gradient) {
    ag_scope_begin();
    ag_tensor *ix = gold_i64(2, (int64_t[]){2, 5}, emb_ix),
              *w = gold(2, (int64_t[]){7, 3}, emb_w, true);
    ag_tensor *u = ag_tensor_new(AG_F64, 3, (int64_t[]){2, 5, 3}, emb_gy);
    ag_set_requires_grad(u, true);
    ag_tensor *y = ag_sum(ag_mul(ag_embedding(ix, w), u)), *g[1], *h[1];
    cr_assert_eq(ag_autograd_grad(1, &y, NULL, 1, &w, g, (ag_grad_opts){.create_graph = true}), 0);
    expect_gold(g[0], emb_dw, NELEM(emb_dw), "dw");
    ag_tensor *s = ag_sum(ag_mul(g[0], w)); /* d/du = embedding(ix, w) */
    cr_assert_eq(ag_autograd_grad(1, &s, NULL, 1, &u, h, (ag_grad_opts){0}), 0, "%s",
                 ag_last_error());
    expect_gold(h[0], emb_y, NELEM(emb_y), "d/du");
    ag_scope_end();
}

Test(embedding, float32_and_empty_indices) {
    ag_scope_begin();
    ag_tensor *w = ag_cast(gold(2, (int64_t[]){7, 3}, emb_w, false), AG_F32);
    ag_tensor *y = ag_embedding(gold_i64(1, (int64_t[]){3}, (int64_t[]){6, 0, 6}), w);
    cr_assert(y);
    cr_expect_eq(((float *)ag_data(y))[0], (float)emb_w[18]);
    cr_expect_eq(((float *)ag_data(y))[3], (float)emb_w[0]);
    ag_tensor *e = ag_embedding(ag_zeros(AG_I64, 1, (int64_t[]){0}), w);
    cr_assert(e);
    cr_expect(ag_numel(e) == 0 && ag_shape(e)[1] == 3);
    ag_scope_end();
}

Test(embedding, errors_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *w = ag_zeros(AG_F32, 2, (int64_t[]){4, 3});
    expect_error(ag_embedding(gold_i64(1, (int64_t[]){2}, (int64_t[]){1, 4}), w), "ag_embedding",
                 "index 4 at position 1 is out of range [0, 4) for [4,3]");
    expect_error(ag_embedding(gold_i64(1, (int64_t[]){1}, (int64_t[]){-1}), w), "ag_embedding",
                 "-1");
    expect_error(ag_embedding(ag_zeros(AG_F32, 1, (int64_t[]){2}), w), "ag_embedding", "int64");
    expect_error(
        ag_embedding(ag_zeros(AG_I64, 1, (int64_t[]){2}), ag_zeros(AG_F32, 1, (int64_t[]){4})),
        "ag_embedding", "[num, dim]");
    cr_expect_null(ag_embedding(NULL, w));
    ag_scope_end();
}
