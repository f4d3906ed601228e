/* The distributed sampler under ag_loader_new_distributed: shards are disjoint and cover
 * the epoch, padding/drop_last, shared seed, set_epoch; run here with every rank in one
 * process (tests/dist/ runs it under mpirun). */
#include "helpers.h"

#include <string.h>

/* Row ids rank `rank` of `world` sees in one epoch (x holds each row's id). */
static int64_t epoch_rows(ag_loader *l, int64_t *out) {
    int64_t k = 0;
    ag_tensor *xb, *yb;
    while (ag_loader_next(l, &xb, &yb)) {
        for (int64_t i = 0; i < ag_shape(xb)[0]; i++) {
            out[k] = (int64_t)ag_get(xb, (int64_t[]){i, 0});
            cr_assert_eq((int64_t)ag_get(yb, (int64_t[]){i}), out[k], "y follows x");
            k++;
        }
    }
    return k;
}

static ag_tensor *ids(int64_t n, ag_dtype dt) {
    ag_tensor *t = ag_zeros(dt, dt == AG_I64 ? 1 : 2, (int64_t[]){n, 1});
    for (int64_t i = 0; i < n; i++) {
        if (dt == AG_I64) ((int64_t *)ag_data(t))[i] = i;
        else ((double *)ag_data(t))[i] = (double)i;
    }
    return t;
}

/* Counts how often each of n rows appears over all ranks; returns the total seen. */
static int64_t cover(int64_t n, int world, bool drop_last, bool shuffle, int64_t *count,
                     int64_t *per_rank) {
    ag_tensor *x = ids(n, AG_F64), *y = ids(n, AG_I64);
    int64_t total = 0, rows[256];
    memset(count, 0, sizeof *count * (size_t)n);
    for (int r = 0; r < world; r++) {
        ag_manual_seed(1000 + (uint64_t)r); /* ranks' own streams must not matter */
        ag_loader *l = ag_loader_new_distributed(x, y, 4, shuffle, r, world, drop_last);
        cr_assert(l, "%s", ag_last_error());
        int64_t k = epoch_rows(l, rows);
        if (r == 0) *per_rank = k;
        cr_assert_eq(k, *per_rank, "rank %d got %lld rows, rank 0 %lld", r, (long long)k,
                     (long long)*per_rank);
        for (int64_t i = 0; i < k; i++) count[rows[i]]++;
        total += k;
        ag_loader_free(l);
    }
    ag_tensor_free(x);
    ag_tensor_free(y);
    return total;
}

Test(sampler, shards_cover_every_row_exactly_once_when_the_world_divides_n) {
    int64_t count[60], per;
    for (int shuffle = 0; shuffle < 2; shuffle++) {
        cr_assert_eq(cover(60, 4, false, shuffle, count, &per), 60);
        cr_assert_eq(per, 15);
        for (int i = 0; i < 60; i++)
            cr_assert_eq(count[i], 1, "row %d seen %lld times", i, (long long)count[i]);
    }
}

Test(sampler, padding_repeats_the_start_and_drop_last_drops_the_tail) {
    int64_t count[61], per;
    cr_assert_eq(cover(61, 4, false, true, count, &per), 64);
    cr_assert_eq(per, 16);
    int twice = 0;
    for (int i = 0; i < 61; i++) {
        cr_assert(count[i] == 1 || count[i] == 2);
        twice += count[i] == 2;
    }
    cr_assert_eq(twice, 3);
    cr_assert_eq(cover(61, 4, true, true, count, &per), 60);
    cr_assert_eq(per, 15);
    int missed = 0;
    for (int i = 0; i < 61; i++) {
        cr_assert(count[i] <= 1);
        missed += count[i] == 0;
    }
    cr_assert_eq(missed, 1);
}

Test(sampler, set_epoch_redraws_the_same_order_and_epochs_differ) {
    ag_tensor *x = ids(50, AG_F64);
    ag_loader *l = ag_loader_new_distributed(x, NULL, 7, true, 1, 2, false);
    cr_assert(l);
    int64_t a[25], b[25], c[25];
    ag_tensor *xb;
    for (int64_t k = 0; ag_loader_next(l, &xb, NULL);)
        for (int64_t i = 0; i < ag_shape(xb)[0]; i++)
            a[k++] = (int64_t)ag_get(xb, (int64_t[]){i, 0});
    ag_loader_reset(l); /* epoch 1 */
    for (int64_t k = 0; ag_loader_next(l, &xb, NULL);)
        for (int64_t i = 0; i < ag_shape(xb)[0]; i++)
            b[k++] = (int64_t)ag_get(xb, (int64_t[]){i, 0});
    cr_assert_eq(ag_loader_set_epoch(l, 0), 0);
    for (int64_t k = 0; ag_loader_next(l, &xb, NULL);)
        for (int64_t i = 0; i < ag_shape(xb)[0]; i++)
            c[k++] = (int64_t)ag_get(xb, (int64_t[]){i, 0});
    cr_assert(memcmp(a, b, sizeof a), "epochs 0 and 1 gave the same order");
    cr_assert(!memcmp(a, c, sizeof a), "set_epoch(0) did not redraw epoch 0");
    cr_assert_eq(ag_loader_num_batches(l), 4);
    ag_loader_free(l);
    ag_tensor_free(x);
}

Test(sampler, bad_arguments_are_errors) {
    ag_tensor *x = ids(3, AG_F64);
    cr_assert_null(ag_loader_new_distributed(x, NULL, 1, true, 2, 2, false));
    cr_assert(strstr(ag_last_error(), "ag_loader_new_distributed: rank 2 is not in a world of 2"),
              "%s", ag_last_error());
    cr_assert_null(ag_loader_new_distributed(x, NULL, 1, true, 0, 4, true));
    cr_assert(strstr(ag_last_error(), "3 rows cannot be shared by 4 ranks with drop_last"));
    cr_assert_null(ag_loader_new_distributed(NULL, NULL, 1, true, 0, 1, false));
    ag_loader *plain = ag_loader_new(x, NULL, 1, false);
    cr_assert_neq(ag_loader_set_epoch(plain, 3), 0);
    cr_assert(strstr(ag_last_error(), "ag_loader_set_epoch: needs a loader from"));
    ag_loader_free(plain);
    ag_tensor_free(x);
}
