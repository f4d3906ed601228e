/* Thread count: the OpenMP team size every threaded kernel uses. */
#include "ag.h"
#include "tensor/tensor.h" /* ag__error */

#include <omp.h>

#define MAX_THREADS 1024 /* libgomp exits the process when it cannot start a team */

/* Out-of-range counts are an error and change nothing (D19). */
void ag_set_num_threads(int n) {
    int max = omp_get_thread_limit() < MAX_THREADS ? omp_get_thread_limit() : MAX_THREADS;
    if (n < 1 || n > max) {
        ag__error(AG_ERR_ARG, "ag_set_num_threads", "%d threads: 1..%d are allowed", n, max);
        return;
    }
    omp_set_num_threads(n);
}
int ag_get_num_threads(void) { return omp_get_max_threads(); }
