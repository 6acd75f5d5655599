/*
 * An ordered set of intrusive nodes with unique 64-bit keys: a treap whose
 * priorities are a hash of the node's address (deterministic, no random
 * state). Used for a bin's non-full runs (key: address) and an arena's free
 * page runs (key: size, then address), so "first" and "lower bound" give the
 * lowest address and the best fit.
 */
#ifndef QUARRY_TREE_H
#define QUARRY_TREE_H

#include "common.h"

struct tree_node {
    struct tree_node *left;
    struct tree_node *right;
    uint64_t key;
};

struct tree {
    struct tree_node *root;
};

void tree_insert(struct tree *t, struct tree_node *n);
void tree_remove(struct tree *t, struct tree_node *n);
struct tree_node *tree_first(const struct tree *t);
/* The node with the smallest key >= key, or NULL. */
struct tree_node *tree_lower_bound(const struct tree *t, uint64_t key);

#endif
