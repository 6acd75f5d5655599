/* Page map, small runs and bins, large placement and coalescing. */
#include <criterion/criterion.h>
#include <string.h>

#include "bin.h"
#include "helpers.h"
#include "init.h"
#include "quarry.h"
#include "conf.h"
#include "rtree.h"
#include "vg.h"

/* These tests look at the arena layer itself: no thread cache in front.
 * (Each test runs in a process of its own, before quarry starts.) */
static void without_tcache(void) { opt_tcache = false; }
TestSuite(page_map, .init = without_tcache);
TestSuite(bins, .init = without_tcache);
TestSuite(large, .init = without_tcache);
TestSuite(huge, .init = without_tcache);

/* Allocates four runs' worth of blocks of size (into blocks), then frees
 * them all; returns how many. */
static size_t four_runs_allocated_and_freed(size_t size, void **blocks) {
    size_t n = 4 * (size_t)size_classes[size_to_class(size)].nregs;
    for (size_t i = 0; i < n; i++)
        blocks[i] = quarry_malloc(size);
    for (size_t i = 0; i < n; i++)
        quarry_free(blocks[i]);
    return n;
}

static struct arena *my_arena(void) {
    void *p = quarry_malloc(1);
    quarry_free(p);
    cr_assert_not_null(thread_arena);
    return thread_arena;
}

Test(page_map, small_and_large_runs_are_recorded_for_their_pages) {
    struct arena *a = my_arena();
    for (unsigned cls = 0; cls < NSMALL; cls++) {
        char *p = quarry_malloc(class_size(cls));
        struct chunk *c = chunk_of(p);
        cr_assert_eq(rtree_get((uintptr_t)p), RTREE_ARENA_CHUNK);
        cr_assert_eq(c->arena, a);
        struct run *r = c->map[chunk_page(c, p)];
        cr_assert_eq(r->kind, RUN_SMALL);
        cr_assert_eq(r->cls, cls);
        cr_assert_eq(r->npages, size_classes[cls].run_pages);
        cr_assert(p >= r->base && p < r->base + r->npages * PAGE);
        /* Every page of a small run names the run. */
        for (size_t i = 0; i < r->npages; i++)
            cr_assert_eq(c->map[chunk_page(c, r->base) + i], r);
        quarry_free(p);
    }
    char *big = quarry_malloc(10 * PAGE);
    struct chunk *c = chunk_of(big);
    struct run *r = c->map[chunk_page(c, big)];
    cr_assert_eq(r->kind, RUN_LARGE);
    cr_assert_eq(r->base, big);
    cr_assert_eq(r->npages, 10);
    cr_assert_eq(c->map[chunk_page(c, big) + 9], r, "last page of a large run names it");
    quarry_free(big);
}

/* The fast paths' per-page entries (chunk.h, page_region_at()) agree with
 * the run descriptors at every byte of a small run of each class, name no
 * class in the header or a large run, and forget a small run's class when
 * the run goes back to the arena. */
static size_t page_test_mismatches(const struct run *r, unsigned cls) {
    size_t bad = 0, size = class_size(cls), bytes = (size_t)r->npages * PAGE;
    for (size_t o = 0; o < bytes; o++) {
        size_t off = 0;
        uint32_t index = 0, dindex = 0;
        const struct class_facts *f = page_region_at(r->base + o, &off, &index);
        bool starts = o % size == 0 && o / size < size_classes[cls].nregs;
        if ((f != NULL) != starts || (run_region_at(r->base + o, &dindex) != NULL) != starts)
            bad++;
        else if (starts && (f->size != size || off != (size_t)cls << CLASS_OFFSET_SHIFT || index != o / size ||
                            dindex != index))
            bad++;
    }
    return bad;
}

Test(page_map, small_run_pages_tell_the_fast_paths_their_class_and_no_other_page_does) {
    struct arena *a = my_arena();
    (void)a;
    for (unsigned cls = 0; cls < NSMALL; cls++) {
        char *p = quarry_malloc(class_size(cls));
        struct run *r = run_of_page(p);
        cr_assert_eq(page_test_mismatches(r, cls), 0, "class %u", cls);
        struct chunk *c = chunk_of(p);
        size_t off;
        uint32_t index;
        for (size_t o = 0; o < CHUNK_HEADER_PAGES * PAGE; o += 8)
            cr_assert_null(page_region_at((char *)c + o, &off, &index), "header offset %zu", o);
        quarry_free(p);
    }
    char *big = quarry_malloc(3 * PAGE);
    size_t off;
    uint32_t index;
    for (size_t o = 0; o < 3 * PAGE; o += 8)
        cr_assert_null(page_region_at(big + o, &off, &index), "large block offset %zu", o);
    quarry_free(big);

    /* Four runs' worth of 1 KiB blocks, all freed: the runs that went back
     * to the arena (all but a bin's spare) name no class any more. */
    static void *blocks[4 * RUN_MAX_REGIONS];
    size_t n = four_runs_allocated_and_freed(1024, blocks);
    size_t released = 0;
    for (size_t i = 0; i < n; i++) {
        if (run_of_page(blocks[i])->kind == RUN_SMALL)
            continue;
        released++;
        cr_assert_null(page_region_at(blocks[i], &off, &index), "block %zu of a released run", i);
    }
    cr_assert_geq(released, n / 2, "the emptied runs went back to the arena");
}

Test(bins, regions_come_lowest_address_first_and_freed_ones_are_reused_first) {
    unsigned cls = size_to_class(48);
    size_t n = size_classes[cls].nregs;
    char **p = malloc(n * 3 * sizeof(*p));
    for (size_t i = 0; i < n * 3; i++)
        p[i] = quarry_malloc(48);
    /* Within one run, consecutive regions. */
    struct run *r = chunk_of(p[0])->map[chunk_page(chunk_of(p[0]), p[0])];
    size_t first = (size_t)(p[0] - r->base) / 48;
    for (size_t i = 1; i + first < n; i++)
        cr_assert_eq(p[i], p[0] + i * 48);
    /* Free two regions of a full run: the lower comes back first. */
    quarry_free(p[n + 7]);
    quarry_free(p[n + 3]);
    char *q1 = quarry_malloc(40);
    char *q2 = quarry_malloc(48);
    cr_assert(q1 == p[n + 3] || q1 < p[n + 3], "expected the lowest free region");
    cr_assert(q2 <= p[n + 7]);
    quarry_free(q1);
    quarry_free(q2);
    for (size_t i = 0; i < n * 3; i++)
        if (i != n + 7 && i != n + 3)
            quarry_free(p[i]);
    free(p);
}

/* A fill stores its regions downwards, lowest at the top: the free ones
 * of the current run in address order, whether they come as a whole
 * bitmap word (stepped), the bottom of one, or scattered (find-first-set),
 * then the bottom of a fresh run. */
Test(bins, a_fill_takes_free_regions_in_order_whole_words_and_gaps_alike) {
    struct arena *a = my_arena();
    unsigned cls = size_to_class(16);
    size_t n = size_classes[cls].nregs;
    cr_assert_geq(n, 256, "a 16-byte run has at least four bitmap words");
    char **p = malloc(2 * n * sizeof(*p));
    for (size_t i = 0; i < 2 * n; i++)
        p[i] = quarry_malloc(16);
    struct run *r = chunk_of(p[0])->map[chunk_page(chunk_of(p[0]), p[0])];
    char *base = r->base;
    cr_assert_eq(r->nfree, 0, "the first run is full");
    /* Give back regions 1-3 and 63, the whole second word, 130 and 200. */
    size_t freed[80], nfreed = 0;
    size_t singles[] = {1, 2, 3, 63, 130, 200};
    for (size_t i = 0; i < 6; i++)
        freed[nfreed++] = singles[i];
    for (size_t k = 64; k < 128; k++)
        freed[nfreed++] = k;
    for (size_t i = 0; i < nfreed; i++)
        quarry_free(base + freed[i] * 16);
    cr_assert_eq(r->nfree, nfreed);
    /* In address order: */
    for (size_t i = 0; i < nfreed; i++)
        for (size_t j = i + 1; j < nfreed; j++)
            if (freed[j] < freed[i]) {
                size_t t = freed[i];
                freed[i] = freed[j];
                freed[j] = t;
            }
    enum { EXTRA = 5 };
    void *dst[80 + EXTRA];
    unsigned want = (unsigned)nfreed + EXTRA;
    cr_assert_eq(bin_fill(a, cls, dst, want), want);
    for (size_t i = 0; i < nfreed; i++)
        cr_assert_eq(dst[want - 1 - i], base + freed[i] * 16, "region %zu of the fill", i);
    cr_assert_eq(r->nfree, 0);
    cr_assert_eq(bitmap_count(r->bitmap), 0);
    /* The rest: the bottom of another run, consecutive, above the rest. */
    for (unsigned i = 0; i + 1 < EXTRA; i++)
        cr_assert_eq((char *)dst[i], (char *)dst[i + 1] + 16);
    cr_assert_neq(chunk_of(dst[0])->map[chunk_page(chunk_of(dst[0]), dst[0])], r);
    /* Back, as live blocks: handed out as bin_malloc() does (memcheck
     * learns of them), the key a region freed into its run keeps off. */
    for (unsigned i = 0; i < want; i++) {
        vg_alloc(dst[i], 16, false);
        *(uintptr_t *)dst[i] = 0;
        quarry_free(dst[i]);
    }
    for (size_t i = 0; i < 2 * n; i++) {
        size_t k = (size_t)(p[i] - base) / 16;
        bool was_freed = p[i] >= base && k < n && (p[i] - base) % 16 == 0 &&
                         (k == 1 || k == 2 || k == 3 || k == 63 || k == 130 || k == 200 || (k >= 64 && k < 128));
        if (!was_freed)
            quarry_free(p[i]);
    }
    free(p);
}

Test(bins, an_emptied_run_gives_its_pages_back) {
    struct arena *a = my_arena();
    unsigned cls = size_to_class(1024);
    size_t n = size_classes[cls].nregs;
    static void *p[4 * RUN_MAX_REGIONS];
    lock_acquire(&a->lock);
    size_t before = a->nactive;
    lock_release(&a->lock);
    for (size_t i = 0; i < 4 * n; i++)
        p[i] = quarry_malloc(1024);
    lock_acquire(&a->lock);
    size_t during = a->nactive;
    lock_release(&a->lock);
    cr_assert_geq(during, before + 3 * size_classes[cls].run_pages);
    for (size_t i = 0; i < 4 * n; i++)
        quarry_free(p[i]);
    size_t spare = a->bins[cls].spare != NULL ? a->bins[cls].spare->npages : 0;
    lock_acquire(&a->lock);
    size_t after = a->nactive;
    lock_release(&a->lock);
    cr_assert_leq(spare, size_classes[cls].run_pages, "one spare run at most");
    cr_assert_leq(after - spare, before, "pages of emptied runs still active: %zu > %zu", after - spare, before);
}

Test(bins, the_spare_run_serves_the_next_refill_and_a_purge_gives_it_back) {
    struct arena *a = my_arena();
    unsigned cls = size_to_class(2000);
    static void *p[4 * RUN_MAX_REGIONS];
    four_runs_allocated_and_freed(2000, p);
    quarry_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    struct run *spare = a->bins[cls].spare;
    cr_assert_not_null(spare, "an emptied run stays as the bin's spare");
    lock_acquire(&a->lock);
    size_t active = a->nactive;
    lock_release(&a->lock);
    void *q = quarry_malloc(2000);
    cr_assert(q >= (void *)spare->base && (char *)q < spare->base + spare->npages * PAGE,
              "the refill takes the spare run");
    cr_assert_null(a->bins[cls].spare);
    lock_acquire(&a->lock);
    cr_assert_eq(a->nactive, active, "no new run was carved");
    lock_release(&a->lock);
    quarry_free(q);
    quarry_purge();
    cr_assert_null(a->bins[cls].spare, "an explicit purge gives the spare back");
}

Test(large, neighbours_coalesce_and_best_fit_reuses_the_hole) {
    /* Three adjacent runs; freeing them all leaves one free run that a
     * request for their total size gets back whole. */
    char *a = quarry_malloc(5 * PAGE);
    char *b = quarry_malloc(6 * PAGE);
    char *c = quarry_malloc(7 * PAGE);
    char *guard = quarry_malloc(PAGE * 2);
    cr_assert_eq(b, a + 5 * PAGE);
    cr_assert_eq(c, b + 6 * PAGE);
    quarry_free(b);
    quarry_free(a);
    quarry_free(c);
    char *whole = quarry_malloc(18 * PAGE);
    cr_assert_eq(whole, a, "coalesced run not reused");
    quarry_free(whole);
    /* Best fit: a 3-page hole is preferred to a larger one for 3 pages. */
    char *x = quarry_malloc(8 * PAGE);
    char *sep1 = quarry_malloc(PAGE);
    char *y = quarry_malloc(3 * PAGE);
    char *sep2 = quarry_malloc(PAGE);
    quarry_free(x);
    quarry_free(y);
    char *z = quarry_malloc(3 * PAGE);
    cr_assert_eq(z, y, "best fit should take the 3-page hole");
    quarry_free(z);
    quarry_free(sep1);
    quarry_free(sep2);
    quarry_free(guard);
}

Test(large, realloc_grows_into_free_pages_and_shrinks_in_place) {
    char *p = quarry_malloc(4 * PAGE);
    char *next = quarry_malloc(4 * PAGE);
    char *guard = quarry_malloc(PAGE);
    memset(p, 0xab, 4 * PAGE);
    quarry_free(next);
    char *q = quarry_realloc(p, 7 * PAGE);
    cr_assert_eq(q, p, "should grow in place into the freed neighbour");
    cr_assert_eq(quarry_malloc_usable_size(q), 7 * PAGE);
    for (size_t i = 0; i < 4 * PAGE; i++)
        cr_assert_eq((unsigned char)q[i], 0xab);
    char *r = quarry_realloc(q, 2 * PAGE);
    cr_assert_eq(r, p, "shrinking stays in place");
    cr_assert_eq(quarry_malloc_usable_size(r), 2 * PAGE);
    /* The cut-off tail is free again. */
    char *t = quarry_malloc(5 * PAGE);
    cr_assert_eq(t, p + 2 * PAGE);
    quarry_free(t);
    quarry_free(r);
    quarry_free(guard);
}

Test(large, an_emptied_chunk_is_kept_as_the_spare_and_others_unmapped) {
    struct arena *a = my_arena();
    size_t chunks_before = a->nchunks;
    /* Each of these fills most of a chunk, so each takes a chunk of its own. */
    void *p[4];
    for (int i = 0; i < 4; i++)
        p[i] = quarry_malloc(LARGE_MAX - 64 * PAGE);
    cr_assert_geq(a->nchunks, chunks_before + 3);
    for (int i = 0; i < 4; i++)
        quarry_free(p[i]);
    cr_assert_leq(a->nchunks, chunks_before + 1, "emptied chunks beyond one spare must be unmapped");
    cr_assert_not_null(a->spare);
}

Test(large, an_aligned_request_that_needs_a_new_chunk_and_splits_both_ends) {
    /* Use up the descriptor pool and most of the first chunk, so the next
     * aligned request takes a fresh chunk and cuts a lead and a trail. */
    void *small[61];
    for (int i = 0; i < 61; i++)
        small[i] = quarry_malloc(PAGE);
    void *big = quarry_malloc(960 * PAGE);
    void *aligned = quarry_aligned_alloc(8192, 8192);
    cr_assert_not_null(aligned);
    cr_assert_eq((uintptr_t)aligned % 8192, 0);
    quarry_free(aligned);
    quarry_free(big);
    for (int i = 0; i < 61; i++)
        quarry_free(small[i]);
}

Test(huge, chunk_aligned_registered_and_resized_without_losing_contents) {
    size_t size = 3 * CHUNK + 12345;
    unsigned char *p = quarry_malloc(size);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p & CHUNK_MASK, 0);
    cr_assert_neq(rtree_get((uintptr_t)p), NULL);
    cr_assert_eq(quarry_malloc_usable_size(p), page_ceil(size));
    for (size_t i = 0; i < size; i += 4096)
        p[i] = (unsigned char)(i >> 12);
    unsigned char *q = quarry_realloc(p, 9 * CHUNK);
    cr_assert_not_null(q);
    cr_assert_eq((uintptr_t)q & CHUNK_MASK, 0);
    for (size_t i = 0; i < size; i += 4096)
        cr_assert_eq(q[i], (unsigned char)(i >> 12));
    unsigned char *r = quarry_realloc(q, 2 * CHUNK);
    cr_assert_eq(r, q, "shrinking a huge block stays in place");
    cr_assert_eq(quarry_malloc_usable_size(r), 2 * CHUNK);
    quarry_free(r);
    if (q != p)
        cr_assert_null(rtree_get((uintptr_t)p), "old mapping still registered");
    cr_assert_null(rtree_get((uintptr_t)r), "freed huge block still registered");
}

/* An overflow that reaches a chunk header (its first word, as an 8-byte
 * overflow off the end of the previous mapping would) is reported by the
 * first slow path that trusts the header. */
static void free_into_an_overwritten_chunk(void *arg) {
    size_t size = (size_t)arg;
    char *p = quarry_malloc(size);
    *(uintptr_t *)chunk_of(p) ^= 0x5a5a; /* the bytes an overflow would write */
    quarry_free(p);
    quarry_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
}

Test(chunks, an_overwritten_chunk_header_is_reported) {
    const char *msg = "quarry: free(): heap corruption: chunk header overwritten";
    assert_aborts_with(free_into_an_overwritten_chunk, (void *)(uintptr_t)48, msg);
    assert_aborts_with(free_into_an_overwritten_chunk, (void *)(uintptr_t)(256 << 10), msg);
}

/* Debug builds check a run's bitmap against its free count, and an arena's
 * page accounting against its chunks, where a bin or the arena changes
 * them: a broken count is reported at the next such change. */
static void miscount_a_run(void *arg) {
    (void)arg;
    char *p = quarry_malloc(96);
    struct run *r = run_of_region(p);
    r->nfree--; /* the bitmap says otherwise */
    quarry_free(p);
    quarry_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
}

static void miscount_an_arena(void *arg) {
    (void)arg;
    void *p = quarry_malloc(5 * PAGE);
    struct arena *a = thread_arena;
    lock_acquire(&a->lock);
    a->ndirty += 3;
    lock_release(&a->lock);
    quarry_free(quarry_malloc(300 * PAGE)); /* large: straight to the arena */
    quarry_free(p);
}

Test(checks, debug_builds_catch_broken_run_and_arena_counts) {
    if (!config_debug)
        cr_skip_test("invariant checkers are compiled in debug builds only (-Ddebug_checks=true)");
    assert_aborts_with(miscount_a_run, NULL, "quarry: run check: free count and bitmap disagree");
    assert_aborts_with(miscount_an_arena, NULL, "quarry: arena check: the arena's counts disagree with its chunks");
}
