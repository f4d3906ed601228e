/* Internal: the float32 matmul precision (include/ag.h, "Precision") as the GEMM sees it.
 * The setting is per thread; code that runs GEMMs on pool workers hands the caller's
 * setting to each worker with ag__precision_swap (set at the top of the loop body,
 * restored at its end), since a worker's thread-local value is its own. */
#ifndef AG_RUNTIME_PRECISION_H
#define AG_RUNTIME_PRECISION_H

#include "ag.h"

/* Sets this thread's precision to p and returns the previous one. */
ag_precision ag__precision_swap(ag_precision p);

/* How a float32 GEMM computes on this thread now: 0 = fp32 (HIGHEST, or MEDIUM/HIGH on a
 * machine with no bf16 path in use), 1 = operands rounded to bf16 (MEDIUM), 3 = bf16x3
 * (HIGH: hi·hi + hi·lo + lo·hi). */
int ag__gemm_bf16_split(void);

/* Which bf16 path MEDIUM and HIGH take: AG_BF16_OFF runs them as fp32 (the default where
 * the CPU has no bf16 arithmetic, as torch does); AG_BF16_EMULATE rounds operands while
 * packing and multiplies them with the fp32 micro-kernel (exactly the bf16 products with
 * fp32 accumulation, on any CPU).  The first use reads AG_MATMUL_BF16=off|emulate. */
enum ag_bf16_path { AG_BF16_OFF, AG_BF16_EMULATE };
/* Forces a path (for tests and benchmarks); returns the previous one.  Process-wide. */
int ag__bf16_set_path(int path);
int ag__bf16_path(void);

#endif
