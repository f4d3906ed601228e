/* Parallel regions over a pool of our own (runtime/parallel.h).
 *
 * Workers start lazily, the first time a region wants them, and never exit.  A region is
 * a number of chunks (parallel_for: the static blocks, one per thread; team: the members)
 * that the caller (tid 0) and the workers it wakes (tids 1..) claim from one atomic word,
 * `state` = region serial << 32 | chunks << 16 | next chunk.  Claiming instead of a fixed
 * chunk per thread changes no result (a chunk is the same iterations whoever runs it) but
 * means the caller never waits for a worker the OS has not scheduled yet: it takes that
 * worker's chunk itself.  An idle worker spins on its own wake word for a bounded time
 * (AG_SPIN_US microseconds, default SPIN_US_DEFAULT; 0: sleep at once), then sleeps on it
 * (a futex), so on a loaded machine idle workers give their cores back.  The caller waits
 * for the last chunk the same way.  When workers keep coming late (preempted on a loaded
 * machine) regions run inline for a while (judge).  One region runs at a time: a second
 * thread that asks while one runs runs its region inline, and inside a region everything
 * runs inline. */
#include "runtime/parallel.h"

#include "ag.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_TEAM 1024       /* ag_set_num_threads' limit */
#define SPIN_US_DEFAULT 100 /* tuned with bench/threads_busy.sh: see bench/results */
#define SPIN_CHECK 16       /* pause iterations between clock reads while spinning */

struct slot {                      /* one per worker, on a cache line of its own */
    _Alignas(64) atomic_uint wake; /* serial of the region it is woken for: its futex word */
    atomic_int sleeping;           /* it is (about to be) in futex_wait */
};

static struct {
    pthread_mutex_t lock; /* held by a region's caller: one region at a time */
    int started;          /* workers running: tids 1..started */
    long spin_ns;         /* AG_SPIN_US, read when the first worker starts */
    unsigned serial;      /* the last region's serial (never 0), caller-only */
    long solo_until;      /* regions run inline until then (judge), */
    long solo_ns;         /* for this long after the next late one */
    /* The region; written by the caller before it publishes `state`, read by a worker
     * only after it claimed a chunk (so the region cannot end under it). */
    ag__range_fn range; /* parallel_for's body, or NULL for a team */
    ag__team_fn team;
    void *ctx;
    int64_t n, grain, blocks;
    _Alignas(64) _Atomic uint64_t state;
    _Alignas(64) atomic_uint done; /* chunks finished: the caller's futex word */
    atomic_int caller_sleeping;
    long own_ns;          /* the caller's chunks in this region: time, */
    int own_chunks;       /* and count */
    _Atomic long slowest; /* the slowest chunk a worker ran in it */
    struct slot slots[MAX_TEAM];
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local int t_in_region; /* a pool worker, or a caller inside its region */

int ag__parallel_threads(void) { return t_in_region ? 1 : ag_get_num_threads(); }

int ag__in_parallel(void) { return t_in_region; }

/* ---- Waiting: spin a bounded time, then sleep on the word --------------------------- */

static void futex_wait(atomic_uint *w, unsigned old) {
    syscall(SYS_futex, (unsigned *)w, FUTEX_WAIT_PRIVATE, old, NULL, NULL, 0);
}
static void futex_wake(atomic_uint *w) {
    syscall(SYS_futex, (unsigned *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

static long thread_cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

/* This thread's spin budget: it halves after a spin that lost a quarter of its time to
 * other threads (the core is shared, and spinning takes it from someone who works), and
 * grows back by a sixteenth of AG_SPIN_US after each spin that kept its core. */
static _Thread_local long t_spin_ns = -1;

static void adapt_spin(long wall, long cpu) {
    if (wall > 20000 && cpu < wall - wall / 4) t_spin_ns /= 2;
    else if (t_spin_ns < pool.spin_ns) t_spin_ns += pool.spin_ns / 16 + 1;
}

/* Spin until *w != old, for at most the spin budget; then sleep until it is, with
 * *sleeping set (the waker reads it after changing *w and wakes only a sleeper: both
 * sides are sequentially consistent, so one of them sees the other's store). */
static unsigned wait_change(atomic_uint *w, unsigned old, atomic_int *sleeping) {
    unsigned v = atomic_load_explicit(w, memory_order_acquire);
    if (t_spin_ns < 0) t_spin_ns = pool.spin_ns;
    long budget = t_spin_ns > pool.spin_ns ? pool.spin_ns : t_spin_ns;
    if (v == old && pool.spin_ns > 0) {
        long t0 = now_ns(), c0 = thread_cpu_ns(), t = t0;
        for (int i = 1; v == old && t - t0 <= budget; i++) {
            cpu_relax();
            v = atomic_load_explicit(w, memory_order_acquire);
            if (i % SPIN_CHECK == 0) t = now_ns();
        }
        adapt_spin(now_ns() - t0, thread_cpu_ns() - c0);
    }
    if (v != old) return v;
    atomic_store(sleeping, 1);
    while ((v = atomic_load(w)) == old) futex_wait(w, old);
    atomic_store(sleeping, 0);
    return v;
}

/* ---- Chunks ------------------------------------------------------------------------ */

#define SERIAL(s) ((unsigned)((s) >> 32))
#define CHUNKS(s) ((int)(((s) >> 16) & 0xffff))
#define NEXT(s) ((int)((s)&0xffff))

static void run_chunk(int c, int chunks, int tid) {
    if (!pool.range) {
        pool.team(pool.ctx, c, chunks);
        return;
    }
    int64_t b0 = pool.blocks * c / chunks, b1 = pool.blocks * (c + 1) / chunks;
    int64_t lo = b0 * pool.grain, hi = b1 * pool.grain < pool.n ? b1 * pool.grain : pool.n;
    if (lo < hi) pool.range(pool.ctx, lo, hi, tid);
}

/* Record how long a chunk took: the caller sums its own, a worker raises the region's
 * slowest (judge compares the two). */
static void note_chunk(int tid, long ns) {
    if (tid == 0) {
        pool.own_ns += ns, pool.own_chunks++;
        return;
    }
    long w = atomic_load_explicit(&pool.slowest, memory_order_relaxed);
    while (ns > w && !atomic_compare_exchange_weak_explicit(
                         &pool.slowest, &w, ns, memory_order_relaxed, memory_order_relaxed)) {}
}

/* Claim and run chunks of region `serial` until none is left (or it is over). */
static void work(unsigned serial, int tid) {
    uint64_t s = atomic_load_explicit(&pool.state, memory_order_acquire);
    while (SERIAL(s) == serial && NEXT(s) < CHUNKS(s)) {
        if (!atomic_compare_exchange_weak_explicit(&pool.state, &s, s + 1, memory_order_acquire,
                                                   memory_order_acquire))
            continue;
        int chunks = CHUNKS(s);
        long t0 = now_ns();
        run_chunk(NEXT(s), chunks, tid);
        note_chunk(tid, now_ns() - t0);
        if (atomic_fetch_add(&pool.done, 1) + 1 == (unsigned)chunks &&
            atomic_load(&pool.caller_sleeping))
            futex_wake(&pool.done);
        s = atomic_load_explicit(&pool.state, memory_order_acquire);
    }
}

static void *worker(void *arg) {
    int tid = (int)(intptr_t)arg;
    struct slot *me = &pool.slots[tid];
    t_in_region = 1;
    for (unsigned seen = 0;;) {
        seen = wait_change(&me->wake, seen, &me->sleeping);
        work(seen, tid);
    }
    return NULL;
}

/* ---- Starting workers -------------------------------------------------------------- */

/* A forked child has none of the parent's workers. */
static void after_fork(void) {
    pthread_mutex_init(&pool.lock, NULL);
    pool.started = 0;
}

static long spin_from_env(void) {
    const char *e = getenv("AG_SPIN_US");
    char *end;
    long us = e ? strtol(e, &end, 10) : -1;
    if (!e || end == e || *end || us < 0 || us > 1000000) us = SPIN_US_DEFAULT;
    return us * 1000;
}

/* Workers for a team of nt (caller included), as many as can be started; under lock. */
static int ensure_workers(int nt) {
    if (pool.started == 0 && pool.serial == 0) {
        pool.spin_ns = spin_from_env();
        pthread_atfork(NULL, NULL, after_fork);
    }
    while (pool.started < nt - 1) {
        int tid = pool.started + 1;
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        atomic_store(&pool.slots[tid].wake, 0);
        int rc = pthread_create(&th, &at, worker, (void *)(intptr_t)tid);
        pthread_attr_destroy(&at);
        if (rc) break;
        pool.started = tid;
    }
    return pool.started + 1 < nt ? pool.started + 1 : nt;
}

/* ---- Backing off when workers come late ---------------------------------------------
 * On an oversubscribed machine a worker that claimed a chunk can be preempted in it, and
 * the caller then waits a scheduler slice (milliseconds) for it: far slower than doing it
 * all alone.  A region is late when the caller waited for the workers longer than LATE_NS
 * and a worker's chunk took longer than LATE_NS plus twice the caller's mean chunk (a
 * worker that was only slow to wake is not late: the caller takes the chunks it has not
 * claimed; one that ran its chunk at the caller's pace is not late either).  After a late
 * region the caller's regions run inline for solo_ns; solo_ns doubles with each late
 * region (to SOLO_MAX_NS) and shrinks by a sixteenth with each on-time one (to
 * SOLO_MIN_NS), so it grows while more than about one region in 15 comes late.  Only who
 * runs the chunks changes, never the results.  Under the lock. */
#define LATE_NS 100000L
#define SOLO_MIN_NS 5000000L
#define SOLO_MAX_NS 1000000000L

static void judge(long wait, long now) {
    long own_mean = pool.own_chunks ? pool.own_ns / pool.own_chunks : 0;
    bool late = wait > LATE_NS && atomic_load(&pool.slowest) > LATE_NS + 2 * own_mean;
    if (pool.solo_ns < SOLO_MIN_NS) pool.solo_ns = SOLO_MIN_NS;
    if (!late) {
        pool.solo_ns -= pool.solo_ns / 16;
        return;
    }
    pool.solo_until = now + pool.solo_ns;
    pool.solo_ns = pool.solo_ns < SOLO_MAX_NS / 2 ? 2 * pool.solo_ns : SOLO_MAX_NS;
}

/* ---- A region ---------------------------------------------------------------------- */

/* Run `chunks` chunks of the region described in pool on nt threads (caller included),
 * under lock; returns when all have finished. */
static void region(int chunks, int nt) {
    unsigned serial = ++pool.serial ? pool.serial : ++pool.serial;
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.slowest, 0, memory_order_relaxed);
    pool.own_ns = 0, pool.own_chunks = 0;
    atomic_store_explicit(&pool.state, (uint64_t)serial << 32 | (uint64_t)chunks << 16,
                          memory_order_release);
    for (int t = 1; t < nt; t++) {
        atomic_store(&pool.slots[t].wake, serial);
        if (atomic_load(&pool.slots[t].sleeping)) futex_wake(&pool.slots[t].wake);
    }
    t_in_region = 1;
    work(serial, 0);
    t_in_region = 0;
    long t1 = now_ns();
    unsigned d; /* spin, then sleep, until the last chunk is done */
    while ((d = atomic_load_explicit(&pool.done, memory_order_acquire)) != (unsigned)chunks)
        wait_change(&pool.done, d, &pool.caller_sleeping);
    long t2 = now_ns();
    judge(t2 - t1, t2);
}

/* Lock the pool for a region of up to nt threads; the threads it gets (0: run inline). */
static int begin(int nt) {
    if (nt <= 1 || pthread_mutex_trylock(&pool.lock)) return 0;
    if (pool.solo_until && now_ns() < pool.solo_until) { /* workers came late (judge) */
        pthread_mutex_unlock(&pool.lock);
        return 0;
    }
    nt = ensure_workers(nt);
    if (nt <= 1) pthread_mutex_unlock(&pool.lock);
    return nt > 1 ? nt : 0;
}

void ag__parallel_for(int64_t n, int64_t grain, double cost_per_iter, double min_work,
                      ag__range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int nt = ag__parallel_threads();
    int64_t blocks = (n + grain - 1) / grain;
    if (nt > blocks) nt = (int)blocks;
    if (nt <= 1 || (double)n * cost_per_iter < min_work || !(nt = begin(nt))) {
        fn(ctx, 0, n, 0);
        return;
    }
    pool.range = fn, pool.team = NULL, pool.ctx = ctx;
    pool.n = n, pool.grain = grain, pool.blocks = blocks;
    region(nt, nt);
    pthread_mutex_unlock(&pool.lock);
}

void ag__parallel_team(int nth, ag__team_fn fn, void *ctx) {
    int max = ag__parallel_threads();
    if (nth > max) nth = max;
    if (nth <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    int nt = begin(nth);
    if (!nt) { /* the pool is busy: every member, in turn, here */
        int saved = t_in_region;
        t_in_region = 1;
        for (int m = 0; m < nth; m++) fn(ctx, m, nth);
        t_in_region = saved;
        return;
    }
    pool.range = NULL, pool.team = fn, pool.ctx = ctx;
    region(nth, nt);
    pthread_mutex_unlock(&pool.lock);
}
