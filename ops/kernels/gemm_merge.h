/* gemm_merge.h — the scalar epilogue the ISA micro-kernels share (gemm_avx2.c,
 * gemm_avx512.c): merge a tile t (already alpha*acc) into C with the same rounding as
 * their vector path, one fma(beta, C, t) per element (C not read when beta == 0).
 * Inline in each ISA file, so fma compiles to the instruction those flags enable. */
#ifndef AG_KERNELS_GEMM_MERGE_H
#define AG_KERNELS_GEMM_MERGE_H

#include <math.h>
#include <stdint.h>

static inline void gemm_merge_f32(const float *t, int ldt, float beta, float *C, int64_t rsc,
                                  int64_t csc, int m, int n) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float *c = C + i * rsc + j * csc;
            *c = beta == 0.0f ? t[i * ldt + j] : fmaf(beta, *c, t[i * ldt + j]);
        }
}

static inline void gemm_merge_f64(const double *t, int ldt, double beta, double *C, int64_t rsc,
                                  int64_t csc, int m, int n) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double *c = C + i * rsc + j * csc;
            *c = beta == 0.0 ? t[i * ldt + j] : fma(beta, *c, t[i * ldt + j]);
        }
}

#endif
