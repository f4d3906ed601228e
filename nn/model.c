/* A model: a sequence of layers run in order, its parameter list (torch's state_dict names)
 * and a summary table. */
#include "nn/nn.h"

#include <stdarg.h>
#include <string.h>

ag_model *ag_model_new(void) {
    ag_model *m = calloc(1, sizeof *m);
    if (!m) ag__error(AG_ERR_NOMEM, "ag_model_new", "out of memory");
    return m;
}

void ag_model_free(ag_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_layers; i++) ag_layer_free(m->layers[i]);
    for (int i = 0; i < m->n_params; i++) free(m->names[i]);
    free(m->layers);
    free(m->params);
    free(m->names);
    free(m);
}

static char *name_of(int layer, const char *param) {
    char buf[64];
    snprintf(buf, sizeof buf, "%d.%s", layer, param);
    return strdup(buf);
}

int ag_model_add(ag_model *m, ag_layer *l) {
    const char *fn = "ag_model_add";
    if (!m || !l) {
        ag_layer_free(l);
        return ag__error(AG_ERR_NULL, fn, "model and layer must not be NULL");
    }
    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? 2 * m->cap_layers : 8;
        ag_layer **p = realloc(m->layers, sizeof *p * (size_t)cap);
        if (!p) goto nomem;
        m->layers = p;
        m->cap_layers = cap;
    }
    int need = m->n_params + l->n_params;
    if (need > m->cap_params) {
        int cap = m->cap_params ? 2 * m->cap_params : 16;
        while (cap < need) cap *= 2;
        ag_tensor **p = realloc(m->params, sizeof *p * (size_t)cap);
        if (p) m->params = p;
        char **q = realloc(m->names, sizeof *q * (size_t)cap);
        if (q) m->names = q;
        if (!p || !q) goto nomem;
        m->cap_params = cap;
    }
    for (int i = 0; i < l->n_params; i++) {
        char *name = name_of(m->n_layers, l->param_names[i]);
        if (!name) {
            for (int k = 0; k < i; k++) free(m->names[m->n_params + k]);
            goto nomem;
        }
        m->names[m->n_params + i] = name;
        m->params[m->n_params + i] = l->params[i];
    }
    m->n_params = need;
    m->layers[m->n_layers++] = l;
    return AG_OK;
nomem:
    ag_layer_free(l);
    return ag__error(AG_ERR_NOMEM, fn, "out of memory");
}

ag_tensor *ag_model_forward(ag_model *m, ag_tensor *x) {
    if (!m) {
        ag__error(AG_ERR_NULL, "ag_model_forward", "model is NULL");
        return NULL;
    }
    for (int i = 0; i < m->n_layers && x; i++) x = ag_layer_forward(m->layers[i], x);
    return x;
}

void ag_model_train(ag_model *m, bool training) {
    if (!m) return;
    for (int i = 0; i < m->n_layers; i++) ag_layer_train(m->layers[i], training);
}

ag_tensor **ag_model_params(ag_model *m, int *n) {
    if (n) *n = m ? m->n_params : 0;
    return m ? m->params : NULL;
}

const char *ag_model_param_name(const ag_model *m, int i) {
    return m && i >= 0 && i < m->n_params ? m->names[i] : NULL;
}

int64_t ag_model_num_elements(const ag_model *m) {
    int64_t s = 0;
    for (int i = 0; m && i < m->n_params; i++) s += m->params[i]->numel;
    return s;
}

int ag__model_state(ag_model *m, ag_tensor ***tensors, char ***names) {
    int n = 0;
    for (int i = 0; i < m->n_layers; i++) n += m->layers[i]->n_params + m->layers[i]->n_buffers;
    *tensors = calloc((size_t)n + 1, sizeof **tensors);
    *names = calloc((size_t)n + 1, sizeof **names);
    if (!*tensors || !*names) {
        ag__state_free(0, *tensors, *names);
        return -ag__error(AG_ERR_NOMEM, "ag_model_state", "out of memory");
    }
    int k = 0;
    for (int i = 0; i < m->n_layers; i++) {
        ag_layer *l = m->layers[i];
        for (int j = 0; j < l->n_params; j++, k++)
            (*tensors)[k] = l->params[j], (*names)[k] = name_of(i, l->param_names[j]);
        for (int j = 0; j < l->n_buffers; j++, k++)
            (*tensors)[k] = l->buffers[j], (*names)[k] = name_of(i, l->buffer_names[j]);
    }
    return n;
}

void ag__state_free(int n, ag_tensor **tensors, char **names) {
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(tensors);
    free(names);
}

/* ------------------------------------------------------------------ summary */
struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->size ? o->size - o->len : 0;
    int n = vsnprintf(o->buf ? o->buf + (o->len < o->size ? o->len : 0) : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) o->len += (size_t)n;
}

int ag_model_summary(ag_model *m, int ndim, const int64_t *input_shape, char *buf, size_t size) {
    const char *fn = "ag_model_summary";
    if (!m) return -ag__error(AG_ERR_NULL, fn, "model is NULL");
    if (ag__check_shape(ndim, input_shape, fn)) return -AG_ERR_SHAPE;
    struct out o = {buf, size, 0};
    if (buf && size) buf[0] = 0;
    bool *modes = calloc((size_t)m->n_layers + 1, sizeof *modes);
    if (!modes) return -ag__error(AG_ERR_NOMEM, fn, "out of memory");
    for (int i = 0; i < m->n_layers; i++) modes[i] = m->layers[i]->training;
    ag_model_train(m, false);
    bool grad = ag_set_grad_enabled(false);
    ag_scope_begin();
    ag_tensor *x = ag_zeros(m->n_params ? m->params[0]->dtype : ag_get_default_dtype(), ndim,
                            input_shape);
    put(&o, "%-4s %-14s %-20s %12s\n", "#", "Layer", "Output shape", "Params");
    put(&o, "%-4s %-14s %-20s %12s\n", "", "Input", ag__shape_str(ndim, input_shape), "");
    int rc = AG_OK;
    for (int i = 0; i < m->n_layers; i++) {
        ag_layer *l = m->layers[i];
        x = ag_layer_forward(l, x);
        if (!x) {
            rc = ag__last_error_code() ? ag__last_error_code() : AG_ERR_SHAPE;
            break;
        }
        int64_t np = 0;
        for (int j = 0; j < l->n_params; j++) np += l->params[j]->numel;
        put(&o, "%-4d %-14s %-20s %12lld\n", i, ag_layer_name(l), AG_SHAPE(x), (long long)np);
    }
    ag_scope_end();
    ag_set_grad_enabled(grad);
    for (int i = 0; i < m->n_layers; i++) m->layers[i]->training = modes[i];
    free(modes);
    if (rc) return -rc;
    put(&o, "Total parameters: %lld in %d tensors\n", (long long)ag_model_num_elements(m), m->n_params);
    return (int)o.len;
}

int ag_model_print_summary(ag_model *m, int ndim, const int64_t *input_shape) {
    int n = ag_model_summary(m, ndim, input_shape, NULL, 0);
    if (n < 0) return -n;
    char *buf = malloc((size_t)n + 1);
    if (!buf) return ag__error(AG_ERR_NOMEM, "ag_model_print_summary", "out of memory");
    ag_model_summary(m, ndim, input_shape, buf, (size_t)n + 1);
    fputs(buf, stdout);
    free(buf);
    return AG_OK;
}
