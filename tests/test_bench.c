/* The timing helper ag_bench_time, and the benchmark suite's op-table sweep: every op in
 * the table runs forward and (when differentiable) backward through it. */
#include <criterion/criterion.h>
#include <string.h>

#include "bench/bench_optable.c" /* the suite's sweep, built into the test binary */

static int calls;
static void count(void *ctx) {
    (void)ctx;
    calls++;
}

static void spin(void *ctx) { /* busy for *(double *)ctx seconds */
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

/* Contractions report their arithmetic (2 x M x N x K, as counted by hand from the shapes
 * their makers give) and are measured against the FMA peak, not memory bandwidth. */
Test(bench, compute_bound_ops_report_their_flops) {
    struct bench_cfg cfg = {.quick = true, .smoke = true};
    struct bench_rows rows = {0};
    cr_assert_eq(bench_optable(&cfg, 1, &rows), 0, "%s", ag_last_error() ? ag_last_error() : "");
    const char *names[] = {"matmul", "linear", "conv2d", "conv2d_input_grad", "conv2d_weight_grad"};
    for (int k = 0; k < 5; k++) {
        int found = 0;
        for (int i = 0; i < rows.n; i++) {
            struct bench_row *r = &rows.v[i];
            if (strcmp(r->what, names[k]) || strcmp(r->dir, "fwd")) continue;
            found++;
            cr_expect(r->compute_bound, "%s is not counted as compute-bound", names[k]);
            long long d[3][4] = {{0}}; /* the inputs' shapes from the row's "AxB;C" text */
            int nd[3] = {0}, in = 0;
            for (const char *p = r->shapes; *p && in < 3; p++) {
                if (*p == ';') in++;
                else if (*p >= '0' && *p <= '9') d[in][nd[in]++] = strtoll(p, (char **)&p, 10), p--;
            }
            double want =
                names[k][0] == 'm'   ? 2.0 * d[0][0] * d[1][1] * d[0][1] /* [M,K][K,N] */
                : names[k][0] == 'l' ? 2.0 * d[0][0] * d[1][0] * d[0][1] /* [B,I][O,I] */
                : k == 3 ? 2.0 * d[0][0] * d[0][1] * d[0][2] * d[0][3] * d[1][1] * d[1][2] * d[1][3]
                : k == 4 ? 2.0 * d[1][0] * d[1][1] * d[1][2] * d[1][3] * d[0][1] * 9
                         : -1; /* conv2d: checked below */
            if (k == 2)        /* [N,C,H,W] (*) [O,C,3,3], padding 1: output [N,O,H,W] */
                want = 2.0 * d[0][0] * d[1][0] * d[0][2] * d[0][3] * d[1][1] * d[1][2] * d[1][3];
            cr_expect(r->flops == want && want > 0, "%s %s: flops %g, expected %g", names[k],
                      r->shapes, r->flops, want);
        }
        cr_expect(found, "%s has no forward row", names[k]);
    }
    free(rows.v);
}
