/* Thread count: the team size every threaded kernel uses (runtime/parallel.c's pool).
 * Per calling thread, as OpenMP's was: a thread that never set it has the default,
 * AG_NUM_THREADS, else OMP_NUM_THREADS (its first number), else the CPUs this process may
 * run on.  Per thread, a kernel's scratch sized for the count cannot be outgrown by
 * another thread changing it mid-call. */
#include "ag.h"
#include "tensor/tensor.h" /* ag__error */

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define MAX_THREADS 1024

static atomic_int g_default;        /* 0 until first asked */
static _Thread_local int t_threads; /* 0: the default */

/* A count from the variable `name`, or 0 when unset or not a count in 1..MAX_THREADS. */
static int from_env(const char *name) {
    const char *e = getenv(name);
    char *end;
    long n = e ? strtol(e, &end, 10) : 0;
    if (!e || end == e || (*end && *end != ',') || n < 1 || n > MAX_THREADS) return 0;
    return (int)n;
}

static int default_threads(void) {
    int n = from_env("AG_NUM_THREADS");
    if (!n) n = from_env("OMP_NUM_THREADS");
    cpu_set_t set;
    if (!n && sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
}

/* Out-of-range counts are an error and change nothing (D19). */
void ag_set_num_threads(int n) {
    if (n < 1 || n > MAX_THREADS) {
        ag__error(AG_ERR_ARG, "ag_set_num_threads", "%d threads: 1..%d are allowed", n,
                  MAX_THREADS);
        return;
    }
    t_threads = n;
}

int ag_get_num_threads(void) {
    if (t_threads) return t_threads;
    int n = atomic_load(&g_default), none = 0;
    if (n) return n;
    atomic_compare_exchange_strong(&g_default, &none, default_threads());
    return atomic_load(&g_default);
}
