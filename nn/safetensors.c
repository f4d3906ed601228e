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

static const char *dtype_code(ag_dtype d) { return ag__dtype_code(d); }

#define NAME_MAX_BYTES 255 /* the reader's limit: the writer refuses what it cannot read */

/* A name the reader takes back unchanged: 1..255 bytes, no quote, backslash or control
 * byte, and not already among names[0..i). */
static bool name_ok(const char *const *names, int i) {
    const char *s = names[i];
    size_t n = s ? strlen(s) : 0;
    if (!n || n > NAME_MAX_BYTES || strpbrk(s, "\"\\")) return false;
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)s[k] < 0x20) return false;
    for (int j = 0; j < i; j++)
        if (!strcmp(names[j], s)) return false;
    return true;
}

/* The tensor's elements in row-major order: straight from storage when contiguous, through
 * a small buffer otherwise. Allocates nothing (so nothing to leak outside scopes). */
static bool write_data(FILE *f, const ag_tensor *t) {
    size_t es = ag_dtype_size(t->dtype);
    if (ag_is_contiguous(t)) return fwrite(ag__ptr(t), es, (size_t)t->numel, f) == (size_t)t->numel;
    unsigned char buf[4096];
    size_t k = 0;
    const unsigned char *base = t->storage->data;
    for (int64_t i = 0; i < t->numel; i++) {
        memcpy(buf + k, base + (size_t)ag__flat_offset(t, i) * es, es);
        if ((k += es) == sizeof buf || i + 1 == t->numel) {
            if (fwrite(buf, 1, k, f) != k) return false;
            k = 0;
        }
    }
    return true;
}

int ag_save_safetensors(const char *path, int n, ag_tensor *const *tensors,
                        const char *const *names) {
    const char *fn = "ag_save_safetensors";
    if (!path || n < 0 || (n && (!tensors || !names)))
        return ag__error(AG_ERR_NULL, fn, "needs a path, tensors and names");
    for (int i = 0; i < n; i++)
        if (!tensors[i] || !name_ok(names, i))
            return ag__error(AG_ERR_ARG, fn,
                             "entry %d: a tensor and a unique name of 1..%d bytes "
                             "without quotes, backslashes or control bytes are needed",
                             i, NAME_MAX_BYTES);
    size_t cap = 256 + (size_t)n * 160, len = 0, off = 0;
    for (int i = 0; i < n; i++) cap += strlen(names[i]);
    char *h = ag__malloc(cap);
    if (!h) return ag__error(AG_ERR_NOMEM, fn, "out of memory");
    len += (size_t)snprintf(h + len, cap - len, "{");
    for (int i = 0; i < n; i++) {
        ag_tensor *t = tensors[i];
        size_t bytes = (size_t)t->numel * ag_dtype_size(t->dtype);
        len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                                i ? "," : "", names[i], dtype_code(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            len += (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "",
                                    (long long)t->shape[d]);
        len +=
            (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
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
    for (int i = 0; i < n && ok; i++) ok = write_data(f, tensors[i]);
    if (fclose(f) || !ok) return ag__error(AG_ERR_IO, fn, "%s: write failed", path);
    return AG_OK;
}

/* ------------------------------------------------------------------ reading
 * Untrusted input, held to what the format's reference implementation accepts: the header
 * one JSON object (whitespace after it only), names unique, every shape's size in range,
 * and the entries' data_offsets tiling the data exactly (no overlap, no gap, nothing
 * after). Strings take JSON's escapes; a name that does not fit 255 bytes is an error. */
struct entry {
    char name[NAME_MAX_BYTES + 1];
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

static int hex4(struct parser *p, unsigned *u) {
    if (p->len - p->pos < 4) return fail(p, "truncated \\u escape");
    *u = 0;
    for (int i = 0; i < 4; i++) {
        int c = tolower((unsigned char)p->s[p->pos]);
        int h = isdigit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (h < 0) return fail(p, "bad \\u escape");
        *u = *u * 16 + (unsigned)h;
        p->pos++;
    }
    return AG_OK;
}

/* One escape after its backslash (p->pos is on the letter) as UTF-8 bytes in o[0..*n). */
static int escape(struct parser *p, char *o, size_t *n) {
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    char c = p->s[p->pos++];
    const char *k = c ? strchr(from, c) : NULL;
    unsigned u, lo;
    *n = 1;
    if (k) return o[0] = to[k - from], AG_OK;
    if (c != 'u') return fail(p, "unknown escape in a string");
    if (hex4(p, &u)) return p->err;
    if (u >= 0xDC00 && u < 0xE000) return fail(p, "lone surrogate in a \\u escape");
    if (u >= 0xD800 && u < 0xDC00) {
        if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
            return fail(p, "lone surrogate in a \\u escape");
        p->pos += 2;
        if (hex4(p, &lo)) return p->err;
        if (lo < 0xDC00 || lo >= 0xE000) return fail(p, "lone surrogate in a \\u escape");
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (u == 0) return fail(p, "\\u0000 in a string");
    if (u < 0x80) return o[0] = (char)u, AG_OK;
    int extra = u < 0x800 ? 1 : u < 0x10000 ? 2 : 3;
    o[0] = (char)(((0xFF00u >> (extra + 1)) & 0xFF) | (u >> (6 * extra))); /* C0, E0, F0 */
    for (int i = 1; i <= extra; i++) o[i] = (char)(0x80 | ((u >> (6 * (extra - i))) & 0x3F));
    *n = (size_t)extra + 1;
    return AG_OK;
}

/* A JSON string into out (cap bytes with its NUL; out may be NULL). *fits (may be NULL)
 * says whether all of it fitted. */
static int string(struct parser *p, char *out, size_t cap, bool *fits) {
    if (!eat(p, '"')) return fail(p, "expected a string");
    size_t k = 0;
    bool all = true;
    while (p->pos < p->len && p->s[p->pos] != '"') {
        char b[4];
        size_t n = 1;
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (c < 0x20) return fail(p, "control byte in a string");
        if (c != '\\') b[0] = (char)c;
        else if (p->pos >= p->len) break;
        else if (escape(p, b, &n)) return p->err;
        if (out && k + n < cap) memcpy(out + k, b, n), k += n;
        else all = false;
    }
    if (out) out[k] = 0;
    if (fits) *fits = all;
    if (p->pos >= p->len) return fail(p, "unterminated string");
    p->pos++;
    return AG_OK;
}

static int number(struct parser *p, uint64_t *v) {
    ws(p);
    if (p->pos >= p->len || !isdigit((unsigned char)p->s[p->pos]))
        return fail(p, "expected a number");
    uint64_t x = 0;
    while (p->pos < p->len && isdigit((unsigned char)p->s[p->pos])) {
        if (x > UINT64_MAX / 16) return fail(p, "number too large");
        x = x * 10 + (uint64_t)(p->s[p->pos++] - '0');
    }
    *v = x;
    return AG_OK;
}

static bool bare_char(char c) {
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '+';
}

static int skip_value(struct parser *p, int depth) {
    ws(p);
    if (depth > 16) return fail(p, "nesting too deep");
    if (p->pos >= p->len) return fail(p, "unexpected end of header");
    char c = p->s[p->pos];
    if (c == '"') return string(p, NULL, 0, NULL);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        p->pos++;
        if (eat(p, close)) return AG_OK;
        do {
            if (c == '{' && (string(p, NULL, 0, NULL) || (!eat(p, ':') && fail(p, "expected ':'"))))
                return p->err;
            if (skip_value(p, depth + 1)) return p->err;
        } while (eat(p, ','));
        return eat(p, close) ? AG_OK : fail(p, "expected ',' or a closing bracket");
    }
    size_t start = p->pos; /* a number, true, false or null */
    while (p->pos < p->len && bare_char(p->s[p->pos])) p->pos++;
    return p->pos > start ? AG_OK : fail(p, "expected a value");
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

static int dtype_value(struct parser *p, ag_dtype *d) {
    char val[16];
    bool fits;
    if (string(p, val, sizeof val, &fits)) return p->err;
    int code = fits ? ag__dtype_from_code(val, strlen(val)) : -1;
    if (code < 0) return fail(p, "unsupported dtype (F32, F64, I64, U8 are read)");
    *d = (ag_dtype)code;
    return AG_OK;
}

/* Shape sizes bounded like ag__check_shape (the product of the non-zero ones), and the
 * offsets spanning exactly numel elements. */
static int entry_sizes(struct parser *p, struct entry *e) {
    uint64_t numel = 1, bound = 1, lim = (uint64_t)INT64_MAX / 8;
    for (int d = 0; d < e->ndim; d++) {
        uint64_t s = e->shape[d] ? (uint64_t)e->shape[d] : 1;
        if (bound > lim / s) return fail(p, "shape too large");
        bound *= s;
        numel *= (uint64_t)e->shape[d];
    }
    if (e->end - e->begin != numel * ag_dtype_size(e->dtype))
        return fail(p, "data_offsets do not match the shape and dtype");
    return AG_OK;
}

static int entry_body(struct parser *p, struct entry *e) {
    bool has_dtype = false, has_shape = false, has_off = false;
    if (!eat(p, '{')) return fail(p, "expected '{' for a tensor entry");
    do {
        char key[32];
        bool fits;
        if (string(p, key, sizeof key, &fits) || (!eat(p, ':') && fail(p, "expected ':'")))
            return p->err;
        if (!fits) key[0] = 0; /* a long key is none of ours: skipped */
        if (!strcmp(key, "dtype")) {
            if (dtype_value(p, &e->dtype)) return p->err;
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
    if (!has_dtype || !has_shape || !has_off)
        return fail(p, "entry lacks dtype, shape or data_offsets");
    return entry_sizes(p, e);
}

/* One "name": {...} pair appended to *entries (or the skipped __metadata__). */
static int header_pair(struct parser *p, struct entry **entries, int *n, int *cap) {
    if (*n == *cap) {
        struct entry *g = ag__realloc(*entries, sizeof *g * (size_t)(*cap *= 2));
        if (!g) return p->err = ag__error(AG_ERR_NOMEM, p->fn, "out of memory");
        *entries = g;
    }
    struct entry *x = &(*entries)[*n];
    bool fits;
    memset(x, 0, sizeof *x);
    if (string(p, x->name, sizeof x->name, &fits)) return p->err;
    if (!fits) return fail(p, "tensor name longer than 255 bytes");
    if (!eat(p, ':')) return fail(p, "expected ':'");
    if (!strcmp(x->name, "__metadata__")) return skip_value(p, 0);
    if (entry_body(p, x)) return p->err;
    (*n)++;
    return AG_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}
static int by_offset(const void *a, const void *b) {
    const struct entry *x = a, *y = b;
    return x->begin != y->begin ? (x->begin > y->begin) - (x->begin < y->begin)
                                : (x->end > y->end) - (x->end < y->end);
}

/* Unique names, and data_offsets tiling [0, data_len) exactly. Sorts e by offset. */
static int check_layout(struct entry *e, int n, uint64_t data_len, const char *path,
                        const char *fn) {
    qsort(e, (size_t)n, sizeof *e, by_name);
    for (int i = 1; i < n; i++)
        if (!strcmp(e[i - 1].name, e[i].name))
            return ag__error(AG_ERR_IO, fn, "%s: header: the name '%s' appears twice", path,
                             e[i].name);
    qsort(e, (size_t)n, sizeof *e, by_offset);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (e[i].begin != at)
            return ag__error(
                AG_ERR_IO, fn,
                "%s: header: '%s' has data_offsets [%llu, %llu]; %s "
                "at %llu",
                path, e[i].name, (unsigned long long)e[i].begin, (unsigned long long)e[i].end,
                e[i].begin < at ? "overlapping data ending" : "a gap: the data before ends",
                (unsigned long long)at);
        at = e[i].end;
    }
    if (at != data_len)
        return ag__error(
            AG_ERR_IO, fn,
            "%s: header: data_offsets %s: the tensors' data ends at "
            "%llu, the file holds %llu bytes of data",
            path, at > data_len ? "run past the end of the file" : "leave bytes unused at the end",
            (unsigned long long)at, (unsigned long long)data_len);
    return AG_OK;
}

/* Parses the header (hl bytes at h) into malloc'ed *entries. */
static int parse_header(const char *h, size_t hl, uint64_t data_len, const char *path,
                        const char *fn, struct entry **entries, int *n) {
    struct parser p = {h, 0, hl, path, fn, 0};
    int cap = 16;
    if (!(*entries = ag__malloc(sizeof **entries * (size_t)cap)))
        return ag__error(AG_ERR_NOMEM, fn, "out of memory");
    if (!eat(&p, '{')) return fail(&p, "header is not a JSON object");
    if (!eat(&p, '}')) {
        do {
            if (header_pair(&p, entries, n, &cap)) return p.err;
        } while (eat(&p, ','));
        if (!eat(&p, '}')) return fail(&p, "expected ',' or '}'");
    }
    ws(&p);
    if (p.pos < p.len) return fail(&p, "bytes after the header's closing '}'");
    return check_layout(*entries, *n, data_len, path, fn);
}

/* Reads the whole file (its size bounds every allocation); fills entries (malloc'ed) and
 * data (points into *file). */
static int read_file(const char *path, const char *fn, char **file, struct entry **entries, int *n,
                     const unsigned char **data, uint64_t *data_len) {
    *file = NULL;
    *entries = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ag__error(AG_ERR_IO, fn, "%s: cannot open: %s", path, strerror(errno));
    long size = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
    char *buf = size > 0 && !fseek(f, 0, SEEK_SET) ? ag__malloc((size_t)size) : NULL;
    bool ok = buf && fread(buf, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    if (size > 0 && !buf)
        return ag__error(AG_ERR_NOMEM, fn, "%s: cannot allocate %ld bytes", path, size);
    if (!ok) {
        free(buf);
        return ag__error(AG_ERR_IO, fn, "%s: cannot read (%ld bytes)", path, size);
    }
    *file = buf;
    uint64_t hl;
    if (size < 8)
        return ag__error(AG_ERR_IO, fn, "%s: truncated at byte %ld (no header length)", path, size);
    memcpy(&hl, buf, 8);
    if (hl > (uint64_t)size - 8)
        return ag__error(AG_ERR_IO, fn,
                         "%s: byte 0: header length %llu runs past the end (%ld bytes)", path,
                         (unsigned long long)hl, size);
    *data = (const unsigned char *)buf + 8 + hl;
    *data_len = (uint64_t)size - 8 - hl;
    return parse_header(buf + 8, (size_t)hl, *data_len, path, fn, entries, n);
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
    for (int k = 0; k < n && !rc; k++) { /* check everything before changing anything */
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
