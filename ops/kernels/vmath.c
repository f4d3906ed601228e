/* Vector-math dispatch, threading and naive references. See vmath.h. No ISA flags here:
 * the kernels live in vmath_<isa>_<dtype>.c, one instantiation of vmath_tmpl.h each. */
#include "ops/kernels/vmath.h"
#include "runtime/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- ISA selection ---------------- */
static const char *const isa_names[3] = {"scalar", "avx2", "avx512"};
static const ag__vm_kernels_f32 *const isa_f32[3] = {&ag__vm_f32_scalar, &ag__vm_f32_avx2,
                                                     &ag__vm_f32_avx512};
static const ag__vm_kernels_f64 *const isa_f64[3] = {&ag__vm_f64_scalar, &ag__vm_f64_avx2,
                                                     &ag__vm_f64_avx512};
static int g_isa = -1; /* accessed with __atomic builtins */

static int isa_ok(int i) {
    __builtin_cpu_init();
    if (i == 2)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (i == 1) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return i == 0;
}

static int isa_index(const char *s) {
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, isa_names[i]) == 0) return i;
    return -1;
}

static int isa_get(void) {
    int i = __atomic_load_n(&g_isa, __ATOMIC_ACQUIRE);
    if (i >= 0) return i;
    i = isa_index(getenv("AG_ISA"));
    if (i < 0 || !isa_ok(i)) i = isa_ok(2) ? 2 : isa_ok(1) ? 1 : 0;
    __atomic_store_n(&g_isa, i, __ATOMIC_RELEASE);
    return i;
}

int ag__vm_set_isa(const char *isa) {
    int i = isa_index(isa);
    if (i < 0 || !isa_ok(i)) return -1;
    __atomic_store_n(&g_isa, i, __ATOMIC_RELEASE);
    return 0;
}

const char *ag__vm_isa(void) { return isa_names[isa_get()]; }

/* ---------------- threading: fixed chunks, results independent of thread count ------- */
#define VM_CHUNK ((int64_t)1 << 16)
/* Outputs at least this large use non-temporal stores (see bench_vmath.c). */
static int64_t g_nt_bytes = INT64_MAX;
void ag__vm_set_nt_bytes(int64_t bytes) { g_nt_bytes = bytes; }

enum { J_F32, J_F64, J_B32, J_B64, J_BIN32, J_BIN64, J_AXPY32, J_AXPY64 };
typedef struct {
    const ag__vm_kernels_f32 *k32;
    const ag__vm_kernels_f64 *k64;
    int kind, op, nt;
    void *out;
    const void *a, *b, *c;
    double s;
    ag_vm_params p;
    int64_t n; /* elements, shared out in chunks of VM_CHUNK */
} vm_job;

#define F32(ptr, o) ((float *)(ptr) + (o))
#define CF32(ptr, o) ((const float *)(ptr) + (o))
#define F64(ptr, o) ((double *)(ptr) + (o))
#define CF64(ptr, o) ((const double *)(ptr) + (o))

static void job_part(const vm_job *j, int64_t o, int64_t n) {
    const ag__vm_kernels_f32 *k32 = j->k32;
    const ag__vm_kernels_f64 *k64 = j->k64;
    ag_vm_fn f = (ag_vm_fn)j->op;
    switch (j->kind) {
    case J_F32: k32->fwd(f, F32(j->out, o), CF32(j->a, o), n, &j->p, j->nt); break;
    case J_F64: k64->fwd(f, F64(j->out, o), CF64(j->a, o), n, &j->p, j->nt); break;
    case J_B32:
        k32->bwd(f, F32(j->out, o), CF32(j->a, o), CF32(j->b, o), CF32(j->c, o), n, &j->p, j->nt);
        break;
    case J_B64:
        k64->bwd(f, F64(j->out, o), CF64(j->a, o), CF64(j->b, o), CF64(j->c, o), n, &j->p, j->nt);
        break;
    case J_BIN32:
        k32->bin((ag_vm_binop)j->op, F32(j->out, o), CF32(j->a, o), CF32(j->b, o), n, j->nt);
        break;
    case J_BIN64:
        k64->bin((ag_vm_binop)j->op, F64(j->out, o), CF64(j->a, o), CF64(j->b, o), n, j->nt);
        break;
    case J_AXPY32: k32->axpy(F32(j->out, o), (float)j->s, CF32(j->a, o), n); break;
    default: k64->axpy(F64(j->out, o), j->s, CF64(j->a, o), n); break;
    }
}

static void job_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    vm_job *j = ctx;
    (void)tid;
    for (int64_t c = lo; c < hi; c++) {
        int64_t o = c * VM_CHUNK, len = j->n - o < VM_CHUNK ? j->n - o : VM_CHUNK;
        job_part(j, o, len);
    }
}

static void job_run(vm_job *j, int64_t n, size_t esz) {
    if (n <= 0) return;
    int isa = isa_get();
    j->k32 = isa_f32[isa];
    j->k64 = isa_f64[isa];
    j->nt = (double)n * (double)esz >= (double)g_nt_bytes;
    int64_t nch = (n + VM_CHUNK - 1) / VM_CHUNK;
    j->n = n;
    if (nch > 1) ag__parallel_for(nch, 1, 1.0, 2.0, job_range, j); /* chunks of VM_CHUNK */
    else job_part(j, 0, n);
}

static int fn_ok(ag_vm_fn f) { return (int)f >= 0 && f < AG_VM_COUNT; }

void ag__vm_forward_f32(ag_vm_fn f, float *y, const float *x, int64_t n, ag_vm_params p) {
    if (!fn_ok(f)) return;
    vm_job j = {.kind = J_F32, .op = (int)f, .out = y, .a = x, .p = p};
    job_run(&j, n, sizeof(float));
}
void ag__vm_forward_f64(ag_vm_fn f, double *y, const double *x, int64_t n, ag_vm_params p) {
    if (!fn_ok(f)) return;
    vm_job j = {.kind = J_F64, .op = (int)f, .out = y, .a = x, .p = p};
    job_run(&j, n, sizeof(double));
}
void ag__vm_backward_f32(ag_vm_fn f, float *gx, const float *g, const float *x, const float *y,
                         int64_t n, ag_vm_params p) {
    if (!fn_ok(f)) return;
    vm_job j = {.kind = J_B32, .op = (int)f, .out = gx, .a = g, .b = x, .c = y, .p = p};
    job_run(&j, n, sizeof(float));
}
void ag__vm_backward_f64(ag_vm_fn f, double *gx, const double *g, const double *x, const double *y,
                         int64_t n, ag_vm_params p) {
    if (!fn_ok(f)) return;
    vm_job j = {.kind = J_B64, .op = (int)f, .out = gx, .a = g, .b = x, .c = y, .p = p};
    job_run(&j, n, sizeof(double));
}
void ag__vm_binary_f32(ag_vm_binop op, float *z, const float *x, const float *y, int64_t n) {
    vm_job j = {.kind = J_BIN32, .op = (int)op, .out = z, .a = x, .b = y};
    job_run(&j, n, sizeof(float));
}
void ag__vm_binary_f64(ag_vm_binop op, double *z, const double *x, const double *y, int64_t n) {
    vm_job j = {.kind = J_BIN64, .op = (int)op, .out = z, .a = x, .b = y};
    job_run(&j, n, sizeof(double));
}
void ag__vm_scale_add_f32(float *y, float a, const float *x, int64_t n) {
    vm_job j = {.kind = J_AXPY32, .out = y, .a = x, .s = a};
    job_run(&j, n, sizeof(float)); /* axpy ignores nt (read-modify-write) */
}
void ag__vm_scale_add_f64(double *y, double a, const double *x, int64_t n) {
    vm_job j = {.kind = J_AXPY64, .out = y, .a = x, .s = a};
    job_run(&j, n, sizeof(double));
}

float ag__vm_max_f32(const float *x, int64_t n) { return isa_f32[isa_get()]->max(x, n); }
double ag__vm_max_f64(const double *x, int64_t n) { return isa_f64[isa_get()]->max(x, n); }
double ag__vm_exp_sum_f32(float *y, const float *x, int64_t n, float shift) {
    return n > 0 ? isa_f32[isa_get()]->expsum(y, x, n, shift) : 0.0;
}
double ag__vm_exp_sum_f64(double *y, const double *x, int64_t n, double shift) {
    return n > 0 ? isa_f64[isa_get()]->expsum(y, x, n, shift) : 0.0;
}
void ag__vm_shift_scale_f32(float *y, const float *x, int64_t n, float s, float a, float b) {
    if (n > 0) isa_f32[isa_get()]->shsc(y, x, n, s, a, b);
}
void ag__vm_shift_scale_f64(double *y, const double *x, int64_t n, double s, double a, double b) {
    if (n > 0) isa_f64[isa_get()]->shsc(y, x, n, s, a, b);
}

/* ---------------- naive references ---------------- */
static const char *const fn_names[AG_VM_COUNT] = {
#define VM_NAME(id, name, fw, bw) [id] = name,
    AG_VM_FN_LIST(VM_NAME)
#undef VM_NAME
};

const char *ag__vm_name(ag_vm_fn f) { return fn_ok(f) ? fn_names[f] : "?"; }

ag_vm_params ag__vm_default_params(ag_vm_fn f) {
    ag_vm_params p = {0, 0};
    if (f == AG_VM_LEAKY_RELU) p.a = 0.01;
    if (f == AG_VM_ELU) p.a = 1.0;
    if (f == AG_VM_SOFTPLUS) p.a = 1.0, p.b = 20.0;
    if (f == AG_VM_HARDTANH) p.a = -1.0, p.b = 1.0;
    return p;
}

#define R_ALPHA 1.6732632423543772848170429916717
#define R_SCALE 1.0507009873554804934193349852946
#define R_K 0.044715
#define R_SQRT_2_PI 0.79788456080286535588 /* sqrt(2/pi) */
#define R_SQRT_2PI 2.50662827463100050242  /* sqrt(2*pi) */

/* bx = beta*x as the kernel's dtype computes it (decides the softplus branch). */
static double ref_bx(double x, double beta, int f32) {
    return f32 ? (double)((float)x * (float)beta) : x * beta;
}

static double ref_fwd(ag_vm_fn f, double x, double a, double b, int f32) {
    switch (f) {
    case AG_VM_EXP: return exp(x);
    case AG_VM_LOG: return log(x);
    case AG_VM_SQRT: return sqrt(x);
    case AG_VM_SIN: return sin(x);
    case AG_VM_COS: return cos(x);
    case AG_VM_ABS: return fabs(x);
    case AG_VM_NEG: return -x;
    case AG_VM_TANH: return tanh(x);
    case AG_VM_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case AG_VM_RELU: return x <= 0 ? 0.0 : x;
    case AG_VM_LEAKY_RELU: return x > 0 ? x : x * a;
    case AG_VM_ELU: return x <= 0 ? expm1(x) * a : x;
    case AG_VM_SELU: return x <= 0 ? expm1(x) * R_ALPHA * R_SCALE : x * R_SCALE;
    case AG_VM_SOFTPLUS: return ref_bx(x, a, f32) > b ? x : log1p(exp(x * a)) / a;
    case AG_VM_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case AG_VM_GELU_TANH: return 0.5 * x * (1.0 + tanh(R_SQRT_2_PI * (x + R_K * x * x * x)));
    case AG_VM_SILU: return x / (1.0 + exp(-x));
    case AG_VM_HARDTANH: return x < a ? a : x > b ? b : x;
    case AG_VM_HARDSIGMOID: {
        double t = x + 3.0;
        t = t < 0 ? 0.0 : t;
        return (t > 6 ? 6.0 : t) / 6.0;
    }
    case AG_VM_LOG1P: return log1p(x);
    case AG_VM_EXPM1: return expm1(x);
    case AG_VM_COUNT: break;
    }
    return NAN; /* no default: -Wswitch makes a function without a reference a compile error */
}

static double ref_gelu_tanh_d(double x) {
    double k = R_SQRT_2_PI, th = tanh(k * (x + R_K * x * x * x));
    double td = 1.0 - th * th;
    double rd = td <= 0 ? 0.0 : td * k * (1.0 + 3.0 * R_K * x * x);
    return 0.5 * (1.0 + th) + 0.5 * x * rd;
}

static double ref_bwd(ag_vm_fn f, double g, double x, double y, double a, double b, int f32) {
    switch (f) {
    case AG_VM_EXP: return g * y;
    case AG_VM_LOG: return g / x;
    case AG_VM_SQRT: return g / (2.0 * y);
    case AG_VM_SIN: return g * cos(x);
    case AG_VM_COS: return -g * sin(x);
    case AG_VM_ABS: return x > 0 ? g : x < 0 ? -g : 0.0 * g;
    case AG_VM_NEG: return -g;
    case AG_VM_TANH: return g * (1.0 - y * y);
    case AG_VM_SIGMOID: return g * (1.0 - y) * y;
    case AG_VM_RELU: return x <= 0 ? 0.0 : g;
    case AG_VM_LEAKY_RELU: return x > 0 ? g : g * a;
    case AG_VM_ELU: return x > 0 ? g : g * a * exp(x);
    case AG_VM_SELU: return x > 0 ? g * R_SCALE : g * R_ALPHA * R_SCALE * exp(x);
    case AG_VM_SOFTPLUS: return ref_bx(x, a, f32) > b ? g : g / (1.0 + exp(-x * a));
    case AG_VM_GELU:
        return g * (0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / R_SQRT_2PI);
    case AG_VM_GELU_TANH: return g * ref_gelu_tanh_d(x);
    case AG_VM_SILU: {
        double s = 1.0 / (1.0 + exp(-x));
        return g * s * (1.0 + x * (1.0 - s));
    }
    case AG_VM_HARDTANH: return (x > a && x < b) ? g : 0.0;
    case AG_VM_HARDSIGMOID: return (x > -3 && x < 3) ? g / 6.0 : 0.0;
    case AG_VM_LOG1P: return g / (x + 1.0);
    case AG_VM_EXPM1: return g * (y + 1.0);
    case AG_VM_COUNT: break;
    }
    return NAN;
}

/* float32 references: parameters rounded to float as the kernels see them, arithmetic in
 * double, one final rounding. */
void ag__vm_forward_f32_ref(ag_vm_fn f, float *y, const float *x, int64_t n, ag_vm_params p) {
    double a = (float)p.a, b = (float)p.b;
    for (int64_t i = 0; i < n; i++) y[i] = (float)ref_fwd(f, x[i], a, b, 1);
}
void ag__vm_forward_f64_ref(ag_vm_fn f, double *y, const double *x, int64_t n, ag_vm_params p) {
    for (int64_t i = 0; i < n; i++) y[i] = ref_fwd(f, x[i], p.a, p.b, 0);
}
void ag__vm_backward_f32_ref(ag_vm_fn f, float *gx, const float *g, const float *x, const float *y,
                             int64_t n, ag_vm_params p) {
    double a = (float)p.a, b = (float)p.b;
    for (int64_t i = 0; i < n; i++) gx[i] = (float)ref_bwd(f, g[i], x[i], y[i], a, b, 1);
}
void ag__vm_backward_f64_ref(ag_vm_fn f, double *gx, const double *g, const double *x,
                             const double *y, int64_t n, ag_vm_params p) {
    for (int64_t i = 0; i < n; i++) gx[i] = ref_bwd(f, g[i], x[i], y[i], p.a, p.b, 0);
}
