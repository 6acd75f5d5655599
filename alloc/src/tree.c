#include "tree.h"

#include "report.h"

/* A node's priority: a full 64-bit mix of its address, taken once, when
 * the node is inserted, and kept in the low bits of its key word. The walks
 * read it from the word they load for the key anyway. (A one-multiply hash
 * computed at every level of every walk cost as much as the rest of the
 * walk, and weaker hashes left some trees 3-6 times deeper: nodes sit in
 * arrays at a fixed stride, and keys often follow the address.) */
static uint64_t priority_of(const struct tree_node *n) {
    uint64_t x = (uintptr_t)n;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return (x ^ (x >> 33)) & TREE_PRIORITY_MASK;
}

static inline uint64_t priority(const struct tree_node *n) { return n->key & TREE_PRIORITY_MASK; }

/* Splits t into words < word (*lo) and words >= word (*hi). */
static void split(struct tree_node *t, uint64_t word, struct tree_node **lo, struct tree_node **hi) {
    if (t == NULL) {
        *lo = *hi = NULL;
    } else if (t->key < word) {
        split(t->right, word, &t->right, hi);
        *lo = t;
    } else {
        split(t->left, word, lo, &t->left);
        *hi = t;
    }
}

/* Every key of a is below every key of b. Each step hangs the root of
 * higher priority and goes on with what lies between them. */
static struct tree_node *merge(struct tree_node *a, struct tree_node *b) {
    if (a == NULL)
        return b;
    if (b == NULL)
        return a;
    struct tree_node *root;
    struct tree_node **link = &root;
    for (;;) {
        if (priority(a) > priority(b)) {
            *link = a;
            link = &a->right;
            a = a->right;
            if (a == NULL) {
                *link = b;
                return root;
            }
        } else {
            *link = b;
            link = &b->left;
            b = b->left;
            if (b == NULL) {
                *link = a;
                return root;
            }
        }
    }
}

void tree_insert(struct tree *t, struct tree_node *n, uint64_t key) {
    if (unlikely(key >> TREE_KEY_BITS != 0))
        report_fatal("tree_insert: key wider than TREE_KEY_BITS");
    n->key = key << TREE_PRIORITY_BITS | priority_of(n);
    /* Down the key's path to the first node of lower priority than n; n
     * takes its place, and the subtree is split around n's key below it. */
    uint64_t pn = priority(n);
    struct tree_node **link = &t->root;
    while (*link != NULL && priority(*link) >= pn)
        link = n->key < (*link)->key ? &(*link)->left : &(*link)->right;
    split(*link, n->key, &n->left, &n->right);
    *link = n;
}

void tree_remove(struct tree *t, struct tree_node *n) {
    struct tree_node **link = &t->root;
    while (*link != n) {
        if (*link == NULL)
            report_fatal("tree_remove: node not in tree");
        link = n->key < (*link)->key ? &(*link)->left : &(*link)->right;
    }
    *link = merge(n->left, n->right);
}

struct tree_node *tree_first(const struct tree *t) {
    struct tree_node *n = t->root;
    if (n == NULL)
        return NULL;
    while (n->left != NULL)
        n = n->left;
    return n;
}

struct tree_node *tree_lower_bound(const struct tree *t, uint64_t key) {
    /* key with priority 0 sorts before every node of that key. */
    qassert(key >> TREE_KEY_BITS == 0);
    uint64_t word = key << TREE_PRIORITY_BITS;
    struct tree_node *best = NULL;
    for (struct tree_node *n = t->root; n != NULL;) {
        if (n->key >= word) {
            best = n;
            n = n->left;
        } else {
            n = n->right;
        }
    }
    return best;
}
