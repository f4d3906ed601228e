/* The float32 matmul precision setting (include/ag.h, "Precision"): per thread, default
 * HIGHEST, and the process-wide choice of bf16 path it maps to (runtime/precision.h).
 * ag_matmul_backend, which also needs the GEMM's ISA, is in ops/kernels/gemm.c. */
#include "runtime/precision.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local ag_precision t_precision = AG_PRECISION_HIGHEST;

void ag_set_float32_matmul_precision(ag_precision p) {
    if (p == AG_PRECISION_HIGHEST || p == AG_PRECISION_HIGH || p == AG_PRECISION_MEDIUM)
        t_precision = p;
}

ag_precision ag_get_float32_matmul_precision(void) { return t_precision; }

ag_precision ag__precision_swap(ag_precision p) {
    ag_precision old = t_precision;
    ag_set_float32_matmul_precision(p);
    return old;
}

enum { PATH_UNSET = -1 };
static int g_path = PATH_UNSET; /* __atomic: a benign race on the first read */

/* No bf16 arithmetic kernel is built yet (AMX, AVX512-BF16): MEDIUM and HIGH run as fp32
 * unless AG_MATMUL_BF16=emulate asks for the emulated bf16 numerics. */
static int path_resolve(void) {
    const char *e = getenv("AG_MATMUL_BF16");
    return e && strcmp(e, "emulate") == 0 ? AG_BF16_EMULATE : AG_BF16_OFF;
}

int ag__bf16_path(void) {
    int p = __atomic_load_n(&g_path, __ATOMIC_ACQUIRE);
    if (p == PATH_UNSET) {
        p = path_resolve();
        __atomic_store_n(&g_path, p, __ATOMIC_RELEASE);
    }
    return p;
}

int ag__bf16_set_path(int path) {
    int old = ag__bf16_path();
    if (path == AG_BF16_OFF || path == AG_BF16_EMULATE)
        __atomic_store_n(&g_path, path, __ATOMIC_RELEASE);
    return old;
}

int ag__gemm_bf16_split(void) {
    if (t_precision == AG_PRECISION_HIGHEST || ag__bf16_path() == AG_BF16_OFF) return 0;
    return t_precision == AG_PRECISION_MEDIUM ? 1 : 3;
}
