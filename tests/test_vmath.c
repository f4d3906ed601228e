/* Tests for ops/kernels/vmath: every function forward and backward, every available ISA,
 * against the naive _ref twins, plus a golden check against PyTorch (tests/golden/vmath.txt,
 * written by tests/golden/gen_vmath_golden.py).
 *
 * Tolerances (|ours - ref| <= RTOL*|ref| + ATOL*max(1,|g|)*xs; xs = 1+|x| for gelu,
 * gelu_tanh and silu, whose torch formulas cancel in proportion to x, (1+|x|)^3 for the
 * gelu_tanh backward (1-tanh^2 times x*(1+3*kappa*x^2)), else 1):
 *   float32: RTOL 5e-7 (4-8 ulp), ATOL 2.4e-7 (2 ulp of 1.0: cancellation in 1-y*y etc.)
 *   float64: RTOL 4e-15 (18-36 ulp), ATOL 4.5e-16 (2 ulp of 1.0)
 *   golden vs torch: float64 rel 1e-10 + abs 1e-14, float32 rel 1e-5 + abs 1e-6.
 * NaN must match NaN; infinities must match exactly. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ag.h"
#include "ops/kernels/vmath.h"

#define RTOL32 2.5e-7
#define ATOL32 2.4e-7
#define RTOL64 4e-15
#define ATOL64 4.5e-16

static const char *const isas[3] = {"scalar", "avx2", "avx512"};

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}
static double rng_u(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1p-53; }

static int is_param(ag_vm_fn f) {
    return f == AG_VM_LEAKY_RELU || f == AG_VM_ELU || f == AG_VM_SOFTPLUS || f == AG_VM_HARDTANH;
}
static ag_vm_params alt_params(ag_vm_fn f) {
    ag_vm_params p = ag__vm_default_params(f);
    if (f == AG_VM_LEAKY_RELU) p.a = 0.2;
    if (f == AG_VM_ELU) p.a = 0.5;
    if (f == AG_VM_SOFTPLUS) p.a = 2.0, p.b = 10.0;
    if (f == AG_VM_HARDTANH) p.a = -2.0, p.b = 0.5;
    return p;
}

/* Extremes and kinks; the first entries of every input array cycle through them. */
static int extremes(ag_vm_fn f, ag_vm_params p, int f32, double *e) {
    const double base[] = {1e4,  -1e4,  88,     -88,  87.5,  -87.5, 20,   -20, 3,  -3, 1,   -1, 0,
                           -0.0, 1e-30, -1e-30, 1e-5, -1e-5, 0.5,   -0.5, 6,   -6, 30, -30, NAN};
    int k = 0;
    for (size_t i = 0; i < sizeof base / sizeof *base; i++) e[k++] = base[i];
    e[k++] = f32 ? 1e-40 : 1e-310; /* subnormal */
    e[k++] = f32 ? -1e-40 : -1e-310;
    if (is_param(f)) {
        double kinks[2] = {p.a, p.b};
        if (f == AG_VM_SOFTPLUS) kinks[0] = p.b / p.a, kinks[1] = -p.b / p.a;
        for (int j = 0; j < 2; j++) {
            double v = f32 ? (double)(float)kinks[j] : kinks[j];
            e[k++] = v;
            e[k++] = f32 ? (double)nextafterf((float)v, INFINITY) : nextafter(v, INFINITY);
            e[k++] = f32 ? (double)nextafterf((float)v, -INFINITY) : nextafter(v, -INFINITY);
        }
    }
    return k;
}

static double gen_x(ag_vm_fn f, uint64_t *s) {
    double u = rng_u(s), scale = rng_u(s) < 0.1 ? 50.0 : 1.0;
    if (f == AG_VM_LOG || f == AG_VM_SQRT) return 100.0 * u * scale;
    if (f == AG_VM_LOG1P) return -1.0 + 50.0 * u * scale;
    return (24.0 * u - 12.0) * scale;
}

/* Arrays are kept as double; float32 runs convert in and out. */
typedef struct {
    int64_t n;
    double *x, *g, *y, *gx, *ry, *rgx;
} bufs;

static void fill(bufs *b, ag_vm_fn f, ag_vm_params p, int f32, uint64_t seed) {
    double e[40];
    int ne = extremes(f, p, f32, e);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < b->n; i++) {
        double v = i < ne ? e[(i + b->n) % ne] : gen_x(f, &s);
        b->x[i] = f32 ? (double)(float)v : v;
        double g = 4.0 * rng_u(&s) - 2.0;
        b->g[i] = f32 ? (double)(float)g : g;
    }
}

static void run32(ag_vm_fn f, ag_vm_params p, int64_t n, const double *x, const double *g,
                  double *y, double *gx, int ref) {
    size_t sz = (size_t)(n + 1) * sizeof(float);
    float *xf = malloc(sz), *gf = malloc(sz), *yr = malloc(sz), *yo = malloc(sz);
    for (int64_t i = 0; i < n; i++) xf[i] = (float)x[i], gf[i] = (float)g[i];
    /* backward gets the reference forward output as y, so both sides see the same y */
    ag__vm_forward_f32_ref(f, yr, xf, n, p);
    if (ref) {
        memcpy(yo, yr, sz);
        ag__vm_backward_f32_ref(f, gf, gf, xf, yr, n, p);
    } else {
        ag__vm_forward_f32(f, yo, xf, n, p);
        ag__vm_backward_f32(f, gf, gf, xf, yr, n, p); /* gx aliases g */
    }
    for (int64_t i = 0; i < n; i++) y[i] = yo[i], gx[i] = gf[i];
    free(xf), free(gf), free(yr), free(yo);
}

static void run64(ag_vm_fn f, ag_vm_params p, int64_t n, const double *x, const double *g,
                  double *y, double *gx, int ref) {
    double *yr = malloc((size_t)(n + 1) * 8);
    memcpy(gx, g, (size_t)n * 8);
    ag__vm_forward_f64_ref(f, yr, x, n, p);
    if (ref) {
        memcpy(y, yr, (size_t)n * 8);
        ag__vm_backward_f64_ref(f, gx, gx, x, yr, n, p);
    } else {
        ag__vm_forward_f64(f, y, x, n, p);
        ag__vm_backward_f64(f, gx, gx, x, yr, n, p);
    }
    free(yr);
}

static int close_to(double a, double r, double x, double g, ag_vm_fn f, int f32, int bwd) {
    if (isnan(a) || isnan(r)) return isnan(a) && isnan(r);
    if (a == r) return 1;
    if (isinf(a) || isinf(r)) return 0;
    double xs = (f == AG_VM_GELU || f == AG_VM_GELU_TANH || f == AG_VM_SILU) ? 1 + fabs(x) : 1;
    /* gelu_tanh backward: 1-tanh^2 (1 ulp of tanh near +-1) is scaled by x*(1+3*kappa*x^2) */
    if (f == AG_VM_GELU_TANH && bwd) xs = xs * xs * xs;
    double gs = fabs(g) > 1 ? fabs(g) : 1;
    double rt = f32 ? RTOL32 : RTOL64, at = f32 ? ATOL32 : ATOL64;
    return fabs(a - r) <= rt * fabs(r) + at * gs * xs;
}

/* Compares b->y/gx (ours) against b->ry/rgx; returns the number of mismatches. */
static int compare(const bufs *b, ag_vm_fn f, ag_vm_params p, int f32, const char *isa) {
    int bad = 0;
    for (int64_t i = 0; i < b->n; i++) {
        int okf = close_to(b->y[i], b->ry[i], b->x[i], 1.0, f, f32, 0);
        int okb = close_to(b->gx[i], b->rgx[i], b->x[i], b->g[i], f, f32, 1);
        if ((!okf || !okb) && bad++ < 3)
            cr_log_error("%s f%d %s(a=%g,b=%g) n=%lld i=%lld x=%.17g: fwd %.17g ref %.17g; "
                         "bwd(g=%.9g) %.17g ref %.17g",
                         isa, f32 ? 32 : 64, ag__vm_name(f), p.a, p.b, (long long)b->n,
                         (long long)i, b->x[i], b->y[i], b->ry[i], b->g[i], b->gx[i], b->rgx[i]);
    }
    return bad;
}

static void bufs_alloc(bufs *b, int64_t n) {
    b->n = n;
    double **a[6] = {&b->x, &b->g, &b->y, &b->gx, &b->ry, &b->rgx};
    for (int i = 0; i < 6; i++) *a[i] = calloc((size_t)n + 1, sizeof(double));
}
static void bufs_free(bufs *b) {
    free(b->x), free(b->g), free(b->y), free(b->gx), free(b->ry), free(b->rgx);
}

/* Every function (default and alternative parameters) x every ISA x the given lengths. */
static void check_all(int f32, const int64_t *lens, int nlens) {
    for (int li = 0; li < nlens; li++) {
        for (int fi = 0; fi < AG_VM_COUNT; fi++) {
            ag_vm_fn f = (ag_vm_fn)fi;
            for (int pi = 0; pi < 1 + is_param(f); pi++) {
                ag_vm_params p = pi ? alt_params(f) : ag__vm_default_params(f);
                bufs b;
                bufs_alloc(&b, lens[li]);
                fill(&b, f, p, f32, (uint64_t)(fi * 7 + pi + li * 131));
                (f32 ? run32 : run64)(f, p, b.n, b.x, b.g, b.ry, b.rgx, 1);
                for (int k = 0; k < 3; k++) {
                    if (ag__vm_set_isa(isas[k]) != 0) continue;
                    (f32 ? run32 : run64)(f, p, b.n, b.x, b.g, b.y, b.gx, 0);
                    int bad = compare(&b, f, p, f32, isas[k]);
                    cr_expect(bad == 0, "%s f%d %s n=%lld: %d mismatches", isas[k], f32 ? 32 : 64,
                              ag__vm_name(f), (long long)b.n, bad);
                }
                bufs_free(&b);
            }
        }
    }
}

static const int64_t small_lens[] = {0, 1, 15, 16, 17, 1000};
/* Over the 64K-element thread chunk, with a tail; a smaller one under sanitizers and
 * valgrind (AG_SANITIZED), which are 20-50x slower but need no more length to check. */
static int64_t large_len(void) { return getenv("AG_SANITIZED") ? 200003 : 1000003; }

Test(vmath, f32_vs_ref_small) { check_all(1, small_lens, 6); }
Test(vmath, f64_vs_ref_small) { check_all(0, small_lens, 6); }
Test(vmath, f32_vs_ref_large, .timeout = 120) {
    int64_t n = large_len();
    check_all(1, &n, 1);
}
Test(vmath, f64_vs_ref_large, .timeout = 120) {
    int64_t n = large_len();
    check_all(0, &n, 1);
}

/* In-place forward (y == x) equals out-of-place, bitwise. */
Test(vmath, inplace_forward) {
    int64_t n = 70001;
    for (int k = 0; k < 3; k++) {
        if (ag__vm_set_isa(isas[k]) != 0) continue;
        for (int fi = 0; fi < AG_VM_COUNT; fi++) {
            ag_vm_fn f = (ag_vm_fn)fi;
            ag_vm_params p = ag__vm_default_params(f);
            float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
            uint64_t s = 77 + (uint64_t)fi;
            for (int64_t i = 0; i < n; i++) x[i] = (float)gen_x(f, &s);
            ag__vm_forward_f32(f, y, x, n, p);
            ag__vm_forward_f32(f, x, x, n, p);
            cr_expect(memcmp(x, y, (size_t)n * 4) == 0, "%s %s in-place differs", isas[k],
                      ag__vm_name(f));
            free(x), free(y);
        }
    }
}

/* 1 thread and 2 threads give bitwise identical results. */
static void run_threads(int f32, ag_vm_fn f, ag_vm_params p, int64_t n, const double *x,
                        const double *g, double *y, double *gx, int nth) {
    ag_set_num_threads(nth);
    if (f32) run32(f, p, n, x, g, y, gx, 0);
    else run64(f, p, n, x, g, y, gx, 0);
}

Test(vmath, threads_bitwise, .timeout = 120) {
    int64_t n = large_len();
    bufs b;
    bufs_alloc(&b, n);
    for (int k = 0; k < 3; k++) {
        if (ag__vm_set_isa(isas[k]) != 0) continue;
        for (int fi = 0; fi < AG_VM_COUNT; fi++) {
            for (int f32 = 0; f32 < 2; f32++) {
                ag_vm_fn f = (ag_vm_fn)fi;
                ag_vm_params p = ag__vm_default_params(f);
                fill(&b, f, p, f32, 5);
                run_threads(f32, f, p, n, b.x, b.g, b.y, b.gx, 1);
                run_threads(f32, f, p, n, b.x, b.g, b.ry, b.rgx, 2);
                cr_expect(memcmp(b.y, b.ry, (size_t)n * 8) == 0 &&
                              memcmp(b.gx, b.rgx, (size_t)n * 8) == 0,
                          "%s f%d %s: 1 vs 2 threads differ", isas[k], f32 ? 32 : 64,
                          ag__vm_name(f));
            }
        }
    }
    bufs_free(&b);
    ag_set_num_threads(2);
}

/* Outputs and gradients are finite at large |x| wherever the reference is finite. */
Test(vmath, extremes_finite) {
    const double xs[] = {1e4, -1e4, 1e3, -1e3, 100, -100, 88.7, -88.7, 89, -89, 710, -710};
    enum { NX = sizeof xs / sizeof *xs };
    for (int k = 0; k < 3; k++) {
        if (ag__vm_set_isa(isas[k]) != 0) continue;
        for (int fi = 0; fi < AG_VM_COUNT; fi++) {
            for (int f32 = 0; f32 < 2; f32++) {
                ag_vm_fn f = (ag_vm_fn)fi;
                ag_vm_params p = ag__vm_default_params(f);
                double g[NX], y[NX], gx[NX], ry[NX], rgx[NX], x[NX];
                for (int i = 0; i < NX; i++) g[i] = 1.0, x[i] = f32 ? (double)(float)xs[i] : xs[i];
                (f32 ? run32 : run64)(f, p, NX, x, g, ry, rgx, 1);
                (f32 ? run32 : run64)(f, p, NX, x, g, y, gx, 0);
                for (int i = 0; i < NX; i++) {
                    if (isfinite(ry[i]))
                        cr_expect(isfinite(y[i]), "%s f%d %s(%g) = %g", isas[k], f32 ? 32 : 64,
                                  ag__vm_name(f), x[i], y[i]);
                    if (isfinite(rgx[i]))
                        cr_expect(isfinite(gx[i]), "%s f%d %s'(%g) = %g", isas[k], f32 ? 32 : 64,
                                  ag__vm_name(f), x[i], gx[i]);
                }
            }
        }
    }
}

/* Golden values from torch autograd (tests/golden/gen_vmath_golden.py). */
static FILE *open_golden(void) {
    FILE *fp = fopen("tests/golden/vmath.txt", "r");
    if (!fp) {
        char path[4096];
        snprintf(path, sizeof path, "%s", __FILE__);
        char *slash = strrchr(path, '/');
        if (slash) {
            snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "golden/vmath.txt");
            fp = fopen(path, "r");
        }
    }
    return fp;
}

static int fn_by_name(const char *s) {
    for (int i = 0; i < AG_VM_COUNT; i++)
        if (strcmp(s, ag__vm_name((ag_vm_fn)i)) == 0) return i;
    return -1;
}

static int golden_close(double a, double t, int f32, double rtol) {
    if (isnan(a) || isnan(t)) return isnan(a) && isnan(t);
    if (a == t) return 1;
    if (isinf(a) || isinf(t)) return 0;
    return fabs(a - t) <= rtol * fabs(t) + (f32 ? 1e-6 : 1e-14);
}

/* One golden line: ours (forward, and backward with g = 1 and our y) against torch. */
static int golden_line(int bits, int fi, ag_vm_params p, double x, double ty, double tdx) {
    ag_vm_fn f = (ag_vm_fn)fi;
    double y, dx;
    if (bits == 32) {
        float xf = (float)x, yf, gf = 1.0f;
        ag__vm_forward_f32(f, &yf, &xf, 1, p);
        ag__vm_backward_f32(f, &gf, &gf, &xf, &yf, 1, p);
        y = yf, dx = gf;
    } else {
        double g = 1.0;
        ag__vm_forward_f64(f, &y, &x, 1, p);
        ag__vm_backward_f64(f, &g, &g, &x, &y, 1, p);
        dx = g;
    }
    /* torch's float64 hardsigmoid backward uses the float constant 1.0f/6.0f
   * (0.16666667163...); ours is the exact 1/6, so that one is compared at 1e-7. */
    double brt = bits == 32 ? 1e-5 : f == AG_VM_HARDSIGMOID ? 1e-7 : 1e-10;
    int ok = golden_close(y, ty, bits == 32, bits == 32 ? 1e-5 : 1e-10) &&
             golden_close(dx, tdx, bits == 32, brt);
    if (!ok)
        cr_log_error("%s f%d %s x=%.17g: y %.17g torch %.17g; dx %.17g torch %.17g", ag__vm_isa(),
                     bits, ag__vm_name(f), x, y, ty, dx, tdx);
    return ok;
}

Test(vmath, golden_torch) {
    FILE *fp = open_golden();
    cr_assert(fp != NULL, "tests/golden/vmath.txt not found");
    char line[512], name[64];
    int lines = 0, bad = 0;
    while (fgets(line, sizeof line, fp)) {
        int bits;
        double a, b, x, ty, tdx;
        if (line[0] == '#') continue;
        if (sscanf(line, "%d %63s %lf %lf %lf %lf %lf", &bits, name, &a, &b, &x, &ty, &tdx) != 7)
            continue;
        int fi = fn_by_name(name);
        cr_assert(fi >= 0, "unknown function %s in golden file", name);
        ag_vm_params p = {a, b};
        lines++;
        for (int k = 0; k < 3; k++)
            if (ag__vm_set_isa(isas[k]) == 0) bad += !golden_line(bits, fi, p, x, ty, tdx);
    }
    fclose(fp);
    cr_expect(lines > 1000, "golden file has only %d lines", lines);
    cr_expect(bad == 0, "%d golden mismatches", bad);
}

Test(vmath, binary_and_scale_add) {
    const int64_t lens[] = {0, 1, 15, 16, 17, 1000, 300007};
    for (int k = 0; k < 3; k++) {
        if (ag__vm_set_isa(isas[k]) != 0) continue;
        for (int li = 0; li < 7; li++) {
            int64_t n = lens[li];
            float *x = malloc((size_t)n * 4 + 4), *y = malloc((size_t)n * 4 + 4);
            float *z = malloc((size_t)n * 4 + 4);
            double *xd = malloc((size_t)n * 8 + 8), *yd = malloc((size_t)n * 8 + 8);
            double *zd = malloc((size_t)n * 8 + 8);
            uint64_t s = 99;
            for (int64_t i = 0; i < n; i++) {
                xd[i] = 10 * rng_u(&s) - 5, yd[i] = 1 + 4 * rng_u(&s);
                x[i] = (float)xd[i], y[i] = (float)yd[i];
            }
            for (int op = 0; op < 4; op++) {
                ag__vm_binary_f32((ag_vm_binop)op, z, x, y, n);
                ag__vm_binary_f64((ag_vm_binop)op, zd, xd, yd, n);
                for (int64_t i = 0; i < n; i++) {
                    float e = op == 0   ? x[i] + y[i]
                              : op == 1 ? x[i] - y[i]
                              : op == 2 ? x[i] * y[i]
                                        : x[i] / y[i];
                    double ed = op == 0   ? xd[i] + yd[i]
                                : op == 1 ? xd[i] - yd[i]
                                : op == 2 ? xd[i] * yd[i]
                                          : xd[i] / yd[i];
                    if (z[i] != e || zd[i] != ed) {
                        cr_expect(0, "%s binop %d n=%lld i=%lld", isas[k], op, (long long)n,
                                  (long long)i);
                        break;
                    }
                }
            }
            memcpy(z, y, (size_t)n * 4), memcpy(zd, yd, (size_t)n * 8);
            ag__vm_scale_add_f32(z, 0.75f, x, n);
            ag__vm_scale_add_f64(zd, 0.75, xd, n);
            for (int64_t i = 0; i < n; i++) { /* FMA or not: within one rounding */
                cr_expect(fabs(z[i] - (y[i] + 0.75 * x[i])) <= 1.2e-7 * 8, "%s axpy f32", isas[k]);
                cr_expect(fabs(zd[i] - (yd[i] + 0.75 * xd[i])) <= 2.3e-16 * 8, "%s axpy f64",
                          isas[k]);
                if (fabs(z[i] - (y[i] + 0.75 * x[i])) > 1e-5) break;
            }
            free(x), free(y), free(z), free(xd), free(yd), free(zd);
        }
    }
}

Test(vmath, set_isa) {
    cr_expect(ag__vm_set_isa("bogus") != 0);
    cr_expect(ag__vm_set_isa("scalar") == 0);
    cr_expect_str_eq(ag__vm_isa(), "scalar");
    if (ag__vm_set_isa("avx512") == 0) cr_expect_str_eq(ag__vm_isa(), "avx512");
    if (ag__vm_set_isa("avx2") == 0) cr_expect_str_eq(ag__vm_isa(), "avx2");
}
