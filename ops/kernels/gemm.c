/* gemm.c — GEMM framework: ISA dispatch, per-thread scratch, the thread split, and the
 * public entry points (CBLAS when built with it).  Packing, blocking, the portable
 * micro-kernel and the naive reference are gemm_tmpl.h, instantiated by gemm_f32.c and
 * gemm_f64.c.  The micro-kernels that need intrinsics live in gemm_avx512.c and
 * gemm_avx2.c, the only files compiled with ISA flags. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/kernels/gemm.h"
#include "tensor/alloc.h"
#include "runtime/cpu.h"
#include "runtime/parallel.h"
#include "runtime/precision.h"

#ifdef AG_USE_CBLAS
#include <cblas.h>
#endif

/* ---- ISA dispatch -------------------------------------------------------------- */

enum { ISA_UNSET = -1 };
static int g_isa = ISA_UNSET; /* accessed with __atomic builtins: benign first race */

/* The best available ISA, or AG_ISA's choice when that one is available. */
static int isa_resolve(void) {
    int env = ag__isa_from_name(getenv("AG_ISA"));
    if (env != ISA_UNSET && ag__cpu_has((enum ag_isa)env)) return env;
    if (ag__cpu_has(AG_ISA_AVX512)) return AG_ISA_AVX512;
    if (ag__cpu_has(AG_ISA_AVX2)) return AG_ISA_AVX2;
    return AG_ISA_SCALAR;
}

int ag__gemm_isa_id(void) {
    int isa = __atomic_load_n(&g_isa, __ATOMIC_ACQUIRE);
    if (isa == ISA_UNSET) {
        isa = isa_resolve();
        __atomic_store_n(&g_isa, isa, __ATOMIC_RELEASE);
    }
    return isa;
}

const char *ag__gemm_isa(void) { return ag__isa_name((enum ag_isa)ag__gemm_isa_id()); }

int ag__gemm_set_isa(const char *name) {
    int isa = ag__isa_from_name(name);
    if (isa == ISA_UNSET || !ag__cpu_has((enum ag_isa)isa)) return 1;
    __atomic_store_n(&g_isa, isa, __ATOMIC_RELEASE);
    return 0;
}

/* ---- Per-thread packing buffers ---------------------------------------------------
 * Each thread keeps one 64-byte aligned scratch buffer, grown on demand and reused
 * across calls (malloc/free per call cost as much as a 64^3 product).  Every live
 * buffer is linked into a global list, so it stays reachable (no leak report at exit);
 * a thread-exit destructor unlinks and frees a finished thread's buffer. */
typedef struct scratch {
    struct scratch *prev, *next;
    size_t bytes; /* usable bytes after the 64-byte header */
} scratch;

static scratch g_scratch_list = {&g_scratch_list, &g_scratch_list, 0};
static pthread_mutex_t g_scratch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local scratch *t_scratch;

static void scratch_release(void *p) {
    scratch *s = p;
    pthread_mutex_lock(&g_scratch_lock);
    s->prev->next = s->next, s->next->prev = s->prev;
    pthread_mutex_unlock(&g_scratch_lock);
    free(s);
}

static void scratch_key_init(void) { (void)pthread_key_create(&g_scratch_key, scratch_release); }

/* This thread's scratch of at least `bytes` bytes (64-byte aligned), or NULL when out
 * of memory.  Valid until this thread's next call. */
void *ag__gemm_scratch(size_t bytes) {
    scratch *s = t_scratch;
    if (s && s->bytes >= bytes) return (char *)s + 64;
    pthread_once(&g_scratch_once, scratch_key_init);
    if (s) {
        t_scratch = NULL;
        (void)pthread_setspecific(g_scratch_key, NULL);
        scratch_release(s);
    }
    bytes = (bytes + 4095) / 4096 * 4096;
    s = ag__aligned_alloc(64, 64 + bytes);
    if (!s) return NULL;
    s->bytes = bytes;
    pthread_mutex_lock(&g_scratch_lock);
    s->next = g_scratch_list.next, s->prev = &g_scratch_list;
    g_scratch_list.next->prev = s, g_scratch_list.next = s;
    pthread_mutex_unlock(&g_scratch_lock);
    t_scratch = s;
    (void)pthread_setspecific(g_scratch_key, s);
    return (char *)s + 64;
}

/* ---- Thread split -------------------------------------------------------------- */

/* Threads to offer: 1 inside an enclosing parallel region (nested teams would
 * oversubscribe), else ag_get_num_threads().  ag__gemm_grid decides how many to use. */
int ag__gemm_threads(int64_t M, int64_t N, int64_t K) {
    (void)M, (void)N, (void)K;
    return ag__parallel_threads();
}

/* Choose a tm x tn grid (tm*tn <= nt) of C sub-blocks, one per thread, minimising a
 * cycle estimate of the slowest thread: its padded compute (32 FMA lanes a cycle),
 * its packing of A rows and B columns (~1 element a cycle; a row split makes every
 * thread pack all of B and a column split all of A), plus a fork/join cost, so small
 * problems stay single-threaded. */
void ag__gemm_grid(int64_t M, int64_t N, int64_t K, int mr, int nr, int nt, int *tm_out,
                   int *tn_out) {
    /* Waking a sleeping worker and joining it costs ~10 us on the shared 2-vCPU VM
     * (often far more under load): with 30000 cycles products up to ~64^3 (and the
     * small-N ones, like OpenBLAS's MNK <= 2^18 rule) stay on one thread. */
    const double fork_cycles = 30000;
    int64_t mt = (M + mr - 1) / mr, ntl = (N + nr - 1) / nr;
    double best = -1;
    *tm_out = *tn_out = 1;
    for (int tm = 1; tm <= nt && tm <= mt; tm++)
        for (int tn = 1; tm * tn <= nt && tn <= ntl; tn++) {
            double rows = (double)((mt + tm - 1) / tm * mr);
            double cols = (double)((ntl + tn - 1) / tn * nr);
            double cost = rows * cols * (double)K / 32 + (rows + cols) * (double)K;
            if (tm * tn > 1) cost += fork_cycles;
            if (best < 0 || cost < best) best = cost, *tm_out = tm, *tn_out = tn;
        }
}

/* ---- Public entry points: CBLAS when built with it and strides allow ------------- */

#ifdef AG_USE_CBLAS
/* Map (rs, cs) of a rows x cols operand onto a CBLAS layout where C's layout is
 * row-major (row = 1) or column-major (row = 0): sets *trans and *ld, or returns 0. */
static int blas_operand(int row, int64_t rows, int64_t cols, int64_t rs, int64_t cs,
                        enum CBLAS_TRANSPOSE *trans, int64_t *ld) {
    int64_t unit = row ? cs : rs, lead = row ? rs : cs; /* as stored, no transpose */
    int64_t need = row ? cols : rows, needt = row ? rows : cols;
    if (unit == 1 && lead >= (need > 1 ? need : 1)) {
        *trans = CblasNoTrans, *ld = lead;
        return 1;
    }
    int64_t tunit = row ? rs : cs, tlead = row ? cs : rs; /* stored transposed */
    if (tunit == 1 && tlead >= (needt > 1 ? needt : 1)) {
        *trans = CblasTrans, *ld = tlead;
        return 1;
    }
    return 0;
}

#define BLAS_ROUTE(fn)                                                                            \
    do {                                                                                          \
        int row = csc == 1 && rsc >= (N > 1 ? N : 1);                                             \
        int col = !row && rsc == 1 && csc >= (M > 1 ? M : 1);                                     \
        enum CBLAS_TRANSPOSE ta, tb;                                                              \
        int64_t lda, ldb;                                                                         \
        if (M > 0 && N > 0 && K > 0 && M < INT32_MAX && N < INT32_MAX && K < INT32_MAX &&         \
            (row || col) && blas_operand(row, M, K, rsa, csa, &ta, &lda) &&                       \
            blas_operand(row, K, N, rsb, csb, &tb, &ldb) && lda < INT32_MAX && ldb < INT32_MAX && \
            (row ? rsc : csc) < INT32_MAX) {                                                      \
            fn(row ? CblasRowMajor : CblasColMajor, ta, tb, (int)M, (int)N, (int)K, alpha, A,     \
               (int)lda, B, (int)ldb, beta, C, (int)(row ? rsc : csc));                           \
            return 0;                                                                             \
        }                                                                                         \
    } while (0)
#endif

int ag__gemm_f32(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
                 int64_t csa, const float *B, int64_t rsb, int64_t csb, float beta, float *C,
                 int64_t rsc, int64_t csc) {
#ifdef AG_USE_CBLAS
    if (ag__gemm_bf16_split() == 0) BLAS_ROUTE(cblas_sgemm);
#endif
    return ag__gemm_own_f32(M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc);
}

int ag__gemm_f64(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsa,
                 int64_t csa, const double *B, int64_t rsb, int64_t csb, double beta, double *C,
                 int64_t rsc, int64_t csc) {
#ifdef AG_USE_CBLAS
    BLAS_ROUTE(cblas_dgemm);
#endif
    return ag__gemm_own_f64(M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc);
}

/* ---- What a float32 GEMM runs on (include/ag.h, "Precision") ------------------- */

/* One name per (ISA, mode): static strings, so the caller never frees one. */
#define BACKEND_NAMES(isa) \
    { isa "-fp32", isa "-bf16-emulated", isa "-bf16x3-emulated", isa "-fp32 (no bf16 kernel)" }
static const char *const backend_names[AG_ISA_COUNT][4] = {
    [AG_ISA_SCALAR] = BACKEND_NAMES("scalar"),
    [AG_ISA_AVX2] = BACKEND_NAMES("avx2"),
    [AG_ISA_AVX512] = BACKEND_NAMES("avx512"),
};

const char *ag_matmul_backend(void) {
    int split = ag__gemm_bf16_split();
    if (split == 0 && ag_get_float32_matmul_precision() != AG_PRECISION_HIGHEST)
        return backend_names[ag__gemm_isa_id()][3];
#ifdef AG_USE_CBLAS
    if (split == 0) return "cblas-fp32";
#endif
    return backend_names[ag__gemm_isa_id()][split == 0 ? 0 : split == 1 ? 1 : 2];
}
