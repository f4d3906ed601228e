/* AVX-512 kernels of convpool.h. */
#include "ops/kernels/convpool.h"

#include <immintrin.h>
#include <string.h>

#include "ops/kernels/gemm.h"

bool ag__convpool_avx512(void) {
    const char *isa = ag__gemm_isa();
    return isa[0] == 'a' && isa[3] == '5'; /* "avx512" */
}

/* ------------------------------------------------------------------ max pool 2x2/2 */
/* v beats the best so far b: greater, or a NaN over a number. */
static inline __mmask16 beats(__m512 v, __m512 b) {
    return _mm512_cmp_ps_mask(v, b, _CMP_GT_OQ) |
           (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(b, b, _CMP_ORD_Q));
}

/* The even and odd elements of 2n consecutive floats at p (n <= 16), as two vectors. */
static inline void deinterleave(const float *p, int n, __m512 *ev, __m512 *od) {
    static const int32_t even[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    static const int32_t odd[16] = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
    __m512 lo, hi;
    if (n == 16) {
        lo = _mm512_loadu_ps(p), hi = _mm512_loadu_ps(p + 16);
    } else {
        int m = 2 * n;
        lo = _mm512_maskz_loadu_ps((__mmask16)(m >= 16 ? 0xffff : (1u << m) - 1), p);
        hi = _mm512_maskz_loadu_ps((__mmask16)(m > 16 ? (1u << (m - 16)) - 1 : 0), p + 16);
    }
    *ev = _mm512_permutex2var_ps(lo, _mm512_loadu_si512(even), hi);
    *od = _mm512_permutex2var_ps(lo, _mm512_loadu_si512(odd), hi);
}

/* Stores e, o interleaved as 2n floats at p. */
static inline void interleave(float *p, int n, __m512 e, __m512 o) {
    static const int32_t lo_i[16] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
    static const int32_t hi_i[16] = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    __m512 lo = _mm512_permutex2var_ps(e, _mm512_loadu_si512(lo_i), o);
    __m512 hi = _mm512_permutex2var_ps(e, _mm512_loadu_si512(hi_i), o);
    if (n == 16) {
        _mm512_storeu_ps(p, lo), _mm512_storeu_ps(p + 16, hi);
    } else {
        int m = 2 * n;
        _mm512_mask_storeu_ps(p, (__mmask16)(m >= 16 ? 0xffff : (1u << m) - 1), lo);
        _mm512_mask_storeu_ps(p + 16, (__mmask16)(m > 16 ? (1u << (m - 16)) - 1 : 0), hi);
    }
}

/* Which of the 4 window elements (a b / c d) is the first maximum, as 4 lane masks. */
struct win {
    __mmask16 w[4];
    __m512 best;
};
static inline struct win window(const float *r0, const float *r1, int n) {
    __m512 a, b, c, d;
    deinterleave(r0, n, &a, &b);
    deinterleave(r1, n, &c, &d);
    __m512 bv = a;
    __mmask16 m1 = beats(b, bv);
    bv = _mm512_mask_mov_ps(bv, m1, b);
    __mmask16 m2 = beats(c, bv);
    bv = _mm512_mask_mov_ps(bv, m2, c);
    __mmask16 m3 = beats(d, bv);
    bv = _mm512_mask_mov_ps(bv, m3, d);
    struct win r = {
        {(__mmask16) ~(m1 | m2 | m3), (__mmask16)(m1 & ~m2 & ~m3), (__mmask16)(m2 & ~m3), m3}, bv};
    return r;
}

void ag__maxpool2x2_f32_avx512(int64_t planes, int64_t H, int64_t W, const float *x,
                               const float *src, float *y) {
    int64_t OH = H / 2, OW = W / 2;
    for (int64_t c = 0; c < planes; c++) {
        const float *xp = x + c * H * W, *sp = src + c * H * W;
        float *yp = y + c * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow += 16) {
                int n = OW - ow < 16 ? (int)(OW - ow) : 16;
                int64_t i = 2 * oh * W + 2 * ow;
                struct win r = window(xp + i, xp + i + W, n);
                __m512 v = r.best;
                if (src != x) {
                    __m512 a, b, c2, d;
                    deinterleave(sp + i, n, &a, &b);
                    deinterleave(sp + i + W, n, &c2, &d);
                    v = _mm512_mask_mov_ps(a, r.w[1], b);
                    v = _mm512_mask_mov_ps(v, r.w[2], c2);
                    v = _mm512_mask_mov_ps(v, r.w[3], d);
                }
                _mm512_mask_storeu_ps(yp + oh * OW + ow, (__mmask16)((1u << n) - 1), v);
            }
    }
}

void ag__maxpool2x2_back_f32_avx512(int64_t planes, int64_t H, int64_t W, const float *x,
                                    const float *g, float *dx) {
    int64_t OH = H / 2, OW = W / 2;
    for (int64_t c = 0; c < planes; c++) {
        const float *xp = x + c * H * W, *gp = g + c * OH * OW;
        float *dp = dx + c * H * W;
        for (int64_t oh = 0; oh < OH; oh++) {
            float *d0 = dp + 2 * oh * W, *d1 = d0 + W;
            for (int64_t ow = 0; ow < OW; ow += 16) {
                int n = OW - ow < 16 ? (int)(OW - ow) : 16;
                int64_t i = 2 * oh * W + 2 * ow;
                struct win r = window(xp + i, xp + i + W, n);
                __m512 gv = _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), gp + oh * OW + ow);
                interleave(d0 + 2 * ow, n, _mm512_maskz_mov_ps(r.w[0], gv),
                           _mm512_maskz_mov_ps(r.w[1], gv));
                interleave(d1 + 2 * ow, n, _mm512_maskz_mov_ps(r.w[2], gv),
                           _mm512_maskz_mov_ps(r.w[3], gv));
            }
            if (W & 1) d0[W - 1] = d1[W - 1] = 0;
        }
        if (H & 1) memset(dp + (H - 1) * W, 0, (size_t)W * sizeof(float));
    }
}
