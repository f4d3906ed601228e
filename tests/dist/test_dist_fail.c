/* A DDP training loop in which rank 1 fails at step 5, the way argv[1] says:
 *   kill  - SIGKILL (the machine or process dies)
 *   abort - an error it cannot go on from: ag_dist_abort with ag_last_error()
 *   exit  - returns 1 from main without a word
 *   hang  - sleeps forever (the others time out: run with AG_DIST_TIMEOUT=3)
 * tests/dist/run.sh checks the job ends within seconds with a message naming the rank.
 * Without a failure mode it trains 20 steps and prints "1 passed, 0 failed". */
#include "harness.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (ag_dist_init(&argc, &argv)) return 1;
    const char *mode = argc > 1 ? argv[1] : "none";
    int rank = ag_dist_rank();
    ag_tensor *w = ag_randn(AG_F32, 2, (int64_t[]){64, 64});
    ag_set_requires_grad(w, true);
    ag_ddp *ddp = ag_ddp_new(&w, 1, (ag_ddp_opts){0});
    if (!ddp) ag_dist_abort(1, ag_last_error());
    int steps = strcmp(mode, "none") ? 100000 : 20;
    for (int s = 0; s < steps; s++) {
        if (s == 5 && rank == 1) {
            if (!strcmp(mode, "kill")) raise(SIGKILL);
            if (!strcmp(mode, "exit")) return 1;
            if (!strcmp(mode, "hang"))
                for (;;) pause();
            if (!strcmp(mode, "abort") && !ag_load_idx("/nonexistent/train-images.idx", AG_F32, 1))
                ag_dist_abort(2, ag_last_error());
        }
        ag_scope_begin();
        ag_tensor *x = ag_randn(AG_F32, 2, (int64_t[]){8, 64});
        if (ag_backward(ag_mean(ag_tanh(ag_matmul(x, w)))) || ag_ddp_sync(ddp))
            ag_dist_abort(1, ag_last_error());
        ag_scope_end();
        ag_zero_grad(w);
    }
    ag_ddp_free(ddp);
    ag_tensor_free(w);
    cases_passed = 1;
    return finish();
}
