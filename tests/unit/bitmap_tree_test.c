/* The two building blocks: the region bitmap and the ordered tree. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "bitmap.h"
#include "tree.h"

Test(bitmap, init_sets_exactly_nbits) {
    unsigned counts[] = {1, 8, 63, 64, 65, 100, 128, 511, 512};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        bitmap_t bm;
        bitmap_init(bm, counts[i]);
        cr_assert_eq(bitmap_count(bm), counts[i]);
        for (unsigned b = 0; b < RUN_MAX_REGIONS; b++)
            cr_assert_eq(bitmap_get(bm, b), b < counts[i], "bit %u of %u", b, counts[i]);
    }
}

Test(bitmap, take_first_returns_lowest_then_set_returns_it) {
    bitmap_t bm;
    bitmap_init(bm, 200);
    for (unsigned i = 0; i < 200; i++)
        cr_assert_eq(bitmap_take_first(bm), i);
    cr_assert_eq(bitmap_count(bm), 0);
    bitmap_set(bm, 150);
    bitmap_set(bm, 70);
    bitmap_set(bm, 3);
    cr_assert(bitmap_get_relaxed(bm, 70));
    cr_assert_eq(bitmap_take_first(bm), 3);
    cr_assert_eq(bitmap_take_first(bm), 70);
    cr_assert_eq(bitmap_take_first(bm), 150);
}

struct item {
    struct tree_node node;
};

Test(tree, first_lower_bound_and_remove_agree_with_a_sorted_array) {
    enum { N = 2000 };
    static struct item items[N];
    static bool present[N];
    struct tree t = {NULL};
    srand(12345);
    /* Keys 3*i + 1, inserted in a shuffled order. */
    unsigned order[N];
    for (unsigned i = 0; i < N; i++)
        order[i] = i;
    for (unsigned i = N - 1; i > 0; i--) {
        unsigned j = (unsigned)rand() % (i + 1), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (unsigned i = 0; i < N; i++) {
        tree_insert(&t, &items[order[i]].node, 3 * (uint64_t)order[i] + 1);
        present[order[i]] = true;
    }
    for (unsigned round = 0; round < 3 * N; round++) {
        unsigned k = (unsigned)rand() % N;
        if (present[k] && rand() % 2) {
            tree_remove(&t, &items[k].node);
            present[k] = false;
        } else if (!present[k]) {
            tree_insert(&t, &items[k].node, 3 * (uint64_t)k + 1);
            present[k] = true;
        }
        uint64_t probe = (uint64_t)rand() % (3 * N + 3);
        struct tree_node *lb = tree_lower_bound(&t, probe);
        struct tree_node *want = NULL;
        for (unsigned i = 0; i < N; i++)
            if (present[i] && tree_key(&items[i].node) >= probe) {
                want = &items[i].node;
                break;
            }
        cr_assert_eq(lb, want, "lower bound of %lu", (unsigned long)probe);
        struct tree_node *first = tree_first(&t);
        want = NULL;
        for (unsigned i = 0; i < N && want == NULL; i++)
            if (present[i])
                want = &items[i].node;
        cr_assert_eq(first, want);
    }
}

static unsigned tree_depth(const struct tree_node *n) {
    if (n == NULL)
        return 0;
    unsigned l = tree_depth(n->left), r = tree_depth(n->right);
    return 1 + (l > r ? l : r);
}

/* Priorities come from node addresses, and arenas' descriptors sit in
 * arrays of 128-byte runs: keys that follow the address (rising, falling,
 * or at a stride), the worst orders for priorities that correlate with
 * the address, must still give a tree about 2-3 log2 n deep, not a list. */
struct padded_item {
    struct tree_node node;
    char pad[128 - sizeof(struct tree_node)];
};

Test(tree, keys_in_address_order_keep_the_tree_shallow) {
    enum { N = 1 << 14 };
    static struct padded_item items[N];
    for (unsigned pass = 0; pass < 3; pass++) {
        struct tree t = {NULL};
        for (unsigned i = 0; i < N; i++) {
            uint64_t rank = pass == 0 ? i : pass == 1 ? N - 1 - i : (i * 7919u) % N;
            tree_insert(&t, &items[i].node, rank);
        }
        unsigned depth = tree_depth(t.root);
        /* log2 N is 14: a treap with random priorities is about 2.7
         * times that deep at its deepest (32-37 here); the address
         * multiplied by a constant alone gave 70-113. */
        cr_assert_leq(depth, 4 * 14, "pass %u: depth %u", pass, depth);
        for (unsigned i = 0; i < N; i += 2)
            tree_remove(&t, &items[i].node);
        cr_assert_leq(tree_depth(t.root), 4 * 13, "pass %u after removals", pass);
    }
}
