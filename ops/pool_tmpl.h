/* Internal to ops/pool.c: the pooling kernels for one dtype, included once per dtype
 * after naming every function it defines in full:
 *   T              the element type (float, double)
 *   MAXPOOL_NOPAD  max pooling of one plane without padding (maxpool_nopad_f32)
 *   MAXPOOL_PLANE  max pooling of one plane, any padding (maxpool_f32)
 *   AVGPOOL        average pooling of planes [lo, hi) (avg_f32)
 * A template rather than two copies: the kernels differ only in T, and each stays a real
 * function a debugger steps through line by line. */

/* MAXPOOL_PLANE without padding: every window is whole, so branch-free selects, 64
 * windows at a time. */
static void MAXPOOL_NOPAD(const struct pgeom *g, const T *x, const T *src, T *dst, bool scatter) {
    if (g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2) { /* the common 2x2 */
        for (int64_t oh = 0; oh < g->OH; oh++) {
            const T *r = x + 2 * oh * g->W;
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t k[4] = {2 * ow, 2 * ow + 1, g->W + 2 * ow, g->W + 2 * ow + 1};
                int64_t bk = k[0];
                T bv = r[bk];
                for (int q = 1; q < 4; q++) {
                    T v = r[k[q]];
                    bool c = (v > bv) | ((v != v) & (bv == bv));
                    bk = c ? k[q] : bk;
                    bv = c ? v : bv;
                }
                int64_t o = oh * g->OW + ow, i = 2 * oh * g->W + bk;
                if (scatter) dst[i] += src[o];
                else dst[o] = src[i];
            }
        }
        return;
    }
    T bv[64];
    int64_t bi[64];
    for (int64_t oh = 0; oh < g->OH; oh++)
        for (int64_t ow0 = 0; ow0 < g->OW; ow0 += 64) {
            int64_t nw = g->OW - ow0 < 64 ? g->OW - ow0 : 64;
            int64_t base = oh * g->sh * g->W + ow0 * g->sw;
            for (int64_t t = 0; t < nw; t++) bi[t] = base + t * g->sw, bv[t] = x[bi[t]];
            for (int64_t i = 0; i < g->kh; i++)
                for (int64_t j = i == 0; j < g->kw; j++) {
                    int64_t b = base + i * g->W + j;
#pragma omp simd
                    for (int64_t t = 0; t < nw; t++) {
                        int64_t k = b + t * g->sw;
                        T v = x[k];
                        bool c = (v > bv[t]) | ((v != v) & (bv[t] == bv[t]));
                        bv[t] = c ? v : bv[t];
                        bi[t] = c ? k : bi[t];
                    }
                }
            int64_t o = oh * g->OW + ow0;
            if (scatter)
                for (int64_t t = 0; t < nw; t++) dst[bi[t]] += src[o + t];
            else
                for (int64_t t = 0; t < nw; t++) dst[o + t] = src[bi[t]];
        }
}

/* One plane: for each window, the flat index of the first maximum of x (NaN wins, as in
 * torch); scatter false: y[p] = src[argmax]; true: dst[argmax] += src[p]. */
static void MAXPOOL_PLANE(const struct pgeom *g, const T *x, const T *src, T *dst, bool scatter) {
    if (g->ph == 0 && g->pw == 0) {
        MAXPOOL_NOPAD(g, x, src, dst, scatter);
        return;
    }
    for (int64_t oh = 0; oh < g->OH; oh++) {
        int64_t h0 = oh * g->sh - g->ph, h1 = h0 + g->kh;
        if (h0 < 0) h0 = 0;
        if (h1 > g->H) h1 = g->H;
        for (int64_t ow = 0; ow < g->OW; ow++) {
            int64_t w0 = ow * g->sw - g->pw, w1 = w0 + g->kw;
            if (w0 < 0) w0 = 0;
            if (w1 > g->W) w1 = g->W;
            int64_t best = h0 * g->W + w0;
            T bv = x[best];
            for (int64_t ih = h0; ih < h1; ih++) {
                const T *row = x + ih * g->W;
                for (int64_t iw = w0; iw < w1; iw++) {
                    T v = row[iw];
                    if (v > bv || (v != v && bv == bv)) best = ih * g->W + iw, bv = v;
                }
            }
            int64_t o = oh * g->OW + ow;
            if (scatter) dst[best] += src[o];
            else dst[o] = src[best];
        }
    }
}

/* scatter false: y[p] = mean of x over window p (padding counted); true: the transpose.
 * Planes lo..hi-1. */
static void AVGPOOL(const struct pgeom *g, const T *x, T *y, bool scatter, int64_t lo, int64_t hi) {
    int64_t plane = g->H * g->W, oplane = g->OH * g->OW;
    double scale = 1.0 / (double)(g->kh * g->kw);
    for (int64_t c = lo; c < hi; c++) {
        const T *xp = x + (scatter ? c * oplane : c * plane);
        T *yp = y + (scatter ? c * plane : c * oplane);
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                double s = 0;
                T gv = scatter ? (T)(xp[oh * g->OW + ow] * scale) : 0;
                for (int64_t i = 0; i < g->kh; i++) {
                    int64_t ih = oh * g->sh - g->ph + i;
                    if (ih < 0 || ih >= g->H) continue;
                    for (int64_t j = 0; j < g->kw; j++) {
                        int64_t iw = ow * g->sw - g->pw + j;
                        if (iw < 0 || iw >= g->W) continue;
                        if (scatter) yp[ih * g->W + iw] += gv;
                        else s += xp[ih * g->W + iw];
                    }
                }
                if (!scatter) yp[oh * g->OW + ow] = (T)(s * scale);
            }
    }
}
