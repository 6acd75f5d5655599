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
        items[order[i]].node.key = 3 * (uint64_t)order[i] + 1;
        tree_insert(&t, &items[order[i]].node);
        present[order[i]] = true;
    }
    for (unsigned round = 0; round < 3 * N; round++) {
        unsigned k = (unsigned)rand() % N;
        if (present[k] && rand() % 2) {
            tree_remove(&t, &items[k].node);
            present[k] = false;
        } else if (!present[k]) {
            tree_insert(&t, &items[k].node);
            present[k] = true;
        }
        uint64_t probe = (uint64_t)rand() % (3 * N + 3);
        struct tree_node *lb = tree_lower_bound(&t, probe);
        struct tree_node *want = NULL;
        for (unsigned i = 0; i < N; i++)
            if (present[i] && items[i].node.key >= probe) {
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
