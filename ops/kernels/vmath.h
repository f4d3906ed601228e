/* Contiguous vector-math kernels: activations and unary math, float32/float64.
 * Dispatch (AVX-512 / AVX2+FMA / scalar) is chosen once at run time, overridable by the
 * environment variable AG_ISA=scalar|avx2|avx512 (read once) or ag__vm_set_isa().
 * Work is split over threads (runtime/parallel.h) in fixed 64K-element chunks: results
 * never depend on the thread count. Semantics follow torch.nn.functional (see DESIGN.md "Kernels"). */
#ifndef AG_VMATH_H
#define AG_VMATH_H
#include <stdint.h>

/* The one list of vector-math functions: X(id, "name", forward, backward) per function,
 * forward y = f(x) and backward gx = g f'(x) written in ops/kernels/vmath_tmpl.h. The enum,
 * the names and every ISA's dispatch are generated from it, so a function without both
 * kernels does not compile. The order is free (everything looks functions up by id or
 * name). Parameters a, b (ag_vm_params) as noted; others ignore them. */
#define AG_VM_FN_LIST(X)                                                                  \
    X(AG_VM_EXP, "exp", fw_exp, bw_exp)                                                   \
    X(AG_VM_LOG, "log", fw_log, bw_log)                                                   \
    X(AG_VM_SQRT, "sqrt", fw_sqrt, bw_sqrt)                                               \
    X(AG_VM_SIN, "sin", fw_sin, bw_sin)                                                   \
    X(AG_VM_COS, "cos", fw_cos, bw_cos)                                                   \
    X(AG_VM_ABS, "abs", fw_abs, bw_abs)                                                   \
    X(AG_VM_NEG, "neg", fw_neg, bw_neg)                                                   \
    X(AG_VM_TANH, "tanh", fw_tanh, bw_tanh)                                               \
    X(AG_VM_SIGMOID, "sigmoid", fw_sigmoid, bw_sigmoid)                                   \
    X(AG_VM_RELU, "relu", fw_relu, bw_relu)                                               \
    X(AG_VM_LEAKY_RELU, "leaky_relu", fw_leaky_relu, bw_leaky_relu) /* a = slope */       \
    X(AG_VM_ELU, "elu", fw_elu, bw_elu)                             /* a = alpha */       \
    X(AG_VM_SELU, "selu", fw_selu, bw_selu)                                               \
    X(AG_VM_SOFTPLUS, "softplus", fw_softplus, bw_softplus) /* a = beta, b = threshold */ \
    X(AG_VM_GELU, "gelu", fw_gelu, bw_gelu)                 /* erf form */                \
    X(AG_VM_GELU_TANH, "gelu_tanh", fw_gelu_tanh, bw_gelu_tanh)                           \
    X(AG_VM_SILU, "silu", fw_silu, bw_silu)                                               \
    X(AG_VM_HARDTANH, "hardtanh", fw_hardtanh, bw_hardtanh) /* a = min, b = max */        \
    X(AG_VM_HARDSIGMOID, "hardsigmoid", fw_hardsigmoid, bw_hardsigmoid)                   \
    X(AG_VM_LOG1P, "log1p", fw_log1p, bw_log1p)                                           \
    X(AG_VM_EXPM1, "expm1", fw_expm1, bw_expm1)

typedef enum {
#define AG_VM_ENUM(id, name, fw, bw) id,
    AG_VM_FN_LIST(AG_VM_ENUM)
#undef AG_VM_ENUM
        AG_VM_COUNT
} ag_vm_fn;

typedef struct {
    double a, b;
} ag_vm_params;

typedef enum { AG_VM_ADD, AG_VM_SUB, AG_VM_MUL, AG_VM_DIV, AG_VM_BINOP_COUNT } ag_vm_binop;

/* y[i] = f(x[i]); y may alias x. */
void ag__vm_forward_f32(ag_vm_fn f, float *y, const float *x, int64_t n, ag_vm_params p);
void ag__vm_forward_f64(ag_vm_fn f, double *y, const double *x, int64_t n, ag_vm_params p);
/* gx[i] = g[i] * f'(x[i]); y = f(x) is the saved forward output. gx may alias g. */
void ag__vm_backward_f32(ag_vm_fn f, float *gx, const float *g, const float *x, const float *y,
                         int64_t n, ag_vm_params p);
void ag__vm_backward_f64(ag_vm_fn f, double *gx, const double *g, const double *x, const double *y,
                         int64_t n, ag_vm_params p);

/* Naive scalar references (libm; float32 computed in double and rounded), for tests. */
void ag__vm_forward_f32_ref(ag_vm_fn f, float *y, const float *x, int64_t n, ag_vm_params p);
void ag__vm_forward_f64_ref(ag_vm_fn f, double *y, const double *x, int64_t n, ag_vm_params p);
void ag__vm_backward_f32_ref(ag_vm_fn f, float *gx, const float *g, const float *x, const float *y,
                             int64_t n, ag_vm_params p);
void ag__vm_backward_f64_ref(ag_vm_fn f, double *gx, const double *g, const double *x,
                             const double *y, int64_t n, ag_vm_params p);

/* z = x op y elementwise (z may alias x or y); y += a*x (fused multiply-add on SIMD ISAs). */
void ag__vm_binary_f32(ag_vm_binop op, float *z, const float *x, const float *y, int64_t n);
void ag__vm_binary_f64(ag_vm_binop op, double *z, const double *x, const double *y, int64_t n);
void ag__vm_scale_add_f32(float *y, float a, const float *x, int64_t n);
void ag__vm_scale_add_f64(double *y, double a, const double *x, int64_t n);

/* Row kernels for softmax-like ops: one thread, no chunking (callers split rows).
 * max: NaN if any x is NaN, -inf if n == 0. exp_sum: y[i] = exp(x[i] - shift), returns
 * sum(y) (summed in T per lane over at most 16 vectors, then in double); y may alias x.
 * shift_scale: y[i] = (x[i] - s) * a + b (one rounding for the multiply-add). */
float ag__vm_max_f32(const float *x, int64_t n);
double ag__vm_max_f64(const double *x, int64_t n);
double ag__vm_exp_sum_f32(float *y, const float *x, int64_t n, float shift);
double ag__vm_exp_sum_f64(double *y, const double *x, int64_t n, double shift);
void ag__vm_shift_scale_f32(float *y, const float *x, int64_t n, float s, float a, float b);
void ag__vm_shift_scale_f64(double *y, const double *x, int64_t n, double s, double a, double b);

/* "scalar", "avx2", "avx512"; returns non-zero (and changes nothing) if unavailable. */
int ag__vm_set_isa(const char *isa);
const char *ag__vm_isa(void);

/* Default parameters torch uses for f (slope 0.01, alpha 1, beta 1 / threshold 20,
 * hardtanh -1..1); zeros for functions without parameters. */
ag_vm_params ag__vm_default_params(ag_vm_fn f);
const char *ag__vm_name(ag_vm_fn f);

/* ---- internal: one ISA's chunk kernels for one dtype. Each ops/kernels/vmath_<isa>_<dtype>.c
 * instantiates vmath_tmpl.h once and exports its table; vmath.c dispatches and threads. */
typedef struct {
    void (*fwd)(ag_vm_fn, float *, const float *, int64_t, const ag_vm_params *, int nt);
    void (*bwd)(ag_vm_fn, float *, const float *, const float *, const float *, int64_t,
                const ag_vm_params *, int nt);
    void (*bin)(ag_vm_binop, float *, const float *, const float *, int64_t, int nt);
    void (*axpy)(float *, float, const float *, int64_t);
    float (*max)(const float *, int64_t);
    double (*expsum)(float *, const float *, int64_t, float);
    void (*shsc)(float *, const float *, int64_t, float, float, float);
} ag__vm_kernels_f32;
typedef struct {
    void (*fwd)(ag_vm_fn, double *, const double *, int64_t, const ag_vm_params *, int nt);
    void (*bwd)(ag_vm_fn, double *, const double *, const double *, const double *, int64_t,
                const ag_vm_params *, int nt);
    void (*bin)(ag_vm_binop, double *, const double *, const double *, int64_t, int nt);
    void (*axpy)(double *, double, const double *, int64_t);
    double (*max)(const double *, int64_t);
    double (*expsum)(double *, const double *, int64_t, double);
    void (*shsc)(double *, const double *, int64_t, double, double, double);
} ag__vm_kernels_f64;

/* Outputs of at least this many bytes use non-temporal stores (default: never). */
void ag__vm_set_nt_bytes(int64_t bytes);

extern const ag__vm_kernels_f32 ag__vm_f32_scalar, ag__vm_f32_avx2, ag__vm_f32_avx512;
extern const ag__vm_kernels_f64 ag__vm_f64_scalar, ag__vm_f64_avx2, ag__vm_f64_avx512;
#endif
