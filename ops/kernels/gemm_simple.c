/* A plain cache-blocked GEMM (see gemm_simple.h): B is packed in KC x NC panels, A in
 * MC x KC blocks, and four rows of C are accumulated at a time in a small buffer the
 * compiler vectorizes. Slower than a register-tiled micro-kernel, but correct for any
 * strides (transposed, broadcast) without copying whole operands. */
#include "ops/kernels/gemm_simple.h"

#include <omp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MC 64
#define KC 256
#define NC 512

/* One function body per element type; T is the element, the accumulator is T too
 * (as BLAS does), summed over k in order. */
#define GEMM_SIMPLE(NAME, T)                                                              \
    static void NAME##_block(int64_t mc, int64_t nc, int64_t kc, T alpha, const T *Ap,    \
                             const T *Bp, T beta, bool first, T *C, int64_t rsc,          \
                             int64_t csc, T *acc) {                                       \
        for (int64_t i = 0; i < mc; i += 4) {                                             \
            int rows = mc - i < 4 ? (int)(mc - i) : 4;                                    \
            memset(acc, 0, sizeof(T) * 4 * (size_t)nc);                                   \
            T *c0 = acc, *c1 = acc + nc, *c2 = acc + 2 * nc, *c3 = acc + 3 * nc;          \
            for (int64_t k = 0; k < kc; k++) {                                            \
                const T *b = Bp + k * nc;                                                 \
                T a0 = Ap[i * kc + k];                                                    \
                T a1 = rows > 1 ? Ap[(i + 1) * kc + k] : 0;                               \
                T a2 = rows > 2 ? Ap[(i + 2) * kc + k] : 0;                               \
                T a3 = rows > 3 ? Ap[(i + 3) * kc + k] : 0;                               \
                _Pragma("omp simd")                                                      \
                for (int64_t j = 0; j < nc; j++) {                                        \
                    c0[j] += a0 * b[j];                                                   \
                    c1[j] += a1 * b[j];                                                   \
                    c2[j] += a2 * b[j];                                                   \
                    c3[j] += a3 * b[j];                                                   \
                }                                                                         \
            }                                                                             \
            for (int r = 0; r < rows; r++) {                                              \
                T *c = C + (i + r) * rsc;                                                 \
                const T *s = acc + r * nc;                                                \
                for (int64_t j = 0; j < nc; j++) {                                        \
                    T v = alpha * s[j];                                                   \
                    if (!first) v += c[j * csc];                                          \
                    else if (beta != 0) v += beta * c[j * csc];                           \
                    c[j * csc] = v;                                                       \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    }                                                                                     \
    /* Fallback when a packing buffer cannot be allocated: the triple loop. */           \
    static void NAME##_naive(int64_t M, int64_t N, int64_t K, T alpha, const T *A,        \
                             int64_t rsa, int64_t csa, const T *B, int64_t rsb,           \
                             int64_t csb, T beta, T *C, int64_t rsc, int64_t csc) {       \
        for (int64_t i = 0; i < M; i++)                                                   \
            for (int64_t j = 0; j < N; j++) {                                             \
                T s = 0;                                                                  \
                for (int64_t k = 0; k < K; k++) s += A[i * rsa + k * csa] * B[k * rsb + j * csb]; \
                T *c = &C[i * rsc + j * csc];                                             \
                *c = beta == 0 ? alpha * s : alpha * s + beta * *c;                       \
            }                                                                             \
    }                                                                                     \
    void NAME(int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t rsa,          \
              int64_t csa, const T *B, int64_t rsb, int64_t csb, T beta, T *C,            \
              int64_t rsc, int64_t csc) {                                                 \
        if (M <= 0 || N <= 0) return;                                                     \
        if (K <= 0 || alpha == 0) {                                                       \
            for (int64_t i = 0; i < M; i++)                                               \
                for (int64_t j = 0; j < N; j++)                                           \
                    C[i * rsc + j * csc] = beta == 0 ? 0 : beta * C[i * rsc + j * csc];   \
            return;                                                                       \
        }                                                                                 \
        int64_t nc_max = N < NC ? N : NC, kc_max = K < KC ? K : KC;                       \
        T *Bp = malloc(sizeof(T) * (size_t)(kc_max * nc_max));                            \
        if (!Bp) {                                                                        \
            NAME##_naive(M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc);    \
            return;                                                                       \
        }                                                                                 \
        bool par = M * N * K >= ((int64_t)1 << 18) && M > MC && !omp_in_parallel();       \
        for (int64_t jc = 0; jc < N; jc += NC) {                                          \
            int64_t nc = N - jc < NC ? N - jc : NC;                                       \
            for (int64_t pc = 0; pc < K; pc += KC) {                                      \
                int64_t kc = K - pc < KC ? K - pc : KC;                                   \
                for (int64_t k = 0; k < kc; k++)                                          \
                    for (int64_t j = 0; j < nc; j++)                                      \
                        Bp[k * nc + j] = B[(pc + k) * rsb + (jc + j) * csb];              \
                int64_t blocks = (M + MC - 1) / MC;                                       \
                _Pragma("omp parallel if (par)")                                         \
                {                                                                         \
                    T *Ap = malloc(sizeof(T) * (size_t)(MC * kc + 4 * nc));               \
                    T *acc = Ap ? Ap + MC * kc : NULL;                                                \
                    _Pragma("omp for schedule(static)")                                  \
                    for (int64_t blk = 0; blk < blocks; blk++) {                          \
                        int64_t ic = blk * MC, mc = M - ic < MC ? M - ic : MC;            \
                        if (!Ap) { /* no buffer: this block by the triple loop */         \
                            NAME##_naive(mc, nc, kc, alpha, A + ic * rsa + pc * csa, rsa, \
                                         csa, B + pc * rsb + jc * csb, rsb, csb,          \
                                         pc == 0 ? beta : 1, C + ic * rsc + jc * csc,     \
                                         rsc, csc);                                       \
                            continue;                                                     \
                        }                                                                 \
                        for (int64_t i = 0; i < mc; i++)                                  \
                            for (int64_t k = 0; k < kc; k++)                              \
                                Ap[i * kc + k] = A[(ic + i) * rsa + (pc + k) * csa];      \
                        NAME##_block(mc, nc, kc, alpha, Ap, Bp, beta, pc == 0,            \
                                     C + ic * rsc + jc * csc, rsc, csc, acc);             \
                    }                                                                     \
                    free(Ap);                                                             \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
        free(Bp);                                                                         \
    }

GEMM_SIMPLE(ag__gemm_simple_f32, float)
GEMM_SIMPLE(ag__gemm_simple_f64, double)
