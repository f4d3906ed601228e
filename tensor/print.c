/* ag_print / ag_snprint: torch 1.13's repr (torch/_tensor_str.py) for the values, with
 * the dtype and shape always spelled out:
 *
 *     tensor([[1., 2.],
 *             [3., 4.]], dtype=float64, shape=[2,2])
 *
 * Same rules as torch's default print options: precision 4, fixed or scientific chosen
 * from the shown values, integer-valued floats as "1.", line width 80, and more than 1000
 * elements summarized with the first and last 3 entries of each dim around "...".
 * Then requires_grad=True (a leaf) or grad_fn=<op> (a result of a recorded op). */
#include "tensor/tensor.h"

#include <math.h>
#include <string.h>

#define PRECISION 4
#define LINEWIDTH 80
#define EDGE 3
#define THRESHOLD 1000

struct sbuf {
    char *p;
    size_t n, cap;
    bool failed;
};

static void put_str(struct sbuf *b, const char *s, size_t len) {
    if (b->failed) return;
    if (b->n + len + 1 > b->cap) {
        size_t c = b->cap ? 2 * b->cap : 256;
        while (c < b->n + len + 1) c *= 2;
        char *q = ag__realloc(b->p, c);
        if (!q) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}
static void puts_(struct sbuf *b, const char *s) { put_str(b, s, strlen(s)); }
static void spaces(struct sbuf *b, int n) {
    for (int i = 0; i < n; i++) put_str(b, " ", 1);
}

struct printer {
    const ag_tensor *t;
    bool summarize;
    bool int_mode, sci_mode; /* float formatting (torch's _Formatter) */
    int width;
    bool any; /* a nonzero finite value was seen */
    double amin, amax;
    struct sbuf out;
};

static double value_at(const ag_tensor *t, int64_t off) {
    return ag__load(t->storage->data, t->dtype, off);
}

/* value in torch's form without padding; returns its length. */
static int raw_format(const struct printer *P, int64_t off, char *s, size_t n) {
    const ag_tensor *t = P->t;
    if (t->dtype == AG_I64)
        return snprintf(s, n, "%lld", (long long)((const int64_t *)t->storage->data)[off]);
    if (t->dtype == AG_U8) return snprintf(s, n, "%d", ((const uint8_t *)t->storage->data)[off]);
    double v = value_at(t, off);
    if (isnan(v)) return snprintf(s, n, "nan");
    if (isinf(v)) return snprintf(s, n, v > 0 ? "inf" : "-inf");
    if (P->sci_mode) return snprintf(s, n, "%.*e", PRECISION, v);
    if (P->int_mode) return snprintf(s, n, "%.0f.", v);
    return snprintf(s, n, "%.*f", PRECISION, v);
}

/* Calls see(P, offset) for every element that will be shown, in order. */
static void walk_shown(struct printer *P, int d, int64_t off,
                       void (*see)(struct printer *, int64_t)) {
    const ag_tensor *t = P->t;
    if (d == t->ndim) {
        see(P, off);
        return;
    }
    int64_t n = t->shape[d];
    bool cut = P->summarize && n > 2 * EDGE;
    for (int64_t i = 0; i < n; i++) {
        if (cut && i == EDGE) i = n - EDGE;
        walk_shown(P, d + 1, off + i * t->strides[d], see);
    }
}

static void see_stats(struct printer *P, int64_t off) {
    double v = value_at(P->t, off);
    if (!ag__is_float(P->t->dtype) || !isfinite(v) || v == 0) return;
    double a = fabs(v);
    if (!P->any || a < P->amin) P->amin = a;
    if (!P->any || a > P->amax) P->amax = a;
    P->any = true;
    if (v != ceil(v)) P->int_mode = false;
}

static void see_width(struct printer *P, int64_t off) {
    char s[64];
    double v = value_at(P->t, off);
    if (ag__is_float(P->t->dtype) && (!isfinite(v) || v == 0))
        return; /* torch: nonzero finite only */
    int w = raw_format(P, off, s, sizeof s);
    if (w > P->width) P->width = w;
}

static void make_formatter(struct printer *P) {
    P->int_mode = true;
    P->width = 1;
    walk_shown(P, 0, P->t->offset, see_stats);
    if (ag__is_float(P->t->dtype)) {
        if (!P->any) return; /* no nonzero finite value: "0.", "nan", unpadded */
        double ratio = P->amax / P->amin;
        P->sci_mode = ratio > 1000. || P->amax > 1.e8 || (!P->int_mode && P->amin < 1.e-4);
    }
    walk_shown(P, 0, P->t->offset, see_width);
}

static void emit_value(struct printer *P, int64_t off) {
    char s[64];
    int len = raw_format(P, off, s, sizeof s);
    spaces(&P->out, P->width - len);
    put_str(&P->out, s, (size_t)len);
}

/* torch's _vector_str: elements wrapped to the line width. */
static void emit_vector(struct printer *P, int64_t off, int indent) {
    const ag_tensor *t = P->t;
    int d = t->ndim - 1;
    int64_t n = t->shape[d];
    bool cut = P->summarize && n > 2 * EDGE;
    int per_line = (LINEWIDTH - indent) / (P->width + 2);
    if (per_line < 1) per_line = 1;
    puts_(&P->out, "[");
    int64_t shown = 0;
    for (int64_t i = 0; i < n; i++, shown++) {
        if (shown) {
            puts_(&P->out, ",");
            if (shown % per_line == 0) {
                puts_(&P->out, "\n");
                spaces(&P->out, indent + 1);
            } else {
                puts_(&P->out, " ");
            }
        }
        if (cut && i == EDGE) {
            puts_(&P->out, " ...");
            i = n - EDGE - 1;
            continue;
        }
        emit_value(P, off + i * t->strides[d]);
    }
    puts_(&P->out, "]");
}

/* torch's _tensor_str_with_formatter. */
static void emit(struct printer *P, int d, int64_t off, int indent) {
    const ag_tensor *t = P->t;
    if (d == t->ndim - 1) {
        emit_vector(P, off, indent);
        return;
    }
    int64_t n = t->shape[d];
    bool cut = P->summarize && n > 2 * EDGE;
    puts_(&P->out, "[");
    for (int64_t i = 0; i < n; i++) {
        if (i) {
            puts_(&P->out, ",");
            for (int k = 0; k < t->ndim - d - 1; k++) puts_(&P->out, "\n");
            spaces(&P->out, indent + 1);
        }
        if (cut && i == EDGE) {
            puts_(&P->out, "...");
            i = n - EDGE - 1;
            continue;
        }
        emit(P, d + 1, off + i * t->strides[d], indent + 1);
    }
    puts_(&P->out, "]");
}

/* torch's _add_suffixes: ", suffix" while the last line fits in 80 columns. */
static void add_suffix(struct sbuf *b, const char *suffix, int indent) {
    const char *nl = b->p ? strrchr(b->p, '\n') : NULL;
    size_t last = nl ? (size_t)(b->p + b->n - nl) : b->n + 2; /* len - rfind + 1 */
    if (last + strlen(suffix) + 2 > LINEWIDTH) {
        puts_(b, ",\n");
        spaces(b, indent);
    } else {
        puts_(b, ", ");
    }
    puts_(b, suffix);
}

/* The repr in a malloc'ed string (NULL when out of memory). */
static char *repr(const ag_tensor *t) {
    struct printer P = {.t = t, .summarize = t->numel > THRESHOLD};
    const int indent = 7; /* strlen("tensor(") */
    puts_(&P.out, "tensor(");
    if (t->numel == 0) {
        puts_(&P.out, "[]");
    } else {
        make_formatter(&P);
        if (t->ndim == 0) emit_value(&P, t->offset);
        else emit(&P, 0, t->offset, indent);
    }
    char s[200];
    snprintf(s, sizeof s, "dtype=%s", ag_dtype_name(t->dtype));
    add_suffix(&P.out, s, indent);
    snprintf(s, sizeof s, "shape=%s", AG_SHAPE(t));
    add_suffix(&P.out, s, indent);
    if (t->node) {
        snprintf(s, sizeof s, "grad_fn=<%s>", ag__node_hooks()->op_name(t->node));
        add_suffix(&P.out, s, indent);
    } else if (t->requires_grad) {
        add_suffix(&P.out, "requires_grad=True", indent);
    }
    puts_(&P.out, ")");
    if (P.out.failed) {
        free(P.out.p);
        return NULL;
    }
    return P.out.p;
}

/* Writes t's repr (or "NULL") into buf like snprintf: at most size bytes with the
 * terminating 0; returns the full length, or -1 when out of memory. */
int ag_snprint(char *buf, size_t size, const ag_tensor *t) {
    if (!t) return snprintf(buf, size, "NULL");
    char *s = repr(t);
    if (!s)
        return ag__error(AG_ERR_NOMEM, "ag_snprint", "out of memory printing %s", AG_SHAPE(t)), -1;
    int n = snprintf(buf, size, "%s", s);
    free(s);
    return n;
}

/* Prints t's repr and a newline to stdout. */
void ag_print(const ag_tensor *t) {
    char *s = t ? repr(t) : NULL;
    printf("%s\n", s ? s : "NULL");
    free(s);
}
