/* Internal: the op table and the one path that runs ops.
 *
 * An op is one line in ops/ops.def and one `const struct ag_op_def ag__op_<name>` in its
 * family file: shape rule, forward kernel, backward rule (written with the public ops, so
 * create_graph records it), and how to test and benchmark it. Every public op is one line
 * that calls ag__apply, which passes NULL through, checks shapes and dtypes through the
 * shape rule, allocates the result in the current scope, runs forward, and records a tape
 * node when grad mode is on and an input requires grad. */
#ifndef AG_OPS_H
#define AG_OPS_H

#include "autograd/node.h" /* struct ag_node, ag__accumulate, ag__needs_grad */

#include <stdalign.h>
#include <string.h>

enum ag_op_id {
#define OP(ID, name) AG_OP_##ID,
#include "ops/ops.def"
#undef OP
    AG_OP_COUNT
};

/* Output geometry decided by an op's shape rule. */
struct ag_meta {
    ag_dtype dtype;
    int ndim;
    int64_t shape[AG_MAX_DIMS];
};

/* How the table-driven tests and the benchmark make inputs for an op. */
struct ag_op_check {
    double lo, hi; /* float inputs drawn from U[lo, hi]: a domain that avoids kinks */
    /* Makes the inputs (sets requires_grad on those to check) and fills args; returns the
     * number of inputs, or 0 when this variant does not apply. variant 0: contiguous;
     * variant 1: transposed / broadcast / strided inputs. size 0: small (gradcheck);
     * size > 0: about that many elements per input (benchmark). NULL: the generic maker
     * (arity inputs of shape [3,4], or [size] for benchmarks, [r, size/r] when
     * the op has args, as those are written for the 2-D case; variant 1 transposes the
     * first and broadcasts the second as [4]), with args copied from `args`. */
    int (*make)(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size);
    const void *args; /* generic maker: the op's argument struct */
    size_t args_size;
    double eps, atol, rtol; /* 0: ag_gradcheck's defaults */
    bool no_grad;           /* not differentiable (argmax, comparisons): no backward expected */
    bool f64_only;          /* no float32 kernel (rare; say why at the op) */
    double flops_per_elem;  /* benchmark: arithmetic per output element (0: memory-bound) */
    /* benchmark: a contraction's forward arithmetic per call (2 x output elements x K),
     * for ops bound by the FMA peak rather than memory (matmul, linear, conv); NULL:
     * flops_per_elem x output elements, and the op is counted as memory-bound. */
    double (*flops)(ag_tensor *const *in, int n, const void *args, const ag_tensor *out);
};

struct ag_op_def {
    const char *name; /* "mul": the public function is ag_mul */
    int arity;        /* inputs; -1: any number (cat) */
    /* Checks inputs and args; fills the output's meta. Errors via ag__error(..., fn, ...). */
    int (*shape)(struct ag_meta *out, ag_tensor *const *in, int n, const void *args,
                 const char *fn);
    /* Optional: output as a view of in[0]. Fills strides and offset; returns non-zero when
     * no view is possible (then forward runs into a fresh contiguous tensor). */
    int (*view)(const struct ag_meta *m, int64_t *strides, int64_t *offset, ag_tensor *const *in,
                const void *args);
    /* Writes out (contiguous, uninitialised). May allocate saved[0..1] with ag__empty. */
    int (*forward)(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                   ag_tensor **saved);
    /* Given the gradient of out, calls ag__accumulate(node, i, grad_i) for each input
     * that needs it (ag__needs_grad), using public ops only. NULL: not differentiable. */
    int (*backward)(struct ag_node *node, ag_tensor *grad);
    struct ag_op_check check;
};

#define OP(ID, name) extern const struct ag_op_def ag__op_##name;
#include "ops/ops.def"
#undef OP
extern const struct ag_op_def *const ag__ops[AG_OP_COUNT];
extern const char *const ag__op_fnames[AG_OP_COUNT]; /* "ag_mul" ... */

/* Runs op on n inputs with its argument struct (args_size bytes, <= AG_ARGS_BYTES). */
ag_tensor *ag__apply(enum ag_op_id op, int n, ag_tensor *const *in, const void *args,
                     size_t args_size);
#define AG_APPLY1(op, a) ag__apply(op, 1, (ag_tensor *const[]){a}, NULL, 0)
#define AG_APPLY2(op, a, b) ag__apply(op, 2, (ag_tensor *const[]){a, b}, NULL, 0)
#define AG_APPLY_ARGS(op, n, ins, args) ag__apply(op, n, ins, &(args), sizeof(args))

/* Anomaly mode (autograd/anomaly.c): whether it is on for this thread; the next op's tape
 * index (-1 when off); the checks of a forward output and of a backward gradient (an
 * error naming the op, its input shapes and tape index when non-finite). */
extern _Thread_local bool ag__anomaly; /* on for this thread: read inline on every op */
int64_t ag__anomaly_index(void);
int ag__anomaly_forward(const char *fn, ag_tensor *out, ag_tensor *const *in, int n, int64_t index);
int ag__anomaly_backward(const struct ag_node *node, int i, const ag_tensor *g);
/* The backward rule the walk runs now (ops inside it are blamed on it); returns the last. */
const struct ag_node *ag__anomaly_set_backward(const struct ag_node *node);

/* ---- shape rules shared by families */
int ag__shape_same(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                   const char *fn); /* unary: out like in[0], float only */
int ag__shape_broadcast(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                        const char *fn); /* NumPy broadcasting, same dtype */
int ag__broadcast_shapes(int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                         int64_t *out); /* non-zero when they do not broadcast */
/* Strides of t seen through an output shape (right-aligned; 0 on broadcast dims). */
void ag__broadcast_strides(const ag_tensor *t, int ndim, const int64_t *shape, int64_t *strides);
/* m gets t's dtype, ndim and shape. */
void ag__meta_like(struct ag_meta *m, const ag_tensor *t);

/* ---- ops/check.c: inputs for the table tests and the benchmark.
 * The generic maker used when check.make is NULL. */
int ag__check_make(const struct ag_op_def *def, ag_tensor **in, void *args, ag_dtype dtype,
                   int variant, int64_t size);
/* Uniform [lo,hi] tensor from the seeded stream, requires_grad set. */
ag_tensor *ag__check_input(ag_dtype dtype, int ndim, const int64_t *shape, double lo, double hi);
/* The generic maker for `arity` inputs in [-2, 2], values within 0.25 of each of the nk
 * kinks moved 0.25 away (abs at 0, clamp at its bounds), so finite differences do not
 * straddle a kink. */
int ag__check_make_away(ag_tensor **in, void *args, ag_dtype dtype, int variant, int64_t size,
                        int arity, const double *kinks, int nk);
/* A transposed view of the 2-D t, requiring grad (the strided variant's input). */
ag_tensor *ag__check_transposed(ag_tensor *t);
/* Benchmark inputs of makers that take a matrix: AG_CHECK_BENCH_ROWS rows and
 * ag__check_bench_cols(size) columns (at least 6). */
#define AG_CHECK_BENCH_ROWS 64
int64_t ag__check_bench_cols(int64_t size);

#endif
