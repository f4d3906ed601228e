/* Running a model: forward through its layers, and the summary table (which runs it). */
#include "nn/nn.h"

#include <stdarg.h>

ag_tensor *ag_model_forward(ag_model *m, ag_tensor *x) {
    if (!m) {
        ag__error(AG_ERR_NULL, "ag_model_forward", "model is NULL");
        return NULL;
    }
    for (int i = 0; i < m->n_layers && x; i++) x = ag_layer_forward(m->layers[i], x);
    return x;
}

/* ------------------------------------------------------------------ summary */
struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->buf && o->len < o->size ? o->size - o->len : 0;   /* buf NULL: count only (D18) */
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
    bool *modes = ag__calloc((size_t)m->n_layers + 1, sizeof *modes);
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
    char *buf = ag__malloc((size_t)n + 1);
    if (!buf) return ag__error(AG_ERR_NOMEM, "ag_model_print_summary", "out of memory");
    ag_model_summary(m, ndim, input_shape, buf, (size_t)n + 1);
    fputs(buf, stdout);
    free(buf);
    return AG_OK;
}
