/* Tape nodes: making one (for ag__apply) and what tensor/ may ask of one (its op's name,
 * freeing a heap node) through the hooks it installs (tensor/tensor.h). */
#include "ops/ops.h" /* struct ag_op_def: the node's op name */

#include <stdalign.h>

static const char *node_op_name(const struct ag_node *node) { return node->def->name; }

/* A heap node is one malloc'ed block; its saved tensors are heap tensors it owns. */
static void node_free(struct ag_node *node) {
    for (int i = 0; i < AG_MAX_SAVED; i++) ag_tensor_free(node->saved[i]);
    free(node);
}

static const struct ag_node_hooks hooks = {.op_name = node_op_name, .free = node_free};

static const alignas(16) unsigned char no_args[AG_ARGS_BYTES];

/* The node, its inputs and a copy of args in one block of the output's scope. */
struct ag_node *ag__node_new(const struct ag_op_def *def, ag_tensor *out, ag_tensor *const *in,
                             int n, const void *args, size_t args_size, ag_tensor **saved,
                             const char *fn) {
    AG_ASSERT(args_size <= AG_ARGS_BYTES);
    size_t head = (sizeof(struct ag_node) + sizeof(ag_tensor *) * (size_t)n + 15) & ~(size_t)15;
    struct ag_node *node = ag__alloc_uninit(out->arena, head + args_size, fn);
    if (!node) return NULL;
    ag__set_node_hooks(&hooks);
    node->visit = 0;
    node->def = def;
    node->grad = NULL;
    node->n_in = n;
    node->tape_index = -1;
    node->released = false;
    node->out = out;
    memcpy(node->saved, saved, sizeof node->saved);
    node->args = no_args;
    if (args_size) node->args = memcpy((unsigned char *)node + head, args, args_size);
    memcpy(node->in, in, sizeof(ag_tensor *) * (size_t)n);
    return node;
}
