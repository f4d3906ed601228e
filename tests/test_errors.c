/* Every rule of "Rules that hold everywhere" (include/ag.h): NULL or non-zero on bad
 * input, a message naming the function and the shapes, NULL passing through silently,
 * per-thread error state. The ASan run checks that error paths leak nothing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define expect_error_mentions(...)                                                            \
    do {                                                                                      \
        const char *m_ = ag_last_error();                                                     \
        cr_assert(m_, "no error message");                                                    \
        const char *parts_[] = {__VA_ARGS__};                                                 \
        for (size_t i_ = 0; i_ < sizeof parts_ / sizeof *parts_; i_++)                        \
            cr_expect(strstr(m_, parts_[i_]), "message \"%s\" lacks \"%s\"", m_, parts_[i_]); \
    } while (0)

Test(errors, mismatched_shapes_name_the_function_and_shapes) {
    ag_scope_begin();
    ag_tensor *a = ag_zeros(AG_F64, 2, (int64_t[]){2, 3}), *b = ag_zeros(AG_F64, 1, (int64_t[]){4});
    cr_expect_null(ag_add(a, b));
    expect_error_mentions("ag_add", "[2,3]", "[4]");
    cr_expect_null(ag_maximum(a, b));
    expect_error_mentions("ag_maximum", "[2,3]", "[4]");
    cr_expect_null(ag_where(ag_zeros(AG_F64, 1, (int64_t[]){5}), a, a));
    expect_error_mentions("ag_where", "[5]", "[2,3]");
    ag_scope_end();
}

Test(errors, mixed_dtypes_are_refused) {
    ag_scope_begin();
    ag_tensor *a = ag_zeros(AG_F64, 1, (int64_t[]){3}), *b = ag_zeros(AG_F32, 1, (int64_t[]){3});
    cr_expect_null(ag_mul(a, b));
    expect_error_mentions("ag_mul", "float64", "float32", "[3]");
    cr_expect_null(ag_eq(a, b));
    expect_error_mentions("ag_eq", "float64", "float32");
    ag_scope_end();
}

Test(errors, bad_dims_are_refused_and_negative_dims_count_from_the_end) {
    ag_scope_begin();
    ag_tensor *x = ag_ones(AG_F64, 2, (int64_t[]){2, 3});
    cr_expect_null(ag_sum_dim(x, 5, false));
    expect_error_mentions("ag_sum_dim", "5");
    cr_expect_null(ag_max_dim(x, -3, false));
    expect_error_mentions("ag_max_dim", "-3");
    cr_expect_null(ag_var_dim(x, 2, false, 1));
    expect_error_mentions("ag_var_dim");
    ag_tensor *s = ag_sum_dim(x, -1, false);
    cr_assert_eq(ag_ndim(s), 1);
    cr_expect_eq(ag_shape(s)[0], 2);
    cr_expect_eq(ag_size(x, -2), 2);
    cr_expect_eq(ag_size(x, 2), -1);
    expect_error_mentions("ag_size");
    ag_scope_end();
}

Test(errors, negative_or_overflowing_sizes_are_refused) {
    cr_expect_null(ag_zeros(AG_F32, 2, (int64_t[]){2, -1}));
    expect_error_mentions("ag_zeros", "[2,-1]");
    cr_expect_null(ag_tensor_new(AG_F64, 2, (int64_t[]){INT64_MAX / 2, 4}, NULL));
    expect_error_mentions("ag_tensor_new", "too large");
    cr_expect_null(ag_tensor_new(AG_F64, AG_MAX_DIMS + 1, (int64_t[9]){0}, NULL));
    expect_error_mentions("ag_tensor_new", "ndim");
    cr_expect_null(ag_ones(AG_F64, 1, NULL));
    expect_error_mentions("ag_ones");
}

Test(errors, null_input_passes_through_without_a_new_message) {
    ag_scope_begin();
    ag_tensor *x = ag_ones(AG_F64, 1, (int64_t[]){2});
    ag_clear_error();
    cr_expect_null(ag_add(NULL, x));
    cr_expect_null(ag_pow(NULL, 2));
    cr_expect_null(ag_where(x, NULL, x));
    cr_expect_null(ag_max_dim(NULL, 0, false));
    cr_expect_null(ag_mean(NULL));
    cr_expect_null(ag_sum_to(NULL, 1, (int64_t[]){2}));
    cr_expect_null(ag_exp(ag_log(ag_sum(NULL))));
    cr_expect_null(ag_last_error(), "a NULL input set \"%s\"", ag_last_error());
    cr_expect(isnan(ag_item(NULL)));
    ag_scope_end();
}

Test(errors, backward_of_a_non_scalar_root_needs_a_seed) {
    ag_scope_begin();
    ag_tensor *x = ag_ones(AG_F64, 1, (int64_t[]){3});
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_mul_scalar(x, 2);
    cr_expect_neq(ag_backward(y), 0);
    expect_error_mentions("ag_backward", "[3]");
    cr_expect_null(ag_grad(x));
    cr_expect_eq(ag_backward_ex(y, (ag_backward_opts){.grad = ag_ones_like(y)}), 0);
    assert_tensor_close(ag_grad(x), (double[]){2, 2, 2}, 3, 0, 0);
    ag_scope_end();
}

Test(errors, item_of_many_elements_and_get_out_of_range) {
    ag_scope_begin();
    ag_tensor *x = ag_ones(AG_F64, 2, (int64_t[]){2, 2});
    cr_expect(isnan(ag_item(x)));
    expect_error_mentions("ag_item", "[2,2]");
    cr_expect(isnan(ag_get(x, (int64_t[]){0, 2})));
    expect_error_mentions("ag_get", "[2,2]", "2");
    cr_expect(isnan(ag_get(x, (int64_t[]){-1, 0})));
    expect_error_mentions("ag_get");
    ag_scope_end();
}

Test(errors, integer_tensors_into_float_ops) {
    ag_scope_begin();
    ag_tensor *i = ag_zeros(AG_I64, 1, (int64_t[]){4});
    cr_expect_null(ag_exp(i));
    expect_error_mentions("ag_exp", "int64", "[4]");
    cr_expect_null(ag_add(i, i));
    expect_error_mentions("ag_add", "int64");
    cr_expect_null(ag_sum(i));
    expect_error_mentions("ag_sum", "int64");
    cr_expect_null(ag_argmax_dim(i, 0, false));
    expect_error_mentions("ag_argmax_dim", "int64");
    ag_set_requires_grad(i, true);
    expect_error_mentions("ag_set_requires_grad", "int64");
    cr_expect(!ag_requires_grad(i));
    ag_scope_end();
}

struct seen {
    int calls;
    char last[512];
};
static void remember(const char *message, void *user) {
    struct seen *s = user;
    s->calls++;
    snprintf(s->last, sizeof s->last, "%s", message);
}

Test(errors, the_handler_is_called_with_the_message) {
    struct seen s = {0};
    ag_set_error_handler(remember, &s);
    ag_scope_begin();
    cr_expect_null(
        ag_add(ag_zeros(AG_F64, 1, (int64_t[]){2}), ag_zeros(AG_F64, 1, (int64_t[]){3})));
    ag_scope_end();
    ag_set_error_handler(NULL, NULL);
    cr_expect_eq(s.calls, 1);
    cr_expect_str_eq(s.last, ag_last_error());
    cr_expect(strstr(s.last, "ag_add") && strstr(s.last, "[2]") && strstr(s.last, "[3]"));
}

static void *other_thread(void *arg) {
    (void)arg;
    const char *before = ag_last_error(); /* the main thread's error is not seen here */
    ag_tensor *x = ag_zeros(AG_F64, 1, (int64_t[]){-5});
    const char *after = ag_last_error();
    static _Thread_local char copy[512];
    snprintf(copy, sizeof copy, "%s|%s", before ? "seen" : "none",
             after && !x && strstr(after, "ag_zeros") ? "own" : "missing");
    return strdup(copy);
}

Test(errors, error_state_is_per_thread) {
    ag_clear_error();
    cr_expect_null(ag_ones(AG_F32, 1, (int64_t[]){-1}));
    char main_msg[512];
    snprintf(main_msg, sizeof main_msg, "%s", ag_last_error());
    pthread_t t;
    void *res = NULL;
    cr_assert_eq(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, &res);
    cr_expect_str_eq(res, "none|own");
    free(res);
    cr_expect_str_eq(ag_last_error(), main_msg, "the other thread's error leaked into this one");
    ag_clear_error();
    cr_expect_null(ag_last_error());
}
