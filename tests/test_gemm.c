/* test_gemm.c — the blocked GEMM against its naive twin, on every ISA this CPU has:
 * shapes around the MR/NR/KC/MC/NC block edges, alpha/beta combinations, beta == 0 over
 * NaN, transposed and strided operands, float32 and float64, and bitwise-identical
 * results for 1 and 2 threads. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ag.h"
#include "ops/kernels/gemm.h"
#include "runtime/cpu.h"
#include "runtime/parallel.h"

static const char *const isas[] = {"scalar", "avx2", "avx512"};

/* Deterministic values in [-1, 1). */
static double rnd(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* A test operand layout: element (i,j) at i*rs + j*cs inside a buffer of size n. */
typedef struct {
    int64_t rs, cs, n;
} lay;

/* How a rows x cols operand is stored: 0 row-major, 1 column-major (transposed
 * view), 2 row-major with padding and a column stride of 2 (general strides). */
static lay layout(int kind, int64_t rows, int64_t cols) {
    if (kind == 1) return (lay){1, rows + 1, (rows + 1) * (cols > 0 ? cols : 1) + 1};
    if (kind == 2) return (lay){2 * cols + 3, 2, (2 * cols + 3) * (rows > 0 ? rows : 1)};
    return (lay){cols, 1, rows * cols + 1};
}

typedef struct {
    int64_t M, N, K;
    double alpha, beta;
    int la, lb, lc; /* layouts of A, B, C */
    int nan_c;      /* fill C with NaN (only meaningful with beta == 0) */
} gcase;

/* Run one case in float32 and float64 against the naive reference; fail with the
 * case printed when an element is off by more than the forward-error bound
 * 4*(K+2)*eps*(|alpha|*(|A||B|)_ij + |beta*C_ij|). */
#define DEFINE_CHECK(T, S, EPS)                                                                  \
    static void check_##S(const gcase *g) {                                                      \
        lay a = layout(g->la, g->M, g->K), b = layout(g->lb, g->K, g->N);                        \
        lay c = layout(g->lc, g->M, g->N);                                                       \
        T *A = calloc(a.n, sizeof(T)), *B = calloc(b.n, sizeof(T));                              \
        T *C = calloc(c.n, sizeof(T)), *R = calloc(c.n, sizeof(T));                              \
        T *C0 = calloc(c.n, sizeof(T)), *AA = calloc(a.n, sizeof(T));                            \
        T *BB = calloc(b.n, sizeof(T)), *E = calloc(c.n, sizeof(T));                             \
        uint64_t s = (uint64_t)(g->M * 131 + g->N * 17 + g->K);                                  \
        for (int64_t i = 0; i < a.n; i++) A[i] = (T)rnd(&s), AA[i] = (T)fabs((double)A[i]);      \
        for (int64_t i = 0; i < b.n; i++) B[i] = (T)rnd(&s), BB[i] = (T)fabs((double)B[i]);      \
        for (int64_t i = 0; i < c.n; i++) C0[i] = g->nan_c ? (T)NAN : (T)rnd(&s);                \
        memcpy(C, C0, c.n * sizeof(T));                                                          \
        memcpy(R, C0, c.n * sizeof(T));                                                          \
        ag__gemm_##S(g->M, g->N, g->K, (T)g->alpha, A, a.rs, a.cs, B, b.rs, b.cs, (T)g->beta, C, \
                     c.rs, c.cs);                                                                \
        ag__gemm_##S##_naive(g->M, g->N, g->K, (T)g->alpha, A, a.rs, a.cs, B, b.rs, b.cs,        \
                             (T)g->beta, R, c.rs, c.cs);                                         \
        ag__gemm_##S##_naive(g->M, g->N, g->K, 1, AA, a.rs, a.cs, BB, b.rs, b.cs, 0, E, c.rs,    \
                             c.cs);                                                              \
        for (int64_t i = 0; i < g->M; i++)                                                       \
            for (int64_t j = 0; j < g->N; j++) {                                                 \
                int64_t o = i * c.rs + j * c.cs;                                                 \
                double cb = g->beta == 0 ? 0 : fabs(g->beta * (double)C0[o]);                    \
                double tol =                                                                     \
                    4.0 * (double)(g->K + 2) * EPS * (fabs(g->alpha) * (double)E[o] + cb) +      \
                    1e-300;                                                                      \
                double d = fabs((double)C[o] - (double)R[o]);                                    \
                if (!(d <= tol))                                                                 \
                    cr_assert_fail("%s %s M=%lld N=%lld K=%lld a=%g b=%g lay=%d%d%d nan=%d "     \
                                   "(%lld,%lld): got %.9g want %.9g",                            \
                                   #S, ag__gemm_isa(), (long long)g->M, (long long)g->N,         \
                                   (long long)g->K, g->alpha, g->beta, g->la, g->lb, g->lc,      \
                                   g->nan_c, (long long)i, (long long)j, (double)C[o],           \
                                   (double)R[o]);                                                \
            }                                                                                    \
        /* Elements outside the M x N view (padding) must be untouched. */                       \
        char *in = calloc(c.n, 1);                                                               \
        for (int64_t i = 0; i < g->M; i++)                                                       \
            for (int64_t j = 0; j < g->N; j++) in[i * c.rs + j * c.cs] = 1;                      \
        for (int64_t o = 0; o < c.n; o++)                                                        \
            if (!in[o] && memcmp(&C[o], &C0[o], sizeof(T)) != 0)                                 \
                cr_assert_fail("%s: wrote outside C at offset %lld", #S, (long long)o);          \
        free(in);                                                                                \
        free(A), free(B), free(C), free(R), free(C0), free(AA), free(BB), free(E);               \
    }
DEFINE_CHECK(float, f32, 5.96e-8)
DEFINE_CHECK(double, f64, 1.12e-16)

static void check(const gcase *g) {
    check_f32(g);
    check_f64(g);
}

/* Run body once per ISA available on this CPU (at least "scalar"). */
#define FOR_EACH_ISA(body)                               \
    for (int isa_ = 0; isa_ < 3; isa_++) {               \
        if (ag__gemm_set_isa(isas[isa_]) != 0) continue; \
        cr_assert_str_eq(ag__gemm_isa(), isas[isa_]);    \
        body;                                            \
    }

static const int64_t dims[] = {1, 2, 3, 5, 7, 8, 13, 14, 15, 16, 17, 29, 31, 32, 33, 47};

Test(gemm, isa_names) {
    const char *s = ag__gemm_isa();
    cr_assert(!strcmp(s, "scalar") || !strcmp(s, "avx2") || !strcmp(s, "avx512"));
    cr_assert_eq(ag__gemm_set_isa("scalar"), 0);
    cr_assert_str_eq(ag__gemm_isa(), "scalar");
    cr_assert_neq(ag__gemm_set_isa("bogus"), 0);
    cr_assert_str_eq(ag__gemm_isa(), "scalar");
}

/* runtime/cpu.h: names round-trip, scalar always runs, AVX-512 implies AVX2, and gemm
 * accepts exactly the ISAs the CPU has. */
Test(gemm, cpu_features) {
    for (int i = 0; i < AG_ISA_COUNT; i++) {
        cr_assert_eq(ag__isa_from_name(ag__isa_name((enum ag_isa)i)), i);
        cr_assert_eq(ag__gemm_set_isa(ag__isa_name((enum ag_isa)i)) == 0,
                     ag__cpu_has((enum ag_isa)i), "%s", ag__isa_name((enum ag_isa)i));
    }
    cr_assert(ag__cpu_has(AG_ISA_SCALAR));
    cr_assert(!ag__cpu_has(AG_ISA_AVX512) || ag__cpu_has(AG_ISA_AVX2));
    cr_assert_eq(ag__isa_from_name("bogus"), -1);
    cr_assert_eq(ag__isa_from_name(NULL), -1);
    cr_assert_str_eq(ag__isa_name(AG_ISA_COUNT), "unknown");
}

Test(gemm, zero_sizes) {
    FOR_EACH_ISA({
        check(&(gcase){0, 5, 3, 1, 0, 0, 0, 0, 0});
        check(&(gcase){5, 0, 3, 1, 0, 0, 0, 0, 0});
        check(&(gcase){5, 4, 0, 1, 0, 0, 0, 0, 0});   /* K == 0, beta == 0: zeros */
        check(&(gcase){5, 4, 0, 2, 0.5, 0, 0, 0, 0}); /* K == 0: C = beta*C */
        check(&(gcase){5, 4, 0, 1, 0, 0, 0, 0, 1});   /* K == 0 over NaN */
        check(&(gcase){6, 7, 8, 0, 0.5, 0, 0, 0, 0}); /* alpha == 0 */
    });
}

Test(gemm, small_shapes_all_edges) {
    FOR_EACH_ISA({
        for (size_t i = 0; i < sizeof dims / sizeof *dims; i++)
            for (size_t j = 0; j < sizeof dims / sizeof *dims; j++)
                check(&(gcase){dims[i], dims[j], dims[(i + j) % 16], 1, 0, 0, 0, 0, 0});
    });
}

Test(gemm, alpha_beta) {
    const double ab[][2] = {{1, 0}, {1, 1}, {-1.5, 0}, {0.5, -2}, {2, 1}, {1, 0.25}};
    FOR_EACH_ISA({
        for (int t = 0; t < 6; t++) {
            check(&(gcase){37, 45, 19, ab[t][0], ab[t][1], 0, 0, 0, 0});
            check(&(gcase){28, 64, 300, ab[t][0], ab[t][1], 0, 0, 0, 0});
        }
    });
}

Test(gemm, beta_zero_ignores_nan) {
    FOR_EACH_ISA({
        check(&(gcase){14, 32, 9, 1, 0, 0, 0, 0, 1});   /* full tiles */
        check(&(gcase){29, 35, 300, 2, 0, 0, 0, 0, 1}); /* edges, two K blocks */
        check(&(gcase){29, 35, 11, 1, 0, 0, 0, 1, 1});  /* column-major C */
    });
}

Test(gemm, transposed_and_strided) {
    FOR_EACH_ISA({
        for (int la = 0; la < 3; la++)
            for (int lb = 0; lb < 3; lb++)
                for (int lc = 0; lc < 3; lc++) {
                    check(&(gcase){23, 41, 31, 1, 0.5, la, lb, lc, 0});
                    check(&(gcase){30, 33, 270, 1.5, 0, la, lb, lc, 0});
                }
    });
}

/* Small N, long M, column-major A (the Aᵀ·G of a weight gradient): runs transposed
 * (Cᵀ = Bᵀ·Aᵀ) on kernels with a column-major C store; every C layout, beta and the
 * NaN-in-C rule must hold there too. */
Test(gemm, small_n_runs_transposed) {
    static const int64_t ns[] = {1, 5, 10, 16, 17, 31};
    FOR_EACH_ISA({
        for (int in = 0; in < 6; in++)
            for (int lb = 0; lb < 3; lb++)
                for (int lc = 0; lc < 3; lc++) {
                    check(&(gcase){128, ns[in], 128, 1, 0, 1, lb, lc, 0});
                    check(&(gcase){47, ns[in], 300, -1.5, 0.5, 1, lb, lc, 0});
                    check(&(gcase){33, ns[in], 7, 2, 0, 1, lb, lc, 1});
                }
    });
}

Test(gemm, block_edges) {
    /* K across several KC blocks, M across MC, N across NC (4096 for f32). */
    FOR_EACH_ISA({
        check(&(gcase){129, 65, 513, 1, 1, 0, 0, 0, 0});
        check(&(gcase){337, 40, 257, 1, 0, 0, 0, 0, 0});
        check(&(gcase){3, 4200, 5, 1, 0.5, 0, 0, 0, 0});
        check(&(gcase){127, 129, 255, -1, 0, 1, 1, 0, 0});
    });
}

Test(gemm, large, .timeout = 120) {
    FOR_EACH_ISA({
        check(&(gcase){1031, 67, 1100, 1, 0, 0, 0, 0, 0});
        check(&(gcase){61, 1050, 1009, 1, 1, 1, 0, 0, 0});
    });
}

/* Run the same problem with 1 and 2 threads; results must be bitwise identical. */
static void threads_identical(int64_t M, int64_t N, int64_t K, float beta) {
    float *A = malloc(M * K * sizeof *A), *B = malloc(K * N * sizeof *B);
    float *C1 = malloc(M * N * sizeof *C1), *C2 = malloc(M * N * sizeof *C2);
    double *D1 = malloc(M * N * sizeof *D1), *D2 = malloc(M * N * sizeof *D2);
    double *Ad = malloc(M * K * sizeof *Ad), *Bd = malloc(K * N * sizeof *Bd);
    uint64_t s = 7;
    for (int64_t i = 0; i < M * K; i++) Ad[i] = A[i] = (float)rnd(&s);
    for (int64_t i = 0; i < K * N; i++) Bd[i] = B[i] = (float)rnd(&s);
    for (int64_t i = 0; i < M * N; i++) D1[i] = D2[i] = C1[i] = C2[i] = (float)rnd(&s);
    ag_set_num_threads(1);
    ag__gemm_f32(M, N, K, 1.25f, A, K, 1, B, N, 1, beta, C1, N, 1);
    ag__gemm_f64(M, N, K, 1.25, Ad, K, 1, Bd, N, 1, beta, D1, N, 1);
    ag_set_num_threads(2);
    ag__gemm_f32(M, N, K, 1.25f, A, K, 1, B, N, 1, beta, C2, N, 1);
    ag__gemm_f64(M, N, K, 1.25, Ad, K, 1, Bd, N, 1, beta, D2, N, 1);
    cr_assert(memcmp(C1, C2, M * N * sizeof *C1) == 0, "f32 %s %lldx%lldx%lld differs",
              ag__gemm_isa(), (long long)M, (long long)N, (long long)K);
    cr_assert(memcmp(D1, D2, M * N * sizeof *D1) == 0, "f64 %s %lldx%lldx%lld differs",
              ag__gemm_isa(), (long long)M, (long long)N, (long long)K);
    free(A), free(B), free(C1), free(C2), free(D1), free(D2), free(Ad), free(Bd);
}

Test(gemm, threads_bitwise_identical) {
    FOR_EACH_ISA({
        threads_identical(300, 300, 300, 0.5f);
        threads_identical(129, 515, 77, 0);
        threads_identical(515, 33, 600, 1);
        threads_identical(128, 10, 128, 0);
        threads_identical(64, 64, 64, 0.5f);
    });
}

static float gA[70 * 110], gB[110 * 90], gC[2][70 * 90];
static void gemm_member(void *ctx, int tid, int nth) {
    (void)ctx, (void)nth;
    ag__gemm_f32(70, 90, 110, 1, gA, 110, 1, gB, 90, 1, 0, gC[tid], 90, 1);
}

/* Called from inside a parallel region: runs serially, still correct. */
Test(gemm, inside_parallel_region) {
    enum { M = 70, N = 90, K = 110 };
    static float R[M * N];
    float *A = gA, *B = gB, (*C)[M * N] = gC;
    uint64_t s = 3;
    for (int i = 0; i < M * K; i++) A[i] = (float)rnd(&s);
    for (int i = 0; i < K * N; i++) B[i] = (float)rnd(&s);
    ag__gemm_f32_naive(M, N, K, 1, A, K, 1, B, N, 1, 0, R, N, 1);
    ag_set_num_threads(2);
    ag__parallel_team(2, gemm_member, NULL);
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < M * N; i++)
            cr_assert(fabsf(C[t][i] - R[i]) <= 1e-4f, "thread %d elem %d", t, i);
}
