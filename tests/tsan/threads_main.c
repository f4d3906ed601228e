/* The threads test under ThreadSanitizer (make test-tsan), without Criterion: the two
 * trainings (tests/threads_job.h), then ops big enough to split over the pool
 * (runtime/parallel.c) at 2 and 3 threads, from one thread and from two at once, each
 * bitwise equal to 1 thread, and thousands of regions straight on the pool. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../threads_job.h"
#include "runtime/parallel.h"

/* Many short regions straight on the pool, as the count changes: 0 when each ran whole. */
static void add_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    int64_t s = 0;
    (void)tid;
    for (int64_t i = lo; i < hi; i++) s += i;
    __atomic_fetch_add((int64_t *)ctx, s, __ATOMIC_RELAXED);
}
static void add_member(void *ctx, int tid, int nth) {
    __atomic_fetch_add((int64_t *)ctx, (int64_t)1 << (8 * tid), __ATOMIC_RELAXED);
    (void)nth;
}
static int pool_regions(void) {
    int bad = 0;
    for (int r = 0; r < 3000; r++) {
        int nt = 2 + r % 3;
        ag_set_num_threads(nt);
        int64_t sum = 0, n = 1 + r % 500, m = 0;
        ag__parallel_for(n, 1 + r % 5, 1.0, 0.0, add_range, &sum);
        ag__parallel_team(nt, add_member, &m);
        bad |= sum != n * (n - 1) / 2 || m != (nt == 2 ? 0x101 : nt == 3 ? 0x10101 : 0x1010101);
    }
    ag_set_num_threads(1);
    return bad;
}

/* GEMM (a team), exp (chunks), a sum (fixed chunks), softmax (rows); 0 when all match
 * what 1 thread computes. */
static int ops_match(int threads) {
    ag_set_num_threads(1);
    ag_scope_begin();
    ag_tensor *a = ag_randn(AG_F32, 2, (int64_t[]){192, 256}),
              *b = ag_randn(AG_F32, 2, (int64_t[]){256, 160});
    ag_tensor *big = ag_randn(AG_F32, 1, (int64_t[]){1 << 18});
    ag_tensor *r[2][4];
    for (int pass = 0; pass < 2; pass++) {
        ag_set_num_threads(pass ? threads : 1);
        r[pass][0] = ag_matmul(a, b);
        r[pass][1] = ag_exp(big);
        r[pass][2] = ag_sum(big);
        r[pass][3] = ag_softmax(ag_reshape(big, 2, (int64_t[]){512, 512}), 1);
    }
    int bad = 0;
    for (int i = 0; i < 4; i++)
        bad |= !r[0][i] || !r[1][i] ||
               memcmp(ag_data(r[0][i]), ag_data(r[1][i]), (size_t)ag_numel(r[0][i]) * 4) != 0;
    ag_scope_end();
    ag_set_num_threads(1);
    return bad;
}

static void *ops_thread(void *arg) {
    int *bad = arg;
    *bad = ops_match(2);
    return NULL;
}

int main(void) {
    int bad = 0;
    for (int threads = 1; threads <= 2; threads++) {
        const char *err = jobs_compare(threads);
        printf("threads: two trainings at once, %d thread(s) each: %s\n", threads,
               err ? err : "match one after the other at 1 thread");
        bad |= err != NULL;
    }
    for (int threads = 2; threads <= 3; threads++) {
        int b = ops_match(threads);
        printf("threads: ops at %d threads %s 1 thread\n", threads, b ? "differ from" : "match");
        bad |= b;
    }
    int pb = pool_regions();
    printf("threads: 3000 regions straight on the pool %s\n", pb ? "lost iterations" : "whole");
    bad |= pb;
    int tb[2] = {0, 0};
    pthread_t t[2];
    for (int k = 0; k < 2; k++) pthread_create(&t[k], NULL, ops_thread, &tb[k]);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    printf("threads: ops from two threads at once %s\n", tb[0] | tb[1] ? "differ" : "match");
    return bad | tb[0] | tb[1];
}
