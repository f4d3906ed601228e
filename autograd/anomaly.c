/* Anomaly mode (torch.autograd.detect_anomaly): per thread, off by default. On, every op's
 * output is checked for NaN/Inf in forward, and every gradient a backward rule hands to an
 * input in backward; the first one found fails with the op's name, its input shapes and
 * its index on this thread's tape (ops counted from when the mode was turned on), and for
 * backward, the forward op whose rule produced it. */
#include "ops/ops.h"

#include <math.h>
#include <string.h>

_Thread_local bool ag__anomaly;
static _Thread_local int64_t next_index;
static _Thread_local const struct ag_node *in_backward; /* the rule the walk is running */

bool ag_set_detect_anomaly(bool on) {
    bool prev = ag__anomaly;
    if (on && !prev) next_index = 0;
    ag__anomaly = on;
    return prev;
}

int64_t ag__anomaly_index(void) { return ag__anomaly ? next_index++ : -1; }

/* The first non-finite element of t (row-major), or -1. */
static int64_t first_non_finite(const ag_tensor *t) {
    if (!ag__is_float(t->dtype)) return -1;
    bool dense = ag_is_contiguous(t);
    for (int64_t i = 0; i < t->numel; i++) {
        double v = !dense               ? ag__get_flat(t, i)
                   : t->dtype == AG_F32 ? ((const float *)ag__ptr(t))[i]
                                        : ((const double *)ag__ptr(t))[i];
        if (!isfinite(v)) return i;
    }
    return -1;
}

/* "NaN", "inf" or "-inf" for element i of t. */
static const char *what(const ag_tensor *t, int64_t i) {
    double v = ag__get_flat(t, i);
    return isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf";
}

/* "[2,3], [3]": the shapes of n tensors. */
static const char *shapes(ag_tensor *const *in, int n, char *buf, size_t cap) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%s", i ? ", " : "", AG_SHAPE(in[i]));
    return buf;
}

const struct ag_node *ag__anomaly_set_backward(const struct ag_node *node) {
    const struct ag_node *prev = in_backward;
    in_backward = node;
    return prev;
}

int ag__anomaly_forward(const char *fn, ag_tensor *out, ag_tensor *const *in, int n,
                        int64_t index) {
    int64_t bad = first_non_finite(out);
    if (bad < 0) return AG_OK;
    char buf[256];
    const struct ag_node *b = in_backward;
    if (b) /* an op inside a backward rule: the rule is the culprit */
        return ag__error(AG_ERR_STATE, "ag_backward",
                         "anomaly: the backward of %s (op #%lld of "
                         "the tape, inputs %s) made %s's output %s hold %s at element %lld",
                         b->def->name, (long long)b->tape_index,
                         shapes(b->in, b->n_in, buf, sizeof buf), fn, AG_SHAPE(out), what(out, bad),
                         (long long)bad);
    return ag__error(AG_ERR_STATE, fn,
                     "anomaly: output %s holds %s at element %lld (op #%lld "
                     "of the tape, inputs %s)",
                     AG_SHAPE(out), what(out, bad), (long long)bad, (long long)index,
                     shapes(in, n, buf, sizeof buf));
}

int ag__anomaly_backward(const struct ag_node *node, int i, const ag_tensor *g) {
    int64_t bad = first_non_finite(g);
    if (bad < 0) return AG_OK;
    char buf[256];
    return ag__error(AG_ERR_STATE, "ag_backward",
                     "anomaly: the backward of %s (op #%lld of the "
                     "tape, inputs %s) gave input %d a gradient %s holding %s at element %lld",
                     node->def->name, (long long)node->tape_index,
                     shapes(node->in, node->n_in, buf, sizeof buf), i, AG_SHAPE(g), what(g, bad),
                     (long long)bad);
}
