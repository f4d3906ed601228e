/* Internal: the module (torch.nn.Module in C) that every layer, the sequential model and
 * a user's own block are, and the helpers the built-in layers share.
 *
 * A kind of module is a small vtable (struct ag_module_type): its name, its forward and
 * how to free its ctx. Each built-in kind is one file (nn/linear.c, nn/conv.c, ...) holding
 * one static const type, its ctx struct, its forward and its constructor; adding a layer is
 * that file plus its declaration in include/ag.h. A user's module gets its type from
 * ag_module_new. */
#ifndef AG_NN_INTERNAL_H
#define AG_NN_INTERNAL_H

#include "tensor/tensor.h"

struct ag_module_type {
    const char *name;            /* torch's class name: "Linear", "Conv2d", a user's own */
    ag_module_fn forward;        /* NULL: not callable (a cell with its own forward) */
    void (*free_ctx)(void *ctx); /* NULL: ctx is not freed */
};

struct ag__named_tensor {
    char *name;   /* owned copy */
    ag_tensor *t; /* heap leaf, owned */
};
struct ag__named_module {
    char *name;   /* owned copy */
    ag_module *m; /* owned; m->parent is the holder */
};

struct ag_module {
    const struct ag_module_type *type; /* a built-in's static type, or &own_type */
    struct ag_module_type own_type;    /* ag_module_new's (name owned) or a per-instance copy */
    char *owned_name;                  /* own_type.name when it is a copy made here */
    void *ctx;                         /* the kind's own fields */
    struct ag__named_tensor *params, *buffers;
    struct ag__named_module *children;
    int n_params, n_buffers, n_children;
    int cap_params, cap_buffers, cap_children;
    ag_module *parent; /* owner, or NULL for a root */
    bool training;
    /* The recursive parameter list with dotted names, rebuilt when the tree below changed
     * (every add_* clears flat_valid up the parent chain). */
    ag_tensor **flat;
    char **flat_names;
    int n_flat;
    bool flat_valid;
};

/* A built-in module of this type owning ctx (freed with type->free_ctx, also on error). */
ag_module *ag__module_make(const struct ag_module_type *type, void *ctx, const char *fn);
/* The same with ctx a heap copy of size bytes at src (type->free_ctx must be free). */
ag_module *ag__module_make_copy(const struct ag_module_type *type, const void *src, size_t size,
                                const char *fn);
/* Gives m a type of its own: a copy of its type under name (a string that outlives m). */
void ag__module_rename(ag_module *m, const char *name);
/* Adds a new zero parameter / buffer; non-zero (and m untouched) on failure. */
int ag__module_param(ag_module *m, const char *name, int ndim, const int64_t *shape,
                     const char *fn);
int ag__module_buffer(ag_module *m, const char *name, ag_dtype dtype, int ndim,
                      const int64_t *shape, const char *fn);
/* m's own parameter / buffer i (no checks). */
static inline ag_tensor *ag__param(const ag_module *m, int i) { return m->params[i].t; }
static inline ag_tensor *ag__buffer(const ag_module *m, int i) { return m->buffers[i].t; }
/* A module's single input, or NULL and an error naming the type when n != 1 or the input
 * is NULL (a NULL input after an earlier error passes silently, as into an op). */
ag_tensor *ag__one_input(ag_module *m, int n, ag_tensor *const *inputs);

/* A new heap parameter (requires_grad) of the default dtype, zero-filled. */
ag_tensor *ag__param_new(int ndim, const int64_t *shape, const char *fn);
/* weight [out, in/groups, k...] kaiming_uniform(a = sqrt 5), bias U(+-1/sqrt(fan_in)):
 * torch's Linear and ConvNd init. */
int ag__add_weight_bias(ag_module *m, int wdim, const int64_t *wshape, bool bias, const char *fn);
/* Recurrent cells (nn/cell.c): a cell of type with `gates` gates; the check that cell is
 * of type and x fits; its hidden size; h, or zeros [N,hidden] when h is NULL; gate k of g;
 * the input (which 0) or hidden (which 1) projection with its bias. */
ag_layer *ag__cell_new(const struct ag_module_type *type, int64_t in, int64_t hidden, bool bias,
                       int gates, const char *fn);
int ag__cell_check(const ag_module *cell, const struct ag_module_type *type, const ag_tensor *x,
                   const char *fn);
int64_t ag__cell_hidden(const ag_module *cell);
ag_tensor *ag__cell_state(ag_tensor *h, const ag_tensor *x, int64_t hidden);
ag_tensor *ag__cell_gate(ag_tensor *g, int k, int64_t h);
ag_tensor *ag__cell_proj(const ag_module *cell, ag_tensor *v, int which);
/* LSTM and GRU over sequences (nn/rnn.c): the ctx, the constructor (parameters named and
 * initialized as torch's), and the loop over layers: x [T,B,in] or [B,T,in] with
 * batch_first, h0/c0 [layers,B,H] or NULL (zeros); per layer, one GEMM projects every
 * step's input (gx [T,B,G*H] or [B,T,G*H]) and `layer` maps gx and the states *h (and
 * *c), which it replaces with the last ones, to the layer's output sequence. *out, *hn,
 * *cn (each may be NULL; cn only for LSTM). ag__rnn_steps is such a layer made of a
 * `step` per time step: gx_t [B,G*H] and h (and *c, replaced) to the next h. */
struct ag__rnn {
    int64_t in, hidden;
    int layers, gates;
    bool batch_first;
};
typedef ag_tensor *(*ag__rnn_step)(ag_tensor *gx, ag_tensor *h, ag_tensor **c, ag_tensor *w_hh,
                                   ag_tensor *b_hh);
typedef ag_tensor *(*ag__rnn_layer)(ag_tensor *gx, ag_tensor **h, ag_tensor **c, ag_tensor *w_hh,
                                    ag_tensor *b_hh, bool batch_first);
ag_layer *ag__rnn_new(const struct ag_module_type *type, int gates, int64_t in, int64_t hidden,
                      int layers, bool batch_first, const char *fn);
int ag__rnn_run(ag_module *m, const struct ag_module_type *type, ag_tensor *x, ag_tensor *h0,
                ag_tensor *c0, ag__rnn_layer layer, ag_tensor **out, ag_tensor **hn, ag_tensor **cn,
                const char *fn);
ag_tensor *ag__rnn_steps(ag_tensor *gx, ag_tensor **h, ag_tensor **c, ag_tensor *w_hh,
                         ag_tensor *b_hh, bool batch_first, ag__rnn_step step);
/* The activation a Dense or Activation layer applies (nn/activation_layer.c). */
ag_tensor *ag__activate(ag_tensor *x, ag_activation act);
/* Is m a ReLU activation layer (ag_activation_layer(AG_ACTIVATION_RELU))? */
bool ag__is_relu_layer(const ag_module *m);
/* Is m a Conv2d layer; its forward followed by a ReLU as one op (ag_conv2d_relu). */
bool ag__is_conv2d_layer(const ag_module *m);
ag_tensor *ag__conv2d_relu_layer_forward(ag_module *m, ag_tensor *x);

/* The summary's recorder (nn/summary.c): ag_module_call reports each call it makes while
 * a summary runs. enter returns a row (-1 when no summary runs); leave records the output. */
int ag__summary_enter(ag_module *m);
/* Is a summary recording the module calls on this thread? */
bool ag__summary_active(void);
void ag__summary_leave(int row, const ag_tensor *out);

/* Training flags of m and every module below, in pre-order, saved to a heap array and
 * put back (the summary and ag_evaluate run in eval mode and restore the caller's). */
bool *ag__module_modes_save(ag_module *m, const char *fn);
void ag__module_modes_restore(ag_module *m, bool *modes);

/* The state_dict: per module its params, then its buffers, then its children's, with
 * dotted names (torch's order). Returns the count; tensors and names (malloc'ed strings)
 * go into heap arrays the caller frees with ag__state_free. */
int ag__model_state(ag_model *m, ag_tensor ***tensors, char ***names);
void ag__state_free(int n, ag_tensor **tensors, char **names);

#endif
