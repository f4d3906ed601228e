/* Type/ISA-generic vector-math kernel bodies. Included (no include guard, on purpose) once
 * per translation unit by ops/kernels/vmath_<isa>_<dtype>.c, which first defines:
 *   T (element), V (vector), W (lanes), ALIGN (bytes for NT stores),
 *   VLD VST VSTNT VSET VADD VSUB VMUL VDIV VFMA VABS VNEG VSQRT SFENCE,
 *   VLT VLE VGT VGE (-> mask, false on NaN), MOR MAND, VSEL(m, a_if_true, b_if_false),
 *   VEXP VEXPM1 VLOG VLOG1P VTANH VERF VSIN VCOS,
 * and after it names the result in full: `const ag__vm_kernels_f32 ag__vm_f32_avx2 = {fwd,
 * bwd, bin, axpy, rmax, expsum, shsc};`. One instantiation per file, so every function here
 * has its plain name (grep 'fw_gelu(' finds it). fw_<f>/bw_<f> are the per-element bodies
 * the AG_VM_FN_LIST lines (vmath.h) name; fwd()/bwd() dispatch to them by id.
 * Every branch is a select between fully computed values: an untaken branch that is
 * inf/NaN never leaks into the result (no multiply-by-mask). Formulas follow ATen's. */
#define K(c) VSET((T)(c))
#define VM_INLINE static inline __attribute__((always_inline))
#define VM_UNUSED __attribute__((unused))

/* sigmoid without overflow: e = exp(-|x|); x >= 0 ? 1/(1+e) : e/(1+e). */
VM_INLINE V sigm(V x) {
    V e = VEXP(VNEG(VABS(x)));
    V r = VDIV(K(1), VADD(K(1), e));
    return VSEL(VGE(x, K(0)), r, VMUL(e, r));
}

VM_INLINE V fw_exp(V x, VM_UNUSED const ag_vm_params *p) { return VEXP(x); }
VM_INLINE V fw_log(V x, VM_UNUSED const ag_vm_params *p) { return VLOG(x); }
VM_INLINE V fw_sqrt(V x, VM_UNUSED const ag_vm_params *p) { return VSQRT(x); }
VM_INLINE V fw_sin(V x, VM_UNUSED const ag_vm_params *p) { return VSIN(x); }
VM_INLINE V fw_cos(V x, VM_UNUSED const ag_vm_params *p) { return VCOS(x); }
VM_INLINE V fw_abs(V x, VM_UNUSED const ag_vm_params *p) { return VABS(x); }
VM_INLINE V fw_neg(V x, VM_UNUSED const ag_vm_params *p) { return VNEG(x); }
VM_INLINE V fw_tanh(V x, VM_UNUSED const ag_vm_params *p) { return VTANH(x); }
VM_INLINE V fw_sigmoid(V x, VM_UNUSED const ag_vm_params *p) { return sigm(x); }
VM_INLINE V fw_relu(V x, VM_UNUSED const ag_vm_params *p) { /* NaN -> NaN */
    return VSEL(VLE(x, K(0)), K(0), x);
}
VM_INLINE V fw_leaky_relu(V x, VM_UNUSED const ag_vm_params *p) {
    return VSEL(VGT(x, K(0)), x, VMUL(x, K(p->a)));
}
VM_INLINE V fw_elu(V x, VM_UNUSED const ag_vm_params *p) {
    return VSEL(VLE(x, K(0)), VMUL(VEXPM1(x), K(p->a)), x);
}
#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946
VM_INLINE V fw_selu(V x, VM_UNUSED const ag_vm_params *p) {
    const T neg = (T)SELU_ALPHA * (T)SELU_SCALE;
    return VSEL(VLE(x, K(0)), VMUL(VEXPM1(x), VSET(neg)), VMUL(x, K(SELU_SCALE)));
}
/* x*beta > threshold ? x : log1p(exp(beta*x))/beta, the latter in the overflow-free
 * form (max(bx,0) + log1p(exp(-|bx|)))/beta. */
VM_INLINE V fw_softplus(V x, VM_UNUSED const ag_vm_params *p) {
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
VM_INLINE V gcdf(V x) {
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
VM_INLINE V gcdf(V x) { return VMUL(K(0.5), VADD(K(1), VERF(VMUL(x, K(VM_SQRT1_2))))); }
#endif
VM_INLINE V fw_gelu(V x, VM_UNUSED const ag_vm_params *p) {
#ifdef VM_FAST_CDF
    return VMUL(x, gcdf(x));
#else
    return VMUL(VMUL(x, K(0.5)), VADD(K(1), VERF(VMUL(x, K(VM_SQRT1_2)))));
#endif
}
VM_INLINE V fw_gelu_tanh(V x, VM_UNUSED const ag_vm_params *p) {
    V x3 = VMUL(VMUL(x, x), x);
    V inner = VMUL(K(VM_SQRT_2_PI), VADD(x, VMUL(K(VM_KAPPA), x3)));
    return VMUL(VMUL(K(0.5), x), VADD(K(1), VTANH(inner)));
}
VM_INLINE V fw_silu(V x, VM_UNUSED const ag_vm_params *p) { return VMUL(x, sigm(x)); }
VM_INLINE V fw_hardtanh(V x, VM_UNUSED const ag_vm_params *p) { /* clamp; NaN passes through */
    return VSEL(VLT(x, K(p->a)), K(p->a), VSEL(VGT(x, K(p->b)), K(p->b), x));
}
VM_INLINE V fw_hardsigmoid(V x, VM_UNUSED const ag_vm_params *p) {
    V t = VADD(x, K(3));
    t = VSEL(VLT(t, K(0)), K(0), t);
    t = VSEL(VGT(t, K(6)), K(6), t);
    return VDIV(t, K(6));
}
VM_INLINE V fw_log1p(V x, VM_UNUSED const ag_vm_params *p) { return VLOG1P(x); }
VM_INLINE V fw_expm1(V x, VM_UNUSED const ag_vm_params *p) { return VEXPM1(x); }

VM_INLINE V bw_exp(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VMUL(g, y);
}
VM_INLINE V bw_log(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VDIV(g, x);
}
VM_INLINE V bw_sqrt(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VDIV(g, VMUL(K(2), y));
}
VM_INLINE V bw_sin(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VMUL(g, VCOS(x));
}
VM_INLINE V bw_cos(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VMUL(g, VNEG(VSIN(x)));
}
/* g * sgn(x); sgn(0) = sgn(NaN) = 0 as in torch */
VM_INLINE V bw_abs(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    V s = VSEL(VGT(x, K(0)), K(1), VSEL(VLT(x, K(0)), K(-1), K(0)));
    return VMUL(g, s);
}
VM_INLINE V bw_neg(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VNEG(g);
}
VM_INLINE V bw_tanh(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VMUL(g, VSUB(K(1), VMUL(y, y)));
}
VM_INLINE V bw_sigmoid(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VMUL(VMUL(g, VSUB(K(1), y)), y);
}
VM_INLINE V bw_relu(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VSEL(VLE(x, K(0)), K(0), g);
}
VM_INLINE V bw_leaky_relu(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VSEL(VGT(x, K(0)), g, VMUL(g, K(p->a)));
}
/* NaN x: elu/selu gradients are NaN and hardtanh's is 0, as torch's vectorized kernels
 * give (its scalar tail loop disagrees; we follow what large tensors see). */
VM_INLINE V bw_elu(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VSEL(VGT(x, K(0)), g, VMUL(VMUL(g, K(p->a)), VEXP(x)));
}
VM_INLINE V bw_selu(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    const T neg = (T)SELU_ALPHA * (T)SELU_SCALE;
    return VSEL(VGT(x, K(0)), VMUL(g, K(SELU_SCALE)), VMUL(VMUL(g, VSET(neg)), VEXP(x)));
}
/* The derivative is sigmoid(beta*x), exactly 1 above the threshold. */
VM_INLINE V bw_softplus(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    V bx = VMUL(x, K(p->a));
    return VSEL(VGT(bx, K(p->b)), g, VMUL(g, sigm(bx)));
}
VM_INLINE V bw_gelu(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    V cdf = gcdf(x);
    V pdf = VMUL(K(VM_1_SQRT2PI), VEXP(VMUL(VMUL(x, x), K(-0.5))));
    return VMUL(g, VADD(cdf, VMUL(x, pdf)));
}
VM_INLINE V bw_gelu_tanh(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    V x2 = VMUL(x, x);
    V inner = VMUL(K(VM_SQRT_2_PI), VADD(x, VMUL(K(VM_KAPPA), VMUL(x2, x))));
    V th = VTANH(inner);
    V left = VMUL(K(0.5), x), right = VADD(K(1), th);
    V tdr = VSUB(K(1), VMUL(th, th));
    V idr = VMUL(K(VM_SQRT_2_PI), VADD(K(1), VMUL(K(3 * VM_KAPPA), x2)));
    V rd = VSEL(VLE(tdr, K(0)), K(0), VMUL(tdr, idr)); /* saturated: 0, not 0*inf */
    return VMUL(g, VADD(VMUL(K(0.5), right), VMUL(left, rd)));
}
VM_INLINE V bw_silu(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    V s = sigm(x);
    return VMUL(VMUL(g, s), VADD(K(1), VMUL(x, VSUB(K(1), s))));
}
VM_INLINE V bw_hardtanh(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VSEL(MAND(VGT(x, K(p->a)), VLT(x, K(p->b))), g, K(0));
}
VM_INLINE V bw_hardsigmoid(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VSEL(MAND(VGT(x, K(-3)), VLT(x, K(3))), VMUL(g, K(1.0 / 6.0)), K(0));
}
VM_INLINE V bw_log1p(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VDIV(g, VADD(x, K(1)));
}
VM_INLINE V bw_expm1(V g, VM_UNUSED V x, VM_UNUSED V y, VM_UNUSED const ag_vm_params *p) {
    return VMUL(g, VADD(y, K(1)));
}

/* Elements before out reaches ALIGN bytes (n if it never can: then no NT stores). */
static inline int64_t head_len(const T *out, int64_t n) {
    uintptr_t a = (uintptr_t)out;
    if (a % sizeof(T)) return n;
    int64_t h = (int64_t)(((ALIGN - a % ALIGN) % ALIGN) / sizeof(T));
    return h < n ? h : n;
}

/* The loops take the element body as a constant function pointer: always_inline makes
 * each switch case below one loop with its body inlined, as if written out. */
typedef V (*fw_body)(V x, const ag_vm_params *p);
typedef V (*bw_body)(V g, V x, V y, const ag_vm_params *p);

/* Partial vector: copy into a zero-padded buffer, compute a full vector, copy back. */
VM_INLINE void fwd_part(fw_body f, T *y, const T *x, int64_t cnt, const ag_vm_params *p) {
    T bx[W] = {0}, by[W];
    memcpy(bx, x, (size_t)cnt * sizeof(T));
    VST(by, f(VLD(bx), p));
    memcpy(y, by, (size_t)cnt * sizeof(T));
}

VM_INLINE void fwd_loop(fw_body f, T *y, const T *x, int64_t n, const ag_vm_params *p, int nt) {
    int64_t i = 0;
    if (nt && W > 1 && (i = head_len(y, n)) < n) {
        if (i) fwd_part(f, y, x, i, p);
        for (; i + W <= n; i += W) VSTNT(y + i, f(VLD(x + i), p));
        SFENCE();
    } else {
        i = 0;
        for (; i + W <= n; i += W) VST(y + i, f(VLD(x + i), p));
    }
    if (i < n) fwd_part(f, y + i, x + i, n - i, p);
}

VM_INLINE void bwd_part(bw_body f, T *gx, const T *g, const T *x, const T *y, int64_t cnt,
                        const ag_vm_params *p) {
    T bg[W] = {0}, bx[W] = {0}, by[W] = {0}, bo[W];
    size_t sz = (size_t)cnt * sizeof(T);
    memcpy(bg, g, sz);
    memcpy(bx, x, sz);
    memcpy(by, y, sz);
    VST(bo, f(VLD(bg), VLD(bx), VLD(by), p));
    memcpy(gx, bo, sz);
}

VM_INLINE void bwd_loop(bw_body f, T *gx, const T *g, const T *x, const T *y, int64_t n,
                        const ag_vm_params *p, int nt) {
    int64_t i = 0;
    if (nt && W > 1 && (i = head_len(gx, n)) < n) {
        if (i) bwd_part(f, gx, g, x, y, i, p);
        for (; i + W <= n; i += W) VSTNT(gx + i, f(VLD(g + i), VLD(x + i), VLD(y + i), p));
        SFENCE();
    } else {
        i = 0;
        for (; i + W <= n; i += W) VST(gx + i, f(VLD(g + i), VLD(x + i), VLD(y + i), p));
    }
    if (i < n) bwd_part(f, gx + i, g + i, x + i, y + i, n - i, p);
}

/* y = f(x) over n elements; one case per AG_VM_FN_LIST line. */
static void fwd(ag_vm_fn fn, T *y, const T *x, int64_t n, const ag_vm_params *p, int nt) {
    switch (fn) {
#define VM_FWD_CASE(id, name, fw, bw) \
    case id: fwd_loop(fw, y, x, n, p, nt); break;
        AG_VM_FN_LIST(VM_FWD_CASE)
#undef VM_FWD_CASE
    case AG_VM_COUNT: break;
    }
}

/* gx = g f'(x) (y = f(x)) over n elements. */
static void bwd(ag_vm_fn fn, T *gx, const T *g, const T *x, const T *y, int64_t n,
                const ag_vm_params *p, int nt) {
    switch (fn) {
#define VM_BWD_CASE(id, name, fw, bw) \
    case id: bwd_loop(bw, gx, g, x, y, n, p, nt); break;
        AG_VM_FN_LIST(VM_BWD_CASE)
#undef VM_BWD_CASE
    case AG_VM_COUNT: break;
    }
}

/* Memory-bound binary ops and axpy. */
typedef V (*bin_body)(V a, V b);
VM_INLINE V bin_add(V a, V b) { return VADD(a, b); }
VM_INLINE V bin_sub(V a, V b) { return VSUB(a, b); }
VM_INLINE V bin_mul(V a, V b) { return VMUL(a, b); }
VM_INLINE V bin_div(V a, V b) { return VDIV(a, b); }

VM_INLINE void bin_part(bin_body f, T *z, const T *x, const T *y, int64_t cnt) {
    T ba[W] = {0}, bb[W] = {0}, bo[W];
    size_t sz = (size_t)cnt * sizeof(T);
    memcpy(ba, x, sz);
    memcpy(bb, y, sz);
    VST(bo, f(VLD(ba), VLD(bb)));
    memcpy(z, bo, sz);
}

VM_INLINE void bin_loop(bin_body f, T *z, const T *x, const T *y, int64_t n, int nt) {
    int64_t i = 0;
    if (nt && W > 1 && (i = head_len(z, n)) < n) {
        if (i) bin_part(f, z, x, y, i);
        for (; i + W <= n; i += W) VSTNT(z + i, f(VLD(x + i), VLD(y + i)));
        SFENCE();
    } else {
        i = 0;
        for (; i + W <= n; i += W) VST(z + i, f(VLD(x + i), VLD(y + i)));
    }
    if (i < n) bin_part(f, z + i, x + i, y + i, n - i);
}

static void bin(ag_vm_binop op, T *z, const T *x, const T *y, int64_t n, int nt) {
    switch (op) {
    case AG_VM_ADD: bin_loop(bin_add, z, x, y, n, nt); break;
    case AG_VM_SUB: bin_loop(bin_sub, z, x, y, n, nt); break;
    case AG_VM_MUL: bin_loop(bin_mul, z, x, y, n, nt); break;
    default: bin_loop(bin_div, z, x, y, n, nt); break;
    }
}

static void axpy(T *y, T a, const T *x, int64_t n) {
    int64_t i = 0;
    V va = VSET(a);
    for (; i + W <= n; i += W) VST(y + i, VFMA(va, VLD(x + i), VLD(y + i)));
    if (i < n) {
        T bx_[W] = {0}, by_[W] = {0};
        size_t sz_ = (size_t)(n - i) * sizeof(T);
        memcpy(bx_, x + i, sz_);
        memcpy(by_, y + i, sz_);
        VST(by_, VFMA(va, VLD(bx_), VLD(by_)));
        memcpy(y + i, by_, sz_);
    }
}

/* ---- row kernels for softmax / log-sum-exp: one thread (callers split rows) ---- */
/* max of x[0..n); NaN if any element is NaN; -inf for n == 0. */
static T rmax(const T *x, int64_t n) {
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
static double expsum(T *y, const T *x, int64_t n, T shift) {
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
static void shsc(T *y, const T *x, int64_t n, T s, T a, T b) {
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

#undef K
#undef VM_INLINE
#undef VM_UNUSED
