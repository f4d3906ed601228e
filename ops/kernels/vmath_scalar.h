/* The portable scalar "ISA" for vmath_tmpl.h: one lane, plain C operators; the libm
 * functions per dtype come from vmath_scalar_f32.c / vmath_scalar_f64.c. */
#ifndef AG_VMATH_SCALAR_H
#define AG_VMATH_SCALAR_H
#define W 1
#define ALIGN 64
#define VLD(p) (*(p))
#define VST(p, v) (*(p) = (v))
#define VSTNT(p, v) (*(p) = (v))
#define SFENCE() ((void)0)
#define VSET(c) (c)
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VNEG(v) (-(v))
#define VLT(a, b) ((a) < (b))
#define VLE(a, b) ((a) <= (b))
#define VGT(a, b) ((a) > (b))
#define VGE(a, b) ((a) >= (b))
#define MOR(a, b) ((a) || (b))
#define MAND(a, b) ((a) && (b))
#define VSEL(m, a, b) ((m) ? (a) : (b))
#endif
