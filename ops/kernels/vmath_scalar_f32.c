/* Portable scalar (libm) instantiation of the vector-math kernels for float32. */
#include <math.h>
#include <string.h>

#include "ops/kernels/vmath.h"
#include "ops/kernels/vmath_scalar.h"

#define T float
#define V float
#define VABS fabsf
#define VSQRT sqrtf
#define VEXP expf
#define VEXPM1 expm1f
#define VLOG logf
#define VLOG1P log1pf
#define VTANH tanhf
#define VERF erff
#define VSIN sinf
#define VCOS cosf
#include "ops/kernels/vmath_tmpl.h"

const ag__vm_kernels_f32 ag__vm_f32_scalar = {fwd, bwd, bin, axpy, rmax, expsum, shsc};
