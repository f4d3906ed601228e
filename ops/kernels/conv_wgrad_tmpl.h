/* conv_wgrad_tmpl.h — the type-generic weight-gradient kernel (conv_wgrad.h).
 * conv_wgrad_{f32,f64}_{avx2,avx512}.c include it once each, after naming every piece in full:
 *   T            the element type (float, double)
 *   V, L         the vector type and its lanes (__m256, 8; __m512, 16)
 *   MT           taps per register tile: 6 with AVX2's 16 registers, 12 with AVX-512's 32
 *   V_ZERO(), V_LOAD(p), V_STORE(p, v), V_BCAST(p), V_FMA(a, b, c)
 *                zero, aligned load and store, broadcast of *p, a*b + c fused
 *   VI, V_LOADU(p), V_MASKLOAD(p, m), V_MASK(n), V_HSUM(v)
 *                the mask type, unaligned load, masked load (lanes < n of m = V_MASK(n)),
 *                the mask of the first n lanes, the sum of the lanes
 *   WG_RUN       the entry point it defines (ag__conv_wgrad_f32_avx2)
 * A tile's sums do not depend on L or MT (each channel's chain over the pixels is the
 * same), so the two ISAs give the same bits except in the lane-sum variant.
 * Everything else here is static to that file; the macros are undefined at the end. */
#include <stdlib.h>
#include <string.h>

#include "ops/kernels/conv_wgrad.h"
#include "runtime/parallel.h"
#include "tensor/alloc.h"

#define INLINE static inline __attribute__((always_inline))
enum {
    NV = 2,
    CHUNKS = 16,
    LANES_KCOL = 32
}; /* register tile: MT taps x NV vectors of
                                                 * channels; image chunks */

/* Everything one call shares between its threads. */
struct plan {
    const struct ag__conv_wgrad *p;
    int64_t Hq, PL, P, kcol, cs, nch, wsize, gplanes, gyt;
    int64_t *toff; /* [kcol]: tap k's run start within its group's planes */
    T *part;       /* [nch, wsize]: each chunk's partial sum (the output when nch == 1) */
    T *scratch;    /* per thread: one image's planes, then one group's transposed gy */
    int64_t per;   /* elements per thread */
};

/* out[j*ldo + i] += sum over pixels q of xp[i][q] * gt[q*NV*L + j] for taps i < mt and
 * channels j < no (nv vectors of L): taps broadcast, channels along the lanes, pixels in
 * order; no lane sums. */
INLINE void tile(int nv, int mt, int64_t P, const T *gt, const T *const *xp, int no, T *out,
                 int64_t ldo) {
    V c0[MT], c1[MT];
#pragma GCC unroll 12
    for (int i = 0; i < mt; i++) c0[i] = c1[i] = V_ZERO();
    const T *x[MT];
#pragma GCC unroll 12
    for (int i = 0; i < mt; i++) x[i] = xp[i];
    for (int64_t q = 0; q < P; q++, gt += NV * L) {
        V b0 = V_LOAD(gt), b1 = nv > 1 ? V_LOAD(gt + L) : V_ZERO();
#pragma GCC unroll 12
        for (int i = 0; i < mt; i++) { /* one broadcast live at a time: 2*MT + 2 + 1 registers */
            V a = V_BCAST(x[i] + q);
            c0[i] = V_FMA(a, b0, c0[i]);
            if (nv > 1) c1[i] = V_FMA(a, b1, c1[i]);
        }
    }
    T t[MT][NV * L] __attribute__((aligned(sizeof(V))));
#pragma GCC unroll 12
    for (int i = 0; i < mt; i++) {
        V_STORE(t[i], c0[i]);
        if (nv > 1) V_STORE(t[i] + L, c1[i]);
    }
    for (int i = 0; i < mt; i++)
        for (int j = 0; j < no; j++) out[j * ldo + i] += t[i][j];
}

/* CASE(n, mt) for every tap count mt = 1..MT, the last one the default. */
// clang-format off
#if MT == 12
#define TILE_CASES(n)                                                                   \
    CASE(n, 1) CASE(n, 2) CASE(n, 3) CASE(n, 4) CASE(n, 5) CASE(n, 6) CASE(n, 7)        \
    CASE(n, 8) CASE(n, 9) CASE(n, 10) CASE(n, 11) default: CASE(n, 12)
#elif MT == 6
#define TILE_CASES(n) CASE(n, 1) CASE(n, 2) CASE(n, 3) CASE(n, 4) CASE(n, 5) default: CASE(n, 6)
#else
#error "conv_wgrad_tmpl.h: MT must be 6 or 12"
#endif
// clang-format on

/* The tile for nv <= NV vectors of channels and mt <= MT taps, each shape its own
 * straight-line code. */
static void tile_any(int nv, int mt, int64_t P, const T *gt, const T *const *xp, int no, T *out,
                     int64_t ldo) {
#define CASE(NVC, M) \
    case M: tile(NVC, M, P, gt, xp, no, out, ldo); break;
    if (nv > 1) switch (mt) {
            TILE_CASES(2)
        }
    else switch (mt) {
            TILE_CASES(1)
        }
#undef CASE
}

/* The small-kcol variant (kcol < LANES_KCOL: 1-channel or 1x1 kernels, where transposing
 * gy would cost as much as the product): pixels along the lanes, 2 channels x MT taps per
 * register tile, the last vector masked, lanes summed once per image. */
INLINE void tile_lanes(int mo, int mt, int64_t P, const T *g0, const T *g1, const T *const *xp,
                       T *out, int64_t ldo) {
    V a0[MT], a1[MT];
#pragma GCC unroll 12
    for (int j = 0; j < mt; j++) a0[j] = a1[j] = V_ZERO();
    int64_t q = 0;
    for (; q + L <= P; q += L) {
        V u = V_LOADU(g0 + q), v = mo > 1 ? V_LOADU(g1 + q) : V_ZERO();
#pragma GCC unroll 12
        for (int j = 0; j < mt; j++) {
            V xv = V_LOADU(xp[j] + q);
            a0[j] = V_FMA(u, xv, a0[j]);
            if (mo > 1) a1[j] = V_FMA(v, xv, a1[j]);
        }
    }
    if (q < P) { /* the last lanes, masked: nothing past a run is read */
        VI m = V_MASK(P - q);
        V u = V_MASKLOAD(g0 + q, m), v = mo > 1 ? V_MASKLOAD(g1 + q, m) : V_ZERO();
#pragma GCC unroll 12
        for (int j = 0; j < mt; j++) {
            V xv = V_MASKLOAD(xp[j] + q, m);
            a0[j] = V_FMA(u, xv, a0[j]);
            if (mo > 1) a1[j] = V_FMA(v, xv, a1[j]);
        }
    }
#pragma GCC unroll 12
    for (int j = 0; j < mt; j++) {
        out[j] += V_HSUM(a0[j]);
        if (mo > 1) out[ldo + j] += V_HSUM(a1[j]);
    }
}

static void tile_lanes_any(int mo, int mt, int64_t P, const T *g0, const T *g1, const T *const *xp,
                           T *out, int64_t ldo) {
#define CASE(MO, M) \
    case M: tile_lanes(MO, M, P, g0, g1, xp, out, ldo); break;
    if (mo > 1) switch (mt) {
            TILE_CASES(2)
        }
    else switch (mt) {
            TILE_CASES(1)
        }
#undef CASE
}

/* Does some tap k < K (dilation d) fall in row phase a of stride s? */
static bool phase_used(int64_t K, int64_t d, int64_t s, int64_t a) {
    for (int64_t k = 0; k < K; k++)
        if (k * d % s == a) return true;
    return false;
}

/* dst[ow] = src[ow*sw + off] for ow < OW (0 outside 0..W-1). */
static void plane_row(T *dst, const T *src, int64_t OW, int64_t W, int64_t sw, int64_t off) {
    if (sw == 1) { /* zeros, one copied run, zeros */
        int64_t a = off < 0 ? -off : 0, e = W - off;
        if (a > OW) a = OW;
        if (e > OW) e = OW;
        if (e < a) e = a;
        for (int64_t j = 0; j < a; j++) dst[j] = 0;
        memcpy(dst + a, src + a + off, (size_t)(e - a) * sizeof(T));
        for (int64_t j = e; j < OW; j++) dst[j] = 0;
        return;
    }
    for (int64_t j = 0; j < OW; j++) {
        int64_t iw = j * sw + off;
        dst[j] = iw >= 0 && iw < W ? src[iw] : 0;
    }
}

/* One image's planes [c][kw][a][Hq][OW] (phases no tap reads are left unwritten). */
static void build_planes(const struct plan *pl, const T *x, T *planes) {
    const struct ag__conv_wgrad *p = pl->p;
    for (int64_t c = 0; c < p->s.G * p->s.Cg; c++)
        for (int64_t kw = 0; kw < p->s.KW; kw++)
            for (int64_t a = 0; a < p->s.sh; a++) {
                if (!phase_used(p->s.KH, p->s.dh, p->s.sh, a)) continue;
                T *dst = planes + ((c * p->s.KW + kw) * p->s.sh + a) * pl->PL;
                for (int64_t i = 0; i < pl->Hq; i++, dst += p->s.OW) {
                    int64_t ih = i * p->s.sh + a - p->s.ph;
                    if (ih < 0 || ih >= p->s.H) memset(dst, 0, (size_t)p->s.OW * sizeof(T));
                    else
                        plane_row(dst, x + (c * p->s.H + ih) * p->s.W, p->s.OW, p->s.W, p->s.sw,
                                  kw * p->s.dw - p->s.pw);
                }
            }
}

/* gt[blk][q][j] = gy[blk*NV*L + j][q] for the Og channels of one group (0 past Og). */
static void transpose_gy(const struct plan *pl, const T *gy, T *gt) {
    const struct ag__conv_wgrad *p = pl->p;
    for (int64_t o0 = 0; o0 < p->s.Og; o0 += NV * L, gt += NV * L * pl->P)
        for (int64_t j = 0; j < NV * L; j++) {
            if (o0 + j >= p->s.Og) {
                for (int64_t q = 0; q < pl->P; q++) gt[q * NV * L + j] = 0;
                continue;
            }
            const T *r = gy + (o0 + j) * pl->P;
            for (int64_t q = 0; q < pl->P; q++) gt[q * NV * L + j] = r[q];
        }
}

/* image_product for kcol < LANES_KCOL: per MT taps (their runs stay in L1) every pair of
 * output channels, gy read in place. */
static void image_product_lanes(const struct plan *pl, int64_t n, const T *planes, T *out) {
    const struct ag__conv_wgrad *p = pl->p;
    const T *gy = (const T *)p->gy + n * p->s.G * p->s.Og * pl->P;
    for (int64_t gi = 0; gi < p->s.G; gi++) {
        const T *gp = planes + gi * pl->gplanes;
        for (int64_t k = 0; k < pl->kcol; k += MT) {
            int mt = pl->kcol - k < MT ? (int)(pl->kcol - k) : MT;
            const T *xp[MT];
            for (int j = 0; j < mt; j++) xp[j] = gp + pl->toff[k + j];
            for (int64_t o = 0; o < p->s.Og; o += 2) {
                int mo = p->s.Og - o < 2 ? 1 : 2;
                const T *g0 = gy + (gi * p->s.Og + o) * pl->P, *g1 = g0 + (mo > 1 ? pl->P : 0);
                tile_lanes_any(mo, mt, pl->P, g0, g1, xp, out + (gi * p->s.Og + o) * pl->kcol + k,
                               pl->kcol);
            }
        }
    }
}

/* Adds image n's products into out [G*Og, kcol]: per group, per NV*L channels (their
 * transposed gy stays in L1 / L2) every MT taps. */
static void image_product(const struct plan *pl, int64_t n, const T *planes, T *gt, T *out) {
    const struct ag__conv_wgrad *p = pl->p;
    const T *gy = (const T *)p->gy + n * p->s.G * p->s.Og * pl->P;
    for (int64_t gi = 0; gi < p->s.G; gi++) {
        const T *gp = planes + gi * pl->gplanes;
        transpose_gy(pl, gy + gi * p->s.Og * pl->P, gt);
        for (int64_t o0 = 0; o0 < p->s.Og; o0 += NV * L) {
            int no = p->s.Og - o0 < NV * L ? (int)(p->s.Og - o0) : NV * L, nv = no > L ? 2 : 1;
            const T *gb = gt + o0 * pl->P;
            for (int64_t k = 0; k < pl->kcol; k += MT) {
                int mt = pl->kcol - k < MT ? (int)(pl->kcol - k) : MT;
                const T *xp[MT];
                for (int j = 0; j < mt; j++) xp[j] = gp + pl->toff[k + j];
                tile_any(nv, mt, pl->P, gb, xp, no, out + (gi * p->s.Og + o0) * pl->kcol + k,
                         pl->kcol);
            }
        }
    }
}

/* Chunks [lo, hi) on thread tid: chunk i sums images i*cs .. into part + i*wsize. */
static void chunks(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct plan *pl = ctx;
    const struct ag__conv_wgrad *p = pl->p;
    T *planes = pl->scratch + tid * pl->per; /* per: a whole number of vectors */
    int64_t img = p->s.G * p->s.Cg * p->s.H * p->s.W;
    for (int64_t ci = lo; ci < hi; ci++) {
        T *out = pl->part + ci * pl->wsize;
        memset(out, 0, (size_t)pl->wsize * sizeof(T));
        int64_t end = (ci + 1) * pl->cs < p->s.N ? (ci + 1) * pl->cs : p->s.N;
        for (int64_t n = ci * pl->cs; n < end; n++) {
            build_planes(pl, (const T *)p->x + n * img, planes);
            if (pl->kcol < LANES_KCOL) image_product_lanes(pl, n, planes, out);
            else image_product(pl, n, planes, planes + pl->per - pl->gyt, out);
        }
    }
}

/* Tap k = (c, kh, kw)'s run start within a group's planes. */
static void tap_offsets(const struct plan *pl) {
    const struct ag__conv_wgrad *p = pl->p;
    for (int64_t c = 0; c < p->s.Cg; c++)
        for (int64_t kh = 0; kh < p->s.KH; kh++)
            for (int64_t kw = 0; kw < p->s.KW; kw++) {
                int64_t eh = kh * p->s.dh;
                pl->toff[(c * p->s.KH + kh) * p->s.KW + kw] =
                    ((c * p->s.KW + kw) * p->s.sh + eh % p->s.sh) * pl->PL + eh / p->s.sh * p->s.OW;
            }
}

/* out[i] = the chunks' partial sums added in chunk order. */
static void sum_chunks(const struct plan *pl, T *out) {
    for (int64_t i = 0; i < pl->wsize; i++) {
        T s = pl->part[i];
        for (int64_t c = 1; c < pl->nch; c++) s += pl->part[c * pl->wsize + i];
        out[i] = s;
    }
}

/* b rounded up to a whole, non-zero number of 64-byte lines (aligned_alloc's contract). */
static size_t up64(size_t b) { return (b + 64) / 64 * 64; }

int WG_RUN(const struct ag__conv_wgrad *p) {
    struct plan pl = {.p = p, .P = p->s.OH * p->s.OW, .kcol = p->s.Cg * p->s.KH * p->s.KW};
    pl.Hq = (p->s.KH - 1) * p->s.dh / p->s.sh + p->s.OH;
    pl.PL = pl.Hq * p->s.OW;
    pl.gplanes = p->s.Cg * p->s.KW * p->s.sh * pl.PL;
    pl.gyt = (p->s.Og + NV * L - 1) / (NV * L) * NV * L * pl.P;
    pl.per = (p->s.G * pl.gplanes + L - 1) / L * L + pl.gyt; /* gy's block vector-aligned */
    pl.wsize = p->s.G * p->s.Og * pl.kcol;
    pl.cs = (p->s.N + CHUNKS - 1) / CHUNKS;
    pl.nch = pl.cs ? (p->s.N + pl.cs - 1) / pl.cs : 0;
    int nt = ag__parallel_threads();
    /* every buffer through the one allocator (its failing-allocation hook reaches them) */
    pl.toff = ag__aligned_alloc(64, up64(sizeof(int64_t) * (size_t)pl.kcol));
    pl.scratch = ag__aligned_alloc(64, up64(sizeof(T) * (size_t)(pl.per * nt)));
    pl.part =
        pl.nch > 1 ? ag__aligned_alloc(64, up64(sizeof(T) * (size_t)(pl.nch * pl.wsize))) : p->out;
    if (!pl.toff || !pl.scratch || !pl.part) {
        free(pl.toff), free(pl.scratch);
        if (pl.nch > 1) free(pl.part);
        return 1;
    }
    if (pl.nch == 0) memset(p->out, 0, (size_t)pl.wsize * sizeof(T));
    tap_offsets(&pl);
    double cost = 2.0 * (double)(pl.cs * pl.wsize * pl.P);
    ag__parallel_for(pl.nch, 1, cost, 1 << 21, chunks, &pl);
    if (pl.nch > 1) {
        sum_chunks(&pl, p->out);
        free(pl.part);
    }
    free(pl.toff), free(pl.scratch);
    return 0;
}

#undef INLINE
#undef T
#undef V
#undef L
#undef V_ZERO
#undef V_FMA
#undef VI
#undef V_LOADU
#undef V_MASKLOAD
#undef V_MASK
#undef V_HSUM
#undef V_LOAD
#undef V_STORE
#undef V_BCAST
#undef WG_RUN
#undef MT
#undef TILE_CASES
