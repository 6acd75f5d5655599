/*
 * An ordered set of intrusive nodes with unique keys below 2^48: a treap
 * whose priorities are a hash of the node's address (deterministic, no
 * random state), kept beside the key in one word. Used for a bin's
 * non-full runs (key: address) and an arena's free page runs (key: size,
 * then address), so "first" and "lower bound" give the lowest address and
 * the best fit.
 */
#ifndef QUARRY_TREE_H
#define QUARRY_TREE_H

#include "common.h"

#define TREE_KEY_BITS 48
#define TREE_PRIORITY_BITS (64 - TREE_KEY_BITS)
#define TREE_PRIORITY_MASK (((uint64_t)1 << TREE_PRIORITY_BITS) - 1)

struct tree_node {
    struct tree_node *left;
    struct tree_node *right;
    /* key << TREE_PRIORITY_BITS | priority: ordering the words orders
     * the keys, since keys are unique. Outside a tree its owner may use
     * the word as it likes. */
    uint64_t key;
};

struct tree {
    struct tree_node *root;
};

void tree_insert(struct tree *t, struct tree_node *n, uint64_t key);
static inline uint64_t tree_key(const struct tree_node *n) { return n->key >> TREE_PRIORITY_BITS; }
void tree_remove(struct tree *t, struct tree_node *n);
struct tree_node *tree_first(const struct tree *t);
/* The node with the smallest key >= key, or NULL. */
struct tree_node *tree_lower_bound(const struct tree *t, uint64_t key);

#endif
