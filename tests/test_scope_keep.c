/* ag_keep without a copy: a big contiguous tensor whose data has an arena chunk to itself
 * moves to the enclosing scope (same data pointer); everything else is copied (small
 * tensors, views, data sharing its chunk, keeping to the heap). Values, graph and scope
 * errors as before, and nothing leaks. */
#include "helpers.h"
#include "leak_check.h"

#include <string.h>

enum { BIG = 1 << 18, SMALL = 100 }; /* 1 MiB of float32: over half a chunk; 400 bytes */

/* 0, 1, ..., n-1 as float32, in the current scope. */
static ag_tensor *ramp(int64_t n) { return ag_arange(AG_F32, 0, (double)n, 1); }

static void assert_ramp(ag_tensor *t, int64_t n, int64_t first) {
    cr_assert_not_null(t, "%s", ag_last_error());
    cr_assert_eq(ag_numel(t), n);
    const float *p = ag_data(t);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(p[i], (float)(first + i), "element %lld", (long long)i);
}

Test(scope_keep, big_tensor_moves_without_copy) {
    ag_scope_begin();
    ag_scope_begin();
    ag_tensor *t = ramp(BIG);
    void *data = ag_data(t);
    ag_tensor *k = ag_keep(t);
    ag_scope_end();
    assert_ramp(k, BIG, 0);
    cr_assert_eq(ag_data(k), data, "the data was copied");
    ag_tensor *s = ag_sum(k); /* usable as any tensor of this scope */
    cr_assert_float_eq(ag_item(s), (double)BIG * (BIG - 1) / 2, 1);
    ag_scope_end();
    assert_no_leaks();
}

Test(scope_keep, small_tensor_is_copied) {
    ag_scope_begin();
    ag_scope_begin();
    ag_tensor *t = ramp(SMALL);
    void *data = ag_data(t);
    ag_tensor *k = ag_keep(t);
    ag_scope_end();
    assert_ramp(k, SMALL, 0);
    cr_assert_neq(ag_data(k), data);
    ag_scope_end();
    assert_no_leaks();
}

Test(scope_keep, view_with_offset_is_copied) {
    ag_scope_begin();
    ag_scope_begin();
    ag_tensor *t = ramp(BIG);
    ag_tensor *v = ag_slice(t, 0, 7, BIG, 1); /* offset 7: not the whole storage */
    ag_tensor *k = ag_keep(v);
    ag_scope_end();
    cr_assert_not_null(k, "%s", ag_last_error());
    assert_ramp(k, BIG - 7, 7);
    ag_scope_end();
    assert_no_leaks();
}

Test(scope_keep, strided_view_is_copied) {
    ag_scope_begin();
    ag_scope_begin();
    ag_tensor *t = ag_reshape(ramp(BIG), 2, (int64_t[]){512, 512});
    ag_tensor *k = ag_keep(ag_transpose(t, 0, 1));
    ag_scope_end();
    cr_assert_not_null(k, "%s", ag_last_error());
    const float *p = ag_data(k);
    cr_assert_eq(p[1], 512.0f);
    cr_assert_eq(p[512 * 3 + 2], 2 * 512.0f + 3);
    ag_scope_end();
    assert_no_leaks();
}

Test(scope_keep, whole_view_moves_with_its_shape) {
    ag_scope_begin();
    ag_scope_begin();
    ag_tensor *t = ramp(BIG);
    void *data = ag_data(t);
    ag_tensor *k = ag_keep(ag_reshape(t, 2, (int64_t[]){512, 512}));
    ag_scope_end();
    cr_assert_not_null(k, "%s", ag_last_error());
    cr_assert_eq(ag_ndim(k), 2);
    cr_assert_eq(ag_shape(k)[0], 512);
    cr_assert_eq(ag_data(k), data);
    assert_ramp(ag_reshape(k, 1, (int64_t[]){BIG}), BIG, 0);
    ag_scope_end();
    assert_no_leaks();
}

Test(scope_keep, data_sharing_its_chunk_is_copied) {
    ag_scope_begin();
    ag_scope_begin();
    ag_tensor *first = ramp(SMALL);  /* opens a chunk with room for the next one */
    ag_tensor *t = ramp(100 * 1024); /* 400 KiB: under the solo size, fits behind first */
    void *data = ag_data(t);
    ag_tensor *k = ag_keep(t);
    ag_tensor *k1 = ag_keep(first);
    ag_scope_end();
    assert_ramp(k, 100 * 1024, 0);
    assert_ramp(k1, SMALL, 0);
    cr_assert_neq(ag_data(k), data);
    ag_scope_end();
    assert_no_leaks();
}

Test(scope_keep, to_the_heap_is_a_copy_the_caller_frees) {
    ag_scope_begin();
    ag_tensor *t = ramp(BIG);
    void *data = ag_data(t);
    ag_tensor *k = ag_keep(t);
    ag_scope_end();
    assert_ramp(k, BIG, 0);
    cr_assert_neq(ag_data(k), data);
    ag_tensor_free(k);
    assert_no_leaks();
}

Test(scope_keep, kept_twice_the_second_is_a_copy) {
    ag_scope_begin();
    ag_scope_begin();
    ag_tensor *t = ramp(BIG);
    ag_tensor *a = ag_keep(t), *b = ag_keep(t);
    ag_scope_end();
    assert_ramp(a, BIG, 0);
    assert_ramp(b, BIG, 0);
    cr_assert_neq(ag_data(a), ag_data(b));
    ag_scope_end();
    assert_no_leaks();
}

Test(scope_keep, moves_up_through_every_level) {
    ag_scope_begin();
    ag_scope_begin();
    ag_scope_begin();
    ag_tensor *t = ramp(BIG);
    void *data = ag_data(t);
    ag_tensor *k = ag_keep(t);
    ag_scope_end();
    ag_tensor *small = ramp(SMALL); /* the middle scope's own allocations go elsewhere */
    k = ag_keep(k);
    ag_tensor *ks = ag_keep(small);
    ag_scope_end();
    assert_ramp(k, BIG, 0);
    assert_ramp(ks, SMALL, 0);
    cr_assert_eq(ag_data(k), data);
    ag_scope_end();
    assert_no_leaks();
}

Test(scope_keep, kept_is_a_detached_leaf) {
    ag_scope_begin();
    ag_tensor *w = ag_full(AG_F32, 1, (int64_t[]){BIG}, 2);
    ag_set_requires_grad(w, true);
    ag_scope_begin();
    ag_tensor *y = ag_mul(w, w);
    ag_tensor *k = ag_keep(y);
    ag_scope_end();
    cr_assert_not_null(k, "%s", ag_last_error());
    cr_assert(!ag_requires_grad(k));
    cr_assert_eq(((float *)ag_data(k))[BIG - 1], 4.0f);
    ag_scope_end();
    assert_no_leaks();
}

Test(scope_keep, the_inner_handle_still_ends_with_its_scope) {
    ag_scope_begin();
    ag_scope_begin();
    ag_tensor *t = ramp(BIG);
    ag_tensor *k = ag_keep(t);
    ag_scope_end();
    cr_assert_not_null(k);
    if (getenv("AG_SANITIZED")) { /* t's struct was in the inner scope's bump chunk, which */
        ag_scope_end();           /* the ASan build frees: reading t is the bug itself */
        return;
    }
    ag_clear_error();
    cr_assert_null(ag_sum(t));
    cr_assert_not_null(strstr(ag_last_error(), "scope that has ended"), "%s", ag_last_error());
    ag_scope_end();
    assert_no_leaks();
}
