/* Shared helpers for the test suite. */
#ifndef AG_TEST_HELPERS_H
#define AG_TEST_HELPERS_H

#include <ag.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Whether a program a test checks against is installed: a command on PATH, or a Python
 * module importable by /usr/bin/python3 (the oracle; see the README). Tests that need one
 * start with `if (!have_...) cr_skip_test("... is not installed: <what is not checked>")`. */
static inline bool have_command(const char *name) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}
static inline bool have_python_module(const char *module) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import %s' >/dev/null 2>&1", module);
    return system(cmd) == 0;
}

/* A 1-D or n-d float64 tensor from a literal list. */
#define T64(ndim, shape, ...) ag_tensor_new(AG_F64, ndim, (int64_t[])shape, (double[]){__VA_ARGS__})
#define SHAPE(...) \
    { __VA_ARGS__ }

/* Asserts |a - b| <= atol + rtol * |b|. */
#define assert_close(a, b, atol, rtol)                                                             \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        cr_assert(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_), "%s = %.17g, expected %.17g", #a, a_, \
                  b_);                                                                             \
    } while (0)

/* Asserts every element of t equals expected[i] within tolerances. */
static inline void assert_tensor_close(const ag_tensor *t, const double *expected, int64_t n,
                                       double atol, double rtol) {
    cr_assert(t != NULL, "tensor is NULL: %s", ag_last_error() ? ag_last_error() : "");
    cr_assert_eq(ag_numel(t), n, "numel %lld, expected %lld", (long long)ag_numel(t), (long long)n);
    int64_t idx[AG_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i;
        for (int d = ag_ndim(t) - 1; d >= 0; d--) {
            idx[d] = r % ag_shape(t)[d];
            r /= ag_shape(t)[d];
        }
        double v = ag_get(t, idx);
        cr_assert(fabs(v - expected[i]) <= atol + rtol * fabs(expected[i]),
                  "element %lld = %.17g, expected %.17g", (long long)i, v, expected[i]);
    }
}

/* n uniform values in [-1, 1) from a fixed LCG (seeded by *state), as float (f32) or
 * double, in a new malloc'd buffer (at least one element) for kernel-level tests. */
static inline void *random_buf(int64_t n, bool f32, unsigned *state) {
    void *b = malloc((size_t)(n > 0 ? n : 1) * (f32 ? 4 : 8));
    for (int64_t i = 0; i < n; i++) {
        *state = *state * 1103515245u + 12345u;
        double v = (double)(*state >> 8) / (double)(1u << 24) * 2 - 1;
        if (f32) ((float *)b)[i] = (float)v;
        else ((double *)b)[i] = v;
    }
    return b;
}

#endif
