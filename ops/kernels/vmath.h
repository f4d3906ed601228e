/* Contiguous vector-math kernels: activations and unary math, float32/float64.
 * Dispatch (AVX-512 / AVX2+FMA / scalar) is chosen once at run time, overridable by the
 * environment variable AG_ISA=scalar|avx2|avx512 (read once) or ag__vm_set_isa().
 * Work is split over OpenMP threads in fixed 64K-element chunks: results never depend on
 * the thread count. Semantics follow torch.nn.functional (see DESIGN.md "Kernels"). */
#ifndef AG_VMATH_H
#define AG_VMATH_H
#include <stdint.h>

typedef enum {
  AG_VM_EXP, AG_VM_LOG, AG_VM_SQRT, AG_VM_SIN, AG_VM_COS, AG_VM_ABS, AG_VM_NEG,
  AG_VM_TANH, AG_VM_SIGMOID, AG_VM_RELU, AG_VM_LEAKY_RELU /*a=slope*/, AG_VM_ELU /*a=alpha*/,
  AG_VM_SELU, AG_VM_SOFTPLUS /*a=beta, b=threshold*/, AG_VM_GELU /*erf form*/, AG_VM_GELU_TANH,
  AG_VM_SILU, AG_VM_HARDTANH /*a=min,b=max*/, AG_VM_HARDSIGMOID, AG_VM_LOG1P, AG_VM_EXPM1,
  AG_VM_COUNT
} ag_vm_fn;

typedef struct { double a, b; } ag_vm_params;

typedef enum { AG_VM_ADD, AG_VM_SUB, AG_VM_MUL, AG_VM_DIV, AG_VM_BINOP_COUNT } ag_vm_binop;

/* y[i] = f(x[i]); y may alias x. */
void ag__vm_forward_f32(ag_vm_fn f, float *y, const float *x, int64_t n, ag_vm_params p);
void ag__vm_forward_f64(ag_vm_fn f, double *y, const double *x, int64_t n, ag_vm_params p);
/* gx[i] = g[i] * f'(x[i]); y = f(x) is the saved forward output. gx may alias g. */
void ag__vm_backward_f32(ag_vm_fn f, float *gx, const float *g, const float *x,
                         const float *y, int64_t n, ag_vm_params p);
void ag__vm_backward_f64(ag_vm_fn f, double *gx, const double *g, const double *x,
                         const double *y, int64_t n, ag_vm_params p);

/* Naive scalar references (libm; float32 computed in double and rounded), for tests. */
void ag__vm_forward_f32_ref(ag_vm_fn f, float *y, const float *x, int64_t n, ag_vm_params p);
void ag__vm_forward_f64_ref(ag_vm_fn f, double *y, const double *x, int64_t n, ag_vm_params p);
void ag__vm_backward_f32_ref(ag_vm_fn f, float *gx, const float *g, const float *x,
                             const float *y, int64_t n, ag_vm_params p);
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
void ag__vm_shift_scale_f64(double *y, const double *x, int64_t n, double s, double a,
                            double b);

/* "scalar", "avx2", "avx512"; returns non-zero (and changes nothing) if unavailable. */
int ag__vm_set_isa(const char *isa);
const char *ag__vm_isa(void);

/* Default parameters torch uses for f (slope 0.01, alpha 1, beta 1 / threshold 20,
 * hardtanh -1..1); zeros for functions without parameters. */
ag_vm_params ag__vm_default_params(ag_vm_fn f);
const char *ag__vm_name(ag_vm_fn f);

/* ---- internal: per-ISA chunk kernels, used by vmath.c ---- */
typedef struct {
  void (*fwd32)(ag_vm_fn, float *, const float *, int64_t, const ag_vm_params *, int nt);
  void (*fwd64)(ag_vm_fn, double *, const double *, int64_t, const ag_vm_params *, int nt);
  void (*bwd32)(ag_vm_fn, float *, const float *, const float *, const float *, int64_t,
                const ag_vm_params *, int nt);
  void (*bwd64)(ag_vm_fn, double *, const double *, const double *, const double *, int64_t,
                const ag_vm_params *, int nt);
  void (*bin32)(ag_vm_binop, float *, const float *, const float *, int64_t, int nt);
  void (*bin64)(ag_vm_binop, double *, const double *, const double *, int64_t, int nt);
  void (*axpy32)(float *, float, const float *, int64_t);
  void (*axpy64)(double *, double, const double *, int64_t);
  float (*max32)(const float *, int64_t);
  double (*max64)(const double *, int64_t);
  double (*expsum32)(float *, const float *, int64_t, float);
  double (*expsum64)(double *, const double *, int64_t, double);
  void (*shsc32)(float *, const float *, int64_t, float, float, float);
  void (*shsc64)(double *, const double *, int64_t, double, double, double);
} ag__vm_kernels;

/* Outputs of at least this many bytes use non-temporal stores (default: never). */
void ag__vm_set_nt_bytes(int64_t bytes);

extern const ag__vm_kernels ag__vm_kernels_scalar, ag__vm_kernels_avx2, ag__vm_kernels_avx512;
#endif
