/* A small test harness for programs run under mpirun: each case runs on every rank; a case
 * passes when no check failed on any rank. Rank 0 prints one line per case and, last,
 * "N passed, N failed" (what tests/dist/run.sh adds up). Checks print the rank. */
#ifndef AG_DIST_HARNESS_H
#define AG_DIST_HARNESS_H

#include <ag_dist.h>
#include <mpi.h>
#include <stdio.h>

static int case_failed, cases_passed, cases_failed;

#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            case_failed = 1;                                                                \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s: ", ag_dist_rank(), __FILE__, \
                    __LINE__, #cond);                                                       \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fputc('\n', stderr);                                                            \
        }                                                                                   \
    } while (0)

static inline void run_case(const char *name, void (*fn)(void)) {
    case_failed = 0;
    fn();
    int any = 0;
    MPI_Allreduce(&case_failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any) cases_failed++;
    else cases_passed++;
    if (ag_dist_rank() == 0) printf("%-58s %s\n", name, any ? "FAIL" : "ok");
    fflush(stdout);
}
#define RUN(fn) run_case(#fn, fn)

static inline int finish(void) {
    if (ag_dist_rank() == 0) printf("%d passed, %d failed\n", cases_passed, cases_failed);
    fflush(stdout);
    ag_dist_finalize();
    return cases_failed ? 1 : 0;
}

#endif
