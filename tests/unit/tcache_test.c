/* Thread caches: fill and flush arithmetic, GC, thread exit, the bypass
 * after exit, caching turned off, and double frees caught through them. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "conf.h"
#include "helpers.h"
#include "bin.h"
#include "init.h"
#include "quarry.h"
#include "rtree.h"
#include "tcache.h"
#include "valgrind_shim.h"
#include "vg.h"

/* Caching is off under valgrind unless asked for; these tests are about the
 * cache, so they ask. */
static void with_tcache(void) {
    if (RUNNING_ON_VALGRIND)
        setenv("QUARRY_CONF", "tcache:true", 1);
}
TestSuite(tcache, .init = with_tcache);

static struct tcache_bin *my_bin(unsigned bin) { return &thread_tcache->stacks[bin]; }

Test(tcache, a_miss_fills_a_batch_in_ascending_order_lowest_on_top) {
    unsigned cls = size_to_class(64);
    void *first = quarry_malloc(64);
    struct tcache_bin *b = my_bin(cls);
    unsigned cap = tcache_bin_cap(b);
    cr_assert_eq(cap, 2 * size_classes[cls].nregs < 200 ? 2 * size_classes[cls].nregs : 200);
    /* The first fill takes cap >> 1 regions; one was handed out. */
    cr_assert_eq(tcache_bin_count(b), cap / 2 - 1);
    /* The rest come out in ascending address order, with no lock taken. */
    char *prev = first;
    unsigned n = tcache_bin_count(b);
    for (unsigned i = 0; i < n; i++) {
        char *p = quarry_malloc(64);
        cr_assert_gt(p, prev);
        prev = p;
    }
    cr_assert_eq(tcache_bin_count(b), 0);
}

Test(tcache, a_full_stack_flushes_its_oldest_half) {
    unsigned cls = size_to_class(256);
    struct tcache_bin *b;
    unsigned cap;
    void *p[400];
    void *warm = quarry_malloc(256);
    b = my_bin(cls);
    cap = tcache_bin_cap(b);
    cr_assert_lt(cap + 1, 400);
    for (unsigned i = 0; i < cap + 1; i++)
        p[i] = quarry_malloc(256);
    tcache_flush(thread_tcache); /* start from an empty stack */
    for (unsigned i = 0; i < cap; i++)
        quarry_free(p[i]);
    cr_assert_eq(tcache_bin_count(b), cap);
    /* The stack is full: the next free sends the oldest (cap - cap / 2)
     * back to the arena and keeps the newest. */
    quarry_free(p[cap]);
    cr_assert_eq(tcache_bin_count(b), cap / 2 + 1);
    cr_assert_eq(b->top[-1], p[cap]);
    cr_assert_eq(b->base[0], p[cap - cap / 2]);
    quarry_free(warm);
}

/* malloc's hit tests only top == low_water (tcache.h): it relies on
 * base <= low_water <= top, with the mark lowered by each pop that goes
 * below it, left by pushes and by pops above it, and reset by a fill. */
Test(tcache, pops_lower_the_low_water_mark_and_pushes_leave_it) {
    unsigned cls = size_to_class(512);
    void *p[8];
    void *first = quarry_malloc(512); /* a fill: the mark is the top */
    struct tcache_bin *b = my_bin(cls);
    cr_assert_eq(b->low_water, b->top);
    cr_assert_gt(tcache_bin_count(b), 8);
    for (int i = 0; i < 4; i++) {
        p[i] = quarry_malloc(512);
        cr_assert_eq(b->low_water, b->top, "a pop below the mark lowers it");
    }
    void **mark = b->low_water;
    for (int i = 0; i < 4; i++)
        quarry_free(p[i]);
    cr_assert_eq(b->top, mark + 4);
    cr_assert_eq(b->low_water, mark, "a push leaves the mark");
    p[0] = quarry_malloc(512);
    cr_assert_eq(b->low_water, mark, "a pop above the mark leaves it");
    quarry_free(p[0]);
    /* Drain the stack: the mark follows it down to the base, and the pop
     * after that misses and fills. */
    void *held[200];
    unsigned n = 0;
    while (b->top != b->base) {
        held[n++] = quarry_malloc(512);
        cr_assert(b->base <= b->low_water && b->low_water <= b->top);
    }
    cr_assert_eq(b->low_water, b->base);
    void *refilled = quarry_malloc(512);
    cr_assert_not_null(refilled);
    cr_assert_gt(tcache_bin_count(b), 0, "the pop at an empty stack filled it");
    cr_assert_eq(b->low_water, b->top);
    quarry_free(refilled);
    for (unsigned i = 0; i < n; i++)
        quarry_free(held[i]);
    quarry_free(first);
}

Test(tcache, gc_gives_back_what_an_idle_class_held) {
    unsigned cls = size_to_class(128);
    void *p[200];
    for (int i = 0; i < 200; i++)
        p[i] = quarry_malloc(128);
    for (int i = 0; i < 200; i++)
        quarry_free(p[i]);
    struct tcache_bin *b = my_bin(cls);
    unsigned peak = tcache_bin_count(b);
    cr_assert_gt(peak, 40);
    /* Keep the thread busy with another class: its frees drive GC sweeps
     * over every bin, and the idle class drains. */
    for (int i = 0; i < 100000; i++)
        quarry_free(quarry_malloc(24));
    cr_assert_lt(tcache_bin_count(b) * 4, peak, "idle bin kept %u of %u", tcache_bin_count(b), peak);
}

Test(tcache, a_bin_that_keeps_missing_fills_more) {
    unsigned cls = size_to_class(32);
    void *warm = quarry_malloc(32);
    unsigned div_before = thread_tcache->stats[cls].lg_fill_div;
    /* Allocate without freeing: every refill is a miss. Other frees drive
     * the GC steps that see the misses. */
    static void *keep[20000];
    for (int i = 0; i < 20000; i++) {
        keep[i] = quarry_malloc(32);
        quarry_free(quarry_malloc(600));
    }
    cr_assert_lt(thread_tcache->stats[cls].lg_fill_div, div_before + 1);
    cr_assert_eq(thread_tcache->stats[cls].lg_fill_div, 1, "fill should have grown back to cap/2");
    for (int i = 0; i < 20000; i++)
        quarry_free(keep[i]);
    quarry_free(warm);
}

Test(tcache, large_blocks_up_to_tcache_max_are_cached) {
    void *p = quarry_malloc(20000);
    cr_assert_eq(quarry_malloc_usable_size(p), 5 * PAGE);
    quarry_free(p);
    struct tcache_bin *b = my_bin(tcache_large_bin(5));
    cr_assert_eq(tcache_bin_count(b), 1);
    cr_assert_eq(quarry_malloc(5 * PAGE - 100), p, "cached large block not reused");
    void *big = quarry_malloc(40000); /* above tcache_max: not cached */
    quarry_free(big);
    cr_assert_eq(tcache_large_bin(10) >= thread_tcache->nbins, true);
    quarry_free(p);
}

/* ---- thread exit -------------------------------------------------------- */

static void *cache_a_backlog_and_exit(void *arg) {
    void *p[300];
    for (int i = 0; i < 300; i++)
        p[i] = quarry_malloc((size_t)(i % 40) * 50 + 8);
    for (int i = 0; i < 300; i++)
        quarry_free(p[i]);
    *(struct arena **)arg = thread_arena;
    return NULL;
}

static void *touch_nothing(void *arg) {
    (void)arg;
    return NULL;
}

/* Pages in runs that hold blocks: bins' spare runs hold none. */
static size_t active_pages(void) {
    size_t n = 0;
    for (unsigned i = 0; i < narenas; i++)
        if (arenas[i] != NULL) {
            size_t spare = bin_spare_pages(arenas[i]);
            lock_acquire(&arenas[i]->lock);
            n += arenas[i]->nactive - spare;
            lock_release(&arenas[i]->lock);
        }
    return n;
}

Test(tcache, thread_exit_returns_the_cache_and_its_backlog) {
    void *mine = quarry_malloc(8);
    size_t before = active_pages();
    for (int round = 0; round < 50; round++) {
        pthread_t t;
        struct arena *a;
        pthread_create(&t, NULL, cache_a_backlog_and_exit, &a);
        pthread_join(t, NULL);
        pthread_create(&t, NULL, touch_nothing, NULL);
        pthread_join(t, NULL);
        cr_assert_eq(active_pages(), before, "round %d: %zu pages active, %zu before", round, active_pages(),
                     before);
    }
    quarry_free(mine);
}

static pthread_key_t late_key;
static void *late_ptr;

static void late_destructor(void *arg) {
    (void)arg;
    /* Runs after quarry's own destructor (keys created later run later in
     * glibc's first round, and this one re-arms itself once). */
    void *p = quarry_malloc(100);
    memset(p, 1, 100);
    quarry_free(late_ptr);
    late_ptr = quarry_malloc(3000);
    quarry_free(p);
}

static void *allocate_in_destructor(void *arg) {
    (void)arg;
    quarry_free(quarry_malloc(10));
    late_ptr = quarry_malloc(50);
    pthread_setspecific(late_key, (void *)1);
    return NULL;
}

Test(tcache, a_destructor_that_allocates_after_the_cache_is_gone_bypasses_it) {
    pthread_key_create(&late_key, late_destructor);
    void *mine = quarry_malloc(8);
    size_t before = active_pages();
    pthread_t t;
    pthread_create(&t, NULL, allocate_in_destructor, NULL);
    pthread_join(t, NULL);
    cr_assert_not_null(late_ptr);
    cr_assert_eq(quarry_malloc_usable_size(late_ptr), 3072);
    quarry_free(late_ptr);
    tcache_flush(thread_tcache);
    cr_assert_eq(active_pages(), before, "the exiting thread leaked pages");
    quarry_free(mine);
}

/* ---- caching off -------------------------------------------------------- */

static void tcache_off(void) { opt_tcache = false; }

Test(tcache_off, every_thread_bypasses_the_cache, .init = tcache_off) {
    void *p = quarry_malloc(64);
    cr_assert_eq(thread_tcache, &tcache_bypass);
    quarry_free(p);
    cr_assert_eq(quarry_malloc(64), p, "a freed region goes straight back to its run");
}

/* malloc_usable_size() reads a small region's bit only for a block that
 * carries the free key: a block freed straight into its run must carry it
 * too, or the size of a freed block would be answered. */
static void usable_size_after_an_uncached_free(void *arg) {
    (void)arg;
    void *keep = quarry_malloc(64);
    void *p = quarry_malloc(64);
    quarry_free(p);
    (void)quarry_malloc_usable_size(p);
    quarry_free(keep);
}

Test(tcache_off, a_block_freed_past_the_cache_is_still_reported, .init = tcache_off) {
    if (RUNNING_ON_VALGRIND)
        cr_skip_test("memcheck reports the read of the freed block itself");
    assert_aborts_with(usable_size_after_an_uncached_free, NULL,
                       "quarry: malloc_usable_size(): invalid pointer 0x");
}

/* ---- double and invalid frees through the cache ------------------------ */

static void double_free_in_cache(void *arg) {
    (void)arg;
    void *a = quarry_malloc(32), *b = quarry_malloc(32), *c = quarry_malloc(32);
    quarry_free(a);
    quarry_free(b);
    quarry_free(c);
    quarry_free(a); /* not the most recent entry: found by the key and a scan */
}

static void double_free_large_in_cache(void *arg) {
    (void)arg;
    void *a = quarry_malloc(3 * PAGE);
    quarry_free(a);
    quarry_free(a);
}

static void double_free_after_flush(void *arg) {
    (void)arg;
    void *a = quarry_malloc(48);
    quarry_free(a);
    tcache_flush(thread_tcache);
    quarry_free(a); /* back in its run's bitmap already */
}

static void sized_free_with_a_wrong_size(void *arg) {
    (void)arg;
    void *a = quarry_malloc(1000);
    quarry_free_sized(a, 16); /* names another class: never cached */
}

static void sized_free_of_an_interior_pointer(void *arg) {
    (void)arg;
    char *a = quarry_malloc(64);
    quarry_free_sized(a + 16, 16);
}

enum { NLARGE = 8 };

struct large_blocks {
    void *p[NLARGE];
    struct arena *arena;
};

/* Two-page blocks of the calling thread's arena. */
static void *make_large_blocks(void *arg) {
    struct large_blocks *m = arg;
    for (int i = 0; i < NLARGE; i++)
        m->p[i] = quarry_malloc(2 * PAGE);
    m->arena = thread_arena;
    return NULL;
}

static size_t live_two_page_runs(struct arena *a) {
    lock_acquire(&a->lock);
    size_t n = a->large[1].curruns;
    lock_release(&a->lock);
    return n;
}

/* A flush takes each arena's lock once for its blocks of that arena
 * (large_free_batch()): blocks of two arenas, interleaved in the cache,
 * each go back to their own. */
Test(tcache, a_flush_gives_large_blocks_of_two_arenas_back_each_to_its_own) {
    quarry_free(quarry_malloc(64)); /* bind this thread to an arena first */
    struct large_blocks theirs, mine;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, make_large_blocks, &theirs), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    tcache_flush(thread_tcache);
    make_large_blocks(&mine);
    cr_assert_neq(theirs.arena, mine.arena, "the other thread had an arena of its own");
    size_t their_runs = live_two_page_runs(theirs.arena), my_runs = live_two_page_runs(mine.arena);
    struct tcache_bin *b = my_bin(tcache_large_bin(2));
    cr_assert_geq(tcache_bin_cap(b), 2 * NLARGE);
    for (int i = 0; i < NLARGE; i++) {
        quarry_free(theirs.p[i]);
        quarry_free(mine.p[i]);
    }
    cr_assert_eq(tcache_bin_count(b), 2 * NLARGE, "all cached");
    cr_assert_eq(live_two_page_runs(theirs.arena), their_runs);
    tcache_flush(thread_tcache);
    cr_assert_eq(tcache_bin_count(b), 0);
    cr_assert_eq(live_two_page_runs(theirs.arena), their_runs - NLARGE);
    cr_assert_eq(live_two_page_runs(mine.arena), my_runs - NLARGE);
}

static void *large_block;

static void *free_large_and_flush(void *arg) {
    (void)arg;
    quarry_free(large_block); /* this thread's cache takes it too... */
    tcache_flush(thread_tcache); /* ...and gives it to the arena */
    return NULL;
}

static void double_free_large_from_two_threads(void *arg) {
    (void)arg;
    void *keep = quarry_malloc(2 * PAGE);
    large_block = quarry_malloc(2 * PAGE);
    void *keep2 = quarry_malloc(2 * PAGE);
    quarry_free(large_block); /* into this thread's cache */
    pthread_t t;
    pthread_create(&t, NULL, free_large_and_flush, NULL);
    pthread_join(t, NULL);
    tcache_flush(thread_tcache); /* the second copy reaches the arena: caught */
    quarry_free(keep);
    quarry_free(keep2);
}

static void usable_size_after_flush(void *arg) {
    (void)arg;
    void *keep = quarry_malloc(48);
    void *a = quarry_malloc(48);
    quarry_free(a);
    tcache_flush(thread_tcache); /* back in its run, still keyed */
    (void)quarry_malloc_usable_size(a);
    quarry_free(keep);
}

static void usable_size_after_dallocx_without_cache(void *arg) {
    (void)arg;
    void *keep = quarry_malloc(48);
    void *a = quarry_malloc(48);
    quarry_dallocx(a, QUARRY_MALLOCX_TCACHE_NONE); /* straight into its run */
    (void)quarry_malloc_usable_size(a);
    quarry_free(keep);
}

Test(tcache, a_freed_block_is_reported_by_malloc_usable_size_wherever_it_went) {
    if (RUNNING_ON_VALGRIND)
        cr_skip_test("memcheck reports the read of the freed block itself");
    assert_aborts_with(usable_size_after_flush, NULL, "quarry: malloc_usable_size(): invalid pointer 0x");
    assert_aborts_with(usable_size_after_dallocx_without_cache, NULL,
                       "quarry: malloc_usable_size(): invalid pointer 0x");
}

/* Large blocks (4-8 KiB, as Redis's list nodes) take their own path in
 * malloc_usable_size and realloc: a live one is answered and resized, a
 * freed one still in a cache (keyed) or back in its arena is reported. */
static void usable_size_of_a_cached_large_block(void *arg) {
    (void)arg;
    void *a = quarry_malloc(6000);
    quarry_free(a); /* cached: keyed */
    (void)quarry_malloc_usable_size(a);
}

static void usable_size_of_a_large_block_back_in_its_arena(void *arg) {
    (void)arg;
    void *keep = quarry_malloc(6000);
    void *a = quarry_malloc(6000);
    quarry_free(a);
    tcache_flush(thread_tcache); /* a free run now */
    (void)quarry_malloc_usable_size(a);
    quarry_free(keep);
}

static void realloc_of_a_cached_large_block(void *arg) {
    (void)arg;
    void *a = quarry_malloc(6000);
    quarry_free(a);
    (void)quarry_realloc(a, 9000);
}

Test(tcache, large_blocks_are_sized_resized_and_reported_without_the_registry) {
    if (RUNNING_ON_VALGRIND)
        cr_skip_test("memcheck reports the read of the freed block itself");
    char *a = quarry_malloc(6000);
    cr_assert_eq(quarry_malloc_usable_size(a), 2 * PAGE);
    memset(a, 0x5a, 6000);
    char *b = quarry_realloc(a, 7000);
    cr_assert_eq(b, a, "the same two pages");
    char *c = quarry_realloc(b, 3 * PAGE + 1);
    cr_assert_eq(quarry_malloc_usable_size(c), 4 * PAGE);
    for (int i = 0; i < 6000; i++)
        cr_assert_eq(c[i], 0x5a);
    quarry_free(c);
    assert_aborts_with(usable_size_of_a_cached_large_block, NULL, "quarry: malloc_usable_size(): invalid pointer 0x");
    assert_aborts_with(usable_size_of_a_large_block_back_in_its_arena, NULL,
                       "quarry: malloc_usable_size(): invalid pointer 0x");
    assert_aborts_with(realloc_of_a_cached_large_block, NULL, "quarry: realloc(): invalid pointer 0x");
}

/* malloc_usable_size and realloc read a block's first word on their fast
 * paths only in CHUNK_ARENA chunks, registered once the key is in force:
 * under memcheck, where a freed block must not even be read, there are
 * none, and every pointer takes the slow paths. */
Test(tcache, fast_paths_read_blocks_only_in_keyed_chunks) {
    void *p = quarry_malloc(48);
    uint8_t kind = fast_tables.chunk_kinds[(uintptr_t)p >> LG_CHUNK];
    if (vg_active)
        cr_assert_eq(kind, CHUNK_ARENA_UNKEYED, "an arena chunk is keyed under memcheck");
    else
        cr_assert_eq(kind, CHUNK_ARENA, "an arena chunk made after the boot is not keyed");
    cr_assert_eq(quarry_malloc_usable_size(p), 48);
    quarry_free(p);
}

Test(tcache, double_frees_are_caught_in_and_after_the_cache) {
    assert_aborts_with(double_free_in_cache, NULL, "quarry: free(): invalid pointer 0x");
    assert_aborts_with(double_free_large_in_cache, NULL, "quarry: free(): invalid pointer 0x");
    assert_aborts_with(double_free_after_flush, NULL, "quarry: free(): invalid pointer 0x");
    assert_aborts_with(sized_free_with_a_wrong_size, NULL, "quarry: free_sized(): invalid pointer 0x");
    assert_aborts_with(sized_free_of_an_interior_pointer, NULL, "quarry: free_sized(): invalid pointer 0x");
    assert_aborts_with(double_free_large_from_two_threads, NULL, "quarry: free(): invalid pointer 0x");
}

/* A use after free overwrites the key, then a second free: the block is in
 * the stack twice, and the copy without its key is caught before it is
 * handed out a second time. */
static void double_free_after_a_write(void *arg) {
    (void)arg;
    uintptr_t *a = quarry_malloc(48);
    quarry_free(a);
    a[0] = 0x1234; /* written after free */
    quarry_free(a);
    void *b = quarry_malloc(48); /* the second copy, rekeyed by the second free */
    void *c = quarry_malloc(48); /* the first: no key, caught */
    (void)b;
    (void)c;
}

static uintptr_t *handed_blocks[2];

static void *allocate_once(void *arg) {
    (void)arg;
    void *p = quarry_malloc(48); /* fills this thread's cache: takes both, hands out the lower */
    return p;
}

/* One thread frees a block twice; between the frees its cache flushed the
 * block and another thread's refill took it into that thread's cache. */
static void double_free_across_a_refill(void *arg) {
    (void)arg;
    handed_blocks[0] = quarry_malloc(48);
    handed_blocks[1] = quarry_malloc(48);
    quarry_free(handed_blocks[0]);
    quarry_free(handed_blocks[1]);
    tcache_flush(thread_tcache);
    pthread_t t;
    pthread_create(&t, NULL, allocate_once, NULL);
    pthread_join(t, NULL);
    quarry_free(handed_blocks[1]); /* sits in the other thread's cache */
}

static void *free_once(void *arg) {
    quarry_free(arg);
    return NULL;
}

/* Two live threads free the same block. */
static void double_free_from_two_live_threads(void *arg) {
    (void)arg;
    void *a = quarry_malloc(48);
    pthread_t t;
    pthread_create(&t, NULL, free_once, a);
    pthread_join(t, NULL);
    quarry_free(a); /* the other thread's cache holds the first copy */
}

Test(tcache, double_frees_through_other_threads_and_writes_after_free_are_caught) {
    if (RUNNING_ON_VALGRIND)
        cr_skip_test("the thread cache is off under valgrind");
    /* safe:true (the default in debug builds) catches it at the second
     * free, by the block's cached bit; the key alone, when the cache would
     * hand the block out again. */
    assert_aborts_with(double_free_after_a_write, NULL,
                       opt_safe ? "quarry: free(): invalid pointer 0x"
                                : "quarry: malloc(): heap corruption: freed block written after free");
    assert_aborts_with(double_free_across_a_refill, NULL, "quarry: free(): invalid pointer 0x");
    assert_aborts_with(double_free_from_two_live_threads, NULL, "quarry: free(): invalid pointer 0x");
}

Test(tcache, fresh_blocks_do_not_carry_the_free_key) {
    void *p[64];
    for (int i = 0; i < 64; i++)
        p[i] = quarry_malloc(16);
    for (int i = 0; i < 64; i++)
        quarry_free(p[i]);
    tcache_flush(thread_tcache);
    /* Refilled from the bin, through the slow path: word 0 is clear. */
    uintptr_t *q = quarry_malloc(16);
    cr_assert_eq(*q, 0);
    quarry_free(q);
    cr_assert_neq(tcache_free_key.key, 0);
    cr_assert_eq(tcache_free_key.key & 1, 1, "the key is never a block address");
}

/* The perms of the mapping that holds addr, and of the one just before
 * it, from /proc/self/maps. */
static void maps_around(uintptr_t addr, char *here, char *before) {
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[512], prev_perms[8] = "", perms[8];
    unsigned long start, end, prev_end = 0;
    here[0] = before[0] = '\0';
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3)
            continue;
        if (start <= addr && addr < end) {
            strcpy(here, perms);
            if (prev_end == start)
                strcpy(before, prev_perms);
            break;
        }
        prev_end = end;
        strcpy(prev_perms, perms);
    }
    fclose(f);
}

Test(tcache, caches_live_in_guarded_metadata_memory_not_among_user_blocks) {
    if (RUNNING_ON_VALGRIND)
        cr_skip_test("the thread cache is off under valgrind");
    quarry_free(quarry_malloc(16)); /* the cache exists from here */
    struct tcache *tc = thread_tcache;
    cr_assert(tcache_is_real(tc));
    cr_assert_eq(fast_tables.chunk_kinds[(uintptr_t)tc >> LG_CHUNK], CHUNK_NONE, "a thread cache sits in a chunk of quarry's");
    cr_assert_null(rtree_get((uintptr_t)tc));
    char here[8], before[8];
    maps_around((uintptr_t)tc, here, before);
    cr_assert_str_eq(here, "rw-p");
    cr_assert_str_eq(before, "---p", "no guard page before the metadata mapping (%s)", before);
}
