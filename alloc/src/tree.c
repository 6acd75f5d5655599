#include "tree.h"

#include "report.h"

static uint64_t priority(const struct tree_node *n) {
    uint64_t x = (uintptr_t)n;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* Splits t into keys < key (*lo) and keys >= key (*hi). */
static void split(struct tree_node *t, uint64_t key, struct tree_node **lo, struct tree_node **hi) {
    if (t == NULL) {
        *lo = *hi = NULL;
    } else if (t->key < key) {
        split(t->right, key, &t->right, hi);
        *lo = t;
    } else {
        split(t->left, key, lo, &t->left);
        *hi = t;
    }
}

/* Every key of a is below every key of b. */
static struct tree_node *merge(struct tree_node *a, struct tree_node *b) {
    if (a == NULL)
        return b;
    if (b == NULL)
        return a;
    if (priority(a) > priority(b)) {
        a->right = merge(a->right, b);
        return a;
    }
    b->left = merge(a, b->left);
    return b;
}

static struct tree_node *insert(struct tree_node *t, struct tree_node *n) {
    if (t == NULL)
        return n;
    if (priority(n) > priority(t)) {
        split(t, n->key, &n->left, &n->right);
        return n;
    }
    if (n->key < t->key)
        t->left = insert(t->left, n);
    else
        t->right = insert(t->right, n);
    return t;
}

void tree_insert(struct tree *t, struct tree_node *n) {
    n->left = n->right = NULL;
    t->root = insert(t->root, n);
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
    struct tree_node *best = NULL;
    for (struct tree_node *n = t->root; n != NULL;) {
        if (n->key >= key) {
            best = n;
            n = n->left;
        } else {
            n = n->right;
        }
    }
    return best;
}
