/* The threads test under ThreadSanitizer (make test-tsan), without Criterion. */
#include <stdio.h>

#include "../threads_job.h"

int main(void) {
    const char *err = jobs_compare();
    printf("threads: two trainings at once %s\n", err ? err : "match one after the other");
    return err != NULL;
}
