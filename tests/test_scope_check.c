/* A tensor used after its scope ended: the default build's generation check names the op
 * and the tensor (the memory may already hold another scope's tensors); `make debug` (ASan
 * with AG_POISON) reports every such read at the faulting line. */
#include <string.h>

#include "helpers.h"

static void expect_msg(const char *part1, const char *part2) {
    const char *e = ag_last_error();
    cr_assert(e && strstr(e, part1) && strstr(e, part2), "message '%s' lacks '%s' / '%s'",
              e ? e : "(null)", part1, part2);
}

Test(scope_check, ops_and_reads_of_a_tensor_whose_scope_ended_fail) {
    ag_tensor *w = ag_ones(AG_F64, 1, (int64_t[]){3}); /* heap: never checked */
    ag_scope_begin();
    ag_tensor *t = ag_mul(w, w);
    ag_tensor *v = ag_reshape(t, 2, (int64_t[]){3, 1});
    ag_scope_end();
    /* No scope reopened: the chunk is cached, not freed, outside AG_POISON builds. */
    if (getenv("AG_SANITIZED")) { /* freed in the ASan build: reading t is the bug itself */
        ag_tensor_free(w);
        return;
    }
    cr_assert(isnan(ag_get(t, (int64_t[]){0})));
    expect_msg("ag_get: tensor [3]", "ag_keep");
    ag_scope_begin(); /* the first op of a new scope, before its memory is reused */
    cr_assert_null(ag_add(w, t));
    expect_msg("ag_add: input 1 [3]", "scope that has ended");
    cr_assert_null(ag_sum(v));
    expect_msg("ag_sum: input 0 [3,1]", "scope that has ended");
    cr_assert(isnan(ag_item(ag_sum(w))) == false);
    ag_scope_end();
    ag_tensor_free(w);
}

Test(scope_check, live_scopes_and_kept_tensors_pass) {
    ag_scope_begin();
    ag_tensor *a = ag_ones(AG_F32, 1, (int64_t[]){2});
    ag_scope_begin();
    ag_tensor *b = ag_add(a, a); /* an outer scope's tensor in an inner scope */
    ag_tensor *k = ag_keep(b);   /* kept: lives in the outer scope */
    ag_scope_end();
    assert_close(ag_item(ag_sum(k)), 4, 0, 0);
    assert_close(ag_item(ag_sum(a)), 2, 0, 0);
    ag_scope_end();
    ag_scope_begin(); /* the same depth again: a new generation */
    ag_tensor *c = ag_ones(AG_F32, 0, NULL);
    assert_close(ag_item(ag_add(c, c)), 2, 0, 0);
    ag_scope_end();
}
