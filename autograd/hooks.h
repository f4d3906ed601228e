/* Internal: the post-accumulate-grad hooks' part of the backward walk (autograd/hooks.c).
 * The walk asks for a per-walk state (NULL when no hook is registered: the walk pays one
 * atomic load), reports each node it has finished, and frees the state at the end. */
#ifndef AG_AUTOGRAD_HOOKS_H
#define AG_AUTOGRAD_HOOKS_H

#include "ops/ops.h"

struct ag__hook_walk;
/* Counts, for every hooked leaf in the graph, the edges that will bring it gradient:
 * the inputs of the nodes in order[0..n) plus roots that are leaves themselves. */
struct ag__hook_walk *ag__hooks_walk_begin(struct ag_node *const *order, size_t n, int n_roots,
                                           ag_tensor *const *roots);
/* The roots have been seeded: leaves among them may be final now. */
void ag__hooks_roots_done(struct ag__hook_walk *hw, int n_roots, ag_tensor *const *roots);
/* Node x's backward has run (or was skipped): fires the hooks of leaves it was the last
 * contributor of. */
void ag__hooks_node_done(struct ag__hook_walk *hw, const struct ag_node *x);
void ag__hooks_walk_end(struct ag__hook_walk *hw);
/* A leaf is being freed: its hooks go with it. */
void ag__hooks_forget(ag_tensor *t);

#endif
