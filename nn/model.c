/* A model: a sequence of layers run in order, its parameter list (torch's state_dict names)
 * and a summary table. */
#include "nn/nn.h"

#include <string.h>

ag_model *ag_model_new(void) {
    ag_model *m = ag__calloc(1, sizeof *m);
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
    return ag__strdup(buf);
}

int ag_model_add(ag_model *m, ag_layer *l) {
    const char *fn = "ag_model_add";
    if (!m || !l) {
        ag_layer_free(l);
        return ag__error(AG_ERR_NULL, fn, "model and layer must not be NULL");
    }
    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? 2 * m->cap_layers : 8;
        ag_layer **p = ag__realloc(m->layers, sizeof *p * (size_t)cap);
        if (!p) goto nomem;
        m->layers = p;
        m->cap_layers = cap;
    }
    int need = m->n_params + l->n_params;
    if (need > m->cap_params) {
        int cap = m->cap_params ? 2 * m->cap_params : 16;
        while (cap < need) cap *= 2;
        ag_tensor **p = ag__realloc(m->params, sizeof *p * (size_t)cap);
        if (p) m->params = p;
        char **q = ag__realloc(m->names, sizeof *q * (size_t)cap);
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
    *tensors = ag__calloc((size_t)n + 1, sizeof **tensors);
    *names = ag__calloc((size_t)n + 1, sizeof **names);
    if (!*tensors || !*names) goto nomem;
    int k = 0;
    for (int i = 0; i < m->n_layers; i++) {
        ag_layer *l = m->layers[i];
        for (int j = 0; j < l->n_params; j++, k++)
            (*tensors)[k] = l->params[j], (*names)[k] = name_of(i, l->param_names[j]);
        for (int j = 0; j < l->n_buffers; j++, k++)
            (*tensors)[k] = l->buffers[j], (*names)[k] = name_of(i, l->buffer_names[j]);
    }
    for (k = 0; k < n; k++)
        if (!(*names)[k]) goto nomem;   /* a failed strdup (D8) */
    return n;
nomem:   /* the caller's pointers cleared: its own state_free is then a no-op (D7) */
    ag__state_free(n, *tensors, *names);
    *tensors = NULL;
    *names = NULL;
    return -ag__error(AG_ERR_NOMEM, "ag_model_state", "out of memory");
}

void ag__state_free(int n, ag_tensor **tensors, char **names) {
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(tensors);
    free(names);
}

