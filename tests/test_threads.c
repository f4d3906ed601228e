/* Threads: two threads training their own models at once get bitwise the results they get
 * one after the other. The library's per-thread state (scopes, errors, grad mode, default
 * dtype, GEMM scratch) must keep them apart, and at 2 threads each they share the pool
 * (runtime/parallel.c). `make test-tsan` runs the same under TSan. */
#include "helpers.h"
#include "threads_job.h"

Test(threads, two_trainings_at_once_match_one_after_the_other) {
    const char *err = jobs_compare(1);
    cr_assert_null(err, "%s (%s)", err, ag_last_error() ? ag_last_error() : "");
}

/* At 2 threads each the two trainings share one pool (one runs its regions inline), and
 * still match 1-thread trainings bitwise. */
Test(threads, two_trainings_at_two_threads_each_match_one_thread) {
    const char *err = jobs_compare(2);
    cr_assert_null(err, "%s (%s)", err, ag_last_error() ? ag_last_error() : "");
}
