/* Internal: which instruction sets this CPU runs, asked at run time. Kernels compiled with
 * ISA flags (the ops/kernels files named _avx2.c, _avx512.c) run only where these say so. */
#ifndef AG_RUNTIME_CPU_H
#define AG_RUNTIME_CPU_H

#include <stdbool.h>

enum ag_isa { AG_ISA_SCALAR, AG_ISA_AVX2, AG_ISA_AVX512, AG_ISA_COUNT };

/* True when the CPU runs the kernels of isa: AVX2 means AVX2 + FMA; AVX512 means
 * AVX-512 F, DQ, BW, VL + AVX2 + FMA; scalar always. */
bool ag__cpu_has(enum ag_isa isa);
/* "scalar", "avx2", "avx512" (the names AG_ISA accepts). */
const char *ag__isa_name(enum ag_isa isa);
/* The isa named s, or -1 when s is NULL or names none. */
int ag__isa_from_name(const char *s);

#endif
