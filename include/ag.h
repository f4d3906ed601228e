/**
 * @file ag.h
 * @brief The whole public API of ag: include this one header.
 *
 * ag — a reverse-mode autograd tensor engine in C11.
 *
 * A short tour:
 *
 *     ag_tensor *w = ag_zeros(AG_F64, 1, (int64_t[]){1});   // a parameter: outside scopes
 *     ag_set_requires_grad(w, true);
 *     for (int step = 0; step < 100; step++) {
 *         ag_scope_begin();                                // everything below is freed at end
 *         ag_tensor *loss = ag_mse_loss(ag_mul(x, w), y);
 *         ag_backward(loss);                               // w's .grad accumulates
 *         ... update w under ag_set_grad_enabled(false) ...
 *         ag_zero_grad(w);
 *         ag_scope_end();
 *     }
 *     ag_tensor_free(w);
 *
 * Rules that hold everywhere:
 *  - Shapes are (int ndim, const int64_t *shape), row-major; ndim 0 is a scalar.
 *  - A negative dim counts from the end.
 *  - Binary element-wise ops broadcast by NumPy's rules.
 *  - Both inputs of an op share a dtype (use ag_cast).
 *  - Ops return new tensors (or views sharing storage) and never change their inputs,
 *    unless the name ends in '_'.
 *  - On bad input a function returns NULL (or non-zero int) and ag_last_error() names the
 *    function and the shapes. A NULL input makes an op return NULL silently, so a chain
 *    of calls needs one check at its end.
 *  - The last error, the scope stack and the grad mode are per thread.
 *
 * Ownership: a tensor made inside ag_scope_begin/ag_scope_end belongs to the innermost
 * scope and is freed by its ag_scope_end. A tensor made outside every scope is owned by
 * the caller and freed with ag_tensor_free.
 */
#ifndef AG_H
#define AG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ag_version.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The library is built with -fvisibility=hidden: what is declared between this push and
 * the pop at the end of the file is what libag.so exports (tests/check-symbols.sh). */
#pragma GCC visibility push(default)

#define AG_MAX_DIMS 8

/* ---------------------------------------------------------------- version */
/** The library's "MAJOR.MINOR.PATCH" (the header's is AG_VERSION_STRING); static storage. */
const char *ag_version(void);

/* ---------------------------------------------------------------- errors */
const char *ag_last_error(void); /**< the last failure's one-line message, or NULL */
/** Forgets this thread's last error: ag_last_error() returns NULL until the next failure. */
void ag_clear_error(void);
/** Called with each error's message (and the user pointer) as it is set. */
typedef void (*ag_error_handler)(const char *message, void *user);
void ag_set_error_handler(ag_error_handler handler, void *user); /**< NULL: none */

/* ---------------------------------------------------------------- types */
/** Element types: float32, float64, int64 for class labels and indices, and uint8 for data
 * kept as bytes (images: a quarter of float32's memory).
 *
 * AG_U8 is a storage dtype, as torch.uint8 is for datasets: it can be made, filled, read,
 * printed, cast (ag_cast to a float dtype is exact; to AG_U8 a float truncates toward zero
 * and saturates to [0, 255] with NaN as 0, an int64 wraps modulo 256 as torch), copied,
 * reshaped, sliced, indexed (ag_index_select, ag_gather, ag_cat, ag_stack, ag_split ...),
 * saved and loaded (safetensors "U8"). Arithmetic, reductions and every differentiable op
 * reject it with AG_ERR_DTYPE ("ag_add: expects float32 or float64, got uint8 [...]"), and it
 * never requires grad: ag_cast it (or let ag_train / ag_evaluate convert each batch). */
typedef enum { AG_F32, AG_F64, AG_I64, AG_U8 } ag_dtype;
typedef struct ag_tensor ag_tensor; /**< opaque */
typedef struct ag_optim ag_optim;   /**< opaque */

size_t ag_dtype_size(ag_dtype dtype);      /**< bytes per element */
const char *ag_dtype_name(ag_dtype dtype); /**< "float32", "float64", "int64", "uint8"; "?" */

/* ---------------------------------------------------------------- creating and reading */
ag_tensor *ag_tensor_new(ag_dtype dtype, int ndim, const int64_t *shape,
                         const void *data);         /**< copies data; NULL data: zeros */
ag_tensor *ag_scalar(ag_dtype dtype, double value); /**< 0-d tensor */
/** A new tensor of this shape filled with 0. */
ag_tensor *ag_zeros(ag_dtype dtype, int ndim, const int64_t *shape);
/** A new tensor of this shape filled with 1. */
ag_tensor *ag_ones(ag_dtype dtype, int ndim, const int64_t *shape);
/** A new tensor of this shape filled with value. */
ag_tensor *ag_full(ag_dtype dtype, int ndim, const int64_t *shape, double value);
/** 1-D start, start+step, ... up to (not including) end; NULL and an error when step is 0, not finite, or points away from end. */
ag_tensor *ag_arange(ag_dtype dtype, double start, double end, double step);
ag_tensor *ag_randn(ag_dtype dtype, int ndim, const int64_t *shape); /**< N(0,1) */
ag_tensor *ag_rand(ag_dtype dtype, int ndim, const int64_t *shape);  /**< U[0,1) */
/** Zeros of t's shape and dtype. */
ag_tensor *ag_zeros_like(const ag_tensor *t);
/** Ones of t's shape and dtype. */
ag_tensor *ag_ones_like(const ag_tensor *t);
void ag_manual_seed(uint64_t seed); /**< same seed, same numbers, any thread count */
uint64_t ag_random_u64(void);       /**< next value of the seeded stream */

/** t's dtype. */
ag_dtype ag_dtype_of(const ag_tensor *t);
/** t's number of dimensions (0 for a scalar). */
int ag_ndim(const ag_tensor *t);
/** t's shape: ag_ndim(t) sizes, owned by t. */
const int64_t *ag_shape(const ag_tensor *t);
const int64_t *ag_strides(const ag_tensor *t); /**< in elements */
int64_t ag_size(const ag_tensor *t, int dim);  /**< negative dim counts from the end; -1 on error */
/** The number of elements (the product of the shape; 1 for a scalar). */
int64_t ag_numel(const ag_tensor *t);
/** True when t's elements lie row-major without gaps. */
bool ag_is_contiguous(const ag_tensor *t);
double ag_item(const ag_tensor *t); /**< one-element tensor -> its value (NAN on error) */
double ag_get(const ag_tensor *t, const int64_t *index); /**< one element by n-d index */
int ag_to_array(const ag_tensor *t, void *dst);     /**< every element, row-major, in t's dtype */
void *ag_data(ag_tensor *t);                        /**< contiguous tensors: pointer to element 0 */
int ag_copy_(ag_tensor *dst, const ag_tensor *src); /**< same shape & dtype; no grad */
int ag_fill_(ag_tensor *t, double value);           /**< no grad */
void ag_print(const ag_tensor *t); /**< shape, dtype and values, like torch's repr */
int ag_snprint(char *buf, size_t size, const ag_tensor *t); /**< ag_print into a buffer */
/** t converted to dtype (t itself when it already has it); differentiable between float dtypes. */
ag_tensor *ag_cast(ag_tensor *t, ag_dtype dtype);
ag_tensor *ag_contiguous(ag_tensor *t); /**< t itself when already contiguous */
ag_tensor *ag_clone(ag_tensor *t);      /**< a contiguous copy, differentiable */

/* ---------------------------------------------------------------- lifetime */
void ag_scope_begin(void);         /**< tensors made from here on belong to this scope */
void ag_scope_end(void);           /**< frees them: data, graph, non-leaf grads */
int ag_scope_depth(void);          /**< 0 outside every scope */
ag_tensor *ag_keep(ag_tensor *t);  /**< moves t (detached) to the enclosing scope */
void ag_tensor_free(ag_tensor *t); /**< frees a tensor made outside every scope */

/* ---------------------------------------------------------------- autograd */
/** Marks a leaf as a parameter: ag_backward accumulates its gradient in ag_grad(t). */
void ag_set_requires_grad(ag_tensor *t, bool on);
/** True when gradients flow to or through t. */
bool ag_requires_grad(const ag_tensor *t);
/** True for a tensor not made by a recorded op (a parameter or an input). */
bool ag_is_leaf(const ag_tensor *t);
ag_tensor *ag_grad(const ag_tensor *t); /**< accumulated gradient of a leaf, or NULL */
void ag_zero_grad(ag_tensor *t);   /**< sets the accumulated gradient to zero (keeps its buffer) */
int ag_backward(ag_tensor *root);  /**< root has one element; grads accumulate */
bool ag_set_grad_enabled(bool on); /**< returns the previous mode (no_grad blocks) */
/** The thread's grad mode: false inside a no-grad block. */
bool ag_is_grad_enabled(void);
ag_tensor *ag_detach(ag_tensor *t); /**< a view of t's data with no history */

/** Options of ag_backward_ex (zero-initialised: ag_backward's behaviour). */
typedef struct {
    ag_tensor *grad;   /**< seed gradient, shape of root; NULL: ones (root must have one element) */
    bool retain_graph; /**< keep the graph for another backward */
} ag_backward_opts;
/** ag_backward with options: a seed gradient of root's shape, and retain_graph. */
int ag_backward_ex(ag_tensor *root, ag_backward_opts opts);

/** Options of ag_autograd_grad. */
typedef struct {
    bool retain_graph; /**< default false (true when create_graph) */
    bool create_graph; /**< record the backward pass: gradients of gradients */
    bool allow_unused; /**< an input the outputs do not depend on gets NULL instead of an error */
} ag_grad_opts;
/** torch.autograd.grad: d(sum_i <outputs[i], grad_outputs[i]>)/d inputs[j] into grads[j],
 * without touching any .grad. grad_outputs may be NULL (each output then must have one
 * element) or hold NULLs. The results belong to the current scope. Returns 0 or non-zero. */
int ag_autograd_grad(int n_out, ag_tensor *const *outputs, ag_tensor *const *grad_outputs, int n_in,
                     ag_tensor *const *inputs, ag_tensor **grads, ag_grad_opts opts);

/** torch.Tensor.register_post_accumulate_grad_hook: fn(leaf, user) runs during each
 * ag_backward once leaf's .grad holds all of this backward's contributions, while the walk
 * goes on with the rest of the graph (what overlapped gradient all-reduce needs). Several
 * hooks on a leaf run in registration order; ag_autograd_grad runs none. The leaf must be
 * a leaf that requires grad; its hooks go when it is freed (or its scope ends). The hook
 * runs with grad mode off on the thread calling ag_backward. 0 or non-zero (NULL leaf/fn,
 * not a leaf, no requires_grad). */
/** A post-accumulate-grad hook: called with the leaf and the user pointer. */
typedef void (*ag_grad_hook)(ag_tensor *leaf, void *user);
/** Registers fn(leaf, user); see above. */
int ag_register_post_accumulate_grad_hook(ag_tensor *leaf, ag_grad_hook fn, void *user);
/** Removes every hook registered with this (leaf, fn, user); non-zero when there was none. */
int ag_remove_post_accumulate_grad_hook(ag_tensor *leaf, ag_grad_hook fn, void *user);

/* ---------------------------------------------------------------- element-wise */
/** a + b, broadcasting; a new tensor in the current scope. */
ag_tensor *ag_add(ag_tensor *a, ag_tensor *b);
/** a - b, broadcasting. */
ag_tensor *ag_sub(ag_tensor *a, ag_tensor *b);
/** a * b element-wise, broadcasting. */
ag_tensor *ag_mul(ag_tensor *a, ag_tensor *b);
/** a / b element-wise, broadcasting. */
ag_tensor *ag_div(ag_tensor *a, ag_tensor *b);
/** t raised to a constant exponent, element-wise. */
ag_tensor *ag_pow(ag_tensor *t, double exponent);
/** t + s. */
ag_tensor *ag_add_scalar(ag_tensor *t, double s);
/** t * s. */
ag_tensor *ag_mul_scalar(ag_tensor *t, double s);
/** -t. */
ag_tensor *ag_neg(ag_tensor *t);
/** e^t element-wise. */
ag_tensor *ag_exp(ag_tensor *t);
/** Natural logarithm element-wise (-inf at 0, NaN below). */
ag_tensor *ag_log(ag_tensor *t);
/** Square root element-wise. */
ag_tensor *ag_sqrt(ag_tensor *t);
/** |t| element-wise (gradient 0 at 0, as torch). */
ag_tensor *ag_abs(ag_tensor *t);
/** sin(t) element-wise. */
ag_tensor *ag_sin(ag_tensor *t);
/** cos(t) element-wise. */
ag_tensor *ag_cos(ag_tensor *t);
ag_tensor *ag_sign(ag_tensor *t);                  /**< no gradient (zero) */
ag_tensor *ag_maximum(ag_tensor *a, ag_tensor *b); /**< ties split the gradient, as torch */
/** The smaller of a and b element-wise, broadcasting; ties split the gradient. */
ag_tensor *ag_minimum(ag_tensor *a, ag_tensor *b);
/** t limited to [lo, hi]; the gradient passes where lo <= t <= hi. */
ag_tensor *ag_clamp(ag_tensor *t, double lo, double hi);
ag_tensor *ag_where(ag_tensor *cond, ag_tensor *a, ag_tensor *b); /**< cond != 0 ? a : b */
ag_tensor *ag_eq(ag_tensor *a, ag_tensor *b); /**< 1/0 in a's dtype, no gradient */
/** 1 where a > b, else 0, in a's dtype; no gradient. */
ag_tensor *ag_gt(ag_tensor *a, ag_tensor *b);

/* ---------------------------------------------------------------- reductions */
ag_tensor *ag_sum(ag_tensor *t); /**< all elements -> 0-d */
/** The mean of all elements, 0-d. */
ag_tensor *ag_mean(ag_tensor *t);
/** The sum over dim (keepdim keeps it with size 1). */
ag_tensor *ag_sum_dim(ag_tensor *t, int dim, bool keepdim);
/** The mean over dim (keepdim keeps it with size 1). */
ag_tensor *ag_mean_dim(ag_tensor *t, int dim, bool keepdim);
ag_tensor *ag_max_dim(ag_tensor *t, int dim,
                      bool keepdim); /**< values; gradient to the first max */
ag_tensor *ag_argmax_dim(ag_tensor *t, int dim,
                         bool keepdim); /**< AG_I64, first max, no gradient */
ag_tensor *ag_max(ag_tensor *t);        /**< all elements -> 0-d; ties share evenly */
/** log(sum(exp(t))) over dim, computed stably. */
ag_tensor *ag_logsumexp_dim(ag_tensor *t, int dim, bool keepdim);
/** The variance over dim: squared deviations summed and divided by (n - correction); 1 is the sample variance, 0 the population's. */
ag_tensor *ag_var_dim(ag_tensor *t, int dim, bool keepdim, int correction);
ag_tensor *ag_sum_to(ag_tensor *t, int ndim, const int64_t *shape); /**< undo broadcasting */

/* ---------------------------------------------------------------- shape (views where possible) */
ag_tensor *ag_reshape(ag_tensor *t, int ndim, const int64_t *shape); /**< one -1 allowed */
ag_tensor *ag_view(ag_tensor *t, int ndim, const int64_t *shape);    /**< error if not a view */
/** A view with dims d0 and d1 swapped. */
ag_tensor *ag_transpose(ag_tensor *t, int d0, int d1);
/** A view with the dims reordered: dims holds a permutation of 0..ndim-1. */
ag_tensor *ag_permute(ag_tensor *t, const int *dims);
ag_tensor *ag_expand(ag_tensor *t, int ndim, const int64_t *shape); /**< broadcast view */
/** A view without dim (which must have size 1). */
ag_tensor *ag_squeeze(ag_tensor *t, int dim);
/** A view with a new dim of size 1 inserted at dim (0..ndim). */
ag_tensor *ag_unsqueeze(ag_tensor *t, int dim);
/** Dims start_dim..end_dim merged into one (a view when strides allow). */
ag_tensor *ag_flatten(ag_tensor *x, int start_dim, int end_dim);
/** The n tensors joined along an existing dim; the other sizes must match. */
ag_tensor *ag_cat(ag_tensor *const *ts, int n, int dim);
/** The n tensors (same shape) joined along a new dim. */
ag_tensor *ag_stack(ag_tensor *const *ts, int n, int dim);
/** Elements start, start+step, ... below end along dim, a view; negative start/end count from the end and are clamped; step > 0. */
ag_tensor *ag_slice(ag_tensor *t, int dim, int64_t start, int64_t end, int64_t step);
/** The entries of index (1-D AG_I64) along dim, as torch.index_select. */
ag_tensor *ag_index_select(ag_tensor *t, int dim, ag_tensor *index /* 1-D AG_I64 */);
/** torch.gather: out[i][j] = t[index[i][j]][j] for dim 0 (index AG_I64, t's ndim). */
ag_tensor *ag_gather(ag_tensor *t, int dim, ag_tensor *index /* AG_I64, t's ndim */);
/** labels (AG_I64) [...] -> [..., num_classes] of 0/1 in dtype; no gradient. */
ag_tensor *ag_one_hot(ag_tensor *labels /* AG_I64 */, int64_t num_classes, ag_dtype dtype);

/* ---------------------------------------------------------------- linear algebra */
ag_tensor *ag_matmul(ag_tensor *a, ag_tensor *b); /**< torch.matmul's rules */

/* ---------------------------------------------------------------- activations */
/** 1 / (1 + e^-t). */
ag_tensor *ag_sigmoid(ag_tensor *t);
/** Hyperbolic tangent. */
ag_tensor *ag_tanh(ag_tensor *t);
/** max(t, 0) (gradient 0 at 0). */
ag_tensor *ag_relu(ag_tensor *t);
/** SELU with torch's constants. */
ag_tensor *ag_selu(ag_tensor *t);
ag_tensor *ag_softplus(ag_tensor *t); /**< beta 1, threshold 20 */
/** log(1 + e^(beta t)) / beta, linear above threshold (torch.nn.functional.softplus). */
ag_tensor *ag_softplus_ex(ag_tensor *t, double beta, double threshold);
ag_tensor *ag_gelu(ag_tensor *t);      /**< exact erf form */
ag_tensor *ag_gelu_tanh(ag_tensor *t); /**< approximate='tanh' */
/** t * sigmoid(t). */
ag_tensor *ag_silu(ag_tensor *t);
/** t for t > 0, negative_slope * t otherwise. */
ag_tensor *ag_leaky_relu(ag_tensor *t, double negative_slope);
/** t for t > 0, alpha (e^t - 1) otherwise. */
ag_tensor *ag_elu(ag_tensor *t, double alpha);
ag_tensor *ag_prelu(ag_tensor *t, ag_tensor *weight); /**< weight [1] or [C] on dim 1 */
/** t clamped into [min_val, max_val]. */
ag_tensor *ag_hardtanh(ag_tensor *t, double min_val, double max_val);
/** relu6(t + 3) / 6. */
ag_tensor *ag_hardsigmoid(ag_tensor *t);
/** Softmax over dim. */
ag_tensor *ag_softmax(ag_tensor *t, int dim);
/** log(softmax) over dim, computed stably. */
ag_tensor *ag_log_softmax(ag_tensor *t, int dim);

/* ---------------------------------------------------------------- losses */
/** How a loss reduces over elements: mean (the default), sum, or none (the per-element loss). */
typedef enum { AG_REDUCTION_MEAN, AG_REDUCTION_SUM, AG_REDUCTION_NONE } ag_reduction;
/** mean((pred - target)^2); shapes broadcast; 0-d result. */
ag_tensor *ag_mse_loss(ag_tensor *pred, ag_tensor *target);
/** mean(|pred - target|). */
ag_tensor *ag_l1_loss(ag_tensor *pred, ag_tensor *target);
/** Huber loss with threshold delta, mean over elements. */
ag_tensor *ag_huber_loss(ag_tensor *pred, ag_tensor *target, double delta);
/** Binary cross-entropy of probabilities in [0, 1], mean. */
ag_tensor *ag_bce_loss(ag_tensor *prob, ag_tensor *target);
/** Binary cross-entropy of logits (sigmoid folded in, stable), mean. */
ag_tensor *ag_bce_with_logits_loss(ag_tensor *logits, ag_tensor *target);
/** Softmax cross-entropy of logits [N,C] with labels [N] (AG_I64), mean. */
ag_tensor *ag_cross_entropy_loss(ag_tensor *logits /*[N,C]*/, ag_tensor *labels /*[N], AG_I64*/);
/** Negative log-likelihood of log-probabilities [N,C] at labels [N] (AG_I64), mean. */
ag_tensor *ag_nll_loss(ag_tensor *log_probs /*[N,C]*/, ag_tensor *labels /*[N], AG_I64*/);
ag_tensor *ag_kl_div_loss(ag_tensor *log_input, ag_tensor *target); /**< reduction='batchmean' */
/** The same with a reduction; for kl_div MEAN means 'batchmean'. */
ag_tensor *ag_mse_loss_ex(ag_tensor *pred, ag_tensor *target, ag_reduction r);
/** ag_l1_loss with a reduction. */
ag_tensor *ag_l1_loss_ex(ag_tensor *pred, ag_tensor *target, ag_reduction r);
/** ag_huber_loss with a reduction. */
ag_tensor *ag_huber_loss_ex(ag_tensor *pred, ag_tensor *target, double delta, ag_reduction r);
/** ag_bce_loss with a reduction. */
ag_tensor *ag_bce_loss_ex(ag_tensor *prob, ag_tensor *target, ag_reduction r);
/** ag_bce_with_logits_loss with a reduction. */
ag_tensor *ag_bce_with_logits_loss_ex(ag_tensor *logits, ag_tensor *target, ag_reduction r);
/** ag_nll_loss with a reduction. */
ag_tensor *ag_nll_loss_ex(ag_tensor *log_probs, ag_tensor *labels, ag_reduction r);
/** ag_kl_div_loss with a reduction (MEAN is batchmean). */
ag_tensor *ag_kl_div_loss_ex(ag_tensor *log_input, ag_tensor *target, ag_reduction r);
/** Options of ag_cross_entropy_loss_ex. */
typedef struct {
    ag_reduction reduction; /**< default mean */
    double label_smoothing; /**< 0..1 */
} ag_cross_entropy_opts;
/** target: AG_I64 labels [N], or class probabilities [N,C] in the logits' dtype. As torch,
 * labels also come as [N,d...] for logits [N,C,d...], and 0-d for logits [C] (NONE: the
 * labels' shape); the same forms hold for ag_nll_loss(_ex). */
ag_tensor *ag_cross_entropy_loss_ex(ag_tensor *logits, ag_tensor *target,
                                    ag_cross_entropy_opts opts);

/* ---------------------------------------------------------------- layers as functions */
/** x [..., in] times weight [out,in] transposed, plus bias [out] (or NULL): [..., out]. */
ag_tensor *ag_linear(ag_tensor *x, ag_tensor *weight /*[out,in]*/,
                     ag_tensor *bias /*[out] or NULL*/);
/** Convolution options, (height, width) pairs; a field left 0 takes its default. */
typedef struct {
    int stride[2];   /**< 0: 1 */
    int padding[2];  /**< zeros added on both sides; default 0 */
    int dilation[2]; /**< 0: 1 */
    int groups;      /**< 0: 1; in and out channels must divide by it */
} ag_conv_opts;
/** 2-D convolution (torch's conv2d): x [N,C,H,W], weight [O,C/groups,kH,kW], bias [O] or NULL. */
ag_tensor *ag_conv2d(ag_tensor *x /*[N,C,H,W]*/, ag_tensor *weight /*[O,C/groups,kH,kW]*/,
                     ag_tensor *bias /*[O] or NULL*/, ag_conv_opts opts);
/** relu(ag_conv2d(x, weight, bias, opts)) as one op, the ReLU in the convolution's epilogue:
 * the same values and gradients, one pass and one [N,O,OH,OW] tensor fewer. A Sequential
 * runs a Conv2d layer followed by a ReLU layer this way. Shape errors name ag_conv2d. */
ag_tensor *ag_conv2d_relu(ag_tensor *x /*[N,C,H,W]*/, ag_tensor *weight /*[O,C/groups,kH,kW]*/,
                          ag_tensor *bias /*[O] or NULL*/, ag_conv_opts opts);
/** 1-D convolution: x [N,C,L], weight [O,C/groups,k], bias [O] or NULL; uses index 0 of each pair in opts. */
ag_tensor *ag_conv1d(ag_tensor *x /*[N,C,L]*/, ag_tensor *weight /*[O,C/groups,k]*/,
                     ag_tensor *bias, ag_conv_opts opts); /**< uses index 0 of each pair */
/** Pooling options, (height, width) pairs. */
typedef struct {
    int kernel[2];  /**< window size */
    int stride[2];  /**< 0: the kernel size */
    int padding[2]; /**< default 0 */
} ag_pool_opts;
/** 2-D max pooling over [N,C,H,W]; the gradient goes to the first max of each window. */
ag_tensor *ag_max_pool2d(ag_tensor *x, ag_pool_opts opts);
/** 2-D average pooling over [N,C,H,W] (padding counted, as torch's default). */
ag_tensor *ag_avg_pool2d(ag_tensor *x, ag_pool_opts opts);
/** Zeroes each element with probability p and scales the rest by 1/(1-p) when training; x itself when not training or p is 0. */
ag_tensor *ag_dropout(ag_tensor *x, double p, bool training);
/** torch.nn.functional.batch_norm over dim 1; in training the running statistics (may be NULL) are updated in place with momentum. */
ag_tensor *ag_batch_norm(ag_tensor *x, ag_tensor *running_mean, ag_tensor *running_var,
                         ag_tensor *weight, ag_tensor *bias, bool training, double momentum,
                         double eps);

/* ---------------------------------------------------------------- anomaly mode
 * torch.autograd.detect_anomaly, per thread, off by default: on, every op's output is
 * checked for NaN/Inf in forward and every gradient in backward; the first found fails
 * (NULL / non-zero) with an error naming the op, its input shapes and its index on this
 * thread's tape (ops counted from when the mode was turned on); in backward, the forward
 * op whose backward rule produced it. Costs a pass over every output. Returns the
 * previous mode. */
/** Turns anomaly mode on or off for this thread; returns the previous mode. */
bool ag_set_detect_anomaly(bool on);

/* ---------------------------------------------------------------- gradient checking */
/** A function of tensors for ag_gradcheck: its result belongs to the current scope. */
typedef ag_tensor *(*ag_fn)(ag_tensor **inputs, void *ctx);
/** ag_gradcheck's tolerances; a field left 0 takes its default. */
typedef struct {
    double eps;  /**< finite-difference step; 0: 1e-6 */
    double atol; /**< absolute tolerance; 0: 1e-5 */
    double rtol; /**< relative tolerance; 0: 1e-3 */
} ag_gradcheck_opts;
/** What ag_gradcheck found. */
typedef struct {
    bool ok;            /**< every element within atol + rtol * |numerical| */
    double max_abs_err; /**< largest |analytical - numerical| */
    double max_rel_err; /**< largest relative error */
    int input;          /**< worst input */
    int64_t index;      /**< worst element of it, row-major */
    const char *why;    /**< "" when ok; else why the worst element fails (a non-finite
                           gradient fails, analytic or numeric: errors are then INFINITY) */
} ag_gradcheck_result;
/** f's output may have any shape: it is reduced as sum(out * fixed random weights).
 * Inputs with requires_grad are checked; the others are held fixed. */
ag_gradcheck_result ag_gradcheck(ag_fn f, void *ctx, int n, ag_tensor **inputs,
                                 ag_gradcheck_opts opts);

/* ================================================================ training
 * Layers, models, optimizers, schedules, clipping, data, the trainer,
 * safetensors and graph export. Objects here (ag_layer, ag_model, ag_optim, ag_sched,
 * ag_loader) hold heap memory: make them outside every scope and free them with their
 * _free function. Their parameters, gradients and state live outside every scope too. */

/* ---------------------------------------------------------------- optimizers
 * As torch.optim (1.13, single-tensor path), step for step: float64 runs agree with torch
 * to rounding. Parameters must be contiguous float leaves with requires_grad, made outside
 * every scope, each in the optimizer once; the optimizer keeps the pointers (not
 * ownership) and allocates its state on the heap when a parameter is added. Constructors
 * return NULL and set ag_last_error() on a bad parameter or option (naming the function,
 * the parameter's index and shape) or when memory runs out.
 *
 * Options. Each kind has an options struct and an ag_<kind>_defaults() that returns
 * torch's defaults with .exact set: every field of an exact struct is taken as written, so
 * 0 means 0 (AdamW with no decay: `ag_adam_opts o = ag_adamw_defaults(); o.weight_decay =
 * 0;`). In a struct that is not exact (zero-initialised, `(ag_adam_opts){.lr = 1e-3}`) a
 * field left at 0 (a bool left false) means "the default": torch's default in a
 * constructor, the optimizer's own value (its first group's) in an add_param_group, as
 * torch fills a group's missing keys.
 *
 * Parameter groups, as torch's param_groups: the constructor makes group 0; each
 * ag_<kind>_add_param_group appends a group with its own options (lr, weight decay,
 * betas, momentum, ...) and returns 0, or non-zero and an error (NULL o, an optimizer of
 * another kind, a parameter already in the optimizer, bad options). */
/** SGD options (torch.optim.SGD). */
typedef struct {
    double lr;           /**< no default: required (ag_sgd_defaults() leaves it NAN) */
    double momentum;     /**< default 0 */
    double dampening;    /**< default 0 */
    double weight_decay; /**< L2 penalty; default 0 */
    bool nesterov;       /**< needs momentum > 0 and dampening 0 */
    bool exact;          /**< set by ag_sgd_defaults(): 0 means 0 */
} ag_sgd_opts;
/** torch's SGD defaults (lr NAN: set it) with .exact. */
ag_sgd_opts ag_sgd_defaults(void);
ag_optim *ag_sgd_new(ag_tensor **params, int n, ag_sgd_opts opts); /**< torch.optim.SGD */
/** Adds a parameter group with its own options; 0 or non-zero and an error. */
int ag_sgd_add_param_group(ag_optim *o, ag_tensor **params, int n, ag_sgd_opts opts);

/** Adam (torch.optim.Adam), or AdamW (torch.optim.AdamW) with decoupled_weight_decay:
 * defaults lr 1e-3, betas 0.9/0.999, eps 1e-8, weight_decay 0 (AdamW: 1e-2). Every group
 * of one optimizer is Adam or every one AdamW. */
typedef struct {
    double lr;                   /**< default 1e-3 */
    double beta1;                /**< default 0.9 */
    double beta2;                /**< default 0.999 */
    double eps;                  /**< default 1e-8 */
    double weight_decay;         /**< default 0 (AdamW: 1e-2) */
    bool decoupled_weight_decay; /**< AdamW */
    bool exact;                  /**< set by ag_adam_defaults()/ag_adamw_defaults(): 0 means 0 */
} ag_adam_opts;
/** torch's Adam defaults with .exact. */
ag_adam_opts ag_adam_defaults(void);
/** torch's AdamW defaults (weight_decay 1e-2, decoupled) with .exact. */
ag_adam_opts ag_adamw_defaults(void);
/** An Adam or AdamW optimizer over n parameters; NULL and an error on a bad parameter or option. */
ag_optim *ag_adam_new(ag_tensor **params, int n, ag_adam_opts opts);
/** Adds a parameter group with its own options; 0 or non-zero and an error. */
int ag_adam_add_param_group(ag_optim *o, ag_tensor **params, int n, ag_adam_opts opts);

/** RMSprop (torch.optim.RMSprop): defaults lr 1e-2, alpha 0.99, eps 1e-8, others 0. */
typedef struct {
    double lr;           /**< default 1e-2 */
    double alpha;        /**< smoothing constant; default 0.99 */
    double eps;          /**< default 1e-8 */
    double weight_decay; /**< default 0 */
    double momentum;     /**< default 0 */
    bool centered;       /**< normalise by the estimated variance */
    bool exact;          /**< set by ag_rmsprop_defaults(): 0 means 0 */
} ag_rmsprop_opts;
/** torch's RMSprop defaults with .exact. */
ag_rmsprop_opts ag_rmsprop_defaults(void);
/** An RMSprop optimizer over n parameters; NULL and an error on a bad parameter or option. */
ag_optim *ag_rmsprop_new(ag_tensor **params, int n, ag_rmsprop_opts opts);
/** Adds a parameter group with its own options; 0 or non-zero and an error. */
int ag_rmsprop_add_param_group(ag_optim *o, ag_tensor **params, int n, ag_rmsprop_opts opts);

/** Adagrad (torch.optim.Adagrad): defaults lr 1e-2, eps 1e-10, others 0. */
typedef struct {
    double lr;                        /**< default 1e-2 */
    double lr_decay;                  /**< default 0 */
    double weight_decay;              /**< default 0 */
    double initial_accumulator_value; /**< default 0 */
    double eps;                       /**< default 1e-10 */
    bool exact;                       /**< set by ag_adagrad_defaults(): 0 means 0 */
} ag_adagrad_opts;
/** torch's Adagrad defaults with .exact. */
ag_adagrad_opts ag_adagrad_defaults(void);
/** An Adagrad optimizer over n parameters; NULL and an error on a bad parameter or option. */
ag_optim *ag_adagrad_new(ag_tensor **params, int n, ag_adagrad_opts opts);
/** Adds a parameter group with its own options; 0 or non-zero and an error. */
int ag_adagrad_add_param_group(ag_optim *o, ag_tensor **params, int n, ag_adagrad_opts opts);

/** Updates every parameter that has a .grad from it (one without is skipped, as torch; a
 * zeroed one steps with a zero gradient), on the raw data with no graph. No-op on NULL. */
void ag_optim_step(ag_optim *o);
/** Zeroes every parameter's .grad, keeping the buffers (torch's set_to_none=False). */
void ag_optim_zero_grad(ag_optim *o);
/** Frees the state and the optimizer (not the parameters). NULL is a no-op. */
void ag_optim_free(ag_optim *o);

/** Learning rates. ag_optim_get_lr: group 0's lr (NAN on NULL). ag_optim_set_lr: group 0
 * gets lr and every other group the same factor of the lr it was made with (lr_g =
 * lr * lr_g,made / lr_0,made), as a torch schedule's factor applies to each group; when
 * group 0 was made with lr 0, every group gets lr. */
double ag_optim_get_lr(const ag_optim *o);
/** Sets group 0's lr and scales the other groups alike (see ag_optim_get_lr). */
void ag_optim_set_lr(ag_optim *o, double lr);
int ag_optim_num_groups(const ag_optim *o); /**< 0 on NULL */
/** Group g's current lr; NAN and an error when o is NULL or g not in [0, num_groups). */
double ag_optim_get_group_lr(const ag_optim *o, int group);
/** Sets group g's lr only; 0, or non-zero and an error (NULL, bad group, lr < 0 or NaN). */
int ag_optim_set_group_lr(ag_optim *o, int group, double lr);

/* ---------------------------------------------------------------- learning-rate schedules
 * torch.optim.lr_scheduler's chainable forms. A schedule remembers each group's lr at
 * creation (torch's base_lrs) and on each ag_sched_step sets every group's lr for the next
 * epoch (call it after ag_optim_step, once per epoch or per step: the unit is yours).
 * Groups added after the schedule is made keep their lr. It does not own the optimizer
 * (step it only while the optimizer lives). Constructors return NULL and an error on a
 * NULL optimizer or a bad argument. */
/** A learning-rate schedule (opaque); free with ag_sched_free. */
typedef struct ag_sched ag_sched;
ag_sched *ag_sched_step_new(ag_optim *o, int step_size,
                            double gamma); /**< StepLR: step_size >= 1, gamma > 0 */
ag_sched *ag_sched_exponential_new(ag_optim *o, double gamma); /**< ExponentialLR: gamma > 0 */
ag_sched *ag_sched_cosine_new(ag_optim *o, int t_max, double eta_min); /**< CosineAnnealingLR */
/** LinearLR: lr = base * factor, factor going from start to end over total_iters (warmup);
 * the start factor applies at creation, as torch. */
ag_sched *ag_sched_linear_new(ag_optim *o, double start_factor, double end_factor, int total_iters);
void ag_sched_step(ag_sched *s);           /**< NULL is a no-op */
double ag_sched_get_lr(const ag_sched *s); /**< group 0's lr; NAN on NULL */
void ag_sched_free(ag_sched *s);           /**< NULL is a no-op */

/* ---------------------------------------------------------------- gradient clipping
 * torch.nn.utils.clip_grad_norm_: scales every .grad by max_norm / (total + 1e-6) when the
 * global norm exceeds max_norm. norm_type 0 means 2; INFINITY is the max norm. Returns the
 * total norm before clipping, or NAN and an error (params NULL, n < 0, a NULL param, a
 * non-contiguous .grad, norm_type < 0, max_norm < 0). Params without a .grad are skipped. */
/** Clips the gradients' global norm as described above; the total norm before clipping. */
double ag_clip_grad_norm(ag_tensor **params, int n, double max_norm, double norm_type);
/** torch.nn.utils.clip_grad_value_: clamps every .grad element into [-clip, clip].
 * 0, or non-zero and an error (as ag_clip_grad_norm's, or clip < 0). */
int ag_clip_grad_value(ag_tensor **params, int n, double clip);

/* ---------------------------------------------------------------- initializers (in place, no grad)
 * Fan-in / fan-out follow torch: for [out, in, k...] fan_in = in * prod(k). Values come from
 * the seeded stream (ag_manual_seed). Return 0 or non-zero; t must be a float tensor. */
/** Which fan the Kaiming initializers scale by. */
typedef enum { AG_FAN_IN, AG_FAN_OUT } ag_fan_mode;
/** Fills t from U(lo, hi). */
int ag_init_uniform_(ag_tensor *t, double lo, double hi);
/** Fills t from N(mean, std^2). */
int ag_init_normal_(ag_tensor *t, double mean, double std);
/** Fills t with value. */
int ag_init_constant_(ag_tensor *t, double value);
/** Fills t with 0. */
int ag_init_zeros_(ag_tensor *t);
int ag_init_xavier_uniform_(ag_tensor *t, double gain); /**< gain 0: 1 */
/** Glorot normal: N(0, gain^2 * 2 / (fan_in + fan_out)); gain 0: 1. */
int ag_init_xavier_normal_(ag_tensor *t, double gain);
/** gain sqrt(2 / (1 + a^2)) (leaky_relu with slope a; a = 0 is ReLU's He init). */
int ag_init_kaiming_uniform_(ag_tensor *t, double a, ag_fan_mode mode);
/** He normal: N(0, gain^2 / fan) with gain as ag_init_kaiming_uniform_. */
int ag_init_kaiming_normal_(ag_tensor *t, double a, ag_fan_mode mode);

/* ---------------------------------------------------------------- modules
 * A module is torch.nn.Module in C: named parameters (heap leaves with requires_grad),
 * named buffers (saved, no grad: running statistics), named child modules, a forward and
 * a training flag (true at creation). Every layer (ag_layer) and the sequential model
 * (ag_model) is a module: the three names are one type, so each function here takes them
 * and each ag_layer_ / ag_model_ function, ag_train, ag_evaluate, the summary and
 * save/load take any module. A module owns its parameters, buffers, children and ctx;
 * ag_module_free on the root frees them all (freeing a child that has a parent is an error).
 * Names are non-empty, without '.', unique among one module's parameters, buffers and
 * children. The add functions take ownership even when they fail (t or child is freed),
 * except of a child that already has a parent, which stays with it. */
/** A module (opaque). */
typedef struct ag_module ag_module;
/** A built-in layer: a module. */
typedef struct ag_module ag_layer;
/** A model: a module (ag_model_new makes a sequential one). */
typedef struct ag_module ag_model;
/** A forward: self and its n inputs; the result belongs to the current scope, or NULL and
 * an error. Read parameters with ag_module_get, your fields with ag_module_ctx. */
typedef ag_tensor *(*ag_module_fn)(ag_module *self, int n, ag_tensor *const *inputs);
/** type_name (copied) is what the summary and ag_layer_name show. forward may be NULL (a
 * container never called itself). free_ctx (may be NULL) frees ctx with the module, and
 * at once when creation fails. NULL and an error on a NULL type_name or out of memory. */
ag_module *ag_module_new(const char *type_name, ag_module_fn forward, void *ctx,
                         void (*free_ctx)(void *ctx));
/** The ctx given to ag_module_new (NULL for built-in layers). */
void *ag_module_ctx(ag_module *m);
/** t: a float leaf made outside every scope; requires_grad is set. Returns t (NULL on error). */
ag_tensor *ag_module_add_param(ag_module *m, const char *name, ag_tensor *t);
/** t: any dtype, made outside every scope; saved in the state_dict, never trained. */
ag_tensor *ag_module_add_buffer(ag_module *m, const char *name, ag_tensor *t);
/** child: a root (no parent) that is not m or above m. Returns child (NULL on error). */
ag_module *ag_module_add_child(ag_module *m, const char *name, ag_module *child);
ag_tensor *ag_module_forward(ag_module *m, ag_tensor *x); /**< one input */
/** Runs m's forward on n inputs; the result belongs to the current scope (NULL and an error). */
ag_tensor *ag_module_call(ag_module *m, int n, ag_tensor *const *inputs);
/** A parameter or buffer by dotted name ("blocks.0.attn.qkv.weight"); NULL and an error
 * naming the part that is missing. */
ag_tensor *ag_module_get(ag_module *m, const char *dotted_name);
ag_module *ag_module_get_child(ag_module *m, const char *dotted_name); /**< "blocks.0" */
/** Every parameter below m (its own first, then each child's in registration order), as
 * an array owned by m, valid until the tree below m changes; *n gets the count. */
ag_tensor **ag_module_parameters(ag_module *m, int *n);
const char *ag_module_param_name(ag_module *m, int i); /**< state_dict key; NULL past the end */
void ag_module_train(ag_module *m, bool training);     /**< m and every module below it */
/** m's training flag. */
bool ag_module_is_training(const ag_module *m);
/** The type name given at creation ("Linear", "Sequential", ...). */
const char *ag_module_type_name(const ag_module *m);
/** The state_dict (parameters and buffers, dotted names, torch's order) as safetensors:
 * torch's load_state_dict takes the file, and ag_module_load reads torch's (every entry
 * must match name, shape and dtype; nothing changes on a mismatch). */
int ag_module_save(ag_module *m, const char *path);
/** Loads a state_dict written by ag_module_save or torch (see ag_module_save); 0 or non-zero. */
int ag_module_load(ag_module *m, const char *path);
/** Frees a root module and everything it owns; NULL is a no-op. */
void ag_module_free(ag_module *m);

/* ---------------------------------------------------------------- layers
 * A layer is a module (see above) of a built-in kind: it owns its parameters and buffers.
 * Parameters are made in the default dtype (AG_F32 unless set) with PyTorch's default init:
 * Linear/Conv weight kaiming_uniform(a = sqrt 5), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in));
 * BatchNorm weight 1, bias 0; LSTM/GRU cells U(-1/sqrt(hidden), 1/sqrt(hidden)).
 * Constructors return NULL on bad sizes. Forward results belong to the current scope. */
/** The layer activations, one line each: X(id, layer name, what it applies to x). The enum,
 * the names ag_layer_name gives and the forward are generated from it. The values are fixed
 * (0 = NONE ... 8 = LOG_SOFTMAX): append new lines at the end. The softmax forms run over
 * dim 1 (dim 0 for 1-D input). */
#define AG_ACTIVATION_LIST(X)                                                   \
    X(AG_ACTIVATION_NONE, "Identity", x)                                        \
    X(AG_ACTIVATION_RELU, "ReLU", ag_relu(x))                                   \
    X(AG_ACTIVATION_SIGMOID, "Sigmoid", ag_sigmoid(x))                          \
    X(AG_ACTIVATION_TANH, "Tanh", ag_tanh(x))                                   \
    X(AG_ACTIVATION_SOFTPLUS, "Softplus", ag_softplus(x))                       \
    X(AG_ACTIVATION_GELU, "GELU", ag_gelu(x))                                   \
    X(AG_ACTIVATION_SILU, "SiLU", ag_silu(x))                                   \
    X(AG_ACTIVATION_SOFTMAX, "Softmax", ag_softmax(x, ag_ndim(x) == 1 ? 0 : 1)) \
    X(AG_ACTIVATION_LOG_SOFTMAX, "LogSoftmax", ag_log_softmax(x, ag_ndim(x) == 1 ? 0 : 1))
/** The activations of AG_ACTIVATION_LIST. */
typedef enum {
/** Makes one enum entry from a list line (undefined right after). */
#define AG_ACTIVATION_ENUM(id, name, apply) id,
    AG_ACTIVATION_LIST(AG_ACTIVATION_ENUM)
#undef AG_ACTIVATION_ENUM
        AG_ACTIVATION_COUNT /**< how many there are, not an activation */
} ag_activation;
void ag_set_default_dtype(ag_dtype dtype); /**< AG_F32 or AG_F64; per thread */
/** The thread's default dtype for layer parameters. */
ag_dtype ag_get_default_dtype(void);
ag_layer *ag_linear_layer(int64_t in, int64_t out, bool bias);        /**< [N,in] -> [N,out] */
ag_layer *ag_dense_layer(int64_t in, int64_t out, ag_activation act); /**< linear + activation */
/** torch.nn.Conv2d with a square kernel; x [N,in_ch,H,W]. */
ag_layer *ag_conv2d_layer(int64_t in_ch, int64_t out_ch, int kernel, ag_conv_opts opts, bool bias);
/** torch.nn.Conv1d; x [N,in_ch,L]. */
ag_layer *ag_conv1d_layer(int64_t in_ch, int64_t out_ch, int kernel, ag_conv_opts opts, bool bias);
/** torch.nn.MaxPool2d (no parameters). */
ag_layer *ag_max_pool2d_layer(ag_pool_opts opts);
/** torch.nn.AvgPool2d (no parameters). */
ag_layer *ag_avg_pool2d_layer(ag_pool_opts opts);
ag_layer *ag_flatten_layer(void);                  /**< [N, ...] -> [N, prod(...)] */
ag_layer *ag_dropout_layer(double p);              /**< identity in eval mode */
ag_layer *ag_batch_norm1d_layer(int64_t features); /**< [N,C] or [N,C,L]; momentum 0.1, eps 1e-5 */
ag_layer *ag_batch_norm2d_layer(int64_t channels); /**< [N,C,H,W] */
/** A layer applying act (torch's nn.ReLU, nn.Sigmoid, ...). */
ag_layer *ag_activation_layer(ag_activation act);
/** Recurrent cells (torch.nn.LSTMCell / GRUCell, gate order i,f,g,o / r,z,n). h, c NULL:
 * zeros. x [N,in], h and c [N,hidden]; results belong to the current scope. */
ag_layer *ag_lstm_cell(int64_t in, int64_t hidden, bool bias); /**< torch.nn.LSTMCell */
/** One LSTM step: *h_out and *c_out get the new state; 0 or non-zero and an error. */
int ag_lstm_cell_forward(ag_layer *cell, ag_tensor *x, ag_tensor *h, ag_tensor *c,
                         ag_tensor **h_out, ag_tensor **c_out);
/** torch.nn.GRUCell(in, hidden, bias). */
ag_layer *ag_gru_cell(int64_t in, int64_t hidden, bool bias);
/** One GRU step: the new h [N,hidden], or NULL and an error. */
ag_tensor *ag_gru_cell_forward(ag_layer *cell, ag_tensor *x, ag_tensor *h);

/** The ag_layer_ functions are the module's under their old names (any module works). */
ag_tensor *ag_layer_forward(ag_layer *l, ag_tensor *x); /**< not for cells: use their forms */
const char *ag_layer_name(const ag_layer *l);           /**< "Linear", "Conv2d", ... */
int ag_layer_num_params(const ag_layer *l);             /**< parameter tensors (recursive) */
ag_tensor *ag_layer_param(ag_layer *l, int i, const char **name); /**< "weight", "bias"... */
void ag_layer_train(ag_layer *l, bool training);                  /**< dropout / batch norm mode */
/** ag_module_free under its old name. */
void ag_layer_free(ag_layer *l);

/* ---------------------------------------------------------------- models (a sequence of layers)
 * ag_model_new makes torch's nn.Sequential: a module whose forward runs its children in
 * order, named "0", "1", ... as they are added. Every other ag_model_ function takes any
 * module (a user's residual network too). */
/** An empty sequential model (torch.nn.Sequential); NULL when out of memory. */
ag_model *ag_model_new(void);
/** Appends l as child "<count>"; m must come from ag_model_new. Takes ownership of l, even
 * on error. */
int ag_model_add(ag_model *m, ag_layer *l);
ag_tensor *ag_model_forward(ag_model *m, ag_tensor *x); /**< result in the current scope */
void ag_model_train(ag_model *m, bool training);        /**< training mode is the default */
/** The parameters in order (ag_module_parameters), as an array owned by the model; *n gets
 * the count. Names are torch's state_dict keys: "<layer index>.weight", dotted below. */
ag_tensor **ag_model_params(ag_model *m, int *n);
/** Parameter i's state_dict key; NULL past the end. */
const char *ag_model_param_name(const ag_model *m, int i);
int64_t ag_model_num_elements(const ag_model *m); /**< scalars over all parameters */
/** A summary table (module, output shape, parameters) for an input of this shape (batch
 * included), run in eval mode without grad: one row per module below m that its forward
 * calls, in call order, named by its dotted path and indented by depth; a row's Params
 * counts everything below that module. Written like snprintf: returns the full length
 * (buf may be NULL), or a negative error code. ag_model_print_summary writes to stdout. */
int ag_model_summary(ag_model *m, int ndim, const int64_t *input_shape, char *buf, size_t size);
/** ag_model_summary to stdout; returns its length or a negative error code. */
int ag_model_print_summary(ag_model *m, int ndim, const int64_t *input_shape);
void ag_model_free(ag_model *m); /**< frees the layers and their params */

/* ---------------------------------------------------------------- safetensors
 * The safetensors format: 8-byte little-endian header length, a JSON header of
 * {"name": {"dtype": "F32"|"F64"|"I64"|"U8", "shape": [...], "data_offsets": [b, e]}}, then raw
 * little-endian data. A model's file holds its state_dict (params and batch-norm buffers,
 * with torch's names), so torch's load_state_dict takes it. */
/** Writes n tensors under their names to a safetensors file; 0 or non-zero and an error. */
int ag_save_safetensors(const char *path, int n, ag_tensor *const *tensors,
                        const char *const *names);
/** One tensor by name, made in the current scope (or on the heap). NULL and an error
 * naming the file and the byte offset when the file is malformed or the name is missing. */
ag_tensor *ag_load_safetensors_tensor(const char *path, const char *name);
/** ag_module_save under its old name. */
int ag_model_save(ag_model *m, const char *path);
int ag_model_load(ag_model *m, const char *path); /**< every entry must match name, shape, dtype */

/* ---------------------------------------------------------------- graph export */
/** Writes the graph recorded behind root as Graphviz DOT: one node per op (name, output
 * shape and dtype) and per leaf (shape; parameters marked). Returns 0 or non-zero. */
int ag_graph_dot(ag_tensor *root, const char *path);

/* ---------------------------------------------------------------- data
 * Readers make their tensors in the current scope (or on the heap outside scopes).
 * Malformed files give NULL / non-zero and an error naming the file and the byte offset
 * (IDX, safetensors) or line (CSV). */
/** An IDX file (the MNIST format; ".gz" read through zlib). Unsigned-byte data becomes dtype:
 * float dtypes are multiplied by scale (0: 1; 1/255.0 for images), AG_I64 keeps integers,
 * AG_U8 keeps the bytes themselves (unsigned-byte files only; scale must be 0 or 1), read
 * straight into the tensor: a quarter of float32's memory, converted per batch by
 * ag_train / ag_evaluate (ag_train_opts.input_scale) or by ag_cast. */
ag_tensor *ag_load_idx(const char *path, ag_dtype dtype, double scale);
/** CSV: numeric columns; with has_label the label_col column (negative from the end) goes
 * to *y: AG_I64 labels (must be integers) or, with label_float, values in dtype. */
typedef struct {
    bool header;      /**< skip the first line */
    char delim;       /**< 0: ',' */
    bool has_label;   /**< one column is the label */
    int label_col;    /**< which (negative: from the end) */
    bool label_float; /**< labels are values in dtype, not AG_I64 classes */
    ag_dtype dtype;   /**< features: AG_F32 (default) or AG_F64 */
} ag_csv_opts;
/** Reads a CSV file into *x [N,D] (and *y [N] with has_label); 0 or non-zero and an error naming the line. */
int ag_load_csv(const char *path, ag_csv_opts opts, ag_tensor **x /*[N,D]*/, ag_tensor **y /*[N]*/);
/** Per-feature mean and population std over dim 0 of x [N, D...] (std 0 becomes 1);
 * *mean and *std are [D...] in the current scope. apply: x = (x - mean) / std in place. */
int ag_standardize_fit(ag_tensor *x, ag_tensor **mean, ag_tensor **std);
/** x = (x - mean) / std in place, with ag_standardize_fit's mean and std. */
int ag_standardize_apply_(ag_tensor *x, ag_tensor *mean, ag_tensor *std);
/** Fisher-Yates permutation of 0..n-1 from the seeded stream. */
int ag_randperm(int64_t n, int64_t *out);
/** Rows of x (and y) shuffled (or not) and split: the last val_fraction go to validation.
 * Outputs are contiguous copies in the current scope. y may be NULL. */
int ag_train_val_split(ag_tensor *x, ag_tensor *y, double val_fraction, bool shuffle,
                       ag_tensor **x_train, ag_tensor **y_train, ag_tensor **x_val,
                       ag_tensor **y_val);
/** Mini-batches over rows. batch_size 0 or >= N: full batch; 1: stochastic. The loader
 * keeps x and y (not owned) and preallocates one batch; ag_loader_next copies the next
 * batch's rows into it (no copy for an unshuffled full batch) and returns tensors valid
 * until the next call. Each ag_loader_reset starts an epoch (a new shuffle). */
typedef struct ag_loader ag_loader;
/** A mini-batch loader over the rows of x (and y, may be NULL); NULL and an error on bad sizes. */
ag_loader *ag_loader_new(ag_tensor *x, ag_tensor *y, int64_t batch_size, bool shuffle);
/** Batches per epoch. */
int64_t ag_loader_num_batches(const ag_loader *l);
/** Starts an epoch (reshuffles when shuffling). */
void ag_loader_reset(ag_loader *l);
/** The next batch into *x_batch (and *y_batch); false at the end of the epoch. */
bool ag_loader_next(ag_loader *l, ag_tensor **x_batch, ag_tensor **y_batch);
/** Frees the loader (not x and y); NULL is a no-op. */
void ag_loader_free(ag_loader *l);
/** Data kept as bytes: when x is AG_U8 the loader's batches are float32 (ag_train and
 * ag_evaluate: the default dtype), each byte times scale, converted as the rows are copied, so only one
 * batch of floats ever exists. scale 0 (the default) means 1/255: pixels in [0, 1]. Without
 * effect on other dtypes. 0, or non-zero (NULL loader, scale not finite) and an error. */
int ag_loader_set_input_scale(ag_loader *l, double scale);
/** torch's DistributedSampler under a loader, for data-parallel runs (no MPI needed here):
 * each epoch every rank draws the same permutation of x's rows from a shared seed (0;
 * ag_loader_set_seed) and the epoch, not from the process's random stream, and takes rows
 * rank, rank + W, ...: disjoint equal shards. When W does not divide N, drop_last drops
 * the tail (N/W rows per rank) and otherwise the order is padded by repeating its start
 * (ceil(N/W) rows per rank, a few samples seen twice). shuffle false: rows in order.
 * The constructor draws epoch 0 and each ag_loader_reset the next epoch;
 * ag_loader_set_epoch(l, e) redraws epoch e now (torch's set_epoch). NULL / non-zero on
 * error (rank outside [0, W), fewer rows than ranks with drop_last, a plain loader). */
ag_loader *ag_loader_new_distributed(ag_tensor *x, ag_tensor *y, int64_t batch_size, bool shuffle,
                                     int rank, int world_size, bool drop_last);
/** Redraws the shard for epoch (torch's set_epoch); non-zero on a plain loader. */
int ag_loader_set_epoch(ag_loader *l, int64_t epoch);
/** Sets the shared seed of a distributed loader's permutations (default 0). */
int ag_loader_set_seed(ag_loader *l, uint64_t seed);

/* ---------------------------------------------------------------- the trainer */
/** A loss for ag_train: a 0-d tensor in the current scope. */
typedef ag_tensor *(*ag_loss_fn)(ag_tensor *pred, ag_tensor *target);
/** Data-parallel training state: <ag_dist.h>, libag_dist. */
typedef struct ag_ddp ag_ddp;
/** ag_train's options; zero-initialised fields take their defaults. */
typedef struct {
    int epochs;              /**< 0: 1 */
    int64_t batch_size;      /**< 0: full batch */
    bool no_shuffle;         /**< keep the rows in order */
    ag_loss_fn loss;         /**< NULL: ag_cross_entropy_loss (labels AG_I64) */
    ag_tensor *x_val;        /**< validation inputs, or NULL; evaluated in batches of
                                 batch_size (0: 1024), so no larger than training's */
    ag_tensor *y_val;        /**< validation targets, or NULL */
    int patience;            /**< early stopping: epochs without a better val loss; 0: off */
    ag_sched *sched;         /**< stepped once per epoch, or NULL */
    double clip_norm;        /**< > 0: clip the global grad norm each step */
    const char *metrics_csv; /**< epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds */
    const char *plot_png;    /**< loss and accuracy curves (gnuplot; metrics go to `<png>.csv`
                                 when metrics_csv is NULL), or NULL */
    const char *checkpoint;  /**< safetensors written at each new best val loss (or epoch) */
    int verbose;             /**< 0: auto (progress bar on a TTY, lines otherwise);
                                 1: lines; 2: bar; -1: silent */
    ag_ddp *ddp;             /**< from ag_ddp_new over m's parameters, or NULL. Then batch_size
                                 is per rank, each rank trains on its shard of every epoch
                                 (ag_loader_new_distributed, padded), gradients are synced each
                                 step, metrics are totals over ranks, and only rank 0 prints,
                                 writes metrics_csv, plot_png and checkpoint. Every rank then
                                 holds the same weights (ag_model_load resumes on each). */
    /** Any model: when set, the loss of a batch is loss_batch(m, x_batch, y_batch, loss_user)
     * (a 0-d tensor in the current scope, or NULL and an error), used instead of
     * loss(forward(x), y) for training and validation; y (and y_val) may then be NULL
     * (an autoencoder), and accuracy is NAN. Example, a language model with [B,T,V] logits:
     *     ag_tensor *lm_loss(ag_module *m, ag_tensor *x, ag_tensor *y, void *u) {
     *         ag_tensor *logits = ag_module_forward(m, x);                // [B,T,V]
     *         return ag_cross_entropy_loss_nd(ag_transpose(logits, 1, 2), y,  // [B,V,T]
     *                                         (ag_cross_entropy_nd_opts){0});
     *     } */
    /** Called per batch when set; see above. */
    ag_tensor *(*loss_batch)(ag_module *m, ag_tensor *x, ag_tensor *y, void *user);
    void *loss_user; /**< passed to loss_batch */
    /** x (and x_val) kept as AG_U8 bytes: each batch becomes the default float dtype times
     * this (0: 1/255, pixels in [0, 1]; see ag_loader_set_input_scale); no effect on float x. */
    double input_scale;
} ag_train_opts;
/** What ag_train did. Accuracies are NAN when the targets are not labels. */
typedef struct {
    int epochs_run;       /**< epochs completed */
    int best_epoch;       /**< the epoch of the best validation loss */
    double train_loss;    /**< last epoch's mean training loss */
    double train_acc;     /**< last epoch's training accuracy */
    double val_loss;      /**< last epoch's validation loss */
    double val_acc;       /**< last epoch's validation accuracy */
    double best_val_loss; /**< the best validation loss */
    double seconds;       /**< wall time */
    double samples_per_s; /**< training throughput */
    bool stopped_early;   /**< early stopping ended the run */
} ag_train_result;
/** Trains m on (x [N,...], y [N]) with o; everything per step happens in one scope.
 * y may be NULL only with opts.loss_batch. */
int ag_train(ag_model *m, ag_optim *o, ag_tensor *x, ag_tensor *y, ag_train_opts opts,
             ag_train_result *result);
/** Mean loss (and accuracy when y holds labels; acc may be NULL) in eval mode, no grad,
 * in batches (0: 1024). x may be AG_U8 bytes: each batch becomes the default float dtype
 * times 1/255 (ag_train_opts.input_scale's default). */
int ag_evaluate(ag_model *m, ag_tensor *x, ag_tensor *y, ag_loss_fn loss, int64_t batch_size,
                double *loss_out, double *acc_out);
/** One optimizer step for a loop of your own (a GAN's two players): zeroes the gradients
 * of o's parameters, back-propagates loss (one element), steps o. The caller keeps the
 * scope. A GAN's discriminator step, fake detached:
 *     ag_scope_begin();
 *     ag_tensor *fake = ag_module_forward(gen, z);
 *     ag_tensor *ld = ag_add(ag_bce_with_logits_loss(ag_module_forward(disc, real), ones),
 *                            ag_bce_with_logits_loss(ag_module_forward(disc, ag_detach(fake)), zeros));
 *     ag_train_step(opt_d, ld);
 *     ag_train_step(opt_g, ag_bce_with_logits_loss(ag_module_forward(disc, fake), ones));
 *     ag_scope_end();
 * (the generator step leaves gradients in the discriminator's parameters; opt_d zeroes them
 * at its next step). 0, or non-zero and an error. */
int ag_train_step(ag_optim *o, ag_tensor *loss);
/** Loss/accuracy curves from a metrics CSV to PNG through gnuplot; non-zero (and a message)
 * when gnuplot is missing. */
int ag_plot_metrics(const char *csv_path, const char *png_path, const char *title);
/** n_series curves of n_points each (ys[s][i]) to PNG through gnuplot; log-scale y optional. */
int ag_plot_curves(const char *png_path, const char *title, const char *xlabel, const char *ylabel,
                   int n_series, const char *const *labels, const double *const *ys, int n_points,
                   bool log_y);

/* ---------------------------------------------------------------- precision
 * As torch.set_float32_matmul_precision: how float32 matmul, linear and convolution
 * (forward and both backward products: every float32 GEMM) compute internally.  Inputs,
 * outputs, parameters and optimizer state stay float32; float64 is never affected.
 *   AG_PRECISION_HIGHEST  fp32 (the default).
 *   AG_PRECISION_MEDIUM   operands rounded to bf16 (round-to-nearest-even, NaN kept NaN)
 *                         while packing, products accumulated in fp32: per element
 *                         |err| <= (2^-7 + 2^-16 + K * 2^-24) * sum_k |a_ik||b_kj| about.
 *   AG_PRECISION_HIGH     bf16x3: each operand split into hi = bf16(x), lo = bf16(x-hi),
 *                         sum of a_hi*b_hi + a_hi*b_lo + a_lo*b_hi (about 16 bits).
 * Like torch, MEDIUM and HIGH are permissions, not orders: where this build has no bf16
 * arithmetic kernel for the CPU (today: everywhere; AMX and AVX512-BF16 kernels are to
 * come), they run as HIGHEST, and ag_matmul_backend says so.  AG_MATMUL_BF16=emulate (read
 * once, at the first float32 GEMM) makes them compute the bf16 numerics with the fp32
 * kernels instead: the same values on every CPU, at fp32's speed (MEDIUM) or a third of
 * it (HIGH).  The setting is per thread (ag's own worker threads take the caller's);
 * an unknown value is ignored. */
/** The float32 matmul precisions described above. */
typedef enum { AG_PRECISION_HIGHEST, AG_PRECISION_HIGH, AG_PRECISION_MEDIUM } ag_precision;
/** Sets this thread's float32 matmul precision (torch.set_float32_matmul_precision). */
void ag_set_float32_matmul_precision(ag_precision p);
/** This thread's float32 matmul precision. */
ag_precision ag_get_float32_matmul_precision(void);
/** What a float32 matmul on this thread runs on now, for logs: "avx2-fp32",
 * "avx2-bf16-emulated", "avx2-bf16x3-emulated", "avx2-fp32 (no bf16 kernel)", ... (the
 * ISA part is "scalar", "avx2" or "avx512"; "cblas-fp32" in a BLAS=openblas build).  A
 * static string. */
const char *ag_matmul_backend(void);

/* ---------------------------------------------------------------- threads and timing */
/** Sets the thread count of the ops the calling thread runs; results are bitwise the same
 * for any n. n outside 1..1024 is an error and leaves the count unchanged. A thread that
 * never set it uses AG_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs the process may
 * run on (read once). Idle workers spin AG_SPIN_US microseconds (default 100), then sleep. */
void ag_set_num_threads(int n);
/** The thread count ag uses for the calling thread's ops. */
int ag_get_num_threads(void);
double ag_now(void); /**< monotonic seconds */
/** A function ag_bench_time times: called with its ctx. */
typedef void (*ag_bench_fn)(void *ctx);
/** Times fn(ctx) and returns the median seconds per call (-1 when fn is NULL). After one
 * warm-up call, calls are grouped into samples of about 0.2 ms each (so the clock's
 * resolution does not matter for fast fns); samples are taken until there are at least
 * min_reps (1..4096) of them and min_seconds have passed. Each sample runs inside a scope
 * of its own: tensors fn makes in the current scope are freed after each sample. The
 * thread count is the caller's (ag_set_num_threads). Example: time one op forward
 *     static void f(void *x) { ag_exp(x); }
 *     double s = ag_bench_time(f, x, 5, 0.1);     // x: a float32 tensor of n elements
 *     printf("%.2f G elem/s\n", ag_numel(x) / s * 1e-9);                                */
double ag_bench_time(ag_bench_fn fn, void *ctx, int min_reps, double min_seconds);

/* ---------------------------------------------------------------- more ops (issue 9)
 * Functional forms with torch.nn.functional's semantics. Results belong to the current
 * scope; NULL inputs pass through as NULL; errors return NULL with a one-line
 * ag_last_error() naming the function and the shapes. */

/** Normalizes x over its last ndim dims (normalized_shape must equal them):
 * (x - mean) / sqrt(var + eps) * weight + bias, biased variance. weight, bias: of
 * normalized_shape, or NULL. Fused forward and backward; differentiable again with
 * create_graph (then the backward is recorded as ordinary ops). */
ag_tensor *ag_layer_norm(ag_tensor *x, int ndim, const int64_t *normalized_shape, ag_tensor *weight,
                         ag_tensor *bias, double eps);

/** indices: AG_I64 of any shape, values in [0, num); weight [num, dim] -> [indices..., dim].
 * The weight's gradient is a scatter-add of the output's gradient rows (no one-hot). */
ag_tensor *ag_embedding(ag_tensor *indices, ag_tensor *weight);

/** Pieces of x along dim, as views (torch.split / torch.chunk): ag_split makes pieces of
 * `size` (the last one smaller), ag_chunk `chunks` pieces of ceil(len / chunks) (fewer when
 * that covers x), ag_split_with_sizes pieces of the given sizes (summing to x's size).
 * They write into out (room for max_out, chunks, or n tensors) and return the count, or
 * -1 with an error. In backward the pieces' gradients are copied into one shared gradient
 * of x (no zero-padded tensor per piece); with create_graph they are padded with ops. */
int ag_split(ag_tensor *x, int64_t size, int dim, ag_tensor **out, int max_out);
/** torch.chunk: `chunks` views of ceil(len / chunks) along dim; see ag_split. */
int ag_chunk(ag_tensor *x, int chunks, int dim, ag_tensor **out);
/** torch.split with a list: n views of the given sizes (summing to x's size); see ag_split. */
int ag_split_with_sizes(ag_tensor *x, int n, const int64_t *sizes, int dim, ag_tensor **out);

/** mask != 0 ? value : x, x and mask (any dtype, no gradient) broadcast together. */
ag_tensor *ag_masked_fill(ag_tensor *x, ag_tensor *mask, double value);
/** x [..., R, C] with elements above (tril: j - i > diagonal) or below (triu:
 * j - i < diagonal) the diagonal zeroed. */
ag_tensor *ag_tril(ag_tensor *x, int64_t diagonal);
/** x with the elements below the diagonal (j - i < diagonal) zeroed; see ag_tril. */
ag_tensor *ag_triu(ag_tensor *x, int64_t diagonal);

/** softmax(q k^T / sqrt(E)) v: q [..., L, E], k [..., S, E], v [..., S, Ev] (same leading
 * dims) -> [..., L, Ev]. attn_mask (or NULL; any dtype, broadcast to [..., L, S]) keeps
 * the scores where it is != 0; is_causal keeps key j <= query i without building a mask
 * (not both). A row with every key masked gives NaN (torch). dropout_p in [0, 1] drops
 * probabilities (scaling the rest by 1/(1-p)) with the seeded stream, as ag_dropout. */
ag_tensor *ag_scaled_dot_product_attention(ag_tensor *q, ag_tensor *k, ag_tensor *v,
                                           ag_tensor *attn_mask, double dropout_p, bool is_causal);

/** Cross-entropy in torch's K-dimensional form: logits [N, C, d1, ...] (or [N, C]), target
 * int64 [N, d1, ...] with labels in [0, C) or ignore_index (when use_ignore_index; those
 * positions give 0 and MEAN divides by the others: NaN if none counts, as torch).
 * Result: 0-d for MEAN/SUM, target's shape for NONE. {0} options: mean, no smoothing,
 * nothing ignored. ag_cross_entropy_loss keeps the [N,C] form. */
/** Options of ag_cross_entropy_loss_nd (the K-dimensional cross-entropy described above); {0}: mean, no smoothing, nothing ignored. */
typedef struct {
    ag_reduction reduction; /**< MEAN (default), SUM or NONE */
    double label_smoothing; /**< 0..1 */
    bool use_ignore_index;  /**< false: every label counts (torch's -100 never matches) */
    int64_t ignore_index;   /**< the label that counts for nothing */
} ag_cross_entropy_nd_opts;
/** Cross-entropy of logits [N, C, d1, ...] against int64 labels [N, d1, ...] (see above). */
ag_tensor *ag_cross_entropy_loss_nd(ag_tensor *logits, ag_tensor *target,
                                    ag_cross_entropy_nd_opts opts);

/** torch.nn.functional.pad: pads holds n values, (before, after) pairs from the last dim
 * backwards; negative values crop. REFLECT needs pads < the dim's size. */
typedef enum { AG_PAD_CONSTANT, AG_PAD_REFLECT, AG_PAD_REPLICATE } ag_pad_mode;
/** Pads (or crops) x as torch.nn.functional.pad; value fills CONSTANT padding. */
ag_tensor *ag_pad(ag_tensor *x, int n, const int64_t *pads, ag_pad_mode mode, double value);
/** torch.flip: x reversed along the n dims given. */
ag_tensor *ag_flip(ag_tensor *x, int n, const int *dims); /**< torch.flip */
ag_tensor *ag_roll(ag_tensor *x, int64_t shift, int dim); /**< torch.roll on one dim */
/** torch.Tensor.repeat: n >= ndim repeats (extra ones add leading dims); tiles x. */
ag_tensor *ag_repeat(ag_tensor *x, int n, const int64_t *repeats);
/** x [N, C, H, W] or [C, H, W]. nearest: [.., H*scale_h, W*scale_w]; bilinear to out_h x
 * out_w with torch's source-index rule; adaptive_avg_pool2d: bin i of a dim averages
 * [floor(i*in/out), ceil((i+1)*in/out)). */
ag_tensor *ag_upsample_nearest2d(ag_tensor *x, int scale_h, int scale_w);
/** Bilinear resize of x to out_h x out_w with torch's source-index rule (align_corners as torch). */
ag_tensor *ag_upsample_bilinear2d(ag_tensor *x, int64_t out_h, int64_t out_w, bool align_corners);
/** Adaptive average pooling to out_h x out_w: bin i averages [floor(i*in/out), ceil((i+1)*in/out)). */
ag_tensor *ag_adaptive_avg_pool2d(ag_tensor *x, int64_t out_h, int64_t out_w);

/** torch.nn.functional.conv_transpose2d: x [N, C_in, H, W], weight [C_in, C_out/groups, kH,
 * kW], bias [C_out] or NULL -> [N, C_out, OH, OW], OH = (H-1) stride - 2 padding +
 * dilation (kH-1) + output_padding + 1. Zeros: stride 1, padding 0, output_padding 0,
 * dilation 1, groups 1; output_padding must be < stride. */
/** Options of ag_conv_transpose2d (pairs: height, width); zero fields take the defaults. */
typedef struct {
    int stride[2];         /**< 0: 1 */
    int padding[2];        /**< 0: 0 */
    int output_padding[2]; /**< 0: 0; must be < stride */
    int dilation[2];       /**< 0: 1 */
    int groups;            /**< 0: 1 */
} ag_conv_transpose_opts;
/** torch.nn.functional.conv_transpose2d, as described above. */
ag_tensor *ag_conv_transpose2d(ag_tensor *x, ag_tensor *weight, ag_tensor *bias,
                               ag_conv_transpose_opts opts);

/** x [N, C, *] normalized over each of `groups` groups of C/groups channels (biased
 * variance), then * weight[c] + bias[c] (each [C] or NULL). Fused forward and backward;
 * differentiable again with create_graph. */
ag_tensor *ag_group_norm(ag_tensor *x, int groups, ag_tensor *weight, ag_tensor *bias, double eps);

/** Running sums along dim (torch.cumsum; accumulated in double). */
ag_tensor *ag_cumsum(ag_tensor *x, int dim);

/** Element-wise math (torch's functions of the same names); float tensors, x's shape. */
ag_tensor *ag_erf(ag_tensor *x);
/** 1 / sqrt(x). */
ag_tensor *ag_rsqrt(ag_tensor *x);      /**< 1 / sqrt(x) */
ag_tensor *ag_reciprocal(ag_tensor *x); /**< 1 / x */
ag_tensor *ag_square(ag_tensor *x);     /**< x * x */
ag_tensor *ag_log1p(ag_tensor *x);      /**< log(1 + x) */
ag_tensor *ag_expm1(ag_tensor *x);      /**< exp(x) - 1 */
ag_tensor *ag_tan(ag_tensor *x);        /**< tan(x) */
/** atan(x). */
ag_tensor *ag_atan(ag_tensor *x); /**< atan(x) */

/** 1/0 in a's dtype, a and b broadcast, not differentiable (as ag_eq / ag_gt). */
ag_tensor *ag_lt(ag_tensor *a, ag_tensor *b);
/** 1 where a <= b, else 0; see ag_lt. */
ag_tensor *ag_le(ag_tensor *a, ag_tensor *b);
/** 1 where a >= b, else 0; see ag_lt. */
ag_tensor *ag_ge(ag_tensor *a, ag_tensor *b);
/** 1 where a != b, else 0; see ag_lt. */
ag_tensor *ag_ne(ag_tensor *a, ag_tensor *b);
/** One-dim reductions (dim may be negative). min_dim / argmin_dim / min mirror the max ones
 * (first index on ties, NaN wins; ag_min shares the gradient among ties). amax: the
 * gradient is shared evenly among the maxima. std_dim: sqrt of ag_var_dim (gradient 0
 * where the std is 0, as torch). prod_dim: product (accumulated in double); its second
 * derivative is provided only where x has no zeros. */
ag_tensor *ag_min_dim(ag_tensor *x, int dim, bool keepdim);
/** Index (AG_I64) of the minimum along dim (first on ties); not differentiable. */
ag_tensor *ag_argmin_dim(ag_tensor *x, int dim, bool keepdim);
/** The minimum of all elements (0-d); the gradient is shared among ties. */
ag_tensor *ag_min(ag_tensor *x);
/** Maximum along dim; the gradient is shared evenly among the maxima. */
ag_tensor *ag_amax(ag_tensor *x, int dim, bool keepdim);
/** Standard deviation along dim with the given correction (1: unbiased); gradient 0 where it is 0. */
ag_tensor *ag_std_dim(ag_tensor *x, int dim, bool keepdim, int correction);
/** Product along dim (accumulated in double); second derivative only where x has no zeros. */
ag_tensor *ag_prod_dim(ag_tensor *x, int dim, bool keepdim);

/* ---------------------------------------------------------------- more layers (issue 9)
 * Modules with torch's parameter names, order and default init (see "layers" above);
 * NULL and an error on bad sizes. Forward results belong to the current scope. */
/** torch.nn.LayerNorm(shape) over the last ndim (1..8) dims: weight 1, bias 0, eps 1e-5. */
ag_layer *ag_layer_norm_layer(int ndim, const int64_t *shape);
/** torch.nn.Embedding: weight [num, dim] N(0,1); forward takes AG_I64 indices of any shape. */
ag_layer *ag_embedding_layer(int64_t num, int64_t dim);
/** torch.nn.GroupNorm(groups, channels): weight 1, bias 0 [channels], eps 1e-5. */
ag_layer *ag_group_norm_layer(int groups, int64_t channels);
/** torch.nn.ConvTranspose2d: weight [in, out/groups, k, k] kaiming_uniform(a = sqrt 5) with
 * fan_in = out/groups*k*k, bias [out] U(+-1/sqrt(fan_in)). */
ag_layer *ag_conv_transpose2d_layer(int64_t in_ch, int64_t out_ch, int kernel,
                                    ag_conv_transpose_opts opts, bool bias);
/** torch.nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True), no
 * dropout: in_proj_weight [3E,E] xavier_uniform, in_proj_bias [3E] 0, child Linear
 * out_proj (its bias 0). Module forward: one input x [B,T,E] (self-attention) or three
 * (query [B,L,E], key, value [B,S,E]) -> [B,L,E]. ag_multihead_attention_forward adds a
 * mask (as ag_scaled_dot_product_attention's: != 0 keeps; note torch's bool attn_mask is
 * the reverse, True = masked) or is_causal; the attention weights are not returned. */
/** Makes the MultiheadAttention module described above. */
ag_layer *ag_multihead_attention_layer(int64_t embed_dim, int num_heads, bool bias);
/** Attention of query over key/value with an optional keep-mask or causal masking; see above. */
ag_tensor *ag_multihead_attention_forward(ag_layer *m, ag_tensor *query, ag_tensor *key,
                                          ag_tensor *value, ag_tensor *attn_mask, bool is_causal);
/** torch.nn.LSTM / GRU (bias, no dropout, one direction) over whole sequences: x [T,B,in]
 * ([B,T,in] with batch_first); per layer l weight_ih_l<l> [G*H,in_l], weight_hh_l<l>
 * [G*H,H], bias_ih_l<l>, bias_hh_l<l> [G*H] (G = 4: i,f,g,o; G = 3: r,z,n), all
 * U(+-1/sqrt H). The input projection of all time steps is one GEMM per layer. The module
 * forward returns the output sequence (the last layer's h at each step, x's layout). The
 * _forward forms also give the final states hn (and cn) [num_layers,B,H]; h0, c0 of that
 * shape or NULL (zeros); out, hn, cn may each be NULL. 0, or non-zero and an error. */
/** Makes the LSTM module described above. */
ag_layer *ag_lstm_layer(int64_t input, int64_t hidden, int num_layers, bool batch_first);
/** LSTM forward giving the output sequence and the final hn, cn; see above. */
int ag_lstm_forward(ag_layer *m, ag_tensor *x, ag_tensor *h0, ag_tensor *c0, ag_tensor **out,
                    ag_tensor **hn, ag_tensor **cn);
/** Makes the GRU module described above. */
ag_layer *ag_gru_layer(int64_t input, int64_t hidden, int num_layers, bool batch_first);
/** GRU forward giving the output sequence and the final hn; see above. */
int ag_gru_forward(ag_layer *m, ag_tensor *x, ag_tensor *h0, ag_tensor **out, ag_tensor **hn);
/** The point-wise part of an LSTM cell as one op (a fused kernel, one tape node): from gate
 * pre-activations a [B,4H] plus b [B,4H] (b may be NULL; gate order i, f, g, o, as
 * x W_ih^T + b_ih and h W_hh^T + b_hh) and the cell state c [B,H], returns [B,2H] in the
 * current scope holding h' = o tanh(c') in columns [0,H) and c' = f c + i g in [H,2H)
 * (i, f, o sigmoid, g tanh of their gates); take them with ag_chunk(out, 2, 1, hc).
 * Differentiable any number of times. NULL and an error naming ag_lstm_gates and the
 * shapes when they do not fit or the dtypes differ. */
ag_tensor *ag_lstm_gates(ag_tensor *a, ag_tensor *b, ag_tensor *c);
/** An LSTM layer's recurrence over a whole sequence as one op (one tape node; the GEMM
 * for dW_hh runs once over all steps): gx [T,B,4H] ([B,T,4H] with batch_first) holds the
 * input projections x_t W_ih^T + b_ih of every step (gate order i, f, g, o), w_hh [4H,H],
 * b_hh [4H], h0 and c0 [B,H] the initial states (T >= 1). Returns, in the current scope,
 * [T+1,B,H] ([B,T+1,H]): entries 0..T-1 along the time dim are h_1..h_T (the output
 * sequence; h_T is the final hidden state), entry T is the final cell state c_T.
 * Differentiable any number of times. NULL and an error naming ag_lstm_scan and the
 * shapes when they do not fit or the dtypes differ. */
ag_tensor *ag_lstm_scan(ag_tensor *gx, ag_tensor *w_hh, ag_tensor *b_hh, ag_tensor *h0,
                        ag_tensor *c0, bool batch_first);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif /* AG_H */
