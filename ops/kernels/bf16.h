/* bf16.h — float32 -> bfloat16 rounding, the one conversion the bf16 matmul paths use.
 * A bf16 value is kept here as the float32 with the same upper 16 bits and zero lower
 * bits, so a product of two of them is exact in float32 (8 x 8 significant bits). */
#ifndef AG_KERNELS_BF16_H
#define AG_KERNELS_BF16_H

#include <stdint.h>
#include <string.h>

/* x rounded to the nearest bf16, ties to even; NaN stays NaN (quietened, so a payload
 * in the low bits cannot truncate to Inf); Inf stays Inf; values past bf16's largest
 * finite round to Inf as IEEE says; subnormals round like any other bit pattern. */
static inline float ag__bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) u |= 0x00400000u;
    else u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* In place over n packed values: MEDIUM's rounding (ops/kernels/gemm_bf16.c). */
void ag__bf16_round_n(float *x, int64_t n);
/* Expands np packed panels of `panel` values each, stored back to back at buf, in place
 * into np panels of 3*panel values: panel p becomes three parts at buf + 3*p*panel,
 * each `panel` long, part i holding hi (h) or lo (l) of every value as order[i] says
 * ("lhh" for A, "hlh" for B: summed over the three parts, A·B = a_lo·b_hi + a_hi·b_lo
 * + a_hi·b_hi, the small products first).  hi = bf16(x), lo = bf16(x - hi). */
void ag__bf16_split3(float *buf, int64_t np, int64_t panel, const char *order);

#endif
