/* Strided, broadcasting element-wise iteration (see iter.h). */
#include "ops/iter.h"
#include "runtime/parallel.h"

#define CHUNK ((int64_t)1 << 15)   /* elements per task in the flat case */
#define PAR_MIN ((int64_t)1 << 16) /* below this, one thread */

struct plan {
    int n_in;
    const char *base[3];
    size_t es; /* element size of every operand */
    int ndim;  /* >= 1 */
    int64_t shape[AG_MAX_DIMS];
    int64_t stride[3][AG_MAX_DIMS]; /* per input, in elements */
    bool flat;                      /* all inputs contiguous with out's shape */
};

static void plan_init(struct plan *p, const ag_tensor *out, int n, const ag_tensor *const *in) {
    p->n_in = n;
    p->es = ag_dtype_size(out->dtype);
    p->ndim = out->ndim ? out->ndim : 1;
    p->flat = true;
    for (int d = 0; d < p->ndim; d++) p->shape[d] = out->ndim ? out->shape[d] : 1;
    for (int k = 0; k < n; k++) {
        p->base[k] = (const char *)ag__ptr(in[k]);
        if (out->ndim) ag__broadcast_strides(in[k], out->ndim, out->shape, p->stride[k]);
        else p->stride[k][0] = 0;
        bool same = in[k]->numel == out->numel && ag_is_contiguous(in[k]) &&
                    (in[k]->ndim == out->ndim || in[k]->numel <= 1);
        if (!same) p->flat = false;
    }
}

typedef void (*any_row)(void);

static void call_row(const struct plan *p, any_row row, char *z, const char *const *x,
                     const int64_t *sx, int64_t n, const void *args) {
    if (p->n_in == 1) ((ag_row1_fn)row)(z, x[0], sx[0], n, args);
    else if (p->n_in == 2) ((ag_row2_fn)row)(z, x[0], sx[0], x[1], sx[1], n, args);
    else ((ag_row3_fn)row)(z, x[0], sx[0], x[1], sx[1], x[2], sx[2], n, args);
}

/* Rows [r0, r1) of the outer dimensions (all but the last). */
static void run_rows(const struct plan *p, any_row row, char *out, int64_t r0, int64_t r1,
                     const void *args) {
    int nd = p->ndim, last = nd - 1;
    int64_t inner = p->shape[last];
    int64_t sx[3];
    for (int k = 0; k < p->n_in; k++) sx[k] = p->stride[k][last];
    for (int64_t r = r0; r < r1; r++) {
        const char *x[3];
        int64_t rem = r;
        int64_t off[3] = {0, 0, 0};
        for (int d = last - 1; d >= 0; d--) {
            int64_t i = rem % p->shape[d];
            rem /= p->shape[d];
            for (int k = 0; k < p->n_in; k++) off[k] += i * p->stride[k][d];
        }
        for (int k = 0; k < p->n_in; k++) x[k] = p->base[k] + (size_t)off[k] * p->es;
        call_row(p, row, out + (size_t)(r * inner) * p->es, x, sx, inner, args);
    }
}

/* A map shared out by ag__parallel_for: over chunks of CHUNK elements (flat) or rows. */
struct run_job {
    const struct plan *p;
    any_row row;
    char *z;
    const void *args;
    int64_t total;
};

static void flat_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct run_job *j = ctx;
    const struct plan *p = j->p;
    int64_t one[3] = {1, 1, 1};
    (void)tid;
    for (int64_t c = lo; c < hi; c++) {
        int64_t e0 = c * CHUNK, n = j->total - e0 < CHUNK ? j->total - e0 : CHUNK;
        const char *x[3];
        for (int k = 0; k < p->n_in; k++) x[k] = p->base[k] + (size_t)e0 * p->es;
        call_row(p, j->row, j->z + (size_t)e0 * p->es, x, one, n, j->args);
    }
}

static void rows_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct run_job *j = ctx;
    (void)tid;
    run_rows(j->p, j->row, j->z, lo, hi, j->args);
}

static void run(const struct plan *p, any_row row, ag_tensor *out, const void *args) {
    char *z = ag__ptr(out);
    int64_t total = out->numel;
    if (total == 0) return;
    bool par = total >= PAR_MIN && ag__parallel_threads() > 1;
    struct run_job j = {p, row, z, args, total};
    if (p->flat) {
        int64_t one[3] = {1, 1, 1}, chunks = (total + CHUNK - 1) / CHUNK;
        if (!par) {
            call_row(p, row, z, p->base, one, total, args);
            return;
        }
        ag__parallel_for(chunks, 1, 1.0, 0.0, flat_range, &j);
        return;
    }
    int64_t rows = total / p->shape[p->ndim - 1];
    if (!par || rows == 1) {
        run_rows(p, row, z, 0, rows, args);
        return;
    }
    ag__parallel_for(rows, 1, 1.0, 0.0, rows_range, &j);
}

/* One output element: every input has one element too, so no plan is needed. */
#define ONE(t) ((const char *)ag__ptr(t))

void ag__map1(ag_tensor *out, const ag_tensor *a, ag_row1_fn row, const void *args) {
    if (out->numel == 1) {
        row(ag__ptr(out), ONE(a), 1, 1, args);
        return;
    }
    struct plan p;
    plan_init(&p, out, 1, (const ag_tensor *const[]){a});
    run(&p, (any_row)row, out, args);
}

void ag__map2(ag_tensor *out, const ag_tensor *a, const ag_tensor *b, ag_row2_fn row,
              const void *args) {
    if (out->numel == 1) {
        row(ag__ptr(out), ONE(a), 1, ONE(b), 1, 1, args);
        return;
    }
    struct plan p;
    plan_init(&p, out, 2, (const ag_tensor *const[]){a, b});
    run(&p, (any_row)row, out, args);
}

void ag__map3(ag_tensor *out, const ag_tensor *a, const ag_tensor *b, const ag_tensor *c,
              ag_row3_fn row, const void *args) {
    if (out->numel == 1) {
        row(ag__ptr(out), ONE(a), 1, ONE(b), 1, ONE(c), 1, 1, args);
        return;
    }
    struct plan p;
    plan_init(&p, out, 3, (const ag_tensor *const[]){a, b, c});
    run(&p, (any_row)row, out, args);
}
