/* Internal: element-wise iteration over strided, broadcast inputs into a contiguous output.
 * A row kernel does the innermost dimension with per-input element strides (0 when
 * broadcast); the iterator walks the outer dimensions. Contiguous same-shape inputs
 * become one flat row split into fixed chunks over threads. */
#ifndef AG_ITER_H
#define AG_ITER_H

#include "ops/ops.h"

typedef void (*ag_row1_fn)(char *z, const char *x, int64_t sx, int64_t n, const void *args);
typedef void (*ag_row2_fn)(char *z, const char *x, int64_t sx, const char *y, int64_t sy,
                           int64_t n, const void *args);
typedef void (*ag_row3_fn)(char *z, const char *x, int64_t sx, const char *y, int64_t sy,
                           const char *w, int64_t sw, int64_t n, const void *args);

/* out (contiguous) = row(in...) over out's shape; inputs broadcast to it. */
void ag__map1(ag_tensor *out, const ag_tensor *a, ag_row1_fn row, const void *args);
void ag__map2(ag_tensor *out, const ag_tensor *a, const ag_tensor *b, ag_row2_fn row,
              const void *args);
void ag__map3(ag_tensor *out, const ag_tensor *a, const ag_tensor *b, const ag_tensor *c,
              ag_row3_fn row, const void *args);

/* Row kernels from an expression in a (and b, c), one per element type. The names are
 * spelled out in full at each use, so grep finds them. */
#define AG_ROW1(name, T, expr)                                                        \
    static void name(char *z_, const char *x_, int64_t sx, int64_t n, const void *args) { \
        (void)args;                                                                   \
        T *z = (T *)(void *)z_;                                                       \
        const T *x = (const T *)(const void *)x_;                                     \
        if (sx == 1)                                                                  \
            for (int64_t i = 0; i < n; i++) { T a = x[i]; z[i] = (expr); }            \
        else                                                                          \
            for (int64_t i = 0; i < n; i++) { T a = x[i * sx]; z[i] = (expr); }       \
    }
#define AG_ROW2(name, T, expr)                                                        \
    static void name(char *z_, const char *x_, int64_t sx, const char *y_, int64_t sy, \
                     int64_t n, const void *args) {                                   \
        (void)args;                                                                   \
        T *z = (T *)(void *)z_;                                                       \
        const T *x = (const T *)(const void *)x_, *y = (const T *)(const void *)y_;   \
        if (sx == 1 && sy == 1)                                                       \
            for (int64_t i = 0; i < n; i++) { T a = x[i], b = y[i]; z[i] = (expr); }  \
        else if (sx == 1 && sy == 0)                                                  \
            for (int64_t i = 0; i < n; i++) { T a = x[i], b = y[0]; z[i] = (expr); }  \
        else if (sx == 0 && sy == 1)                                                  \
            for (int64_t i = 0; i < n; i++) { T a = x[0], b = y[i]; z[i] = (expr); }  \
        else                                                                          \
            for (int64_t i = 0; i < n; i++) {                                         \
                T a = x[i * sx], b = y[i * sy];                                       \
                z[i] = (expr);                                                        \
            }                                                                         \
    }

#endif
