/* Thread count and a monotonic clock. */
#include "tensor/tensor.h"

#include <omp.h>
#include <time.h>

void ag_set_num_threads(int n) { omp_set_num_threads(n > 0 ? n : 1); }
int ag_get_num_threads(void) { return omp_get_max_threads(); }

double ag_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
