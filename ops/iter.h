/* Internal: element-wise iteration over strided, broadcast inputs into a contiguous output.
 * A row kernel does the innermost dimension with per-input element strides (0 when
 * broadcast); the iterator walks the outer dimensions. Contiguous same-shape inputs
 * become one flat row split into fixed chunks over threads. */
#ifndef AG_ITER_H
#define AG_ITER_H

#include "ops/ops.h"

typedef void (*ag_row1_fn)(char *z, const char *x, int64_t sx, int64_t n, const void *args);
typedef void (*ag_row2_fn)(char *z, const char *x, int64_t sx, const char *y, int64_t sy, int64_t n,
                           const void *args);
typedef void (*ag_row3_fn)(char *z, const char *x, int64_t sx, const char *y, int64_t sy,
                           const char *w, int64_t sw, int64_t n, const void *args);

/* out (contiguous) = row(in...) over out's shape; inputs broadcast to it. */
void ag__map1(ag_tensor *out, const ag_tensor *a, ag_row1_fn row, const void *args);
void ag__map2(ag_tensor *out, const ag_tensor *a, const ag_tensor *b, ag_row2_fn row,
              const void *args);
void ag__map3(ag_tensor *out, const ag_tensor *a, const ag_tensor *b, const ag_tensor *c,
              ag_row3_fn row, const void *args);

/* Row kernels from an expression in a (and b, c), one per element type; the _ARGS forms
 * also see `p`, a local copy of the op's argument struct of type A. The names are spelled
 * out in full at each use, so grep finds them. The contiguous path runs in blocks of 16
 * through a restrict-qualified helper with a fixed trip count: gcc 12 at -O2 (its
 * "very cheap" cost model) vectorizes only such loops, not ones needing an epilogue or an
 * alias check. Outputs never alias inputs (ops write fresh tensors). */
#define AG_ROW_BLOCK 16
#define AG_ROW1_ARGS(name, T, A, expr)                                                     \
    static inline void name##_blk(T *restrict z, const T *restrict x, const A *pp) {       \
        const A p = *pp;                                                                   \
        (void)p;                                                                           \
        for (int i = 0; i < AG_ROW_BLOCK; i++) {                                           \
            T a = x[i];                                                                    \
            z[i] = (expr);                                                                 \
        }                                                                                  \
    }                                                                                      \
    static void name(char *z_, const char *x_, int64_t sx, int64_t n, const void *args) {  \
        const A p = args ? *(const A *)args : (A){0};                                      \
        (void)p;                                                                           \
        T *z = (T *)(void *)z_;                                                            \
        const T *x = (const T *)(const void *)x_;                                          \
        int64_t i = 0;                                                                     \
        if (sx == 1) {                                                                     \
            for (; i + AG_ROW_BLOCK <= n; i += AG_ROW_BLOCK) name##_blk(z + i, x + i, &p); \
            for (; i < n; i++) {                                                           \
                T a = x[i];                                                                \
                z[i] = (expr);                                                             \
            }                                                                              \
        } else {                                                                           \
            for (; i < n; i++) {                                                           \
                T a = x[i * sx];                                                           \
                z[i] = (expr);                                                             \
            }                                                                              \
        }                                                                                  \
    }
#define AG_ROW2_ARGS(name, T, A, expr)                                                            \
    static inline void name##_blk(T *restrict z, const T *restrict x, const T *restrict y,        \
                                  const A *pp) {                                                  \
        const A p = *pp;                                                                          \
        (void)p;                                                                                  \
        for (int i = 0; i < AG_ROW_BLOCK; i++) {                                                  \
            T a = x[i], b = y[i];                                                                 \
            z[i] = (expr);                                                                        \
        }                                                                                         \
    }                                                                                             \
    static void name(char *z_, const char *x_, int64_t sx, const char *y_, int64_t sy, int64_t n, \
                     const void *args) {                                                          \
        const A p = args ? *(const A *)args : (A){0};                                             \
        (void)p;                                                                                  \
        T *z = (T *)(void *)z_;                                                                   \
        const T *x = (const T *)(const void *)x_, *y = (const T *)(const void *)y_;               \
        int64_t i = 0;                                                                            \
        if (sx == 1 && sy == 1) {                                                                 \
            for (; i + AG_ROW_BLOCK <= n; i += AG_ROW_BLOCK) name##_blk(z + i, x + i, y + i, &p); \
            for (; i < n; i++) {                                                                  \
                T a = x[i], b = y[i];                                                             \
                z[i] = (expr);                                                                    \
            }                                                                                     \
        } else if (sx == 1 && sy == 0) {                                                          \
            for (; i < n; i++) {                                                                  \
                T a = x[i], b = y[0];                                                             \
                z[i] = (expr);                                                                    \
            }                                                                                     \
        } else if (sx == 0 && sy == 1) {                                                          \
            for (; i < n; i++) {                                                                  \
                T a = x[0], b = y[i];                                                             \
                z[i] = (expr);                                                                    \
            }                                                                                     \
        } else {                                                                                  \
            for (; i < n; i++) {                                                                  \
                T a = x[i * sx], b = y[i * sy];                                                   \
                z[i] = (expr);                                                                    \
            }                                                                                     \
        }                                                                                         \
    }
/* Argument-less forms. */
struct ag_row_noargs {
    char unused;
};
#define AG_ROW1(name, T, expr) AG_ROW1_ARGS(name, T, struct ag_row_noargs, expr)
#define AG_ROW2(name, T, expr) AG_ROW2_ARGS(name, T, struct ag_row_noargs, expr)

/* A forward kernel `fname` that maps the row kernels over in[0] (and in[1]), the f32 or
 * f64 one by out's dtype, with the op's args. */
#define AG_MAP1_FORWARD(fname, row_f32, row_f64)                                    \
    static int fname(ag_tensor *out, ag_tensor *const *in, int n, const void *args, \
                     ag_tensor **saved) {                                           \
        (void)n, (void)saved;                                                       \
        ag__map1(out, in[0], out->dtype == AG_F32 ? row_f32 : row_f64, args);       \
        return AG_OK;                                                               \
    }
#define AG_MAP2_FORWARD(fname, row_f32, row_f64)                                     \
    static int fname(ag_tensor *out, ag_tensor *const *in, int n, const void *args,  \
                     ag_tensor **saved) {                                            \
        (void)n, (void)saved;                                                        \
        ag__map2(out, in[0], in[1], out->dtype == AG_F32 ? row_f32 : row_f64, args); \
        return AG_OK;                                                                \
    }

/* ---- ops/copy.c: strided copies that select and combine (slice, cat, index ops).
 * dst[...] = src[...] (or += when add) over shape, both with element strides; any dtype
 * (int64 copies only). */
void ag__copy_strided(ag_dtype dt, char *dst, const int64_t *ds, const char *src, const int64_t *ss,
                      int ndim, const int64_t *shape, bool add);
/* Copies (or adds) t into the contiguous out's region starting at element `at` along dim,
 * with stride `step` along dim. */
void ag__place(ag_tensor *out, const ag_tensor *t, int dim, int64_t at, int64_t step, bool add);

#endif
