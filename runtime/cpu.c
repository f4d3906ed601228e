/* CPU feature detection (gcc's __builtin_cpu_supports, which reads CPUID once). */
#include "runtime/cpu.h"

#include <cpuid.h>
#include <stdint.h>
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

/* XCR0: which register states the OS saves (0 without OSXSAVE). */
static uint64_t xcr0(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

bool ag__cpu_has_avx512_bf16(void) {
    unsigned a, b, c, d;
    if (!ag__cpu_has(AG_ISA_AVX512) || !__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
    return (a >> 5) & 1;
}

bool ag__cpu_has_amx_bf16(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    bool cpu = (d >> 22 & 1) && (d >> 24 & 1);             /* AMX-BF16, AMX-TILE */
    return cpu && (xcr0() & (3ull << 17)) == (3ull << 17); /* XTILECFG, XTILEDATA */
}
