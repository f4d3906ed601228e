/* CPU feature detection (gcc's __builtin_cpu_supports, which reads CPUID once). */
#include "runtime/cpu.h"

#include <string.h>

static const char *const isa_names[AG_ISA_COUNT] = {"scalar", "avx2", "avx512"};

bool ag__cpu_has(enum ag_isa isa) {
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == AG_ISA_AVX512)
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    if (isa == AG_ISA_AVX2) return avx2;
    return isa == AG_ISA_SCALAR;
}

const char *ag__isa_name(enum ag_isa isa) {
    return isa >= 0 && isa < AG_ISA_COUNT ? isa_names[isa] : "unknown";
}

int ag__isa_from_name(const char *s) {
    for (int i = 0; s && i < AG_ISA_COUNT; i++)
        if (strcmp(s, isa_names[i]) == 0) return i;
    return -1;
}
