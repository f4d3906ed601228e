/* Portable scalar (libm) instantiation of the vector-math kernels for float64. */
#include <math.h>
#include <string.h>

#include "ops/kernels/vmath.h"
#include "ops/kernels/vmath_scalar.h"

#define T double
#define V double
#define VABS fabs
#define VSQRT sqrt
#define VEXP exp
#define VEXPM1 expm1
#define VLOG log
#define VLOG1P log1p
#define VTANH tanh
#define VERF erf
#define VSIN sin
#define VCOS cos
#include "ops/kernels/vmath_tmpl.h"

const ag__vm_kernels_f64 ag__vm_f64_scalar = {fwd, bwd, bin, axpy, rmax, expsum, shsc};
