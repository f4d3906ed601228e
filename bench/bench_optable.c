/* Every op of the table, forward and backward, over a size sweep.
 *
 * Inputs come from the op's own maker (ag__check_make with size > 0: about `size`
 * elements per input, values in the op's check domain), float32. Forward is timed with
 * grad mode off (the kernel and the apply path); backward is ag_backward_ex of the
 * recorded output with a ones seed and retain_graph (every node's rule, the gradient
 * ops it runs, and the accumulation into the leaves' .grad, as torch's y.backward(g)).
 * Work: forward flops = check.flops(inputs) for contractions (matmul, linear, conv: their
 * "of limit" is against the FMA peak), else check.flops_per_elem x output elements; bytes
 * = inputs + output; backward is counted as twice the flops and (2 x inputs + output) bytes. */
#include "bench/bench.h"

#include <stdlib.h>
#include <string.h>

struct op_ctx {
    enum ag_op_id op;
    int n;
    ag_tensor *in[16];
    ag_tensor *out, *seed;
    alignas(16) unsigned char args[AG_ARGS_BYTES];
};

static void run_forward(void *p) {
    struct op_ctx *c = p;
    ag__apply(c->op, c->n, c->in, c->args, AG_ARGS_BYTES);
}

static void run_backward(void *p) {
    struct op_ctx *c = p;
    ag_backward_ex(c->out, (ag_backward_opts){.grad = c->seed, .retain_graph = true});
}

struct bench_row *bench_rows_add(struct bench_rows *r) {
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 256;
        struct bench_row *v = realloc(r->v, sizeof *v * (size_t)cap);
        if (!v) return NULL;
        r->v = v, r->cap = cap;
    }
    struct bench_row *row = &r->v[r->n++];
    memset(row, 0, sizeof *row);
    return row;
}

static void shapes_str(char *buf, size_t size, ag_tensor *const *in, int n) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < n && k < size; i++) {
        const int64_t *sh = ag_shape(in[i]);
        for (int d = 0; d < ag_ndim(in[i]) && k < size; d++)
            k += (size_t)snprintf(buf + k, size - k, "%s%lld", d ? "x" : "", (long long)sh[d]);
        if (ag_ndim(in[i]) == 0 && k < size) k += (size_t)snprintf(buf + k, size - k, "0d");
        if (i + 1 < n && k < size) k += (size_t)snprintf(buf + k, size - k, ";");
    }
}

/* One op at one size: a forward row and (when differentiable) a backward row. */
static int bench_one(const struct bench_cfg *cfg, int id, int64_t size, int threads,
                     struct bench_rows *out) {
    const struct ag_op_def *def = ag__ops[id];
    struct op_ctx c = {.op = (enum ag_op_id)id};
    double min_s = cfg->smoke ? 0 : cfg->quick ? 0.005 : 0.1;
    int reps = cfg->smoke ? 1 : cfg->quick ? 3 : 5;
    int rc = 0;
    ag_manual_seed(1234);
    ag_scope_begin();
    c.n = ag__check_make(def, c.in, c.args, AG_F32, 0, size);
    if (c.n <= 0) goto done; /* the op does not run at this size */
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *y = ag__apply(c.op, c.n, c.in, c.args, AG_ARGS_BYTES);
    ag_set_grad_enabled(prev);
    if (!y) {
        fprintf(stderr, "bench: %s at size %lld: %s\n", def->name, (long long)size,
                ag_last_error());
        rc = -1;
        goto done;
    }
    double in_el = 0, es = 4;
    for (int i = 0; i < c.n; i++) in_el += (double)ag_numel(c.in[i]);
    double out_el = (double)ag_numel(y);
    bool is_view = y->storage == c.in[0]->storage; /* a view: nothing is copied */
    ag_clear_error();
    struct bench_row *r = bench_rows_add(out);
    if (!r) {
        rc = -1;
        goto done;
    }
    snprintf(r->what, sizeof r->what, "%s", def->name);
    strcpy(r->dir, "fwd");
    r->size = size, r->threads = threads;
    shapes_str(r->shapes, sizeof r->shapes, c.in, c.n);
    r->lo = def->check.lo, r->hi = def->check.hi;
    if (r->lo == 0 && r->hi == 0) r->lo = -2, r->hi = 2;
    r->compute_bound = def->check.flops != NULL;
    r->flops = r->compute_bound ? def->check.flops(c.in, c.n, c.args, y)
                                : def->check.flops_per_elem * out_el;
    r->bytes = is_view ? 0 : (in_el + out_el) * es;
    prev = ag_set_grad_enabled(false);
    r->ours_s = ag_bench_time(run_forward, &c, reps, min_s);
    ag_set_grad_enabled(prev);
    if (def->check.no_grad || !def->backward) goto done;
    c.out = ag__apply(c.op, c.n, c.in, c.args, AG_ARGS_BYTES);
    c.seed = c.out ? ag_ones_like(c.out) : NULL;
    if (!c.seed) {
        rc = -1;
        goto done;
    }
    struct bench_row *b = bench_rows_add(out);
    if (!b) {
        rc = -1;
        goto done;
    }
    *b = out->v[out->n - 2];
    strcpy(b->dir, "bwd");
    b->flops = 2 * b->flops;
    b->bytes = (2 * in_el + out_el) * es;
    b->ours_s = ag_bench_time(run_backward, &c, reps, min_s);
    if (ag_last_error()) {
        fprintf(stderr, "bench: %s backward: %s\n", def->name, ag_last_error());
        rc = -1;
    }
done:
    ag_scope_end();
    return rc;
}

int bench_optable(const struct bench_cfg *cfg, int threads, struct bench_rows *out) {
    static const int64_t full[] = {1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 24};
    static const int64_t quick[] = {1 << 12, 1 << 16};
    static const int64_t smoke[] = {256};
    const int64_t *sizes = cfg->smoke ? smoke : cfg->quick ? quick : full;
    int n_sizes = cfg->smoke ? 1 : cfg->quick ? 2 : 5, rc = 0;
    ag_set_num_threads(threads);
    for (int id = 0; id < AG_OP_COUNT; id++)
        for (int s = 0; s < n_sizes; s++)
            if (bench_one(cfg, id, sizes[s], threads, out)) rc = -1;
    return rc;
}
