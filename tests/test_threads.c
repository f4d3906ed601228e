/* Threads: two threads training their own models at once get bitwise the results they get
 * one after the other. The library's per-thread state (scopes, errors, grad mode, default
 * dtype, GEMM scratch) must keep them apart. `make test-tsan` runs the same under TSan. */
#include "helpers.h"
#include "threads_job.h"

Test(threads, two_trainings_at_once_match_one_after_the_other) {
    const char *err = jobs_compare();
    cr_assert_null(err, "%s (%s)", err, ag_last_error() ? ag_last_error() : "");
}
