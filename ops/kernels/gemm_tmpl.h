/* gemm_tmpl.h — the type-generic GEMM framework: the portable micro-kernel, the naive
 * reference, packing, the blocked serial driver, the thread split and the entry point.
 * gemm_f32.c and gemm_f64.c include it once each, after naming every result in full:
 *   T                the element type (float, double)
 *   GEMM_CFG         the kernel descriptor type (gemm.h: ag__gemm_cfg_f32)
 *   GEMM_CFG_AVX512, GEMM_CFG_AVX2   the ISA files' descriptors (ag__gemm_avx2_f32)
 *   GEMM_NAIVE       the reference it defines (ag__gemm_f32_naive)
 *   GEMM_OWN         the entry point it defines (ag__gemm_own_f32)
 *   GEMM_BF16        defined (float only): the bf16 precision modes apply, their operand
 *                    transforms run on the packed panels (ops/kernels/bf16.h)
 * Everything else here is static to that file. */
#include <stdint.h>
#include <stdlib.h>

#include "ops/kernels/gemm.h"
#include "runtime/cpu.h"
#include "runtime/parallel.h"
#ifdef GEMM_BF16
#include "ops/kernels/bf16.h"
#include "runtime/precision.h"
#endif

/* Portable micro-kernel: 4 x 8, plain C (no FMA in the base flags: mul then add). */
#define PMR 4
#define PNR 8
static void ukr_portable(int64_t K, T alpha, const T *restrict Ap, int64_t ars, int64_t acs,
                         const T *restrict Bp, int64_t bks, T beta, T *C, int64_t rsc, int64_t csc,
                         int m, int n) {
    T acc[PMR][PNR] = {{0}};
    for (int64_t k = 0; k < K; k++, Ap += acs, Bp += bks)
        for (int i = 0; i < PMR; i++)
            for (int j = 0; j < PNR; j++) acc[i][j] += Ap[i * ars] * Bp[j];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            T *c = C + i * rsc + j * csc;
            T t = alpha * acc[i][j];
            *c = beta == 0 ? t : beta * *c + t;
        }
}
static const GEMM_CFG cfg_portable = {ukr_portable, PMR, PNR, 256, 128, 2048, NULL, 0, 0, 0};
#undef PMR
#undef PNR

void GEMM_NAIVE(int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t rsa, int64_t csa,
                const T *B, int64_t rsb, int64_t csb, T beta, T *C, int64_t rsc, int64_t csc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (double)A[i * rsa + k * csa] * (double)B[k * rsb + j * csb];
            T *c = C + i * rsc + j * csc;
            *c = beta == 0 ? (T)(alpha * s) : (T)(alpha * s + beta * (double)*c);
        }
}

/* C = beta*C over M x N (the K == 0 or alpha == 0 case); beta == 0 writes zeros. */
static void scale_c(int64_t M, int64_t N, T beta, T *C, int64_t rsc, int64_t csc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++)
            C[i * rsc + j * csc] = beta == 0 ? 0 : beta * C[i * rsc + j * csc];
}

/* Pack an mc x kc block of A into MR-row micro-panels, k-major, zero-padded rows. */
static void pack_a(int mr, int64_t mc, int64_t kc, const T *A, int64_t rsa, int64_t csa,
                   T *restrict Ap) {
    for (int64_t i0 = 0; i0 < mc; i0 += mr, Ap += mr * kc) {
        int m = mc - i0 < mr ? (int)(mc - i0) : mr;
        const T *a = A + i0 * rsa;
        if (rsa == 1) { /* column-major A: each k is a contiguous run */
            for (int64_t k = 0; k < kc; k++) {
                for (int i = 0; i < m; i++) Ap[k * mr + i] = a[k * csa + i];
                for (int i = m; i < mr; i++) Ap[k * mr + i] = 0;
            }
            continue;
        }
        for (int i = 0; i < m; i++) /* row by row: sequential reads of each row */
            for (int64_t k = 0; k < kc; k++) Ap[k * mr + i] = a[i * rsa + k * csa];
        for (int i = m; i < mr; i++)
            for (int64_t k = 0; k < kc; k++) Ap[k * mr + i] = 0;
    }
}

/* Pack a kc x nc block of B into NR-column micro-panels, k-major, zero-padded. */
static void pack_b(int nr, int64_t kc, int64_t nc, const T *B, int64_t rsb, int64_t csb,
                   T *restrict Bp) {
    for (int64_t j0 = 0; j0 < nc; j0 += nr, Bp += nr * kc) {
        int n = nc - j0 < nr ? (int)(nc - j0) : nr;
        const T *b = B + j0 * csb;
        for (int64_t k = 0; k < kc; k++) {
            T *dst = Bp + k * nr;
            const T *src = b + k * rsb;
            if (csb == 1)
                for (int j = 0; j < n; j++) dst[j] = src[j];
            else
                for (int j = 0; j < n; j++) dst[j] = src[j * csb];
            for (int j = n; j < nr; j++) dst[j] = 0;
        }
    }
}

/* One operand set, so the drivers pass one pointer instead of fourteen scalars. */
typedef struct {
    int64_t M, N, K;
    T alpha, beta;
    const T *A;
    int64_t rsa, csa;
    const T *B;
    int64_t rsb, csb;
    T *C;
    int64_t rsc, csc;
    int split; /* runtime/precision.h's ag__gemm_bf16_split: 0 fp32, 1 bf16, 3 bf16x3 */
} job;

/* The bf16 transform of np packed panels of `panel` values at buf (split 1: round in
 * place; split 3: expand each panel to its three parts, ops/kernels/bf16.h; order "lhh"
 * for A, "hlh" for B).  Every operand value passes through here exactly once per use, so
 * a C element sees the same rounded values whatever the thread split. */
static void bf16_panels(T *buf, int64_t np, int64_t panel, int split, const char *order) {
#ifdef GEMM_BF16
    if (split == 1) ag__bf16_round_n(buf, np * panel);
    if (split == 3) ag__bf16_split3(buf, np, panel, order);
#else
    (void)buf, (void)np, (void)panel, (void)split, (void)order;
#endif
}

/* Read A in place instead of packing it?  Packing row-major A is a scalar transpose
 * costing about as much per element as (N/32) FMAs, so it does not pay for narrow
 * sub-blocks; the micro-kernel reads a row-major A (csa == 1) directly just as fast.
 * A column-major A (rsa == 1, e.g. the transposed view in Aᵀ·G) is read in place too:
 * each k step reads MR contiguous values, like a packed panel with a longer stride. */
static int direct_a(const GEMM_CFG *g, const job *p, int64_t ncols) {
    /* Measured on AVX-512: in place wins clearly up to N ~ 800 (the MLP shapes); for
     * large squares the packed, prefetch-friendly panel was as fast or faster. */
    return !p->split && (p->csa == 1 || p->rsa == 1) && ncols <= 32 * g->nr;
}

/* Read B in place instead of packing it?  Only a row-major B (csb == 1) with a kernel
 * that takes any B stride (b_inplace), and only for few row panels: a packed panel is
 * re-read once per MR rows, and its contiguous layout pays off only when that happens
 * often.  A partial last panel is still packed (the kernel reads NR columns). */
#ifndef AG_GEMM_DIRECT_B_ROWS
#define AG_GEMM_DIRECT_B_ROWS 64
#endif
static int direct_b(const GEMM_CFG *g, const job *p, int64_t nrows) {
    return !p->split && g->b_inplace && p->csb == 1 && nrows <= AG_GEMM_DIRECT_B_ROWS;
}

/* The serial blocked GEMM (BLIS loop order jc, pc, ic, jr, ir) on rows [m0,m1) and
 * columns [n0,n1) of C, with packing buffers abuf (mc*kc*s) and bbuf (kc*nc*s), s = 3 for
 * bf16x3 (each packed panel holds three parts: the micro-kernel runs over 3*kb) else 1. */
static void gemm_block(const GEMM_CFG *g, const job *p, int64_t m0, int64_t m1, int64_t n0,
                       int64_t n1, T *abuf, T *bbuf) {
    int direct = direct_a(g, p, n1 - n0), directb = direct_b(g, p, m1 - m0);
    int64_t s = p->split == 3 ? 3 : 1;
    for (int64_t jc = n0; jc < n1; jc += g->nc) {
        int64_t nb = n1 - jc < g->nc ? n1 - jc : g->nc;
        for (int64_t pc = 0; pc < p->K; pc += g->kc) {
            int64_t kb = p->K - pc < g->kc ? p->K - pc : g->kc, ks = kb * s;
            T beta = pc == 0 ? p->beta : 1;
            const T *b = p->B + pc * p->rsb + jc * p->csb;
            int64_t nfull = directb ? nb / g->nr * g->nr : 0; /* read in place */
            if (nfull == nb)
                ;
            else if (g->pack_b) g->pack_b(kb, nb - nfull, b + nfull * p->csb, p->rsb, p->csb, bbuf);
            else pack_b(g->nr, kb, nb - nfull, b + nfull * p->csb, p->rsb, p->csb, bbuf);
            if (p->split) bf16_panels(bbuf, (nb + g->nr - 1) / g->nr, g->nr * kb, p->split, "hlh");
            for (int64_t ic = m0; ic < m1; ic += g->mc) {
                int64_t mb = m1 - ic < g->mc ? m1 - ic : g->mc;
                const T *a = p->A + ic * p->rsa + pc * p->csa;
                /* direct: pack only the short last panel, unless the kernel reads
                 * just its m rows in place (a_exact) */
                int64_t tail = g->a_exact ? 0 : mb % g->mr;
                if (!direct) pack_a(g->mr, mb, kb, a, p->rsa, p->csa, abuf);
                else if (tail)
                    pack_a(g->mr, tail, kb, a + (mb - tail) * p->rsa, p->rsa, p->csa, abuf);
                if (p->split) /* never direct: the whole block was packed */
                    bf16_panels(abuf, (mb + g->mr - 1) / g->mr, g->mr * kb, p->split, "lhh");
                for (int64_t jr = 0; jr < nb; jr += g->nr) {
                    int n = nb - jr < g->nr ? (int)(nb - jr) : g->nr;
                    for (int64_t ir = 0; ir < mb; ir += g->mr) {
                        int m = mb - ir < g->mr ? (int)(mb - ir) : g->mr;
                        T *c = p->C + (ic + ir) * p->rsc + (jc + jr) * p->csc;
                        int inplace = direct && (m == g->mr || g->a_exact);
                        const T *ap = !direct ? abuf + ir * ks : !inplace ? abuf : a + ir * p->rsa;
                        int64_t ars = inplace ? p->rsa : 1;
                        int64_t acs = inplace ? p->csa : g->mr;
                        int binp = jr < nfull;
                        const T *bp = binp ? b + jr : bbuf + (jr - nfull) * ks;
                        g->ukr(ks, p->alpha, ap, ars, acs, bp, binp ? p->rsb : g->nr, beta, c,
                               p->rsc, p->csc, m, n);
                    }
                }
            }
        }
    }
}

/* Take this thread's packing buffers (64-byte aligned, sized to its sub-block, cached
 * between calls) and run the serial driver.  Returns non-zero on allocation failure. */
static int run_block(const GEMM_CFG *g, const job *p, int64_t m0, int64_t m1, int64_t n0,
                     int64_t n1) {
    int64_t kc = p->K < g->kc ? p->K : g->kc;
    int64_t mc = m1 - m0 < g->mc ? m1 - m0 : g->mc;
    int64_t nc = n1 - n0 < g->nc ? n1 - n0 : g->nc;
    mc = (mc + g->mr - 1) / g->mr * g->mr;
    nc = (nc + g->nr - 1) / g->nr * g->nr;
    kc *= p->split == 3 ? 3 : 1;
    size_t abytes = ((size_t)(mc * kc) * sizeof(T) + 63) / 64 * 64;
    size_t bbytes = ((size_t)(nc * kc) * sizeof(T) + 63) / 64 * 64;
    T *buf = ag__gemm_scratch(abytes + bbytes);
    if (!buf) return 1;
    gemm_block(g, p, m0, m1, n0, n1, buf, (T *)((char *)buf + abytes));
    return 0;
}

/* A GEMM shared out over a tm x tn grid of (MR/NR-aligned) sub-blocks of C, one per team
 * member. */
typedef struct {
    const GEMM_CFG *g;
    const job *p;
    int tn;
    int64_t mt, ntl;
    int fail;
} grid_job;

static void grid_member(void *ctx, int id, int nth) {
    grid_job *q = ctx;
    const GEMM_CFG *g = q->g;
    const job *p = q->p;
    int tm = nth / q->tn, im = id / q->tn, in = id % q->tn;
    int64_t m0 = q->mt * im / tm * g->mr, m1 = q->mt * (im + 1) / tm * g->mr;
    int64_t n0 = q->ntl * in / q->tn * g->nr, n1 = q->ntl * (in + 1) / q->tn * g->nr;
    m1 = m1 < p->M ? m1 : p->M;
    n1 = n1 < p->N ? n1 : p->N;
    if (m0 < m1 && n0 < n1 && run_block(g, p, m0, m1, n0, n1))
        __atomic_store_n(&q->fail, 1, __ATOMIC_RELAXED);
}

/* Run on nt threads over a tm x tn grid of (MR/NR-aligned) sub-blocks of C. Non-zero
 * when a thread's packing scratch cannot be allocated (C is then incomplete). */
static int run_threads(const GEMM_CFG *g, const job *p, int nt) {
    int tm, tn;
    ag__gemm_grid(p->M, p->N, p->K, g->mr, g->nr, nt, &tm, &tn);
    int64_t mt = (p->M + g->mr - 1) / g->mr, ntl = (p->N + g->nr - 1) / g->nr;
    if (tm * tn == 1) return run_block(g, p, 0, p->M, 0, p->N);
    grid_job q = {g, p, tn, mt, ntl, 0};
    ag__parallel_team(tm * tn, grid_member, &q);
    return q.fail;
}

/* Run the product transposed, Cᵀ[N,M] = Bᵀ·Aᵀ?  Vector lanes run along N; a narrow N
 * (say 10 of 16 lanes) wastes lanes that a long M would fill.  Only for a column-major
 * A (the Aᵀ·G of a weight gradient), which as the swapped B is read in place.  Each C element is still
 * the same chain of FMAs over k (a*b == b*a), so the values do not change. */
static int swap_operands(const GEMM_CFG *g, const job *p) {
    int64_t v = g->nr / 2; /* lanes per vector */
    int64_t pn = (p->N + v - 1) / v * v, pm = (p->M + v - 1) / v * v;
    return p->N < g->nr && p->M >= g->nr && p->N * pm < p->M * pn && (p->rsc == 1 || p->csc == 1) &&
           p->rsa == 1 && g->b_inplace;
}

/* Our GEMM on a job. Non-zero when out of memory. */
static int run_job(const job *p) {
    if (p->M <= 0 || p->N <= 0) return 0;
    if (p->K <= 0 || p->alpha == 0) {
        scale_c(p->M, p->N, p->beta, p->C, p->rsc, p->csc);
        return 0;
    }
    int isa = ag__gemm_isa_id();
    const GEMM_CFG *g = isa == AG_ISA_AVX512 ? &GEMM_CFG_AVX512
                        : isa == AG_ISA_AVX2 ? &GEMM_CFG_AVX2
                                             : &cfg_portable;
    GEMM_CFG gs;
    if (p->split) { /* everything packed (and transformed); bf16x3 panels fit L1 at kc/3 */
        gs = *g;
        gs.b_inplace = 0;
        gs.kc = p->split == 3 ? g->kc / 3 : g->kc;
        g = &gs;
    }
    if (g->c_cols && swap_operands(g, p)) {
        job q = {p->N, p->M,   p->K,   p->alpha, p->beta, p->B,   p->csb,  p->rsb,
                 p->A, p->csa, p->rsa, p->C,     p->csc,  p->rsc, p->split};
        return run_threads(g, &q, ag__gemm_threads(q.M, q.N, q.K));
    }
    return run_threads(g, p, ag__gemm_threads(p->M, p->N, p->K));
}

/* GEMM_OWN: gemm.h's ag__gemm contract with this framework, whatever the build's CBLAS
 * setting. Non-zero (C incomplete) when the packing scratch cannot be allocated. */
int GEMM_OWN(int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t rsa, int64_t csa,
             const T *B, int64_t rsb, int64_t csb, T beta, T *C, int64_t rsc, int64_t csc) {
    job p = {M, N, K, alpha, beta, A, rsa, csa, B, rsb, csb, C, rsc, csc, 0};
#ifdef GEMM_BF16
    p.split = ag__gemm_bf16_split();
#endif
    return run_job(&p);
}
