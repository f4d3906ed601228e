/* Convolution: conv2d (conv1d is conv2d on [N,C,1,L]) as im2col + GEMM per image, and
 * its two gradients as ops of their own, so every backward rule is written with ops and
 * convolution is differentiable any number of times:
 *   conv2d(x, w[, b])          y  = x (*) w + b                           (N, O, OH, OW)
 *   conv2d_input_grad(g, w)    dx = transposed convolution of g by w       (N, C, H, W)
 *   conv2d_weight_grad(x, g)   dw = correlation of x with g                (O, C/G, KH, KW)
 *   conv2d_bias_grad(g)        db = g summed over N, OH, OW                (O)
 * The three are closed under differentiation: with <H, dx> as the loss, d/dg = conv2d(H, w)
 * and d/dw = weight_grad(H, g); with <K, dw>, d/dx = input_grad(g, K), d/dg = conv2d(x, K).
 * Threads split images (forward, input grad) or fixed chunks of images summed in order
 * (weight grad), so results do not depend on the thread count. */
#include <immintrin.h>

#include "ops/act_math.h"
#include "ops/kernels/conv_igemm.h"
#include "ops/kernels/conv_wgrad.h"
#include "ops/kernels/gemm.h"
#include "ops/ops.h"
#include "runtime/cpu.h"
#include "runtime/parallel.h"
#include "runtime/precision.h"

struct conv_args {
    int stride[2], pad[2], dil[2], groups;
    int relu;        /* conv2d only: ReLU applied to the output in the epilogue */
    int64_t size[2]; /* input_grad: x's H, W; weight_grad: the kernel's KH, KW */
};

/* Everything about one convolution's geometry. */
struct geom {
    int64_t N, C, H, W, O, KH, KW, OH, OW, G, Cg, Og, kcol, P;
    int64_t sh, sw, ph, pw, dh, dw;
};

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
    return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

static void geom_init(struct geom *g, const int64_t *x, const int64_t *w,
                      const struct conv_args *a) {
    *g = (struct geom){.N = x[0],
                       .C = x[1],
                       .H = x[2],
                       .W = x[3],
                       .O = w[0],
                       .KH = w[2],
                       .KW = w[3],
                       .G = a->groups,
                       .sh = a->stride[0],
                       .sw = a->stride[1],
                       .ph = a->pad[0],
                       .pw = a->pad[1],
                       .dh = a->dil[0],
                       .dw = a->dil[1]};
    g->Cg = g->C / g->G;
    g->Og = g->O / g->G;
    g->OH = out_size(g->H, g->KH, g->sh, g->ph, g->dh);
    g->OW = out_size(g->W, g->KW, g->sw, g->pw, g->dw);
    g->kcol = g->Cg * g->KH * g->KW;
    g->P = g->OH * g->OW;
}

/* ------------------------------------------------------------------ im2col / col2im
 * col[(c*KH + kh)*KW + kw][oh*OW + ow] = x[c][oh*sh - ph + kh*dh][ow*sw - pw + kw*dw]
 * (0 outside), for the Cg channels of one group of one image; col's rows are ld apart
 * (a block of images shares rows). col2im adds back. */
/* The kernels below move elements of es bytes (4: float32, 8: float64); each is always
 * inlined into its caller, which passes a constant es, so each dtype gets its own
 * straight-line code. */
#define INLINE static inline __attribute__((always_inline))

/* dst[i] = src[i] for one element (a bit copy). */
INLINE void elem_copy(char *dst, const char *src, size_t es) { memcpy(dst, src, es); }
/* n elements of +0.0: an inline loop, as the runs are often 0 or 1 element long. */
INLINE void elem_zero(char *dst, int64_t n, size_t es) {
    for (int64_t i = 0; i < n; i++) memset(dst + (size_t)i * es, 0, es);
}
/* dst[i] += src[i] for one element, in its dtype. */
INLINE void elem_add(char *dst, const char *src, size_t es) {
    if (es == 4) *(float *)(void *)dst += *(const float *)(const void *)src;
    else *(double *)(void *)dst += *(const double *)(const void *)src;
}

/* Row oh of column row (c, kh, kw): zeros, a copied run, zeros when sw == 1. */
INLINE void im2col_row(const struct geom *g, const char *src, char *dst, int64_t off, size_t es) {
    if (g->sw == 1) {
        int64_t a = off < 0 ? -off : 0, e = g->W - off;
        if (a > g->OW) a = g->OW;
        if (e > g->OW) e = g->OW;
        if (e < a) e = a;
        elem_zero(dst, a, es);
        memcpy(dst + (size_t)a * es, src + (size_t)(a + off) * es, (size_t)(e - a) * es);
        elem_zero(dst + (size_t)e * es, g->OW - e, es);
        return;
    }
    for (int64_t ow = 0; ow < g->OW; ow++) {
        int64_t iw = ow * g->sw + off;
        if (iw >= 0 && iw < g->W) elem_copy(dst + (size_t)ow * es, src + (size_t)iw * es, es);
        else elem_zero(dst + (size_t)ow * es, 1, es);
    }
}

INLINE void im2col_es(const struct geom *g, const char *x, char *col, int64_t ld, size_t es) {
    for (int64_t c = 0; c < g->Cg; c++)
        for (int64_t kh = 0; kh < g->KH; kh++)
            for (int64_t kw = 0; kw < g->KW; kw++) {
                char *dst = col + (size_t)(((c * g->KH + kh) * g->KW + kw) * ld) * es;
                int64_t off = kw * g->dw - g->pw;
                for (int64_t oh = 0; oh < g->OH; oh++, dst += (size_t)g->OW * es) {
                    int64_t ih = oh * g->sh - g->ph + kh * g->dh;
                    if (ih < 0 || ih >= g->H) elem_zero(dst, g->OW, es);
                    else im2col_row(g, x + (size_t)((c * g->H + ih) * g->W) * es, dst, off, es);
                }
            }
}

/* Row oh of column row (c, kh, kw) added back into x's row. */
INLINE void col2im_row(const struct geom *g, const char *src, char *dst, int64_t off, size_t es) {
    if (g->sw == 1) {
        int64_t a = off < 0 ? -off : 0, e = g->W - off;
        if (a > g->OW) a = g->OW;
        if (e > g->OW) e = g->OW;
        for (int64_t ow = a; ow < e; ow++)
            elem_add(dst + (size_t)(ow + off) * es, src + (size_t)ow * es, es);
        return;
    }
    for (int64_t ow = 0; ow < g->OW; ow++) {
        int64_t iw = ow * g->sw + off;
        if (iw >= 0 && iw < g->W) elem_add(dst + (size_t)iw * es, src + (size_t)ow * es, es);
    }
}

INLINE void col2im_es(const struct geom *g, const char *col, int64_t ld, char *x, size_t es) {
    for (int64_t c = 0; c < g->Cg; c++)
        for (int64_t kh = 0; kh < g->KH; kh++)
            for (int64_t kw = 0; kw < g->KW; kw++) {
                const char *src = col + (size_t)(((c * g->KH + kh) * g->KW + kw) * ld) * es;
                int64_t off = kw * g->dw - g->pw;
                for (int64_t oh = 0; oh < g->OH; oh++, src += (size_t)g->OW * es) {
                    int64_t ih = oh * g->sh - g->ph + kh * g->dh;
                    if (ih >= 0 && ih < g->H)
                        col2im_row(g, src, x + (size_t)((c * g->H + ih) * g->W) * es, off, es);
                }
            }
}

static void im2col(bool f32, const struct geom *g, const void *x, void *col, int64_t ld) {
    if (f32) im2col_es(g, x, col, ld, sizeof(float));
    else im2col_es(g, x, col, ld, sizeof(double));
}
static void col2im(bool f32, const struct geom *g, const void *col, int64_t ld, void *x) {
    if (f32) col2im_es(g, col, ld, x, sizeof(float));
    else col2im_es(g, col, ld, x, sizeof(double));
}
static int gemm_nomem(const char *fn) {
    return ag__error(AG_ERR_NOMEM, fn, "out of memory for GEMM's packing buffers");
}

/* C[M,N] (+)= A[M,K] * B[K,N], rows contiguous (acc false: C not read). Non-zero when
 * GEMM cannot get its packing scratch (D9). */
static int gemm_nn(bool f32, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda,
                   const void *B, int64_t ldb, void *C, int64_t ldc, bool acc) {
    if (f32) return ag__gemm_f32(M, N, K, 1.0f, A, lda, 1, B, ldb, 1, acc ? 1.0f : 0.0f, C, ldc, 1);
    return ag__gemm_f64(M, N, K, 1.0, A, lda, 1, B, ldb, 1, acc ? 1.0 : 0.0, C, ldc, 1);
}
/* ------------------------------------------------------------------ helpers */
/* Contiguous float data of t: t itself, or a copy made without recording. *copy is set
 * when a heap copy must be freed with release(). */
static ag_tensor *dense(ag_tensor *t) {
    if (ag_is_contiguous(t)) return t;
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *c = ag_contiguous(t);
    ag_set_grad_enabled(prev);
    return c;
}
static void release(ag_tensor *c, const ag_tensor *t) {
    if (c && c != t && !c->arena) ag_tensor_free(c);
}

/* One scratch buffer per thread, allocated once per call. */
static void *scratch(int64_t per_thread_elems, size_t es) {
    size_t bytes = (size_t)per_thread_elems * es * (size_t)ag__parallel_threads();
    return ag__alloc_uninit(NULL, bytes ? bytes : 1, "conv");
}

/* What the threads of one im2col kernel share (runtime/parallel.h): the geometry, the
 * operands, the per-thread scratch, the caller's float32 precision (workers take it) and
 * a failure flag any thread may set. */
struct blocks {
    const struct geom *g;
    bool f32;
    size_t es;
    int64_t nb, per;
    char *buf, *out, *part;
    const char *xp, *wp, *bp, *gp;
    ag_precision prec;
    int fail;
};

/* Work below this many multiply-adds stays on the calling thread. */
#define PARALLEL_MIN_WORK (1 << 15)

static void blocks_fail(struct blocks *c, int rc) {
    if (rc) __atomic_fetch_or(&c->fail, 1, __ATOMIC_RELAXED);
}

#define AT(p, i) ((char *)(p) + (size_t)(i)*es)
#define CAT(p, i) ((const char *)(p) + (size_t)(i)*es)

/* ------------------------------------------------------------------ the three kernels
 * Each works on blocks of nb consecutive images: their columns sit side by side in one
 * [kcol, nb*P] matrix, so one GEMM per block and group has nb*P columns (or a depth of
 * nb*P for the weight gradient) and packs the weights once per block, not per image.
 * nb depends only on the geometry, so results do not depend on the thread count. */
#define NB_MAX 8              /* images per block */
#define BLOCK_ELEMS (1 << 20) /* column-buffer budget per block, elements */

static int64_t block_images(const struct geom *g) {
    int64_t per = g->kcol * g->P > 0 ? g->kcol * g->P : 1, nb = BLOCK_ELEMS / per;
    return nb < 1 ? 1 : nb > NB_MAX ? NB_MAX : nb;
}

/* Per-thread scratch of a block: columns [kcol, nb*P] then a [Og, nb*P] matrix. */
static int64_t block_scratch(const struct geom *g, int64_t nb) {
    return (g->kcol + g->Og) * nb * g->P;
}

/* dst [Og, m*P] <-> t[n0 + j, g0 + o, p] for j < m (to_block true copies into dst). */
static void block_copy(const struct geom *g, size_t es, char *blk, char *t, int64_t n0, int64_t m,
                       int64_t g0, bool to_block) {
    for (int64_t j = 0; j < m; j++)
        for (int64_t o = 0; o < g->Og; o++) {
            char *b = AT(blk, o * m * g->P + j * g->P),
                 *y = AT(t, ((n0 + j) * g->O + g0 + o) * g->P);
            if (to_block) memcpy(b, y, (size_t)g->P * es);
            else memcpy(y, b, (size_t)g->P * es);
        }
}

/* The kernels' view of geometry g (ops/kernels/conv_shape.h). */
static struct ag__conv_shape shape_of(const struct geom *g) {
    return (struct ag__conv_shape){.N = g->N,
                                   .G = g->G,
                                   .Cg = g->Cg,
                                   .H = g->H,
                                   .W = g->W,
                                   .Og = g->Og,
                                   .KH = g->KH,
                                   .KW = g->KW,
                                   .OH = g->OH,
                                   .OW = g->OW,
                                   .sh = g->sh,
                                   .sw = g->sw,
                                   .ph = g->ph,
                                   .pw = g->pw,
                                   .dh = g->dh,
                                   .dw = g->dw};
}

/* The implicit GEMM (ops/kernels/conv_igemm.h) on y = x (*) w (+ b) of geometry g. */
static int igemm_run(ag_tensor *out, const void *x, const void *w, const void *b,
                     const struct geom *g, bool relu) {
    struct ag__conv_igemm p = {
        .s = shape_of(g), .x = x, .w = w, .bias = b, .y = ag__ptr(out), .relu = relu};
    int fail = out->dtype == AG_F32 ? ag__conv_igemm_f32(&p) : ag__conv_igemm_f64(&p);
    return fail ? gemm_nomem("ag_conv2d") : AG_OK;
}

/* Blocks [lo, hi) of the im2col forward on thread tid. */
static void conv_blocks(void *ctx, int64_t lo, int64_t hi, int tid) {
    struct blocks *c = ctx;
    const struct geom *g = c->g;
    bool f32 = c->f32;
    size_t es = c->es;
    int64_t nb = c->nb;
    ag_precision old_prec = ag__precision_swap(c->prec);
    char *col = c->buf + (size_t)tid * (size_t)c->per * es;
    char *yb = AT(col, g->kcol * nb * g->P);
    for (int64_t bi = lo; bi < hi; bi++) {
        int64_t n0 = bi * nb, m = g->N - n0 < nb ? g->N - n0 : nb, ld = m * g->P;
        for (int64_t gi = 0; gi < g->G; gi++) {
            for (int64_t j = 0; j < m; j++)
                im2col(f32, g, CAT(c->xp, ((n0 + j) * g->C + gi * g->Cg) * g->H * g->W),
                       AT(col, j * g->P), ld);
            blocks_fail(c, gemm_nn(f32, g->Og, ld, g->kcol, CAT(c->wp, gi * g->Og * g->kcol),
                                   g->kcol, col, ld, yb, ld, false));
            if (c->bp) /* the bias, added in the copy out */
                for (int64_t o = 0; o < g->Og; o++) {
                    if (f32) {
                        float bv = ((const float *)(const void *)c->bp)[gi * g->Og + o];
                        float *r = (float *)(void *)AT(yb, o * ld);
                        for (int64_t p = 0; p < ld; p++) r[p] += bv;
                    } else {
                        double bv = ((const double *)(const void *)c->bp)[gi * g->Og + o];
                        double *r = (double *)(void *)AT(yb, o * ld);
                        for (int64_t p = 0; p < ld; p++) r[p] += bv;
                    }
                }
            block_copy(g, es, yb, c->out, n0, m, gi * g->Og, false);
        }
    }
    ag__precision_swap(old_prec);
}

/* y = relu(y) in place, ReLU's rule (ops/act_math.h: v <= 0 -> +0, NaN kept). */
static void relu_inplace(ag_tensor *y) {
    if (y->dtype == AG_F32)
        for (float *p = ag__ptr(y), *e = p + y->numel; p < e; p++) *p = *p <= 0 ? 0.0f : *p;
    else
        for (double *p = ag__ptr(y), *e = p + y->numel; p < e; p++) *p = *p <= 0 ? 0.0 : *p;
}

/* y[n, g] = W_g [Og, kcol] * col(x[n, g]) [kcol, P] (+ b), then relu(y) when asked: the
 * implicit GEMM when it can run (the ReLU in its epilogue), else im2col + GEMM on blocks
 * of images and one pass for the ReLU. */
static int conv_run(ag_tensor *out, const ag_tensor *x, const ag_tensor *w, const ag_tensor *b,
                    const struct geom *g, bool relu) {
    if (ag__conv_igemm_ok())
        return igemm_run(out, ag__ptr(x), ag__ptr(w), b ? ag__ptr(b) : NULL, g, relu);
    struct blocks c = {.g = g,
                       .f32 = out->dtype == AG_F32,
                       .es = ag_dtype_size(out->dtype),
                       .nb = block_images(g),
                       .xp = ag__ptr(x),
                       .wp = ag__ptr(w),
                       .bp = b ? ag__ptr(b) : NULL,
                       .out = ag__ptr(out),
                       .prec = ag_get_float32_matmul_precision()};
    c.per = block_scratch(g, c.nb);
    if (!(c.buf = scratch(c.per, c.es))) return AG_ERR_NOMEM;
    int64_t blocks = (g->N + c.nb - 1) / c.nb;
    ag__parallel_for(blocks, 1, (double)(g->O * g->P * g->kcol * c.nb), PARALLEL_MIN_WORK,
                     conv_blocks, &c);
    free(c.buf);
    if (c.fail) return gemm_nomem("ag_conv2d");
    if (relu) relu_inplace(out);
    return AG_OK;
}

/* With stride 1, dx is the convolution of gy, padded by (K-1)*d - p, with the flipped
 * kernel taken per group as [Cg, Og] (for p <= (K-1)*d): the implicit GEMM runs it. */
static bool input_grad_as_conv(const struct geom *g) {
    /* dx has Cg output channels per group: below 4 the micro-kernel's rows run mostly empty */
    return ag__conv_igemm_ok() && g->Cg >= 4 && g->sh == 1 && g->sw == 1 &&
           g->ph <= (g->KH - 1) * g->dh && g->pw <= (g->KW - 1) * g->dw;
}

/* dx = gy (*) flip(w) per group, w [G*Og, Cg, KH, KW] -> wf [G*Cg, Og, KH, KW] flipped. */
static int input_grad_conv(ag_tensor *out, const ag_tensor *gy, const ag_tensor *w,
                           const struct geom *g) {
    size_t es = ag_dtype_size(out->dtype);
    char *wf = ag__alloc_uninit(NULL, (size_t)(g->O * g->kcol) * es + 1, "conv");
    if (!wf) return AG_ERR_NOMEM;
    const char *wp = ag__ptr(w);
    int64_t taps = g->KH * g->KW;
    for (int64_t gi = 0; gi < g->G; gi++)
        for (int64_t o = 0; o < g->Og; o++)
            for (int64_t c = 0; c < g->Cg; c++)
                for (int64_t t = 0; t < taps; t++)
                    memcpy(wf + (size_t)((((gi * g->Cg + c) * g->Og + o) * taps + t)) * es,
                           wp + (size_t)(((gi * g->Og + o) * g->Cg + c) * taps + taps - 1 - t) * es,
                           es);
    struct geom t = {.N = g->N,
                     .C = g->O,
                     .H = g->OH,
                     .W = g->OW,
                     .O = g->C,
                     .KH = g->KH,
                     .KW = g->KW,
                     .OH = g->H,
                     .OW = g->W,
                     .G = g->G,
                     .Cg = g->Og,
                     .Og = g->Cg,
                     .sh = 1,
                     .sw = 1,
                     .ph = (g->KH - 1) * g->dh - g->ph,
                     .pw = (g->KW - 1) * g->dw - g->pw,
                     .dh = g->dh,
                     .dw = g->dw};
    int rc = igemm_run(out, ag__ptr(gy), wf, NULL, &t, false);
    free(wf);
    return rc;
}

/* Blocks [lo, hi) of the im2col input gradient on thread tid (c->wp: W^T per group). */
static void input_grad_blocks(void *ctx, int64_t lo, int64_t hi, int tid) {
    struct blocks *c = ctx;
    const struct geom *g = c->g;
    bool f32 = c->f32;
    size_t es = c->es;
    int64_t nb = c->nb;
    ag_precision old_prec = ag__precision_swap(c->prec);
    char *col = c->buf + (size_t)tid * (size_t)c->per * es;
    char *gb = AT(col, g->kcol * nb * g->P);
    for (int64_t bi = lo; bi < hi; bi++) {
        int64_t n0 = bi * nb, m = g->N - n0 < nb ? g->N - n0 : nb, ld = m * g->P;
        for (int64_t gi = 0; gi < g->G; gi++) {
            block_copy(g, es, gb, (char *)c->gp, n0, m, gi * g->Og, true);
            blocks_fail(c, gemm_nn(f32, g->kcol, ld, g->Og, CAT(c->wp, gi * g->Og * g->kcol), g->Og,
                                   gb, ld, col, ld, false));
            for (int64_t j = 0; j < m; j++)
                col2im(f32, g, AT(col, j * g->P), ld,
                       AT(c->out, ((n0 + j) * g->C + gi * g->Cg) * g->H * g->W));
        }
    }
    ag__precision_swap(old_prec);
}

/* dx[n, g] = col2im(W_g^T [kcol, Og] * gy[n, g] [Og, P]), or the implicit GEMM's
 * convolution with the flipped kernel where it applies. */
static int input_grad_run(ag_tensor *out, const ag_tensor *gy, const ag_tensor *w,
                          const struct geom *g) {
    if (input_grad_as_conv(g)) return input_grad_conv(out, gy, w, g);
    size_t es = ag_dtype_size(out->dtype);
    struct blocks c = {.g = g,
                       .f32 = out->dtype == AG_F32,
                       .es = es,
                       .nb = block_images(g),
                       .gp = ag__ptr(gy),
                       .out = ag__ptr(out),
                       .prec = ag_get_float32_matmul_precision()};
    c.per = block_scratch(g, c.nb);
    c.buf = scratch(c.per, es);
    char *wt = ag__alloc_uninit(NULL, (size_t)(g->O * g->kcol) * es + 1, "conv");
    if (!c.buf || !wt) {
        free(c.buf), free(wt);
        return AG_ERR_NOMEM;
    }
    const char *wp = ag__ptr(w);
    for (int64_t gi = 0; gi < g->G; gi++) /* W_g^T, [kcol, Og] per group */
        for (int64_t o = 0; o < g->Og; o++)
            for (int64_t k = 0; k < g->kcol; k++)
                memcpy(AT(wt, gi * g->Og * g->kcol + k * g->Og + o),
                       CAT(wp, (gi * g->Og + o) * g->kcol + k), es);
    c.wp = wt;
    memset(c.out, 0, (size_t)out->numel * es);
    int64_t blocks = (g->N + c.nb - 1) / c.nb;
    ag__parallel_for(blocks, 1, (double)(g->O * g->P * g->kcol * c.nb), PARALLEL_MIN_WORK,
                     input_grad_blocks, &c);
    free(c.buf), free(wt);
    return c.fail ? gemm_nomem("ag_conv2d backward") : AG_OK;
}

/* Chunks [lo, hi) of the weight gradient on thread tid: chunk i's partial sum to
 * c->part + i * O * kcol. */
static void weight_grad_chunks(void *ctx, int64_t lo, int64_t hi, int tid) {
    struct blocks *c = ctx;
    const struct geom *g = c->g;
    bool f32 = c->f32;
    size_t es = c->es;
    int64_t nb = c->nb, wsize = g->O * g->kcol;
    ag_precision old_prec = ag__precision_swap(c->prec);
    char *col = c->buf + (size_t)tid * (size_t)c->per * es;
    char *gb = AT(col, g->kcol * nb * g->P);
    for (int64_t ci = lo; ci < hi; ci++) {
        char *dw = AT(c->part, ci * wsize);
        int64_t n0 = ci * nb, m = g->N - n0 < nb ? g->N - n0 : nb, ld = m * g->P;
        for (int64_t gi = 0; gi < g->G; gi++) {
            for (int64_t j = 0; j < m; j++)
                im2col(f32, g, CAT(c->xp, ((n0 + j) * g->C + gi * g->Cg) * g->H * g->W),
                       AT(col, j * g->P), ld);
            block_copy(g, es, gb, (char *)c->gp, n0, m, gi * g->Og, true);
            /* dw_g^T [kcol, Og] = col [kcol, ld] * gb^T: the wide col is read in place as
             * A, only the narrow gb is packed across its rows */
            if (f32)
                blocks_fail(c, ag__gemm_f32(g->kcol, g->Og, ld, 1.0f, (const float *)(void *)col,
                                            ld, 1, (const float *)(void *)gb, 1, ld, 0.0f,
                                            (float *)(void *)AT(dw, gi * g->Og * g->kcol), 1,
                                            g->kcol));
            else
                blocks_fail(c, ag__gemm_f64(g->kcol, g->Og, ld, 1.0, (const double *)(void *)col,
                                            ld, 1, (const double *)(void *)gb, 1, ld, 0.0,
                                            (double *)(void *)AT(dw, gi * g->Og * g->kcol), 1,
                                            g->kcol));
        }
    }
    ag__precision_swap(old_prec);
}

/* dw[i] = the partial sums of the chunks added in chunk order. */
static void sum_chunks(bool f32, const char *part, int64_t chunks, int64_t wsize, void *out) {
    for (int64_t i = 0; i < wsize; i++) {
        if (f32) {
            const float *p = (const float *)(const void *)part;
            float s = p[i];
            for (int64_t c = 1; c < chunks; c++) s += p[c * wsize + i];
            ((float *)out)[i] = s;
        } else {
            const double *p = (const double *)(const void *)part;
            double s = p[i];
            for (int64_t c = 1; c < chunks; c++) s += p[c * wsize + i];
            ((double *)out)[i] = s;
        }
    }
}

/* The vector kernel (ops/kernels/conv_wgrad.h) on dw of geometry g. */
static int wgrad_run(ag_tensor *out, const ag_tensor *x, const ag_tensor *gy,
                     const struct geom *g) {
    struct ag__conv_wgrad p = {
        .s = shape_of(g), .x = ag__ptr(x), .gy = ag__ptr(gy), .out = ag__ptr(out)};
    int fail = out->dtype == AG_F32 ? ag__conv_wgrad_f32(&p) : ag__conv_wgrad_f64(&p);
    return fail ? ag__error(AG_ERR_NOMEM, "ag_conv2d backward", "out of memory for scratch")
                : AG_OK;
}

/* dw_g [Og, kcol] = sum over chunks of nb images (in order) of gy[chunk, g] [Og, nb*P] *
 * col^T: chunk sizes depend on the geometry only, so the bits do not depend on threads. */
static int weight_grad_run(ag_tensor *out, const ag_tensor *x, const ag_tensor *gy,
                           const struct geom *g) {
    if (ag__conv_wgrad_ok()) return wgrad_run(out, x, gy, g);
    size_t es = ag_dtype_size(out->dtype);
    struct blocks c = {.g = g,
                       .f32 = out->dtype == AG_F32,
                       .es = es,
                       .nb = block_images(g),
                       .xp = ag__ptr(x),
                       .gp = ag__ptr(gy),
                       .prec = ag_get_float32_matmul_precision()};
    int64_t chunks = (g->N + c.nb - 1) / c.nb, wsize = g->O * g->kcol;
    c.per = block_scratch(g, c.nb);
    c.buf = scratch(c.per, es);
    c.part =
        chunks > 1 ? ag__alloc_uninit(NULL, (size_t)(chunks * wsize) * es, "conv") : ag__ptr(out);
    if (!c.buf || !c.part) {
        free(c.buf);
        if (chunks > 1) free(c.part);
        return AG_ERR_NOMEM;
    }
    if (g->N == 0) memset(c.part, 0, (size_t)wsize * es);
    ag__parallel_for(chunks, 1, (double)(g->O * g->P * g->kcol * c.nb), PARALLEL_MIN_WORK,
                     weight_grad_chunks, &c);
    if (chunks > 1) {
        sum_chunks(c.f32, c.part, chunks, wsize, ag__ptr(out));
        free(c.part);
    }
    free(c.buf);
    return c.fail ? gemm_nomem("ag_conv2d backward") : AG_OK;
}
#undef AT
#undef CAT

/* db[o] = sum over n, p of gy[n, o, p], in double: per image eight interleaved running
 * sums, images added in order; threads split o, so the bits do not depend on the thread
 * count (nor on the ISA). */
struct bias_grad {
    bool f32;
    int64_t N, O, P;
    const void *gp;
    void *dp;
};

/* The eight lane sums of run r[0..P) (lane i: the pixels p = i mod 8), added in a fixed
 * order; the AVX2 copy does the same additions, so both give the same bits. */
static double lanes_total(const double *a) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

#define RUN_SUM(NAME, T)                                  \
    static double NAME(const T *r, int64_t P) {           \
        double a[8] = {0};                                \
        for (int64_t p = 0; p < P; p++) a[p & 7] += r[p]; \
        return lanes_total(a);                            \
    }
RUN_SUM(run_sum_f32, float)
RUN_SUM(run_sum_f64, double)
#undef RUN_SUM

__attribute__((target("avx2"))) static double run_sum_f32_avx2(const float *r, int64_t P) {
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    int64_t p = 0;
    for (; p + 8 <= P; p += 8) {
        __m256 v = _mm256_loadu_ps(r + p);
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double a[8];
    _mm256_storeu_pd(a, lo), _mm256_storeu_pd(a + 4, hi);
    for (; p < P; p++) a[p & 7] += r[p];
    return lanes_total(a);
}

__attribute__((target("avx2"))) static double run_sum_f64_avx2(const double *r, int64_t P) {
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    int64_t p = 0;
    for (; p + 8 <= P; p += 8) {
        lo = _mm256_add_pd(lo, _mm256_loadu_pd(r + p));
        hi = _mm256_add_pd(hi, _mm256_loadu_pd(r + p + 4));
    }
    double a[8];
    _mm256_storeu_pd(a, lo), _mm256_storeu_pd(a + 4, hi);
    for (; p < P; p++) a[p & 7] += r[p];
    return lanes_total(a);
}

static void bias_grad_channels(void *ctx, int64_t lo, int64_t hi, int tid) {
    (void)tid;
    const struct bias_grad *c = ctx;
    int64_t N = c->N, O = c->O, P = c->P;
    bool avx2 = ag__cpu_has(AG_ISA_AVX2);
    for (int64_t o = lo; o < hi; o++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++) {
            int64_t base = (n * O + o) * P;
            const float *rf = (const float *)c->gp + base;
            const double *rd = (const double *)c->gp + base;
            s += c->f32 ? (avx2 ? run_sum_f32_avx2(rf, P) : run_sum_f32(rf, P))
                        : (avx2 ? run_sum_f64_avx2(rd, P) : run_sum_f64(rd, P));
        }
        if (c->f32) ((float *)c->dp)[o] = (float)s;
        else ((double *)c->dp)[o] = s;
    }
}

static void bias_grad_run(ag_tensor *out, const ag_tensor *gy) {
    struct bias_grad c = {.f32 = out->dtype == AG_F32,
                          .N = gy->shape[0],
                          .O = gy->shape[1],
                          .P = gy->shape[2] * gy->shape[3],
                          .gp = ag__ptr(gy),
                          .dp = ag__ptr(out)};
    ag__parallel_for(c.O, 1, (double)(c.N * c.P), 1 << 16, bias_grad_channels, &c);
}

/* ------------------------------------------------------------------ shape rules */
static int check_float4(const ag_tensor *t, const char *what, const char *fn) {
    if (!ag__is_float(t->dtype))
        return ag__error(AG_ERR_DTYPE, fn, "%s must be float32 or float64, got %s %s", what,
                         ag_dtype_name(t->dtype), AG_SHAPE(t));
    if (t->ndim != 4)
        return ag__error(AG_ERR_SHAPE, fn, "%s must be 4-D, got %s", what, AG_SHAPE(t));
    return AG_OK;
}

static int same_dtype(const ag_tensor *a, const ag_tensor *b, const char *fn) {
    if (a->dtype == b->dtype) return AG_OK;
    return ag__error(AG_ERR_DTYPE, fn, "dtypes %s %s and %s %s differ (use ag_cast)",
                     ag_dtype_name(a->dtype), AG_SHAPE(a), ag_dtype_name(b->dtype), AG_SHAPE(b));
}

/* Checks x [N,C,H,W] against a kernel of O outputs, C/G inputs and size KH x KW. */
static int check_geometry(const ag_tensor *x, int64_t O, int64_t Cw, int64_t KH, int64_t KW,
                          const char *wshape, const struct conv_args *a, const char *fn) {
    int64_t C = x->shape[1];
    if (a->groups < 1 || C % a->groups || O % a->groups)
        return ag__error(AG_ERR_SHAPE, fn,
                         "groups %d must divide the %lld input channels of x %s and the %lld "
                         "output channels of weight %s",
                         a->groups, (long long)C, AG_SHAPE(x), (long long)O, wshape);
    if (Cw * a->groups != C)
        return ag__error(AG_ERR_SHAPE, fn,
                         "weight %s expects %lld input channels (groups %d), x %s has %lld", wshape,
                         (long long)(Cw * a->groups), a->groups, AG_SHAPE(x), (long long)C);
    for (int d = 0; d < 2; d++) {
        int64_t k = d ? KW : KH, extent = a->dil[d] * (k - 1) + 1;
        if (k < 1 || x->shape[2 + d] + 2 * (int64_t)a->pad[d] < extent)
            return ag__error(AG_ERR_SHAPE, fn,
                             "kernel %lldx%lld (dilation %dx%d) is larger than the padded input "
                             "%lldx%lld of x %s",
                             (long long)KH, (long long)KW, a->dil[0], a->dil[1],
                             (long long)(x->shape[2] + 2 * (int64_t)a->pad[0]),
                             (long long)(x->shape[3] + 2 * (int64_t)a->pad[1]), AG_SHAPE(x));
    }
    return AG_OK;
}

static int conv2d_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                        const char *fn) {
    const struct conv_args *a = args;
    const ag_tensor *x = in[0], *w = in[1];
    if (n < 2 || n > 3) return ag__error(AG_ERR_ARG, fn, "takes x, weight and optional bias");
    if (check_float4(x, "x", fn) || check_float4(w, "weight", fn) || same_dtype(x, w, fn))
        return ag__last_error_code();
    if (check_geometry(x, w->shape[0], w->shape[1], w->shape[2], w->shape[3], AG_SHAPE(w), a, fn))
        return ag__last_error_code();
    if (n == 3 && same_dtype(x, in[2], fn)) return AG_ERR_DTYPE;
    if (n == 3 && (in[2]->ndim != 1 || in[2]->shape[0] != w->shape[0]))
        return ag__error(AG_ERR_SHAPE, fn, "bias %s must be [%lld] for weight %s", AG_SHAPE(in[2]),
                         (long long)w->shape[0], AG_SHAPE(w));
    struct geom g;
    geom_init(&g, x->shape, w->shape, a);
    *m = (struct ag_meta){x->dtype, 4, {g.N, g.O, g.OH, g.OW}};
    return AG_OK;
}

/* g [N,O,OH,OW] must be what conv2d makes from x [N,C,H,W] with w [O,C/G,KH,KW]. */
static int check_grad_out(const ag_tensor *gy, const int64_t *xs, const int64_t *ws,
                          const struct conv_args *a, const char *fn) {
    struct geom g;
    geom_init(&g, xs, ws, a);
    if (gy->shape[0] != g.N || gy->shape[1] != g.O || gy->shape[2] != g.OH || gy->shape[3] != g.OW)
        return ag__error(AG_ERR_SHAPE, fn,
                         "grad_output %s does not match the output %s of "
                         "input %s and weight %s",
                         AG_SHAPE(gy), ag__shape_str(4, (int64_t[]){g.N, g.O, g.OH, g.OW}),
                         ag__shape_str(4, xs), ag__shape_str(4, ws));
    return AG_OK;
}

static int input_grad_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                            const char *fn) {
    (void)n;
    const struct conv_args *a = args;
    const ag_tensor *gy = in[0], *w = in[1];
    if (check_float4(gy, "grad_output", fn) || check_float4(w, "weight", fn) ||
        same_dtype(gy, w, fn))
        return ag__last_error_code();
    int64_t xs[4] = {gy->shape[0], w->shape[1] * a->groups, a->size[0], a->size[1]};
    ag_tensor xm = {.ndim = 4};
    memcpy(xm.shape, xs, sizeof xs);
    if (check_geometry(&xm, w->shape[0], w->shape[1], w->shape[2], w->shape[3], AG_SHAPE(w), a,
                       fn) ||
        check_grad_out(gy, xs, w->shape, a, fn))
        return ag__last_error_code();
    *m = (struct ag_meta){gy->dtype, 4, {xs[0], xs[1], xs[2], xs[3]}};
    return AG_OK;
}

static int weight_grad_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                             const char *fn) {
    (void)n;
    const struct conv_args *a = args;
    const ag_tensor *x = in[0], *gy = in[1];
    if (check_float4(x, "x", fn) || check_float4(gy, "grad_output", fn) || same_dtype(x, gy, fn))
        return ag__last_error_code();
    int64_t ws[4] = {gy->shape[1], a->groups > 0 ? x->shape[1] / a->groups : 0, a->size[0],
                     a->size[1]};
    if (check_geometry(x, ws[0], ws[1], ws[2], ws[3], ag__shape_str(4, ws), a, fn) ||
        check_grad_out(gy, x->shape, ws, a, fn))
        return ag__last_error_code();
    *m = (struct ag_meta){x->dtype, 4, {ws[0], ws[1], ws[2], ws[3]}};
    return AG_OK;
}

/* grad_output [N,O,OH,OW] -> [O] */
static int bias_grad_shape(struct ag_meta *m, ag_tensor *const *in, int n, const void *args,
                           const char *fn) {
    (void)n, (void)args;
    if (check_float4(in[0], "grad_output", fn)) return ag__last_error_code();
    *m = (struct ag_meta){in[0]->dtype, 1, {in[0]->shape[1]}};
    return AG_OK;
}

/* ------------------------------------------------------------------ forward entry points */
static int conv2d_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                          ag_tensor **saved) {
    (void)saved;
    ag_tensor *x = dense(in[0]), *w = dense(in[1]), *b = n == 3 ? dense(in[2]) : NULL;
    int rc = AG_ERR_NOMEM;
    if (x && w && (n < 3 || b)) {
        struct geom g;
        geom_init(&g, x->shape, w->shape, args);
        rc = conv_run(out, x, w, b, &g, ((const struct conv_args *)args)->relu != 0);
    }
    release(x, in[0]), release(w, in[1]);
    if (n == 3) release(b, in[2]);
    return rc;
}

static int input_grad_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                              ag_tensor **saved) {
    (void)n, (void)saved;
    ag_tensor *gy = dense(in[0]), *w = dense(in[1]);
    int rc = AG_ERR_NOMEM;
    if (gy && w) {
        struct geom g;
        geom_init(&g, out->shape, w->shape, args);
        rc = input_grad_run(out, gy, w, &g);
    }
    release(gy, in[0]), release(w, in[1]);
    return rc;
}

static int weight_grad_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                               ag_tensor **saved) {
    (void)n, (void)saved;
    ag_tensor *x = dense(in[0]), *gy = dense(in[1]);
    int rc = AG_ERR_NOMEM;
    if (x && gy) {
        struct geom g;
        geom_init(&g, x->shape, out->shape, args);
        rc = weight_grad_run(out, x, gy, &g);
    }
    release(x, in[0]), release(gy, in[1]);
    return rc;
}

static int bias_grad_forward(ag_tensor *out, ag_tensor *const *in, int n, const void *args,
                             ag_tensor **saved) {
    (void)n, (void)args, (void)saved;
    ag_tensor *gy = dense(in[0]);
    if (!gy) return AG_ERR_NOMEM;
    bias_grad_run(out, gy);
    release(gy, in[0]);
    return AG_OK;
}

/* ------------------------------------------------------------------ the ops as functions */
static ag_tensor *conv_op(ag_tensor *x, ag_tensor *w, ag_tensor *b, struct conv_args a) {
    return AG_APPLY_ARGS(AG_OP_CONV2D, b ? 3 : 2, ((ag_tensor *const[]){x, w, b}), a);
}
static ag_tensor *input_grad_op(ag_tensor *gy, ag_tensor *w, struct conv_args a, int64_t H,
                                int64_t W) {
    a.size[0] = H, a.size[1] = W;
    return AG_APPLY_ARGS(AG_OP_CONV2D_INPUT_GRAD, 2, ((ag_tensor *const[]){gy, w}), a);
}
static ag_tensor *weight_grad_op(ag_tensor *x, ag_tensor *gy, struct conv_args a, int64_t KH,
                                 int64_t KW) {
    a.size[0] = KH, a.size[1] = KW;
    return AG_APPLY_ARGS(AG_OP_CONV2D_WEIGHT_GRAD, 2, ((ag_tensor *const[]){x, gy}), a);
}

/* ------------------------------------------------------------------ backward rules */
static int conv2d_backward(struct ag_node *node, ag_tensor *gy) {
    struct conv_args a = *AG_ARGS(node, struct conv_args);
    ag_tensor *x = node->in[0], *w = node->in[1];
    int rc = AG_OK;
    if (a.relu) { /* through the ReLU first: relu'(z) is relu'(y) (z > 0 exactly when y > 0) */
        struct act_args r = {.fn = AG_VM_RELU};
        gy = AG_APPLY_ARGS(AG_OP_ACT_BACKWARD, 2, ((ag_tensor *const[]){gy, node->out}), r);
        if (!gy) return ag__last_error_code() ? ag__last_error_code() : AG_ERR_NOMEM;
        a.relu = 0; /* the products below are plain convolution's */
    }
    if (ag__needs_grad(node, 0))
        rc = ag__accumulate(node, 0, input_grad_op(gy, w, a, x->shape[2], x->shape[3]));
    if (!rc && ag__needs_grad(node, 1))
        rc = ag__accumulate(node, 1, weight_grad_op(x, gy, a, w->shape[2], w->shape[3]));
    if (!rc && node->n_in == 3 && ag__needs_grad(node, 2))
        rc = ag__accumulate(node, 2, AG_APPLY1(AG_OP_CONV2D_BIAS_GRAD, gy));
    return rc;
}

static int input_grad_backward(struct ag_node *node, ag_tensor *h) {
    struct conv_args a = *AG_ARGS(node, struct conv_args);
    ag_tensor *gy = node->in[0], *w = node->in[1];
    int rc = AG_OK;
    if (ag__needs_grad(node, 0)) rc = ag__accumulate(node, 0, conv_op(h, w, NULL, a));
    if (!rc && ag__needs_grad(node, 1))
        rc = ag__accumulate(node, 1, weight_grad_op(h, gy, a, w->shape[2], w->shape[3]));
    return rc;
}

static int weight_grad_backward(struct ag_node *node, ag_tensor *k) {
    struct conv_args a = *AG_ARGS(node, struct conv_args);
    ag_tensor *x = node->in[0], *gy = node->in[1];
    int rc = AG_OK;
    if (ag__needs_grad(node, 0))
        rc = ag__accumulate(node, 0, input_grad_op(gy, k, a, x->shape[2], x->shape[3]));
    if (!rc && ag__needs_grad(node, 1)) rc = ag__accumulate(node, 1, conv_op(x, k, NULL, a));
    return rc;
}

/* db = sum of g over (N, OH, OW): its derivative broadcasts h [O] back over g's shape. */
static int bias_grad_backward(struct ag_node *node, ag_tensor *h) {
    ag_tensor *gy = node->in[0];
    return ag__accumulate(
        node, 0, ag_expand(ag_reshape(h, 4, (int64_t[]){1, gy->shape[1], 1, 1}), 4, gy->shape));
}

/* ------------------------------------------------------------------ gradcheck inputs
 * variant 0: groups 2, stride (2,1), padding (1,2), dilation (1,2), bias, contiguous.
 * variant 1: stride 2 leaving the last input row unused, a non-contiguous x, no bias. */
static const struct conv_args check_args[2] = {
    {.stride = {2, 1}, .pad = {1, 2}, .dil = {1, 2}, .groups = 2},
    {.stride = {2, 2}, .pad = {0, 1}, .dil = {1, 1}, .groups = 1},
};

static ag_tensor *check_x(ag_dtype dt, int variant, int64_t C) {
    if (variant == 0) return ag__check_input(dt, 4, (int64_t[]){2, C, 5, 5}, -1, 1);
    ag_tensor *base = ag__check_input(dt, 4, (int64_t[]){2, C, 6, 5}, -1, 1);
    bool prev = ag_set_grad_enabled(false);
    ag_tensor *t = ag_transpose(base, 2, 3); /* [2,C,5,6], not contiguous */
    ag_set_grad_enabled(prev);
    ag_set_requires_grad(t, true);
    return t;
}

/* Benchmark inputs (size > 0): the Fashion-MNIST CNN's second layer, 32 -> 64 channels of
 * 14x14 with a 3x3 kernel and padding 1, with as many images as make about size elements. */
static const struct conv_args bench_args = {
    .stride = {1, 1}, .pad = {1, 1}, .dil = {1, 1}, .groups = 1};
static int64_t bench_images(int64_t size) {
    return size / (32 * 14 * 14) > 1 ? size / (32 * 14 * 14) : 1;
}
static ag_tensor *bench_x(ag_dtype dt, int64_t size) {
    return ag__check_input(dt, 4, (int64_t[]){bench_images(size), 32, 14, 14}, -1, 1);
}
static ag_tensor *bench_gy(ag_dtype dt, int64_t size) {
    return ag__check_input(dt, 4, (int64_t[]){bench_images(size), 64, 14, 14}, -1, 1);
}
static ag_tensor *bench_w(ag_dtype dt) {
    return ag__check_input(dt, 4, (int64_t[]){64, 32, 3, 3}, -1, 1);
}

static int conv2d_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct conv_args *a = args;
    if (size) {
        *a = bench_args;
        in[0] = bench_x(dt, size), in[1] = bench_w(dt);
        in[2] = ag__check_input(dt, 1, (int64_t[]){64}, -1, 1);
        return 3;
    }
    *a = check_args[variant];
    in[0] = check_x(dt, variant, 4);
    in[1] = ag__check_input(dt, 4, (int64_t[]){4, 4 / a->groups, 3, 3}, -1, 1);
    if (variant == 1) return 2;
    in[2] = ag__check_input(dt, 1, (int64_t[]){4}, -1, 1);
    return 3;
}

/* The grad_output shape conv2d would make for x and w under a. */
static ag_tensor *check_gy(ag_dtype dt, const int64_t *xs, const int64_t *ws,
                           const struct conv_args *a) {
    struct geom g;
    geom_init(&g, xs, ws, a);
    return ag__check_input(dt, 4, (int64_t[]){g.N, g.O, g.OH, g.OW}, -1, 1);
}

static int input_grad_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct conv_args *a = args;
    if (size) {
        *a = bench_args;
        a->size[0] = a->size[1] = 14;
        in[0] = bench_gy(dt, size), in[1] = bench_w(dt);
        return 2;
    }
    *a = check_args[variant];
    int64_t xs[4] = {2, 4, 5, variant ? 6 : 5}, ws[4] = {4, 4 / a->groups, 3, 3};
    a->size[0] = xs[2], a->size[1] = xs[3];
    in[0] = check_gy(dt, xs, ws, a);
    in[1] = ag__check_input(dt, 4, ws, -1, 1);
    return 2;
}

static int weight_grad_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    struct conv_args *a = args;
    if (size) {
        *a = bench_args;
        a->size[0] = a->size[1] = 3;
        in[0] = bench_x(dt, size), in[1] = bench_gy(dt, size);
        return 2;
    }
    *a = check_args[variant];
    a->size[0] = a->size[1] = 3;
    /* variant 1: 8 input channels (72 taps) and 6 outputs reach the vector kernel's
     * broadcast tile (ops/kernels/conv_wgrad.h), variant 0 its lane-sum tile */
    int64_t C = variant ? 8 : 4, O = variant ? 6 : 4;
    in[0] = check_x(dt, variant, C);
    in[1] = check_gy(dt, in[0]->shape, (int64_t[]){O, C / a->groups, 3, 3}, a);
    return 2;
}

static int bias_grad_make(ag_tensor **in, void *args, ag_dtype dt, int variant, int64_t size) {
    (void)args;
    in[0] = size ? bench_gy(dt, size)
                 : check_x(dt, variant, 3); /* variant 1: a transposed grad_output */
    return 1;
}

/* Forward arithmetic: 2 multiply-adds per (output element, kernel tap) for conv2d; its
 * two gradients are products of the same size: 2 x grad_output elements x taps, with
 * taps = C/G x KH x KW (the weight's last three dims). */
static double taps(const ag_tensor *w) { return (double)(w->shape[1] * w->shape[2] * w->shape[3]); }
static double conv2d_flops(ag_tensor *const *in, int n, const void *args, const ag_tensor *out) {
    (void)n, (void)args;
    return 2.0 * (double)out->numel * taps(in[1]);
}
static double input_grad_flops(ag_tensor *const *in, int n, const void *args,
                               const ag_tensor *out) {
    (void)n, (void)args, (void)out;
    return 2.0 * (double)in[0]->numel * taps(in[1]);
}
static double weight_grad_flops(ag_tensor *const *in, int n, const void *args,
                                const ag_tensor *out) {
    (void)n, (void)args;
    return 2.0 * (double)in[1]->numel * taps(out);
}

const struct ag_op_def ag__op_conv2d = {
    .name = "conv2d",
    .arity = -1,
    .shape = conv2d_shape,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .check = {.make = conv2d_make, .flops = conv2d_flops},
};
const struct ag_op_def ag__op_conv2d_input_grad = {
    .name = "conv2d_input_grad",
    .arity = 2,
    .shape = input_grad_shape,
    .forward = input_grad_forward,
    .backward = input_grad_backward,
    .check = {.make = input_grad_make, .flops = input_grad_flops},
};
const struct ag_op_def ag__op_conv2d_weight_grad = {
    .name = "conv2d_weight_grad",
    .arity = 2,
    .shape = weight_grad_shape,
    .forward = weight_grad_forward,
    .backward = weight_grad_backward,
    .check = {.make = weight_grad_make, .flops = weight_grad_flops},
};
const struct ag_op_def ag__op_conv2d_bias_grad = {
    .name = "conv2d_bias_grad",
    .arity = 1,
    .shape = bias_grad_shape,
    .forward = bias_grad_forward,
    .backward = bias_grad_backward,
    .check = {.make = bias_grad_make},
};

/* ------------------------------------------------------------------ public functions */
/* Fills a from opts (0: stride 1, padding 0, dilation 1, groups 1); non-zero on bad values. */
static int conv_args_from(struct conv_args *a, ag_conv_opts o, int dims, const char *fn) {
    *a = (struct conv_args){.groups = o.groups ? o.groups : 1};
    for (int d = 0; d < 2; d++) {
        int s = d < dims ? o.stride[d] : 1, p = d < dims ? o.padding[d] : 0;
        int l = d < dims ? o.dilation[d] : 1;
        if (s < 0 || p < 0 || l < 0 || a->groups < 0)
            return ag__error(AG_ERR_ARG, fn,
                             "stride, padding, dilation and groups must be >= 0 "
                             "(0: default), got stride %d padding %d dilation %d groups %d",
                             s, p, l, o.groups);
        a->stride[d] = s ? s : 1, a->pad[d] = p, a->dil[d] = l ? l : 1;
    }
    if (dims == 1) { /* conv1d runs as conv2d over [N,C,1,L]: the pair's index 1 */
        a->stride[1] = a->stride[0], a->pad[1] = a->pad[0], a->dil[1] = a->dil[0];
        a->stride[0] = 1, a->pad[0] = 0, a->dil[0] = 1;
    }
    return AG_OK;
}

/* x [N,C,H,W], weight [O,C/groups,kH,kW], bias [O] or NULL -> [N,O,OH,OW] in the current
 * scope. torch.nn.functional.conv2d's semantics. */
ag_tensor *ag_conv2d(ag_tensor *x, ag_tensor *weight, ag_tensor *bias, ag_conv_opts opts) {
    if (!x || !weight) return NULL;
    struct conv_args a;
    if (conv_args_from(&a, opts, 2, "ag_conv2d")) return NULL;
    if (x->ndim == 3) /* unbatched [C,H,W], as torch: one image in, one out */
        return ag_squeeze(conv_op(ag_unsqueeze(x, 0), weight, bias, a), 0);
    return conv_op(x, weight, bias, a);
}

/* relu(ag_conv2d(x, weight, bias, opts)) as one op: the ReLU runs in the convolution's
 * epilogue, and its output alone is kept for the backward (the ReLU's mask is y > 0). */
ag_tensor *ag_conv2d_relu(ag_tensor *x, ag_tensor *weight, ag_tensor *bias, ag_conv_opts opts) {
    if (!x || !weight) return NULL;
    struct conv_args a;
    if (conv_args_from(&a, opts, 2, "ag_conv2d_relu")) return NULL;
    a.relu = 1;
    if (x->ndim == 3) /* unbatched [C,H,W], as torch: one image in, one out */
        return ag_squeeze(conv_op(ag_unsqueeze(x, 0), weight, bias, a), 0);
    return conv_op(x, weight, bias, a);
}

/* x [N,C,L], weight [O,C/groups,k], bias [O] or NULL -> [N,O,OL]; index 0 of each opts pair. */
ag_tensor *ag_conv1d(ag_tensor *x, ag_tensor *weight, ag_tensor *bias, ag_conv_opts opts) {
    if (!x || !weight) return NULL;
    const char *fn = "ag_conv1d";
    if (x->ndim == 2 && weight->ndim == 3) /* unbatched [C,L], as torch */
        return ag_squeeze(ag_conv1d(ag_unsqueeze(x, 0), weight, bias, opts), 0);
    if (x->ndim != 3 || weight->ndim != 3) {
        ag__error(AG_ERR_SHAPE, fn, "x %s must be [N,C,L] and weight %s [O,C/groups,k]",
                  AG_SHAPE(x), AG_SHAPE(weight));
        return NULL;
    }
    struct conv_args a;
    if (conv_args_from(&a, opts, 1, fn)) return NULL;
    return ag_squeeze(conv_op(ag_unsqueeze(x, 2), ag_unsqueeze(weight, 2), bias, a), 2);
}

/* ------------------------------------------------------------------ for conv_transpose2d */
#include "ops/conv_adjoint.h"

ag_tensor *ag__conv2d_input_grad(ag_tensor *gy, ag_tensor *w, const int stride[2], const int pad[2],
                                 const int dil[2], int groups, int64_t H, int64_t W) {
    struct conv_args a = {.stride = {stride[0], stride[1]},
                          .pad = {pad[0], pad[1]},
                          .dil = {dil[0], dil[1]},
                          .groups = groups};
    return input_grad_op(gy, w, a, H, W);
}

ag_tensor *ag__conv2d_weight_grad(ag_tensor *x, ag_tensor *gy, const int stride[2],
                                  const int pad[2], const int dil[2], int groups, int64_t KH,
                                  int64_t KW) {
    struct conv_args a = {.stride = {stride[0], stride[1]},
                          .pad = {pad[0], pad[1]},
                          .dil = {dil[0], dil[1]},
                          .groups = groups};
    return weight_grad_op(x, gy, a, KH, KW);
}
