/* safetensors: u64 little-endian header length, a JSON header
 *   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * (padded with spaces to 8 bytes), then the raw little-endian data. The reader parses the
 * JSON with a small recursive-descent parser; every malformed file gives an error naming
 * the file and the byte offset. */
#include "nn/nn.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

static const char *dtype_code(ag_dtype d) { return d == AG_F32 ? "F32" : d == AG_F64 ? "F64" : "I64"; }

int ag_save_safetensors(const char *path, int n, ag_tensor *const *tensors,
                        const char *const *names) {
    const char *fn = "ag_save_safetensors";
    if (!path || n < 0 || (n && (!tensors || !names)))
        return ag__error(AG_ERR_NULL, fn, "needs a path, tensors and names");
    size_t cap = 256 + (size_t)n * 160, len = 0, off = 0;
    for (int i = 0; i < n; i++) cap += names[i] ? strlen(names[i]) : 0;
    char *h = malloc(cap);
    if (!h) return ag__error(AG_ERR_NOMEM, fn, "out of memory");
    len += (size_t)snprintf(h + len, cap - len, "{");
    for (int i = 0; i < n; i++) {
        ag_tensor *t = tensors[i];
        if (!t || !names[i] || strpbrk(names[i], "\"\\")) {
            free(h);
            return ag__error(AG_ERR_ARG, fn, "entry %d: a tensor and a name without quotes "
                             "or backslashes are needed", i);
        }
        size_t bytes = (size_t)t->numel * ag_dtype_size(t->dtype);
        len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                                i ? "," : "", names[i], dtype_code(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            len += (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8) h[len++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(h);
        return ag__error(AG_ERR_IO, fn, "%s: cannot open for writing: %s", path, strerror(errno));
    }
    uint64_t hl = len;
    bool ok = fwrite(&hl, 8, 1, f) == 1 && fwrite(h, 1, len, f) == len;
    free(h);
    for (int i = 0; i < n && ok; i++) {
        ag_tensor *c = ag_contiguous(ag_detach(tensors[i]));   /* scoped copies when strided */
        size_t bytes = (size_t)tensors[i]->numel * ag_dtype_size(tensors[i]->dtype);
        ok = c && fwrite(ag__ptr(c), 1, bytes, f) == bytes;
    }
    if (fclose(f) || !ok) return ag__error(AG_ERR_IO, fn, "%s: write failed", path);
    return AG_OK;
}

/* ------------------------------------------------------------------ reading */
struct entry {
    char name[256];
    ag_dtype dtype;
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    uint64_t begin, end;
};

struct parser {
    const char *s;
    size_t pos, len;
    const char *path, *fn;
    int err;
};

static int fail(struct parser *p, const char *what) {
    if (!p->err)
        p->err = ag__error(AG_ERR_IO, p->fn, "%s: byte %zu: %s", p->path, p->pos + 8, what);
    return p->err;
}

static void ws(struct parser *p) {
    while (p->pos < p->len && isspace((unsigned char)p->s[p->pos])) p->pos++;
}

static bool eat(struct parser *p, char c) {
    ws(p);
    if (p->pos < p->len && p->s[p->pos] == c) {
        p->pos++;
        return true;
    }
    return false;
}

static int string(struct parser *p, char *out, size_t cap) {
    if (!eat(p, '"')) return fail(p, "expected a string");
    size_t k = 0;
    while (p->pos < p->len && p->s[p->pos] != '"') {
        if (p->s[p->pos] == '\\') p->pos++;
        if (out && k + 1 < cap) out[k++] = p->s[p->pos];
        p->pos++;
    }
    if (out) out[k] = 0;
    if (p->pos >= p->len) return fail(p, "unterminated string");
    p->pos++;
    return AG_OK;
}

static int number(struct parser *p, uint64_t *v) {
    ws(p);
    if (p->pos >= p->len || !isdigit((unsigned char)p->s[p->pos])) return fail(p, "expected a number");
    uint64_t x = 0;
    while (p->pos < p->len && isdigit((unsigned char)p->s[p->pos])) {
        if (x > UINT64_MAX / 16) return fail(p, "number too large");
        x = x * 10 + (uint64_t)(p->s[p->pos++] - '0');
    }
    *v = x;
    return AG_OK;
}

static int skip_value(struct parser *p, int depth) {
    ws(p);
    if (depth > 16) return fail(p, "nesting too deep");
    if (p->pos >= p->len) return fail(p, "unexpected end of header");
    char c = p->s[p->pos];
    if (c == '"') return string(p, NULL, 0);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        p->pos++;
        if (eat(p, close)) return AG_OK;
        do {
            if (c == '{' && (string(p, NULL, 0) || (!eat(p, ':') && fail(p, "expected ':'"))))
                return p->err;
            if (skip_value(p, depth + 1)) return p->err;
        } while (eat(p, ','));
        return eat(p, close) ? AG_OK : fail(p, "expected ',' or a closing bracket");
    }
    while (p->pos < p->len && (isalnum((unsigned char)c) || c == '-' || c == '.' || c == '+'))
        c = p->s[++p->pos];
    return AG_OK;
}

static int int_array(struct parser *p, uint64_t *v, int max, int *n) {
    if (!eat(p, '[')) return fail(p, "expected '['");
    *n = 0;
    if (eat(p, ']')) return AG_OK;
    do {
        if (*n == max) return fail(p, "too many numbers");
        if (number(p, &v[(*n)++])) return p->err;
    } while (eat(p, ','));
    return eat(p, ']') ? AG_OK : fail(p, "expected ']'");
}

static int entry_body(struct parser *p, struct entry *e) {
    bool has_dtype = false, has_shape = false, has_off = false;
    if (!eat(p, '{')) return fail(p, "expected '{' for a tensor entry");
    do {
        char key[32], val[16];
        if (string(p, key, sizeof key) || (!eat(p, ':') && fail(p, "expected ':'"))) return p->err;
        if (!strcmp(key, "dtype")) {
            if (string(p, val, sizeof val)) return p->err;
            if (!strcmp(val, "F32")) e->dtype = AG_F32;
            else if (!strcmp(val, "F64")) e->dtype = AG_F64;
            else if (!strcmp(val, "I64")) e->dtype = AG_I64;
            else return fail(p, "unsupported dtype (F32, F64, I64 are read)");
            has_dtype = true;
        } else if (!strcmp(key, "shape")) {
            uint64_t v[AG_MAX_DIMS];
            if (int_array(p, v, AG_MAX_DIMS, &e->ndim)) return p->err;
            for (int d = 0; d < e->ndim; d++) e->shape[d] = (int64_t)v[d];
            has_shape = true;
        } else if (!strcmp(key, "data_offsets")) {
            uint64_t v[2];
            int n;
            if (int_array(p, v, 2, &n)) return p->err;
            if (n != 2 || v[1] < v[0]) return fail(p, "data_offsets must be [begin, end]");
            e->begin = v[0];
            e->end = v[1];
            has_off = true;
        } else if (skip_value(p, 1)) {
            return p->err;
        }
    } while (eat(p, ','));
    if (!eat(p, '}')) return fail(p, "expected '}' closing a tensor entry");
    if (!has_dtype || !has_shape || !has_off) return fail(p, "entry lacks dtype, shape or data_offsets");
    return AG_OK;
}

/* Reads the whole file; fills entries (malloc'ed) and data (points into *file). */
static int read_file(const char *path, const char *fn, char **file, struct entry **entries,
                     int *n, const unsigned char **data, uint64_t *data_len) {
    *file = NULL;
    *entries = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ag__error(AG_ERR_IO, fn, "%s: cannot open: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = size > 0 ? malloc((size_t)size) : NULL;
    bool ok = buf && fread(buf, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    if (!ok) {
        free(buf);
        return ag__error(AG_ERR_IO, fn, "%s: cannot read (%ld bytes)", path, size);
    }
    *file = buf;
    uint64_t hl;
    if (size < 8) return ag__error(AG_ERR_IO, fn, "%s: truncated at byte %ld (no header length)", path, size);
    memcpy(&hl, buf, 8);
    if (hl > (uint64_t)size - 8)
        return ag__error(AG_ERR_IO, fn, "%s: byte 0: header length %llu runs past the end (%ld bytes)",
                         path, (unsigned long long)hl, size);
    struct parser p = {buf + 8, 0, (size_t)hl, path, fn, 0};
    int cap = 16;
    struct entry *e = malloc(sizeof *e * (size_t)cap);
    *entries = e;
    if (!e) return ag__error(AG_ERR_NOMEM, fn, "out of memory");
    if (!eat(&p, '{')) return fail(&p, "header is not a JSON object");
    if (!eat(&p, '}')) do {
        if (*n == cap) {
            struct entry *g = realloc(*entries, sizeof *g * (size_t)(cap *= 2));
            if (!g) return ag__error(AG_ERR_NOMEM, fn, "out of memory");
            *entries = g;
        }
        struct entry *x = &(*entries)[*n];
        memset(x, 0, sizeof *x);
        if (string(&p, x->name, sizeof x->name) || (!eat(&p, ':') && fail(&p, "expected ':'")))
            return p.err;
        if (!strcmp(x->name, "__metadata__")) {
            if (skip_value(&p, 0)) return p.err;
            continue;
        }
        if (entry_body(&p, x)) return p.err;
        uint64_t numel = 1;
        for (int d = 0; d < x->ndim; d++) numel *= (uint64_t)x->shape[d];
        if (x->end - x->begin != numel * ag_dtype_size(x->dtype))
            return fail(&p, "data_offsets do not match the shape and dtype");
        if (x->end > (uint64_t)size - 8 - hl)
            return fail(&p, "data_offsets run past the end of the file");
        (*n)++;
    } while (eat(&p, ','));
    if (!p.err && !eat(&p, '}')) fail(&p, "expected ',' or '}'");
    *data = (const unsigned char *)buf + 8 + hl;
    *data_len = (uint64_t)size - 8 - hl;
    return p.err;
}

ag_tensor *ag_load_safetensors_tensor(const char *path, const char *name) {
    const char *fn = "ag_load_safetensors_tensor";
    if (!path || !name) {
        ag__error(AG_ERR_NULL, fn, "path and name must not be NULL");
        return NULL;
    }
    char *file;
    struct entry *e;
    int n;
    const unsigned char *data;
    uint64_t dl;
    ag_tensor *t = NULL;
    if (!read_file(path, fn, &file, &e, &n, &data, &dl)) {
        int i = 0;
        while (i < n && strcmp(e[i].name, name)) i++;
        if (i == n) ag__error(AG_ERR_ARG, fn, "%s: no tensor named '%s'", path, name);
        else if ((t = ag__empty(e[i].dtype, e[i].ndim, e[i].shape, fn)))
            memcpy(ag__ptr(t), data + e[i].begin, e[i].end - e[i].begin);
    }
    free(e);
    free(file);
    return t;
}

int ag_model_save(ag_model *m, const char *path) {
    if (!m) return ag__error(AG_ERR_NULL, "ag_model_save", "model is NULL");
    ag_tensor **t;
    char **names;
    int n = ag__model_state(m, &t, &names);
    if (n < 0) return -n;
    ag_scope_begin();
    int rc = ag_save_safetensors(path, n, t, (const char *const *)names);
    ag_scope_end();
    ag__state_free(n, t, names);
    return rc;
}

int ag_model_load(ag_model *m, const char *path) {
    const char *fn = "ag_model_load";
    if (!m || !path) return ag__error(AG_ERR_NULL, fn, "model and path must not be NULL");
    char *file;
    struct entry *e;
    int ne;
    const unsigned char *data;
    uint64_t dl;
    int rc = read_file(path, fn, &file, &e, &ne, &data, &dl);
    ag_tensor **t = NULL;
    char **names = NULL;
    int n = rc ? 0 : ag__model_state(m, &t, &names);
    if (n < 0) rc = -n;
    for (int k = 0; k < n && !rc; k++) {   /* check everything before changing anything */
        int i = 0;
        while (i < ne && strcmp(e[i].name, names[k])) i++;
        if (i == ne) rc = ag__error(AG_ERR_ARG, fn, "%s: no tensor named '%s'", path, names[k]);
        else if (e[i].dtype != t[k]->dtype || e[i].ndim != t[k]->ndim ||
                 memcmp(e[i].shape, t[k]->shape, sizeof(int64_t) * (size_t)e[i].ndim))
            rc = ag__error(AG_ERR_SHAPE, fn, "%s: '%s' is %s %s in the file, %s %s in the model",
                           path, names[k], ag_dtype_name(e[i].dtype),
                           ag__shape_str(e[i].ndim, e[i].shape), ag_dtype_name(t[k]->dtype),
                           AG_SHAPE(t[k]));
    }
    for (int k = 0; k < n && !rc; k++) {
        int i = 0;
        while (strcmp(e[i].name, names[k])) i++;
        memcpy(ag__ptr(t[k]), data + e[i].begin, e[i].end - e[i].begin);
    }
    ag__state_free(n, t, names);
    free(e);
    free(file);
    return rc;
}
