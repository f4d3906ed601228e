/* runtime/parallel.h: every iteration runs once, blocks respect the grain, members have
 * distinct ids, and a nested call runs inline. */
#include <criterion/criterion.h>
#include <string.h>

#include "ag.h"
#include "runtime/parallel.h"

#define N 10007

struct hits {
    int count[N];
    int grain_ok, tid_ok, team;
};

static void mark(void *ctx, int64_t lo, int64_t hi, int tid) {
    struct hits *h = ctx;
    if (lo % 64 != 0) __atomic_store_n(&h->grain_ok, 0, __ATOMIC_RELAXED);
    if (tid < 0 || tid >= h->team) __atomic_store_n(&h->tid_ok, 0, __ATOMIC_RELAXED);
    for (int64_t i = lo; i < hi; i++) h->count[i]++;
}

Test(parallel, every_iteration_runs_once_on_grain_boundaries) {
    for (int nt = 1; nt <= 3; nt++) {
        ag_set_num_threads(nt);
        static struct hits h;
        memset(&h, 0, sizeof h);
        h.grain_ok = h.tid_ok = 1;
        h.team = nt;
        ag__parallel_for(N, 64, 1.0, 0.0, mark, &h);
        for (int i = 0; i < N; i++) cr_assert_eq(h.count[i], 1, "%d threads: iteration %d", nt, i);
        cr_assert(h.grain_ok && h.tid_ok, "%d threads: block or tid out of place", nt);
    }
    ag_set_num_threads(1);
}

static void small_inline(void *ctx, int64_t lo, int64_t hi, int tid) {
    int *calls = ctx;
    cr_assert_eq(lo, 0);
    cr_assert_eq(hi, 5);
    cr_assert_eq(tid, 0);
    (*calls)++;
}

Test(parallel, too_little_work_runs_inline) {
    ag_set_num_threads(2);
    int calls = 0;
    ag__parallel_for(5, 1, 1.0, 1e9, small_inline, &calls);
    cr_assert_eq(calls, 1);
    ag_set_num_threads(1);
}

static void nested(void *ctx, int tid, int nth) {
    int *seen = ctx;
    (void)nth;
    cr_assert_eq(ag__parallel_threads(), 1, "inside a region the team is 1");
    cr_assert(ag__in_parallel() || nth == 1);
    __atomic_fetch_or(seen, 1 << tid, __ATOMIC_RELAXED);
}

Test(parallel, team_members_have_distinct_ids) {
    ag_set_num_threads(2);
    int seen = 0;
    ag__parallel_team(2, nested, &seen);
    cr_assert_eq(seen, ag__parallel_threads() >= 2 ? 3 : 1);
    ag_set_num_threads(1);
}
