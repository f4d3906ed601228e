/* The timing helper ag_bench_time, and the benchmark suite's op-table sweep: every op in
 * the table runs forward and (when differentiable) backward through it. */
#include <criterion/criterion.h>
#include <string.h>

#include "bench/bench_optable.c"   /* the suite's sweep, built into the test binary */

static int calls;
static void count(void *ctx) {
    (void)ctx;
    calls++;
}

static void spin(void *ctx) {   /* busy for *(double *)ctx seconds */
    double until = ag_now() + *(double *)ctx;
    while (ag_now() < until) {}
}

static void make_tensor(void *ctx) {
    (void)ctx;
    ag_zeros(AG_F32, 1, (int64_t[]){1000});
}

Test(bench, time_is_the_duration_of_one_call) {
    double d = 2e-3;
    double s = ag_bench_time(spin, &d, 5, 0);
    cr_assert(s >= 1.9e-3 && s < 2e-2, "a 2 ms call timed as %g s", s);
}

Test(bench, fast_calls_are_grouped_and_timed_per_call) {
    calls = 0;
    double s = ag_bench_time(count, NULL, 10, 0);
    cr_assert(s > 0 && s < 1e-6, "an empty call timed as %g s", s);
    cr_assert(calls > 10, "only %d calls for 10 samples", calls);
}

Test(bench, runs_at_least_min_reps_and_min_seconds) {
    double d = 1e-3, t0 = ag_now();
    calls = 0;
    ag_bench_time(spin, &d, 7, 0);
    cr_assert(ag_now() - t0 >= 7e-3, "7 samples of 1 ms took %g s", ag_now() - t0);
    t0 = ag_now();
    ag_bench_time(count, NULL, 1, 0.05);
    cr_assert(ag_now() - t0 >= 0.05, "min_seconds 0.05 took %g s", ag_now() - t0);
}

Test(bench, tensors_made_by_fn_go_with_each_sample) {
    int depth = ag_scope_depth();
    double s = ag_bench_time(make_tensor, NULL, 3, 0);
    cr_assert(s > 0);
    cr_assert_eq(ag_scope_depth(), depth, "scope depth changed");
}

Test(bench, null_fn_is_an_error) {
    ag_clear_error();
    cr_assert_eq(ag_bench_time(NULL, NULL, 3, 0), -1);
    cr_assert(ag_last_error() && strstr(ag_last_error(), "ag_bench_time"), "%s",
              ag_last_error() ? ag_last_error() : "(no error)");
}

Test(bench, optable_sweep_runs_every_op_forward_and_backward) {
    struct bench_cfg cfg = {.quick = true, .smoke = true};
    struct bench_rows rows = {0};
    cr_assert_eq(bench_optable(&cfg, 1, &rows), 0, "an op failed: %s",
                 ag_last_error() ? ag_last_error() : "");
    for (int id = 0; id < AG_OP_COUNT; id++) {
        const struct ag_op_def *def = ag__ops[id];
        bool fwd = false, bwd = false;
        for (int i = 0; i < rows.n; i++) {
            if (strcmp(rows.v[i].what, def->name)) continue;
            cr_expect(rows.v[i].ours_s > 0, "%s %s: time %g", def->name, rows.v[i].dir,
                      rows.v[i].ours_s);
            fwd |= !strcmp(rows.v[i].dir, "fwd");
            bwd |= !strcmp(rows.v[i].dir, "bwd");
        }
        cr_expect(fwd, "%s was not timed forward", def->name);
        cr_expect(bwd || def->check.no_grad, "%s was not timed backward", def->name);
    }
    free(rows.v);
}
