/* conv_igemm_tmpl.h — the type-generic implicit-GEMM convolution (conv_igemm.h).
 * conv_igemm_f32.c and conv_igemm_f64.c include it once each, after naming every result
 * in full:
 *   T               the element type (float, double)
 *   IG_CFG          the GEMM kernel descriptor type (gemm.h: ag__gemm_cfg_f32)
 *   IG_CFG_AVX512, IG_CFG_AVX2   the ISA descriptors (ag__gemm_avx2_f32)
 *   IG_RUN          the entry point it defines (ag__conv_igemm_f32)
 *   IG_NAIVE        the naive twin it defines (ag__conv_igemm_f32_naive)
 * Everything else here is static to that file. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "ops/kernels/conv_igemm.h"
#include "ops/kernels/gemm.h"
#include "runtime/cpu.h"
#include "runtime/parallel.h"
#include "tensor/alloc.h"

/* K block: a B micro-panel of KCB x NR elements stays in L1 (24 KiB for float x 16). */
#define KCB 384

/* Everything one call shares between its threads. */
struct plan {
    const struct ag__conv_igemm *p;
    const IG_CFG *cfg;
    int64_t kcol, Hph, Wph, plane, Qv, Qpad, mpanels;
    int64_t prows;     /* output channels per weight panel: Og split evenly, <= MR */
    int64_t xph_elems; /* one image's phase planes plus a zeroed tail the last tile reads */
    int64_t *off;      /* [kcol]: tap k's start in a group's phase planes */
    T *ap;             /* packed weights: G x mpanels panels of MR x kcol, k-major */
    char *scratch;     /* per thread: phase planes, output tile rows, a B panel */
    size_t per;        /* bytes per thread */
};

/* Does some tap k < K (dilation d) fall in phase a of stride s? */
static bool phase_used(int64_t K, int64_t d, int64_t s, int64_t a) {
    for (int64_t k = 0; k < K; k++)
        if (k * d % s == a) return true;
    return false;
}

/* dst[j] = src[j - pw] (0 outside 0..W-1) for j < Wph: a stride-1 row. */
static void phase_row_unit(T *dst, const T *src, int64_t Wph, int64_t W, int64_t pw) {
    int64_t a = pw < Wph ? pw : Wph, e = pw + W < Wph ? pw + W : Wph;
    for (int64_t j = 0; j < a; j++) dst[j] = 0;
    if (e > a) memcpy(dst + a, src + (a - pw), (size_t)(e - a) * sizeof(T));
    for (int64_t j = e > a ? e : a; j < Wph; j++) dst[j] = 0;
}

/* Zero-padded phase planes of image x (all G*Cg channels), layout [c][a][b][Hph][Wph]. */
static void build_phases(const struct plan *pl, const T *x, T *xph) {
    const struct ag__conv_igemm *p = pl->p;
    int64_t C = p->s.G * p->s.Cg;
    for (int64_t c = 0; c < C; c++)
        for (int64_t a = 0; a < p->s.sh; a++)
            for (int64_t b = 0; b < p->s.sw; b++) {
                if (!phase_used(p->s.KH, p->s.dh, p->s.sh, a) ||
                    !phase_used(p->s.KW, p->s.dw, p->s.sw, b))
                    continue; /* no tap reads it (a 1x1 stride-2 kernel reads one of four) */
                T *dst = xph + ((c * p->s.sh + a) * p->s.sw + b) * pl->plane;
                for (int64_t i = 0; i < pl->Hph; i++, dst += pl->Wph) {
                    int64_t ih = i * p->s.sh + a - p->s.ph;
                    if (ih < 0 || ih >= p->s.H) {
                        memset(dst, 0, (size_t)pl->Wph * sizeof(T));
                        continue;
                    }
                    const T *src = x + (c * p->s.H + ih) * p->s.W;
                    if (p->s.sw == 1) { /* zeros, one copied run, zeros */
                        phase_row_unit(dst, src, pl->Wph, p->s.W, p->s.pw);
                        continue;
                    }
                    for (int64_t j = 0; j < pl->Wph; j++) {
                        int64_t iw = j * p->s.sw + b - p->s.pw;
                        dst[j] = iw >= 0 && iw < p->s.W ? src[iw] : 0;
                    }
                }
            }
}

/* The packing runs only where an AVX2 or AVX-512 micro-kernel is dispatched
 * (ag__conv_igemm_ok), so it may use 32-byte moves whatever this file's flags. */
#define AVX2_FN __attribute__((target("avx2,fma")))

/* dst[0..nr) = src[0..nr) (nr * sizeof(T) is 64 or 128 bytes), 32 bytes a move. */
AVX2_FN static inline void copy_run(T *restrict dst, const T *restrict src, int nr) {
    for (size_t b = 0; b < (size_t)nr * sizeof(T); b += 32)
        _mm256_storeu_si256(
            (__m256i *)(void *)((char *)dst + b),
            _mm256_loadu_si256((const __m256i *)(const void *)((const char *)src + b)));
}

/* Output rows of group gi of one image from its phase planes xg into yt [Og, Qpad]. Each
 * weight panel holds prows channels (Og split evenly over the fewest MR-row panels: 16
 * channels on AVX-512's 14-row tile are 8 + 8, not 14 + 2 or 28 computed), and the
 * micro-kernel computes only the rows a panel holds. */
AVX2_FN static void group_product(const struct plan *pl, int64_t gi, const T *xg, T *yt, T *bp) {
    const IG_CFG *g = pl->cfg;
    int mr = g->mr, nr = g->nr;
    /* K blocks of equal size <= KCB (576 = 2 x 288, not 384 + 192) */
    int64_t nblk = (pl->kcol + KCB - 1) / KCB, kcb = (pl->kcol + nblk - 1) / (nblk ? nblk : 1);
    for (int64_t j0 = 0; j0 < pl->Qpad; j0 += nr)
        for (int64_t pc = 0; pc < pl->kcol; pc += kcb) {
            int64_t kb = pl->kcol - pc < kcb ? pl->kcol - pc : kcb;
            for (int64_t k = 0; k < kb; k++) copy_run(bp + k * nr, xg + pl->off[pc + k] + j0, nr);
            for (int64_t mp = 0; mp < pl->mpanels; mp++) {
                const T *ap = pl->ap + ((gi * pl->mpanels + mp) * pl->kcol + pc) * mr;
                int64_t o0 = mp * pl->prows, m = pl->p->s.Og - o0;
                g->ukr(kb, 1, ap, 1, mr, bp, nr, pc ? 1 : 0, yt + o0 * pl->Qpad + j0, pl->Qpad, 1,
                       (int)(m < pl->prows ? m : pl->prows), nr);
            }
        }
}

/* d[i] = r[i] + v for i < n, 16 bytes at a time (GCC vector extensions: SSE2 on any
 * x86-64); the same one rounding per element as the scalar tail. */
typedef T vec16 __attribute__((vector_size(16)));
static void add_row(T *restrict d, const T *restrict r, int64_t n, T v) {
    enum { L = 16 / sizeof(T) };
    int64_t i = 0;
    vec16 vv = {0};
    vv += v;
    for (; i + L <= n; i += L) {
        vec16 t;
        memcpy(&t, r + i, sizeof t);
        t += vv;
        memcpy(d + i, &t, sizeof t);
    }
    for (; i < n; i++) d[i] = r[i] + v;
}

/* d[i] = relu(r[i] + v) (relu(r[i]) when !add) for i < n: ReLU's rule v <= 0 -> +0, NaN
 * kept (ops/act_math.h), so the bits equal ag_relu of the unfused sum. */
typedef __typeof__((vec16){0} <= (vec16){0}) mvec16;
static void relu_row(T *restrict d, const T *restrict r, int64_t n, bool add, T v) {
    enum { L = 16 / sizeof(T) };
    int64_t i = 0;
    vec16 vv = {0}, zero = {0};
    vv += v;
    for (; i + L <= n; i += L) {
        vec16 t;
        memcpy(&t, r + i, sizeof t);
        if (add) t += vv;
        mvec16 keep = ~(t <= zero); /* all ones where t > 0 or t is NaN */
        t = (vec16)((mvec16)t & keep);
        memcpy(d + i, &t, sizeof t);
    }
    for (; i < n; i++) {
        T t = add ? r[i] + v : r[i];
        d[i] = t <= 0 ? 0 : t;
    }
}

/* y[n, gi*Og + o, oh, ow] = yt[o, oh*Wph + ow] (+ bias, then the ReLU when asked): the
 * valid columns. */
static void copy_out(const struct plan *pl, int64_t n, int64_t gi, const T *yt) {
    const struct ag__conv_igemm *p = pl->p;
    const T *bias = p->bias;
    int64_t P = p->s.OH * p->s.OW;
    for (int64_t o = 0; o < p->s.Og; o++) {
        T *y = (T *)p->y + (n * p->s.G * p->s.Og + gi * p->s.Og + o) * P;
        T bv = bias ? bias[gi * p->s.Og + o] : 0;
        for (int64_t oh = 0; oh < p->s.OH; oh++) {
            const T *r = yt + o * pl->Qpad + oh * pl->Wph;
            T *d = y + oh * p->s.OW;
            if (p->relu) relu_row(d, r, p->s.OW, bias != NULL, bv);
            else if (bias) add_row(d, r, p->s.OW, bv);
            else memcpy(d, r, (size_t)p->s.OW * sizeof(T));
        }
    }
}

static void images(void *ctx, int64_t lo, int64_t hi, int tid) {
    const struct plan *pl = ctx;
    const struct ag__conv_igemm *p = pl->p;
    char *s = pl->scratch + (size_t)tid * pl->per;
    T *bp = (T *)(void *)s, *xph = bp + KCB * pl->cfg->nr, *yt = xph + pl->xph_elems;
    int64_t gstride = p->s.Cg * p->s.sh * p->s.sw * pl->plane;
    for (int64_t n = lo; n < hi; n++) {
        build_phases(pl, (const T *)p->x + n * p->s.G * p->s.Cg * p->s.H * p->s.W, xph);
        for (int64_t gi = 0; gi < p->s.G; gi++) {
            group_product(pl, gi, xph + gi * gstride, yt, bp);
            copy_out(pl, n, gi, yt);
        }
    }
}

/* Pack w [G*Og, kcol] into MR-row panels per group, k-major, prows channels a panel,
 * the rest of its MR rows zero. */
static void pack_weights(const struct plan *pl) {
    const struct ag__conv_igemm *p = pl->p;
    int mr = pl->cfg->mr;
    const T *w = p->w;
    for (int64_t gi = 0; gi < p->s.G; gi++)
        for (int64_t mp = 0; mp < pl->mpanels; mp++) {
            T *dst = pl->ap + (gi * pl->mpanels + mp) * pl->kcol * mr;
            for (int64_t k = 0; k < pl->kcol; k++)
                for (int i = 0; i < mr; i++) {
                    int64_t o = mp * pl->prows + i;
                    dst[k * mr + i] =
                        i < pl->prows && o < p->s.Og ? w[(gi * p->s.Og + o) * pl->kcol + k] : 0;
                }
        }
}

/* Tap k = (c, kh, kw)'s run start within a group's phase planes. */
static void tap_offsets(const struct plan *pl) {
    const struct ag__conv_igemm *p = pl->p;
    for (int64_t c = 0; c < p->s.Cg; c++)
        for (int64_t kh = 0; kh < p->s.KH; kh++)
            for (int64_t kw = 0; kw < p->s.KW; kw++) {
                int64_t eh = kh * p->s.dh, ew = kw * p->s.dw;
                int64_t ph = (c * p->s.sh + eh % p->s.sh) * p->s.sw + ew % p->s.sw;
                pl->off[(c * p->s.KH + kh) * p->s.KW + kw] =
                    ph * pl->plane + eh / p->s.sh * pl->Wph + ew / p->s.sw;
            }
}

static size_t up64(size_t b) { return (b + 63) / 64 * 64; }

int IG_RUN(const struct ag__conv_igemm *p) {
    int isa = ag__gemm_isa_id();
    struct plan pl = {.p = p, .cfg = isa == AG_ISA_AVX512 ? &IG_CFG_AVX512 : &IG_CFG_AVX2};
    int mr = pl.cfg->mr, nr = pl.cfg->nr;
    pl.kcol = p->s.Cg * p->s.KH * p->s.KW;
    pl.Hph = (p->s.H + 2 * p->s.ph + p->s.sh - 1) / p->s.sh;
    pl.Wph = (p->s.W + 2 * p->s.pw + p->s.sw - 1) / p->s.sw;
    pl.plane = pl.Hph * pl.Wph;
    pl.Qv = p->s.OH * pl.Wph;
    pl.Qpad = (pl.Qv + nr - 1) / nr * nr;
    pl.mpanels = (p->s.Og + mr - 1) / mr;
    pl.prows = pl.mpanels ? (p->s.Og + pl.mpanels - 1) / pl.mpanels : 0;
    int64_t C = p->s.G * p->s.Cg;
    pl.xph_elems = C * p->s.sh * p->s.sw * pl.plane + pl.Qpad - pl.Qv + pl.Wph + nr;
    pl.per = up64(sizeof(T) * (size_t)(KCB * nr + pl.xph_elems + pl.mpanels * mr * pl.Qpad));
    int nt = ag__parallel_threads();
    size_t apb = up64(sizeof(T) * (size_t)(p->s.G * pl.mpanels * mr * pl.kcol));
    pl.off = malloc(sizeof(int64_t) * (size_t)(pl.kcol ? pl.kcol : 1));
    pl.ap = ag__aligned_alloc(64, apb ? apb : 64);
    pl.scratch = ag__aligned_alloc(64, pl.per * (size_t)nt);
    if (!pl.off || !pl.ap || !pl.scratch) {
        free(pl.off), free(pl.ap), free(pl.scratch);
        return 1;
    }
    /* zeros where build_phases never writes: the tail past the planes (read by the last
     * tiles, into dropped columns) and the planes of phases no tap reads (with stride 1
     * every plane is written: then only the tail) */
    int64_t planes = C * p->s.sh * p->s.sw * pl.plane, from = p->s.sh * p->s.sw > 1 ? 0 : planes;
    for (int t = 0; t < nt; t++)
        memset((T *)(void *)(pl.scratch + (size_t)t * pl.per) + KCB * nr + from, 0,
               sizeof(T) * (size_t)(pl.xph_elems - from));
    tap_offsets(&pl);
    pack_weights(&pl);
    double cost = 2.0 * (double)(p->s.G * p->s.Og * pl.Qv * pl.kcol);
    ag__parallel_for(p->s.N, 1, cost, 1 << 21, images, &pl);
    free(pl.off), free(pl.ap), free(pl.scratch);
    return 0;
}

void IG_NAIVE(const struct ag__conv_igemm *p) {
    const T *x = p->x, *w = p->w, *bias = p->bias;
    T *y = p->y;
    int64_t C = p->s.G * p->s.Cg, O = p->s.G * p->s.Og;
    for (int64_t n = 0; n < p->s.N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t oh = 0; oh < p->s.OH; oh++)
                for (int64_t ow = 0; ow < p->s.OW; ow++) {
                    int64_t gi = o / p->s.Og;
                    double s = 0;
                    for (int64_t c = 0; c < p->s.Cg; c++)
                        for (int64_t kh = 0; kh < p->s.KH; kh++)
                            for (int64_t kw = 0; kw < p->s.KW; kw++) {
                                int64_t ih = oh * p->s.sh - p->s.ph + kh * p->s.dh;
                                int64_t iw = ow * p->s.sw - p->s.pw + kw * p->s.dw;
                                if (ih < 0 || ih >= p->s.H || iw < 0 || iw >= p->s.W) continue;
                                s += (double)x[((n * C + gi * p->s.Cg + c) * p->s.H + ih) * p->s.W +
                                               iw] *
                                     (double)w[((o * p->s.Cg + c) * p->s.KH + kh) * p->s.KW + kw];
                            }
                    if (bias) s += (double)bias[o];
                    if (p->relu && !(s > 0) && s == s) s = 0;
                    y[((n * O + o) * p->s.OH + oh) * p->s.OW + ow] = (T)s;
                }
}
