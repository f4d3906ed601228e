/* gemm.h — BLIS-style general matrix multiply for float32 and float64.
 *
 * C[M,N] = alpha * A[M,K] · B[K,N] + beta * C.  Element (i,j) of X is X[i*rs + j*cs],
 * so transposed or strided views need no copies: packing reads any strides.
 * beta == 0: C is never read (NaN in C does not propagate).  M, N or K may be 0.
 *
 * The framework (gemm.c: dispatch, threads, scratch; gemm_tmpl.h, instantiated by
 * gemm_f32.c and gemm_f64.c: blocking, packing) drives one MR x NR micro-kernel per ISA
 * (gemm_avx512.c, gemm_avx2.c, portable C in gemm_tmpl.h) that does the arithmetic.  Threads split only the M/N loops, never K, so every C element is
 * computed by the same sequence of operations whatever the thread count: results are
 * bitwise identical for any ag_get_num_threads(). */
#ifndef AG_KERNELS_GEMM_H
#define AG_KERNELS_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* Non-zero (C incomplete) when the packing scratch cannot be allocated. */
int ag__gemm_f32(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
                 int64_t csa, const float *B, int64_t rsb, int64_t csb, float beta, float *C,
                 int64_t rsc, int64_t csc);
int ag__gemm_f64(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsa,
                 int64_t csa, const double *B, int64_t rsb, int64_t csb, double beta, double *C,
                 int64_t rsc, int64_t csc);

/* The slow references: triple loop, accumulating in double (long double is not
 * needed for the tests' tolerances).  Same contract as above, including beta == 0. */
void ag__gemm_f32_naive(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
                        int64_t csa, const float *B, int64_t rsb, int64_t csb, float beta, float *C,
                        int64_t rsc, int64_t csc);
void ag__gemm_f64_naive(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsa,
                        int64_t csa, const double *B, int64_t rsb, int64_t csb, double beta,
                        double *C, int64_t rsc, int64_t csc);

/* "avx512", "avx2" or "scalar": the micro-kernel set dispatch picked.  The first call
 * decides from __builtin_cpu_supports, overridable once by AG_ISA=scalar|avx2|avx512
 * (an unavailable or unknown AG_ISA value is ignored). */
const char *ag__gemm_isa(void);
/* Force an ISA ("scalar", "avx2", "avx512"); returns 0 on success, non-zero (and
 * changes nothing) when the CPU or the build lacks it.  For tests and benchmarks;
 * not thread-safe against concurrent GEMM calls. */
int ag__gemm_set_isa(const char *isa);

/* ---- Internal: the micro-kernel contract shared by gemm.c and the ISA files. ----
 * Ap: A micro-panel, element (i,k) at Ap[i*ars + k*acs]: packed (k-major, rows past m
 *     zero) with ars = 1, acs = MR, or A itself (then m == MR: no row past A's end).
 * Bp: B micro-panel, element (k,j) at Bp[k*bks + j] for j < NR: packed (bks = NR,
 *     64-byte aligned, columns past n zero), or, with cfg.b_inplace, a row-major B
 *     itself (bks = rsb, any alignment, only for full panels: n == NR).
 * Computes the MR x NR product over k = 0..K-1 in order, one FMA (or mul+add for the
 * portable kernel) per k per element, then for i < m, j < n:
 *   C[i,j] = alpha * acc[i,j] + beta * C[i,j]   (fused: fma(beta, C, alpha*acc))
 *   C[i,j] = alpha * acc[i,j]                   when beta == 0 (C not read).
 * The same formula is used for full and partial tiles so a C element's value does not
 * depend on where the tile boundaries fall (this is what makes threads deterministic). */
typedef void ag__ukr_f32(int64_t K, float alpha, const float *Ap, int64_t ars, int64_t acs,
                         const float *Bp, int64_t bks, float beta, float *C, int64_t rsc,
                         int64_t csc, int m, int n);
typedef void ag__ukr_f64(int64_t K, double alpha, const double *Ap, int64_t ars, int64_t acs,
                         const double *Bp, int64_t bks, double beta, double *C, int64_t rsc,
                         int64_t csc, int m, int n);

/* Kernel descriptor: tile shape and cache blocking (in elements) per ISA and type. */
/* pack_b (optional, NULL = the portable one): pack a kc x nc block of B into NR-column
 * micro-panels, k-major, columns past nc zero. */
typedef void ag__packb_f32(int64_t kc, int64_t nc, const float *B, int64_t rsb, int64_t csb,
                           float *Bp);
typedef void ag__packb_f64(int64_t kc, int64_t nc, const double *B, int64_t rsb, int64_t csb,
                           double *Bp);
typedef struct {
    ag__ukr_f32 *ukr;
    int mr, nr;
    int64_t kc, mc, nc;
    ag__packb_f32 *pack_b;
    int a_exact;   /* ukr reads only rows i < m of A: short panels read in place */
    int b_inplace; /* ukr takes unaligned B panels of any row stride: full panels of
                         * a row-major B may be read in place when packing would not pay */
    int c_cols;    /* ukr writes a column-major C (rsc == 1) with vector stores, so a
                         * small-N product may run transposed (Cᵀ = Bᵀ·Aᵀ, lanes along M) */
} ag__gemm_cfg_f32;
typedef struct {
    ag__ukr_f64 *ukr;
    int mr, nr;
    int64_t kc, mc, nc;
    ag__packb_f64 *pack_b;
    int a_exact;
    int b_inplace;
    int c_cols;
} ag__gemm_cfg_f64;

extern const ag__gemm_cfg_f32 ag__gemm_avx512_f32, ag__gemm_avx2_f32;
extern const ag__gemm_cfg_f64 ag__gemm_avx512_f64, ag__gemm_avx2_f64;

/* ---- Internal: between gemm.c and the framework (gemm_tmpl.h in gemm_f32.c, gemm_f64.c).
 * ag__gemm_f32's contract on our own kernels (no CBLAS); non-zero when out of memory. */
int ag__gemm_own_f32(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
                     int64_t csa, const float *B, int64_t rsb, int64_t csb, float beta, float *C,
                     int64_t rsc, int64_t csc);
int ag__gemm_own_f64(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsa,
                     int64_t csa, const double *B, int64_t rsb, int64_t csb, double beta, double *C,
                     int64_t rsc, int64_t csc);
/* The dispatched ISA (enum ag_isa, runtime/cpu.h), decided on the first call. */
int ag__gemm_isa_id(void);
/* This thread's packing scratch of at least `bytes` bytes (64-byte aligned), or NULL when
 * out of memory; valid until this thread's next call. */
void *ag__gemm_scratch(size_t bytes);
/* Threads available to one product of this size. */
int ag__gemm_threads(int64_t M, int64_t N, int64_t K);
/* The tm x tn grid of sub-blocks of C (tm * tn <= nt) with the least modelled cost. */
void ag__gemm_grid(int64_t M, int64_t N, int64_t K, int mr, int nr, int nt, int *tm_out,
                   int *tn_out);

#endif
