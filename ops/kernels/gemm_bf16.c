/* gemm_bf16.c — the bf16 operand transforms the GEMM packing step applies to packed
 * float32 panels (ops/kernels/bf16.h): MEDIUM rounds each value, HIGH splits each into
 * a bf16 hi and lo part laid out so one fp32 micro-kernel pass over 3*kc sums the three
 * bf16x3 products.  Portable C: the same values on every CPU. */
#include "ops/kernels/bf16.h"

#include <math.h>

/* hi and lo of x: hi = bf16(x), except that a finite x past bf16's range keeps its upper
 * 16 bits (truncated) so that hi + lo stays finite; lo = bf16(x - hi), 0 for Inf/NaN x
 * (whose hi carries the Inf or NaN). */
static void split(float x, float *h, float *l) {
    *h = ag__bf16_round(x);
    if (isinf(*h) && !isinf(x)) {
        uint32_t u;
        memcpy(&u, &x, sizeof u);
        u &= 0xffff0000u;
        memcpy(h, &u, sizeof u);
    }
    *l = isfinite(x) ? ag__bf16_round(x - *h) : 0.0f;
}

void ag__bf16_round_n(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = ag__bf16_round(x[i]);
}

/* Panels are expanded from the last to the first: panel p's destination starts at
 * 3*p*panel >= its source for p >= 1 and past every earlier panel's source; panel 0 reads
 * each value before it overwrites it.  So the in-place expansion never reads a value
 * already overwritten. */
void ag__bf16_split3(float *buf, int64_t np, int64_t panel, const char *order) {
    for (int64_t p = np - 1; p >= 0; p--) {
        const float *src = buf + p * panel;
        float *dst = buf + 3 * p * panel;
        for (int64_t e = panel - 1; e >= 0; e--) {
            float h, l;
            split(src[e], &h, &l);
            for (int i = 2; i >= 0; i--) dst[i * panel + e] = order[i] == 'h' ? h : l;
        }
    }
}
