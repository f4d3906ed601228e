/* The weight-gradient kernel's dispatch and naive twins (conv_wgrad.h); the vector
 * kernels are conv_wgrad_tmpl.h in conv_wgrad_{f32,f64}_{avx2,avx512}.c. */
#include "ops/kernels/conv_wgrad.h"

#include "ops/kernels/gemm.h"
#include "runtime/cpu.h"
#include "runtime/precision.h"

/* An AVX2 or AVX-512 GEMM dispatched (both imply AVX2+FMA), and float32 products at full
 * precision (the bf16 modes round GEMM panels, which the im2col path does). */
bool ag__conv_wgrad_ok(void) {
    int isa = ag__gemm_isa_id();
    return (isa == AG_ISA_AVX2 || isa == AG_ISA_AVX512) && ag__gemm_bf16_split() == 0;
}

int ag__conv_wgrad_f32(const struct ag__conv_wgrad *p) {
    return ag__gemm_isa_id() == AG_ISA_AVX512 ? ag__conv_wgrad_f32_avx512(p)
                                              : ag__conv_wgrad_f32_avx2(p);
}

int ag__conv_wgrad_f64(const struct ag__conv_wgrad *p) {
    return ag__gemm_isa_id() == AG_ISA_AVX512 ? ag__conv_wgrad_f64_avx512(p)
                                              : ag__conv_wgrad_f64_avx2(p);
}

static double elem(const void *p, int64_t i, bool f32) {
    return f32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

/* dw by the definition, summed in double. */
static void naive(const struct ag__conv_wgrad *p, bool f32) {
    int64_t C = p->s.G * p->s.Cg, O = p->s.G * p->s.Og;
    for (int64_t o = 0; o < O; o++)
        for (int64_t c = 0; c < p->s.Cg; c++)
            for (int64_t kh = 0; kh < p->s.KH; kh++)
                for (int64_t kw = 0; kw < p->s.KW; kw++) {
                    double s = 0;
                    int64_t ci = o / p->s.Og * p->s.Cg + c;
                    for (int64_t n = 0; n < p->s.N; n++)
                        for (int64_t oh = 0; oh < p->s.OH; oh++)
                            for (int64_t ow = 0; ow < p->s.OW; ow++) {
                                int64_t ih = oh * p->s.sh - p->s.ph + kh * p->s.dh;
                                int64_t iw = ow * p->s.sw - p->s.pw + kw * p->s.dw;
                                if (ih < 0 || ih >= p->s.H || iw < 0 || iw >= p->s.W) continue;
                                s += elem(p->gy, ((n * O + o) * p->s.OH + oh) * p->s.OW + ow, f32) *
                                     elem(p->x, ((n * C + ci) * p->s.H + ih) * p->s.W + iw, f32);
                            }
                    int64_t i = ((o * p->s.Cg + c) * p->s.KH + kh) * p->s.KW + kw;
                    if (f32) ((float *)p->out)[i] = (float)s;
                    else ((double *)p->out)[i] = s;
                }
}

void ag__conv_wgrad_f32_naive(const struct ag__conv_wgrad *p) { naive(p, true); }
void ag__conv_wgrad_f64_naive(const struct ag__conv_wgrad *p) { naive(p, false); }
