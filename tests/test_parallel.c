/* runtime/parallel.h and its pool (runtime/parallel.c): every iteration runs once, blocks
 * respect the grain, members have distinct ids, a nested call runs inline, many regions in
 * a row and regions after the thread count changes are whole, two callers at once each get
 * their region done, workers that sleep at once (AG_SPIN_US=0) are woken, and the count
 * comes from AG_NUM_THREADS, else OMP_NUM_THREADS, per calling thread. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ag.h"
#include "runtime/parallel.h"

#define N 10007

struct hits {
    int count[N];
    int grain_ok, tid_ok, team;
    int64_t grain;
};

static void mark(void *ctx, int64_t lo, int64_t hi, int tid) {
    struct hits *h = ctx;
    if (lo % h->grain != 0) __atomic_store_n(&h->grain_ok, 0, __ATOMIC_RELAXED);
    if (tid < 0 || tid >= h->team) __atomic_store_n(&h->tid_ok, 0, __ATOMIC_RELAXED);
    for (int64_t i = lo; i < hi; i++) h->count[i]++;
}

/* Runs mark over n iterations at nt threads; cr_asserts each ran once, in place. */
static void check_once(struct hits *h, int nt, int64_t n, int64_t grain) {
    memset(h, 0, sizeof *h);
    h->grain_ok = h->tid_ok = 1;
    h->team = nt;
    h->grain = grain;
    ag__parallel_for(n, grain, 1.0, 0.0, mark, h);
    for (int64_t i = 0; i < N; i++)
        cr_assert_eq(h->count[i], i < n, "%d threads, n %lld: iteration %lld ran %d times", nt,
                     (long long)n, (long long)i, h->count[i]);
    cr_assert(h->grain_ok && h->tid_ok, "%d threads: block or tid out of place", nt);
}

Test(parallel, every_iteration_runs_once_on_grain_boundaries) {
    static struct hits h;
    const int64_t ns[] = {1, 2, 3, 63, 64, 65, 1000, N};
    for (int nt = 1; nt <= 4; nt++)
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
            ag_set_num_threads(nt);
            check_once(&h, nt, ns[k], 1);
            check_once(&h, nt, ns[k], 64);
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

/* A nested parallel_for inside a region: one inline call over everything, on tid 0. */
struct outer {
    int bad;       /* a nested call that was not one inline call */
    int inner_sum; /* iterations the nested calls ran */
};
static void inner_body(void *ctx, int64_t lo, int64_t hi, int tid) {
    int *calls = ctx;
    if (lo != 0 || hi != 100 || tid != 0) *calls = -1000;
    else (*calls)++;
}
static void outer_body(void *ctx, int64_t lo, int64_t hi, int tid) {
    struct outer *o = ctx;
    (void)tid;
    for (int64_t i = lo; i < hi; i++) {
        int calls = 0;
        ag__parallel_for(100, 1, 1.0, 0.0, inner_body, &calls);
        if (calls != 1 || ag__parallel_threads() != 1 || !ag__in_parallel())
            __atomic_store_n(&o->bad, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&o->inner_sum, calls, __ATOMIC_RELAXED);
    }
}

Test(parallel, nested_calls_run_inline) {
    ag_set_num_threads(3);
    struct outer o = {0, 0};
    ag__parallel_for(64, 1, 1.0, 0.0, outer_body, &o);
    cr_assert_eq(o.bad, 0, "a nested call was split or not marked inside a region");
    cr_assert_eq(o.inner_sum, 64);
    cr_assert_eq(ag__in_parallel(), 0, "the caller is outside a region again");
    ag_set_num_threads(1);
}

static void add_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    int64_t *sum = ctx;
    int64_t s = 0;
    (void)tid;
    for (int64_t i = lo; i < hi; i++) s += i;
    __atomic_fetch_add(sum, s, __ATOMIC_RELAXED);
}

static void member_count(void *ctx, int tid, int nth) {
    int *m = ctx;
    __atomic_fetch_add(&m[tid], 1, __ATOMIC_RELAXED);
    __atomic_store_n(&m[8], nth, __ATOMIC_RELAXED);
}

/* Thousands of short regions back to back, at thread counts that change between them. */
static void many_regions(int rounds) {
    const int counts[] = {2, 4, 3, 1, 2, 4};
    for (int r = 0; r < rounds; r++) {
        int nt = counts[r % 6];
        ag_set_num_threads(nt);
        int64_t sum = 0, n = 1 + r % 300;
        ag__parallel_for(n, 1 + r % 7, 1.0, 0.0, add_range, &sum);
        cr_assert_eq(sum, n * (n - 1) / 2, "round %d at %d threads: sum %lld", r, nt,
                     (long long)sum);
        int m[9] = {0};
        ag__parallel_team(nt, member_count, m);
        for (int t = 0; t < nt; t++)
            cr_assert_eq(m[t], 1, "round %d: member %d ran %d times", r, t, m[t]);
        cr_assert_eq(m[8], nt);
    }
    ag_set_num_threads(1);
}

Test(parallel, many_regions_in_a_row_as_the_count_changes) { many_regions(5000); }

/* With AG_SPIN_US=0 (read when the first worker starts) workers sleep at once, so every
 * region wakes them from the futex. */
Test(parallel, workers_that_sleep_at_once_are_woken) {
    setenv("AG_SPIN_US", "0", 1);
    many_regions(2000);
}

/* Two threads asking for regions at once: one gets the pool, the other runs inline; both
 * get every iteration once. */
static void *caller(void *arg) {
    int *bad = arg;
    ag_set_num_threads(2);
    for (int r = 0; r < 2000; r++) {
        int64_t sum = 0, n = 1000 + r;
        ag__parallel_for(n, 16, 1.0, 0.0, add_range, &sum);
        if (sum != n * (n - 1) / 2) *bad = 1;
        int m[9] = {0};
        ag__parallel_team(2, member_count, m);
        if (m[0] != 1 || m[1] != 1) *bad = 1;
    }
    return NULL;
}

Test(parallel, two_callers_at_once) {
    int bad[2] = {0, 0};
    pthread_t t[2];
    for (int k = 0; k < 2; k++) cr_assert_eq(pthread_create(&t[k], NULL, caller, &bad[k]), 0);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    cr_assert(!bad[0] && !bad[1], "a region lost or repeated iterations");
}

/* The default count (each Criterion test is a process of its own, so the environment is
 * read here first): AG_NUM_THREADS, else OMP_NUM_THREADS's first number. */
Test(parallel, count_defaults_to_ag_num_threads) {
    setenv("AG_NUM_THREADS", "3", 1);
    setenv("OMP_NUM_THREADS", "2", 1);
    cr_assert_eq(ag_get_num_threads(), 3);
}

Test(parallel, count_falls_back_to_omp_num_threads) {
    setenv("AG_NUM_THREADS", "0", 1); /* not a count: ignored */
    setenv("OMP_NUM_THREADS", "5,2", 1);
    cr_assert_eq(ag_get_num_threads(), 5);
}

static void *count_of_new_thread(void *arg) {
    *(int *)arg = ag_get_num_threads();
    return NULL;
}

/* ag_set_num_threads is the calling thread's: a thread started later has the default. */
Test(parallel, a_new_thread_starts_at_the_default) {
    setenv("AG_NUM_THREADS", "2", 1);
    ag_set_num_threads(4);
    int other = 0;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, count_of_new_thread, &other), 0);
    pthread_join(t, NULL);
    cr_assert_eq(other, 2);
    cr_assert_eq(ag_get_num_threads(), 4);
    ag_set_num_threads(1);
}
