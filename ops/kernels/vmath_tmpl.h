/* Type/ISA-generic vector-math kernel bodies. Included (no include guard, on purpose) by
 * vmath.c (scalar), vmath_avx2.c and vmath_avx512.c, once per dtype, after defining:
 *   T (element), V (vector), W (lanes), SFX (name suffix), ALIGN (bytes for NT stores),
 *   VLD VST VSTNT VSET VADD VSUB VMUL VDIV VFMA VABS VNEG VSQRT SFENCE,
 *   VLT VLE VGT VGE (-> mask, false on NaN), MOR MAND, VSEL(m, a_if_true, b_if_false),
 *   VEXP VEXPM1 VLOG VLOG1P VTANH VERF VSIN VCOS.
 * Every branch is a select between fully computed values: an untaken branch that is
 * inf/NaN never leaks into the result (no multiply-by-mask). Formulas follow ATen's. */
#define VM_CAT_(a, b) a##_##b
#define VM_CAT(a, b) VM_CAT_(a, b)
#define N(x) VM_CAT(x, SFX)
#define K(c) VSET((T)(c))
#define FW(name) static inline __attribute__((always_inline)) \
  V N(fw_##name)(V x, __attribute__((unused)) const ag_vm_params *p)
#define BW(name) static inline __attribute__((always_inline)) \
  V N(bw_##name)(V g, __attribute__((unused)) V x, __attribute__((unused)) V y, \
                 __attribute__((unused)) const ag_vm_params *p)

/* sigmoid without overflow: e = exp(-|x|); x >= 0 ? 1/(1+e) : e/(1+e). */
static inline __attribute__((always_inline)) V N(sigm)(V x) {
  V e = VEXP(VNEG(VABS(x)));
  V r = VDIV(K(1), VADD(K(1), e));
  return VSEL(VGE(x, K(0)), r, VMUL(e, r));
}

FW(exp) { return VEXP(x); }
FW(log) { return VLOG(x); }
FW(sqrt) { return VSQRT(x); }
FW(sin) { return VSIN(x); }
FW(cos) { return VCOS(x); }
FW(abs) { return VABS(x); }
FW(neg) { return VNEG(x); }
FW(tanh) { return VTANH(x); }
FW(sigmoid) { return N(sigm)(x); }
FW(relu) { return VSEL(VLE(x, K(0)), K(0), x); } /* NaN -> NaN */
FW(leaky_relu) { return VSEL(VGT(x, K(0)), x, VMUL(x, K(p->a))); }
FW(elu) { return VSEL(VLE(x, K(0)), VMUL(VEXPM1(x), K(p->a)), x); }
#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946
FW(selu) {
  const T neg = (T)SELU_ALPHA * (T)SELU_SCALE;
  return VSEL(VLE(x, K(0)), VMUL(VEXPM1(x), VSET(neg)), VMUL(x, K(SELU_SCALE)));
}
/* x*beta > threshold ? x : log1p(exp(beta*x))/beta, the latter in the overflow-free
 * form (max(bx,0) + log1p(exp(-|bx|)))/beta. */
FW(softplus) {
  V bx = VMUL(x, K(p->a));
  V lp = VLOG1P(VEXP(VNEG(VABS(bx))));
  V r = VDIV(VADD(VSEL(VGT(bx, K(0)), bx, K(0)), lp), K(p->a));
  return VSEL(VGT(bx, K(p->b)), x, r);
}
#define VM_SQRT1_2 0.70710678118654752440
#define VM_1_SQRT2PI 0.39894228040143267794 /* kBeta of gelu backward */
#define VM_SQRT_2_PI 0.79788456080286535588 /* kBeta of gelu tanh */
#define VM_KAPPA 0.044715
/* Phi(x) = 0.5 (1 + erf(x / sqrt 2)), the gelu cdf. With VM_FAST_CDF (the float32 SIMD
 * builds), 0.5 erfc(|x| / sqrt 2) comes from the Chebyshev fit of Numerical Recipes' erfcc
 * (fractional error < 1.2e-7 everywhere): one exp, one divide and a degree-9 polynomial in
 * float with FMA, several times faster than SLEEF's erff; Phi = x >= 0 ? 1 - h : h. */
#ifdef VM_FAST_CDF
static inline __attribute__((always_inline)) V N(gcdf)(V x) {
  V z = VMUL(VABS(x), K(VM_SQRT1_2));
  V t = VDIV(K(1), VFMA(z, K(0.5), K(1)));
  V q = K(0.17087277);
  q = VFMA(q, t, K(-0.82215223));
  q = VFMA(q, t, K(1.48851587));
  q = VFMA(q, t, K(-1.13520398));
  q = VFMA(q, t, K(0.27886807));
  q = VFMA(q, t, K(-0.18628806));
  q = VFMA(q, t, K(0.09678418));
  q = VFMA(q, t, K(0.37409196));
  q = VFMA(q, t, K(1.00002368));
  q = VFMA(q, t, K(-1.26551223));
  V h = VMUL(VMUL(t, K(0.5)), VEXP(VSUB(q, VMUL(z, z)))); /* 0.5 erfc(z) */
  return VSEL(VGE(x, K(0)), VSUB(K(1), h), h);
}
#else
static inline __attribute__((always_inline)) V N(gcdf)(V x) {
  return VMUL(K(0.5), VADD(K(1), VERF(VMUL(x, K(VM_SQRT1_2)))));
}
#endif
FW(gelu) {
#ifdef VM_FAST_CDF
  return VMUL(x, N(gcdf)(x));
#else
  return VMUL(VMUL(x, K(0.5)), VADD(K(1), VERF(VMUL(x, K(VM_SQRT1_2)))));
#endif
}
FW(gelu_tanh) {
  V x3 = VMUL(VMUL(x, x), x);
  V inner = VMUL(K(VM_SQRT_2_PI), VADD(x, VMUL(K(VM_KAPPA), x3)));
  return VMUL(VMUL(K(0.5), x), VADD(K(1), VTANH(inner)));
}
FW(silu) { return VMUL(x, N(sigm)(x)); }
FW(hardtanh) { /* clamp; NaN passes through */
  return VSEL(VLT(x, K(p->a)), K(p->a), VSEL(VGT(x, K(p->b)), K(p->b), x));
}
FW(hardsigmoid) {
  V t = VADD(x, K(3));
  t = VSEL(VLT(t, K(0)), K(0), t);
  t = VSEL(VGT(t, K(6)), K(6), t);
  return VDIV(t, K(6));
}
FW(log1p) { return VLOG1P(x); }
FW(expm1) { return VEXPM1(x); }

BW(exp) { return VMUL(g, y); }
BW(log) { return VDIV(g, x); }
BW(sqrt) { return VDIV(g, VMUL(K(2), y)); }
BW(sin) { return VMUL(g, VCOS(x)); }
BW(cos) { return VMUL(g, VNEG(VSIN(x))); }
BW(abs) { /* g * sgn(x); sgn(0) = sgn(NaN) = 0 as in torch */
  V s = VSEL(VGT(x, K(0)), K(1), VSEL(VLT(x, K(0)), K(-1), K(0)));
  return VMUL(g, s);
}
BW(neg) { return VNEG(g); }
BW(tanh) { return VMUL(g, VSUB(K(1), VMUL(y, y))); }
BW(sigmoid) { return VMUL(VMUL(g, VSUB(K(1), y)), y); }
BW(relu) { return VSEL(VLE(x, K(0)), K(0), g); }
BW(leaky_relu) { return VSEL(VGT(x, K(0)), g, VMUL(g, K(p->a))); }
/* NaN x: elu/selu gradients are NaN and hardtanh's is 0, as torch's vectorized kernels
 * give (its scalar tail loop disagrees; we follow what large tensors see). */
BW(elu) { return VSEL(VGT(x, K(0)), g, VMUL(VMUL(g, K(p->a)), VEXP(x))); }
BW(selu) {
  const T neg = (T)SELU_ALPHA * (T)SELU_SCALE;
  return VSEL(VGT(x, K(0)), VMUL(g, K(SELU_SCALE)), VMUL(VMUL(g, VSET(neg)), VEXP(x)));
}
BW(softplus) { /* derivative is sigmoid(beta*x), exactly 1 above the threshold */
  V bx = VMUL(x, K(p->a));
  return VSEL(VGT(bx, K(p->b)), g, VMUL(g, N(sigm)(bx)));
}
BW(gelu) {
  V cdf = N(gcdf)(x);
  V pdf = VMUL(K(VM_1_SQRT2PI), VEXP(VMUL(VMUL(x, x), K(-0.5))));
  return VMUL(g, VADD(cdf, VMUL(x, pdf)));
}
BW(gelu_tanh) {
  V x2 = VMUL(x, x);
  V inner = VMUL(K(VM_SQRT_2_PI), VADD(x, VMUL(K(VM_KAPPA), VMUL(x2, x))));
  V th = VTANH(inner);
  V left = VMUL(K(0.5), x), right = VADD(K(1), th);
  V tdr = VSUB(K(1), VMUL(th, th));
  V idr = VMUL(K(VM_SQRT_2_PI), VADD(K(1), VMUL(K(3 * VM_KAPPA), x2)));
  V rd = VSEL(VLE(tdr, K(0)), K(0), VMUL(tdr, idr)); /* saturated: 0, not 0*inf */
  return VMUL(g, VADD(VMUL(K(0.5), right), VMUL(left, rd)));
}
BW(silu) {
  V s = N(sigm)(x);
  return VMUL(VMUL(g, s), VADD(K(1), VMUL(x, VSUB(K(1), s))));
}
BW(hardtanh) { return VSEL(MAND(VGT(x, K(p->a)), VLT(x, K(p->b))), g, K(0)); }
BW(hardsigmoid) { return VSEL(MAND(VGT(x, K(-3)), VLT(x, K(3))), VMUL(g, K(1.0 / 6.0)), K(0)); }
BW(log1p) { return VDIV(g, VADD(x, K(1))); }
BW(expm1) { return VMUL(g, VADD(y, K(1))); }

#define VM_FN_LIST(X) X(exp) X(log) X(sqrt) X(sin) X(cos) X(abs) X(neg) X(tanh) X(sigmoid) \
  X(relu) X(leaky_relu) X(elu) X(selu) X(softplus) X(gelu) X(gelu_tanh) X(silu)          \
  X(hardtanh) X(hardsigmoid) X(log1p) X(expm1)

/* Elements before out reaches ALIGN bytes (n if it never can: then no NT stores). */
static inline int64_t N(head_len)(const T *out, int64_t n) {
  uintptr_t a = (uintptr_t)out;
  if (a % sizeof(T)) return n;
  int64_t h = (int64_t)(((ALIGN - a % ALIGN) % ALIGN) / sizeof(T));
  return h < n ? h : n;
}

/* Partial vector: copy into a zero-padded buffer, compute a full vector, copy back. */
#define FWD_PART(OP, i0, cnt) do {                                          \
    T bx_[W] = {0}, by_[W];                                                 \
    memcpy(bx_, x + (i0), (size_t)(cnt) * sizeof(T));                       \
    VST(by_, OP(VLD(bx_), p));                                              \
    memcpy(y + (i0), by_, (size_t)(cnt) * sizeof(T));                       \
  } while (0)

#define DEF_FWD(name)                                                              \
  static void N(fwdk_##name)(T *y, const T *x, int64_t n, const ag_vm_params *p,  \
                             int nt) {                                             \
    int64_t i = 0;                                                                 \
    if (nt && W > 1 && (i = N(head_len)(y, n)) < n) {                              \
      if (i) FWD_PART(N(fw_##name), 0, i);                                         \
      for (; i + W <= n; i += W) VSTNT(y + i, N(fw_##name)(VLD(x + i), p));        \
      SFENCE();                                                                    \
    } else {                                                                       \
      i = 0;                                                                       \
      for (; i + W <= n; i += W) VST(y + i, N(fw_##name)(VLD(x + i), p));          \
    }                                                                              \
    if (i < n) FWD_PART(N(fw_##name), i, n - i);                                   \
  }
VM_FN_LIST(DEF_FWD)

#define BWD_PART(OP, i0, cnt) do {                                          \
    T bg_[W] = {0}, bx_[W] = {0}, by_[W] = {0}, bo_[W];                     \
    size_t sz_ = (size_t)(cnt) * sizeof(T);                                 \
    memcpy(bg_, g + (i0), sz_); memcpy(bx_, x + (i0), sz_);                 \
    memcpy(by_, y + (i0), sz_);                                             \
    VST(bo_, OP(VLD(bg_), VLD(bx_), VLD(by_), p));                          \
    memcpy(gx + (i0), bo_, sz_);                                            \
  } while (0)

#define BWD_VEC(OP, i) OP(VLD(g + (i)), VLD(x + (i)), VLD(y + (i)), p)
#define DEF_BWD(name)                                                              \
  static void N(bwdk_##name)(T *gx, const T *g, const T *x, const T *y, int64_t n, \
                             const ag_vm_params *p, int nt) {                      \
    int64_t i = 0;                                                                 \
    if (nt && W > 1 && (i = N(head_len)(gx, n)) < n) {                             \
      if (i) BWD_PART(N(bw_##name), 0, i);                                         \
      for (; i + W <= n; i += W) VSTNT(gx + i, BWD_VEC(N(bw_##name), i));          \
      SFENCE();                                                                    \
    } else {                                                                       \
      i = 0;                                                                       \
      for (; i + W <= n; i += W) VST(gx + i, BWD_VEC(N(bw_##name), i));            \
    }                                                                              \
    if (i < n) BWD_PART(N(bw_##name), i, n - i);                                   \
  }
VM_FN_LIST(DEF_BWD)

#define FWD_ENTRY(name) N(fwdk_##name),
#define BWD_ENTRY(name) N(bwdk_##name),
static void (*const N(fwd_tab)[AG_VM_COUNT])(T *, const T *, int64_t, const ag_vm_params *,
                                             int) = {VM_FN_LIST(FWD_ENTRY)};
static void (*const N(bwd_tab)[AG_VM_COUNT])(T *, const T *, const T *, const T *, int64_t,
                                             const ag_vm_params *, int) = {
    VM_FN_LIST(BWD_ENTRY)};

static void N(fwd)(ag_vm_fn f, T *y, const T *x, int64_t n, const ag_vm_params *p, int nt) {
  N(fwd_tab)[f](y, x, n, p, nt);
}
static void N(bwd)(ag_vm_fn f, T *gx, const T *g, const T *x, const T *y, int64_t n,
                   const ag_vm_params *p, int nt) {
  N(bwd_tab)[f](gx, g, x, y, n, p, nt);
}

/* Memory-bound binary ops and axpy. */
#define BIN_PART(OP, i0, cnt) do {                                          \
    T ba_[W] = {0}, bb_[W] = {0}, bo_[W];                                   \
    size_t sz_ = (size_t)(cnt) * sizeof(T);                                 \
    memcpy(ba_, x + (i0), sz_); memcpy(bb_, y + (i0), sz_);                 \
    VST(bo_, OP(VLD(ba_), VLD(bb_)));                                       \
    memcpy(z + (i0), bo_, sz_);                                             \
  } while (0)
#define DEF_BIN(name, OP)                                                          \
  static void N(bink_##name)(T *z, const T *x, const T *y, int64_t n, int nt) {   \
    int64_t i = 0;                                                                 \
    if (nt && W > 1 && (i = N(head_len)(z, n)) < n) {                              \
      if (i) BIN_PART(OP, 0, i);                                                   \
      for (; i + W <= n; i += W) VSTNT(z + i, OP(VLD(x + i), VLD(y + i)));         \
      SFENCE();                                                                    \
    } else {                                                                       \
      i = 0;                                                                       \
      for (; i + W <= n; i += W) VST(z + i, OP(VLD(x + i), VLD(y + i)));           \
    }                                                                              \
    if (i < n) BIN_PART(OP, i, n - i);                                             \
  }
DEF_BIN(add, VADD)
DEF_BIN(sub, VSUB)
DEF_BIN(mul, VMUL)
DEF_BIN(div, VDIV)

static void N(bin)(ag_vm_binop op, T *z, const T *x, const T *y, int64_t n, int nt) {
  switch (op) {
  case AG_VM_ADD: N(bink_add)(z, x, y, n, nt); break;
  case AG_VM_SUB: N(bink_sub)(z, x, y, n, nt); break;
  case AG_VM_MUL: N(bink_mul)(z, x, y, n, nt); break;
  default: N(bink_div)(z, x, y, n, nt); break;
  }
}

static void N(axpy)(T *y, T a, const T *x, int64_t n) {
  int64_t i = 0;
  V va = VSET(a);
  for (; i + W <= n; i += W) VST(y + i, VFMA(va, VLD(x + i), VLD(y + i)));
  if (i < n) {
    T bx_[W] = {0}, by_[W] = {0};
    size_t sz_ = (size_t)(n - i) * sizeof(T);
    memcpy(bx_, x + i, sz_); memcpy(by_, y + i, sz_);
    VST(by_, VFMA(va, VLD(bx_), VLD(by_)));
    memcpy(y + i, by_, sz_);
  }
}

/* ---- row kernels for softmax / log-sum-exp: one thread (callers split rows) ---- */
/* max of x[0..n); NaN if any element is NaN; -inf for n == 0. */
static T N(rmax)(const T *x, int64_t n) {
  V m = K(-INFINITY), nan = K(0);
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    V v = VLD(x + i);
    m = VSEL(VGT(v, m), v, m);
    nan = VSEL(VGE(v, v), nan, v); /* keeps a NaN once seen */
  }
  T bm[W], bn[W];
  VST(bm, m);
  VST(bn, nan);
  T r = (T)-INFINITY;
  int isnan_ = 0;
  for (int k = 0; k < W; k++) {
    if (bm[k] > r) r = bm[k];
    if (bn[k] != bn[k]) isnan_ = 1;
  }
  for (; i < n; i++) {
    if (x[i] > r) r = x[i];
    if (x[i] != x[i]) isnan_ = 1;
  }
  return isnan_ ? (T)NAN : r;
}

/* y[i] = exp(x[i] - shift) (y may alias x); returns their sum: lanes add in T over at most
 * 16 vectors, those partial sums in double. */
static double N(expsum)(T *y, const T *x, int64_t n, T shift) {
  V s = VSET(shift);
  double tot = 0;
  int64_t i = 0;
  T b[W];
  while (i + W <= n) {
    V acc = K(0);
    int64_t end = n - i > 16 * W ? i + 16 * W : n;
    for (; i + W <= end; i += W) {
      V e = VEXP(VSUB(VLD(x + i), s));
      VST(y + i, e);
      acc = VADD(acc, e);
    }
    VST(b, acc);
    for (int k = 0; k < W; k++) tot += (double)b[k];
  }
  if (i < n) {
    T bx[W] = {0};
    size_t sz = (size_t)(n - i) * sizeof(T);
    memcpy(bx, x + i, sz);
    VST(b, VEXP(VSUB(VLD(bx), s)));
    memcpy(y + i, b, sz);
    for (int64_t k = 0; k < n - i; k++) tot += (double)b[k];
  }
  return tot;
}

/* y[i] = (x[i] - s) * a + b, one fused multiply-add after the subtraction (y may alias x). */
static void N(shsc)(T *y, const T *x, int64_t n, T s, T a, T b) {
  V vs = VSET(s), va = VSET(a), vb = VSET(b);
  int64_t i = 0;
  for (; i + W <= n; i += W) VST(y + i, VFMA(VSUB(VLD(x + i), vs), va, vb));
  if (i < n) {
    T bx[W] = {0}, by[W];
    size_t sz = (size_t)(n - i) * sizeof(T);
    memcpy(bx, x + i, sz);
    VST(by, VFMA(VSUB(VLD(bx), vs), va, vb));
    memcpy(y + i, by, sz);
  }
}

#undef N
#undef K
#undef FW
#undef BW
#undef FWD_ENTRY
#undef BWD_ENTRY
#undef DEF_FWD
#undef DEF_BWD
#undef DEF_BIN
#undef FWD_PART
#undef BWD_PART
#undef BWD_VEC
#undef BIN_PART
#undef VM_FN_LIST
#undef VM_CAT
#undef VM_CAT_
