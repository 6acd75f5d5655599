/* Giving memory back: RSS after freeing, the dirty bound after every free,
 * explicit purges, calloc from purged pages, retained chunks, THP advice
 * and the huge cache. Each test runs in its own process, so the options a
 * test sets before its first allocation are the ones quarry starts with. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conf.h"
#include "helpers.h"
#include "init.h"
#include "purge.h"
#include "reclaim.h"
#include "quarry.h"
#include "stats.h"
#include "tcache.h"
#include "valgrind_shim.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* Resident bytes of the process. Under ASan, less its shadow memory: the
 * shadow of the pages quarry touched (an eighth of them) may stay
 * resident after quarry has given the pages back, and it is ASan's memory,
 * not quarry's (x86-64's shadow lies in [0x7fff8000, 0x10007fff8000)). */
static size_t rss_bytes(void) {
#ifdef UNDER_ASAN
    FILE *f = fopen("/proc/self/smaps", "r");
    cr_assert_not_null(f);
    char line[512];
    unsigned long start = 0, end = 0, kb, total_kb = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
            continue;
        bool shadow = start >= 0x7fff8000ul && start < 0x10007fff8000ul;
        if (sscanf(line, "Rss: %lu kB", &kb) == 1 && !shadow)
            total_kb += kb;
    }
    fclose(f);
    return total_kb << 10;
#else
    unsigned long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return resident * 4096;
#endif
}

static size_t ctl_size(const char *name) {
    size_t v = 0, len = sizeof(v);
    cr_assert_eq(quarry_ctl(name, &v, &len, NULL, 0), 0, "ctl %s", name);
    return v;
}

/* 64 KiB blocks and 1 KiB blocks, touched, then freed in allocation order.
 * Returns the RSS growth at the peak. */
enum { BIG = 64 << 10, SMALL = 1 << 10 };
static void *big_blocks[4096];
static void *small_blocks[1 << 18];

static size_t fill_and_free(size_t bytes_each) {
    size_t nbig = bytes_each / BIG, nsmall = bytes_each / SMALL;
    size_t before = rss_bytes();
    for (size_t i = 0; i < nbig; i++) {
        big_blocks[i] = quarry_malloc(BIG);
        memset(big_blocks[i], 1, BIG);
    }
    for (size_t i = 0; i < nsmall; i++) {
        small_blocks[i] = quarry_malloc(SMALL);
        memset(small_blocks[i], 2, SMALL);
    }
    size_t peak = rss_bytes() - before;
    for (size_t i = 0; i < nbig; i++)
        quarry_free(big_blocks[i]);
    for (size_t i = 0; i < nsmall; i++)
        quarry_free(small_blocks[i]);
    return peak;
}

static size_t test_bytes(void) { return RUNNING_ON_VALGRIND ? (size_t)16 << 20 : (size_t)128 << 20; }

static size_t arenas_in_use(void) {
    size_t n = 0;
    for (unsigned i = 0; i < narenas; i++)
        n += arenas[i] != NULL;
    return n;
}

Test(purge, rss_falls_after_freeing_without_an_explicit_call) {
    size_t base = rss_bytes();
    size_t peak = fill_and_free(test_bytes());
    size_t left = rss_bytes() > base ? rss_bytes() - base : 0;
    size_t bound = (peak >> opt_lg_dirty_mult) + arenas_in_use() * CHUNK + ctl_size("stats.metadata");
    cr_assert_leq(left, bound, "RSS kept %zu of a %zu peak (bound %zu)", left, peak, bound);
    /* quarry's own count agrees: what is dirty is within the floor. */
    cr_assert_leq(ctl_size("stats.dirty"), arenas_in_use() * PURGE_FLOOR * PAGE + HUGE_CACHE_FLOOR);
}

Test(purge, explicit_purge_leaves_under_5_percent_of_the_peak) {
    size_t base = rss_bytes();
    size_t peak = fill_and_free(test_bytes());
    quarry_purge();
    size_t left = rss_bytes() > base ? rss_bytes() - base : 0;
    if (!RUNNING_ON_VALGRIND)
        cr_assert_lt(left * 20, peak, "RSS kept %zu of a %zu peak", left, peak);
    cr_assert_eq(ctl_size("stats.dirty"), 0);
}

static void no_purging(void) { opt_lg_dirty_mult = -1; }

Test(purge, with_lg_dirty_mult_minus_1_memory_stays, .init = no_purging) {
    size_t base = rss_bytes();
    size_t peak = fill_and_free(test_bytes());
    size_t left = rss_bytes() - base;
    if (!RUNNING_ON_VALGRIND)
        cr_assert_gt(left * 10, peak * 8, "RSS fell to %zu of %zu with purging off", left, peak);
    struct arena_snapshot a;
    cr_assert(stats_arena(thread_arena->index, &a));
    cr_assert_eq(a.s.npurge, 0);
    /* An explicit purge still works. */
    quarry_purge();
    cr_assert_eq(ctl_size("stats.dirty"), 0);
}

/* decay_ms:-1, the bound alone: checked after every free. */
static void bound_alone(void) { opt_decay_ms = -1; }

Test(purge, with_the_bound_alone_dirty_stays_within_it_after_every_free, .init = bound_alone) {
    enum { N = 4096 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = quarry_malloc(BIG); /* above tcache_max: straight to the arena */
    struct arena *a = thread_arena;
    for (int i = 0; i < N; i += 2) {
        quarry_free(p[i]);
        lock_acquire(&a->lock);
        size_t dirty = a->ndirty, active = a->nactive;
        lock_release(&a->lock);
        cr_assert_leq(dirty, active >> opt_lg_dirty_mult, "after free %d: %zu dirty, %zu active", i, dirty,
                      active);
    }
    cr_assert_gt(a->stats.npurge, 0, "never purged");
    /* Hysteresis: far fewer purge passes than frees. */
    cr_assert_lt(a->stats.npurge * 8, (uint64_t)N / 2);
    for (int i = 1; i < N; i += 2)
        quarry_free(p[i]);
}

/* By default an arena that still holds an eighth of its recent peak
 * keeps the pages it frees (young, the next allocations reuse them), up to
 * its peak footprint; once it falls below, the bound holds after every
 * free, and the pages go back in a few passes over runs that have merged,
 * not in one madvise per freed block. */
Test(purge, young_pages_stay_until_the_heap_falls_below_an_eighth_of_its_peak) {
    enum { N = 4096 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = quarry_malloc(BIG);
    struct arena *a = thread_arena;
    lock_acquire(&a->lock);
    size_t peak = a->nactive;
    lock_release(&a->lock);
    /* Every other block: the heap keeps half its peak, nothing is purged,
     * and the arena never holds more than its peak footprint. */
    for (int i = 0; i < N; i += 2)
        quarry_free(p[i]);
    lock_acquire(&a->lock);
    size_t dirty = a->ndirty, active = a->nactive;
    lock_release(&a->lock);
    cr_assert_eq(a->stats.npurge, 0, "purged %zu pages at half the peak", (size_t)a->stats.purged);
    cr_assert_geq(dirty, (size_t)(N / 2) * (BIG / PAGE), "the freed pages stay dirty");
    cr_assert_leq(dirty + active, peak + (peak >> opt_lg_dirty_mult));
    /* The rest, in address order. */
    size_t low = peak >> 3;
    for (int i = 1; i < N; i += 2) {
        quarry_free(p[i]);
        lock_acquire(&a->lock);
        dirty = a->ndirty, active = a->nactive;
        lock_release(&a->lock);
        if (active < low)
            cr_assert_leq(dirty, arena_dirty_bound(a), "after free %d: %zu dirty, %zu active", i, dirty, active);
    }
    cr_assert_gt(a->stats.npurge, 0, "never purged");
    /* From 1/8 of the peak down, one pass per half-bound of frees. */
    cr_assert_lt(a->stats.npurge, 32, "%zu passes", (size_t)a->stats.npurge);
    /* Every page went back in runs longer than one block. */
    cr_assert_lt(a->stats.nmadvise * 2 * (BIG / PAGE), a->stats.purged, "%zu calls for %zu pages",
                 (size_t)a->stats.nmadvise, (size_t)a->stats.purged);
}

Test(purge, calloc_from_purged_pages_skips_the_memset_and_dirty_reuse_is_zeroed) {
    size_t size = 1 << 20;
    char *p = quarry_malloc(size);
    memset(p, 0x77, size);
    quarry_free(p);
    quarry_purge();
    uint64_t skipped = 0;
    size_t len = sizeof(skipped);
    char name[64];
    snprintf(name, sizeof(name), "stats.arenas.%u.calloc_zeroed", thread_arena->index);
    cr_assert_eq(quarry_ctl(name, &skipped, &len, NULL, 0), 0);
    char *q = quarry_calloc(1, size);
    uint64_t after;
    cr_assert_eq(quarry_ctl(name, &after, &len, NULL, 0), 0);
    cr_assert_eq(after, skipped + 1, "calloc from purged pages should not memset");
    for (size_t i = 0; i < size; i += 64)
        cr_assert_eq(q[i], 0);
    memset(q, 0x55, size);
    quarry_free(q); /* dirty now */
    char *r = quarry_calloc(size, 1);
    cr_assert_eq(quarry_ctl(name, &skipped, &len, NULL, 0), 0);
    cr_assert_eq(skipped, after, "dirty pages cannot skip the memset");
    for (size_t i = 0; i < size; i++)
        if (r[i] != 0)
            cr_assert_fail("byte %zu of a calloc from dirty pages is %d", i, r[i]);
    quarry_free(r);
}

static void *chunk_fillers[8];

/* Fills two chunks completely and frees them: one becomes the spare, the
 * other leaves the arena. */
static void empty_two_chunks(void) {
    for (int i = 0; i < 3; i++)
        chunk_fillers[i] = quarry_malloc(LARGE_MAX);
    for (int i = 0; i < 3; i++)
        quarry_free(chunk_fillers[i]);
}

Test(purge, emptied_chunks_are_retained_by_default_and_reused) {
    cr_assert(opt_retain);
    empty_two_chunks();
    size_t retained = ctl_size("stats.retained");
    cr_assert_geq(retained, CHUNK);
    void *again = quarry_malloc(LARGE_MAX);
    void *again2 = quarry_malloc(LARGE_MAX);
    cr_assert_lt(ctl_size("stats.retained"), retained, "a retained chunk should be taken before mapping anew");
    quarry_free(again);
    quarry_free(again2);
}

/* A stray free into a retained chunk is a foreign pointer now: reported,
 * not a crash on the chunk's purged page map. */
static void free_into_retained_chunk(void *arg) {
    (void)arg;
    void *a = quarry_malloc(1000 * PAGE), *b = quarry_malloc(510 * PAGE);
    char *c = quarry_malloc(100 * PAGE);
    quarry_free(a);
    quarry_free(b);
    quarry_free(c);
    quarry_free(c);
}

Test(purge, a_free_into_a_retained_chunk_is_reported) {
    assert_aborts_with(free_into_retained_chunk, NULL, "quarry: free(): invalid pointer 0x");
}

static void no_retain(void) { opt_retain = false; }

Test(purge, without_retain_emptied_chunks_are_unmapped, .init = no_retain) {
    empty_two_chunks();
    cr_assert_eq(ctl_size("stats.retained"), 0);
    cr_assert_leq(ctl_size("stats.mapped"), 2 * CHUNK + ctl_size("stats.metadata") + HUGE_CACHE_FLOOR);
}

/* The VmFlags line of the mapping that holds addr, from /proc/self/smaps. */
static void vm_flags_of(const void *addr, char *out, size_t outlen) {
    FILE *f = fopen("/proc/self/smaps", "r");
    cr_assert_not_null(f);
    char line[200];
    bool inside = false;
    out[0] = '\0';
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') == line + strspn(line, "0123456789abcdef"))
            inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0)
            snprintf(out, outlen, "%s", line);
    }
    fclose(f);
}

static void thp_never(void) { opt_thp = THP_NEVER; }
static void thp_always(void) { opt_thp = THP_ALWAYS; }

Test(thp, never_marks_chunks_nohugepage, .init = thp_never) {
    char flags[256];
    void *p = quarry_malloc(100);
    vm_flags_of(p, flags, sizeof(flags));
    cr_assert(strstr(flags, " nh") != NULL, "VmFlags: %s", flags);
    quarry_free(p);
}

Test(thp, always_marks_chunks_hugepage, .init = thp_always) {
    char flags[256];
    void *p = quarry_malloc(100);
    vm_flags_of(p, flags, sizeof(flags));
    cr_assert(strstr(flags, " hg") != NULL, "VmFlags: %s", flags);
    quarry_free(p);
}

Test(huge_cache, a_freed_huge_mapping_is_reused_without_new_pages) {
    size_t size = 12 << 20;
    char *p = quarry_malloc(size);
    memset(p, 3, size);
    quarry_free(p);
    struct huge_stats s = huge_get_stats();
    cr_assert_eq(s.ncached, 1);
    cr_assert_eq(s.cached, size);
    char *q = quarry_malloc(size - 100000);
    cr_assert_eq(q, p, "the cached mapping should come back");
    cr_assert_eq(huge_get_stats().nreused, 1);
    /* A calloc from the cache is zeroed by hand. */
    quarry_free(q);
    char *z = quarry_calloc(1, size);
    for (size_t i = 0; i < size; i += 4096)
        cr_assert_eq(z[i], 0);
    quarry_free(z);
    /* An explicit purge empties the cache. */
    quarry_purge();
    cr_assert_eq(huge_get_stats().cached, 0);
}

static long minor_faults(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* A long mapping reused for a short block is cut, its tail cached; when
 * the short block is freed and a long one asked for again, the two pieces
 * join, and the long block gets the pages it had, none faulted anew. */
Test(huge_cache, a_cut_mapping_joins_its_tail_again_without_new_pages) {
    size_t big = 24 << 20, small = 5 << 20;
    char *p = quarry_malloc(big);
    memset(p, 1, big);
    quarry_free(p);
    char *q = quarry_malloc(small);
    cr_assert_eq(q, p, "the slot's mapping is reused, cut to the short block");
    memset(q, 2, small);
    quarry_free(q);
    long before = minor_faults();
    char *r = quarry_malloc(big);
    memset(r, 3, big);
    long faults = minor_faults() - before;
    cr_assert_eq(r, p, "the piece and its tail should come back as one mapping");
    /* (Under valgrind the faults are memcheck's own shadow pages.) */
    if (!RUNNING_ON_VALGRIND)
        cr_assert_lt(faults, 256, "%ld pages faulted in again", faults);
    quarry_free(r);
}

Test(purge, locked_pages_that_cannot_be_purged_are_not_taken_for_zero) {
    if (RUNNING_ON_VALGRIND)
        cr_skip_test("mlockall under valgrind");
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
        cr_skip_test("mlockall not permitted here");
    void *keep = quarry_malloc(32 << 10);
    unsigned char *p = quarry_malloc(600 * PAGE);
    memset(p, 0xab, 600 * PAGE);
    quarry_free(p);
    quarry_purge(); /* madvise fails on locked pages */
    unsigned char *q = quarry_calloc(1, 600 * PAGE);
    for (size_t i = 0; i < 600 * PAGE; i++)
        if (q[i] != 0)
            cr_assert_fail("calloc byte %zu is 0x%x after a failed purge", i, q[i]);
    quarry_free(q);
    quarry_free(keep);
    munlockall();
}

static void short_decay(void) { opt_decay_ms = 50; }

Test(huge_cache, a_thread_keeps_its_last_huge_mapping_in_its_slot_until_it_ages, .init = short_decay) {
    size_t size = 8 << 20;
    char *p = quarry_malloc(size);
    quarry_free(p);
    struct huge_stats s = huge_get_stats();
    cr_assert_eq(s.ncached, 1);
    cr_assert_eq(s.cached, size);
    cr_assert_eq(s.allocated, 0);
    char *q = quarry_malloc(size);
    cr_assert_eq(q, p, "the slot's mapping comes back");
    cr_assert_eq(huge_get_stats().allocated, size);
    quarry_free(q);
    /* Idle for longer than decay_ms, an age step unmaps it. */
    usleep(120 * 1000);
    cr_assert_geq(reclaim_decay(ARENAS_ALL), size);
    cr_assert_eq(huge_get_stats().cached, 0);
    cr_assert_eq(huge_get_stats().ncached, 0);
}

static pthread_barrier_t slot_barrier;

static void *free_huge_and_idle(void *arg) {
    quarry_free(quarry_malloc((size_t)arg));
    pthread_barrier_wait(&slot_barrier); /* freed: the main thread purges */
    pthread_barrier_wait(&slot_barrier); /* purged: exit */
    return NULL;
}

Test(huge_cache, an_explicit_purge_empties_other_threads_slots) {
    size_t size = 24 << 20;
    pthread_t t[4];
    pthread_barrier_init(&slot_barrier, NULL, 5);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, free_huge_and_idle, (void *)size);
    pthread_barrier_wait(&slot_barrier);
    cr_assert_geq(huge_get_stats().cached, 4 * size, "each thread's slot holds its mapping");
    cr_assert_gt(quarry_purge(), 4 * size - 1);
    cr_assert_eq(huge_get_stats().cached, 0);
    pthread_barrier_wait(&slot_barrier);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}

Test(huge_cache, a_reused_mapping_gives_the_exact_usable_size) {
    char *p = quarry_malloc(30 << 20);
    quarry_free(p);
    char *q = quarry_malloc(5 << 20);
    cr_assert_eq(quarry_malloc_usable_size(q), (size_t)5 << 20);
    struct huge_stats s = huge_get_stats();
    cr_assert_leq(s.slack, (size_t)5 << 20, "slack %zu past a 5 MiB block", s.slack);
    char *r = quarry_malloc((5 << 20) + 1);
    cr_assert_eq(quarry_malloc_usable_size(r), page_ceil((5 << 20) + 1));
    quarry_free(q);
    quarry_free(r);
}

Test(huge_cache, stays_within_its_bounds) {
    void *p[40];
    for (int i = 0; i < 40; i++)
        p[i] = quarry_malloc((size_t)(5 + i % 7) << 20);
    for (int i = 0; i < 40; i++)
        quarry_free(p[i]);
    /* The shared cache's bounds, plus the thread's slot. */
    struct huge_stats s = huge_get_stats();
    cr_assert_leq(s.ncached, HUGE_CACHE_SLOTS + 1);
    cr_assert_leq(s.cached, HUGE_CACHE_FLOOR + HUGE_SLOT_MAX);
}

/* The cycle allowance lasts decay_ms: on a loaded machine (under valgrind,
 * beside other tests) eight cycles of 128 MiB may take longer than the
 * default 10 s, and the allowance would lapse for reasons of time, not of
 * policy. */
static void long_decay(void) { opt_decay_ms = 600000; }

/* A workload that frees its heap and refills it, again and again: after
 * the first cycle quarry stops purging what the next one faults back in,
 * and its footprint stays near the peak. */
Test(purge, a_cyclic_workload_stops_purging_after_its_first_refill, .init = long_decay) {
    enum { N = 2048 };
    static void *p[N];
    struct arena *a = NULL;
    uint64_t after_two = 0;
    for (int cycle = 0; cycle < 8; cycle++) {
        for (int i = 0; i < N; i++)
            p[i] = quarry_malloc(BIG);
        a = thread_arena;
        for (int i = 0; i < N; i++)
            quarry_free(p[i]);
        if (cycle == 1)
            after_two = a->stats.npurge;
    }
    cr_assert_gt(after_two, 0, "the first free-all purges");
    cr_assert_eq(a->stats.npurge, after_two, "cycles 3 to 8 purged again (%lu passes, %lu after two)",
                 (unsigned long)a->stats.npurge, (unsigned long)after_two);
    lock_acquire(&a->lock);
    size_t footprint = a->nactive + a->ndirty;
    lock_release(&a->lock);
    size_t peak = (size_t)N * BIG / PAGE;
    cr_assert_leq(footprint, peak + (peak >> opt_lg_dirty_mult), "%zu pages kept for a %zu-page peak", footprint,
                  peak);
}

static void quick_decay(void) { opt_decay_ms = 100; }

Test(purge, dirty_pages_older_than_decay_ms_go_back_at_the_next_slow_path, .init = quick_decay) {
    enum { N = 12 }; /* 192 pages: under the bound's floor */
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = quarry_malloc(BIG);
    for (int i = 0; i < N; i++)
        quarry_free(p[i]);
    struct arena *a = thread_arena;
    lock_acquire(&a->lock);
    size_t dirty = a->ndirty;
    lock_release(&a->lock);
    cr_assert_geq(dirty, (size_t)N * BIG / PAGE, "under the bound's floor, they stay dirty at first");
    usleep(250 * 1000);
    /* Each age step takes a quarter (at least the floor) of what is old. */
    for (int i = 0; i < 8; i++) {
        quarry_free(quarry_malloc(BIG));
        usleep(20 * 1000);
    }
    lock_acquire(&a->lock);
    dirty = a->ndirty;
    lock_release(&a->lock);
    cr_assert_leq(dirty, BIG / PAGE, "%zu dirty pages left after the age steps", dirty);
}

static void *fill_free_and_exit(void *arg) {
    enum { N = 12 }; /* 192 pages: under the bound's floor, so they stay */
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = quarry_malloc(BIG);
    for (int i = 0; i < N; i++)
        quarry_free(p[i]);
    *(struct arena **)arg = thread_arena;
    return NULL;
}

/* The arena of a thread that has exited gets no more slow paths of its
 * own: other threads' cache sweeps take its age steps. */
Test(purge, pages_age_out_of_an_arena_whose_thread_has_exited, .init = quick_decay) {
    if (RUNNING_ON_VALGRIND)
        cr_skip_test("valgrind turns the thread caches off, and with them the sweeps");
    quarry_free(quarry_malloc(64)); /* bind this thread first */
    struct arena *gone = NULL;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fill_free_and_exit, &gone), 0);
    pthread_join(t, NULL);
    cr_assert_neq(gone, thread_arena, "the other thread had an arena of its own");
    lock_acquire(&gone->lock);
    size_t dirty = gone->ndirty;
    lock_release(&gone->lock);
    cr_assert_geq(dirty, (size_t)12 * BIG / PAGE, "the freed pages are dirty at first");
    usleep(250 * 1000);
    /* This thread only hits its cache from now on. */
    for (int round = 0; round < 20 && dirty != 0; round++) {
        for (int i = 0; i < 20000; i++)
            quarry_free(quarry_malloc(64));
        usleep(20 * 1000);
        lock_acquire(&gone->lock);
        dirty = gone->ndirty;
        lock_release(&gone->lock);
    }
    cr_assert_eq(dirty, 0, "%zu dirty pages left in the exited thread's arena", dirty);
}

static void *free_huge_and_wait(void *arg) {
    quarry_free(quarry_malloc((size_t)arg));
    pthread_barrier_wait(&slot_barrier); /* freed: the main thread works */
    pthread_barrier_wait(&slot_barrier); /* checked: exit */
    return NULL;
}

/* A thread that freed a huge block and went idle keeps it in its slot;
 * with no huge operation anywhere, other threads' cache sweeps age it. */
Test(huge_cache, an_idle_threads_slot_ages_out_while_others_only_hit_their_caches, .init = quick_decay) {
    if (RUNNING_ON_VALGRIND)
        cr_skip_test("valgrind turns the thread caches off, and with them the sweeps");
    size_t size = 8 << 20;
    pthread_t t;
    pthread_barrier_init(&slot_barrier, NULL, 2);
    cr_assert_eq(pthread_create(&t, NULL, free_huge_and_wait, (void *)size), 0);
    pthread_barrier_wait(&slot_barrier);
    cr_assert_geq(huge_get_stats().cached, size, "the idle thread's slot holds its mapping");
    usleep(250 * 1000);
    size_t cached = huge_get_stats().cached;
    for (int round = 0; round < 20 && cached != 0; round++) {
        for (int i = 0; i < 20000; i++)
            quarry_free(quarry_malloc(64));
        usleep(20 * 1000);
        cached = huge_get_stats().cached;
    }
    cr_assert_eq(cached, 0, "%zu bytes still cached", cached);
    pthread_barrier_wait(&slot_barrier);
    pthread_join(t, NULL);
}

static void background_decay(void) {
    opt_decay_ms = 100;
    opt_background_thread = true;
}

Test(purge, the_background_thread_purges_an_idle_heap, .init = background_decay) {
    enum { N = 64 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = quarry_malloc(BIG);
    cr_assert(purge_background_enabled());
    for (int i = 0; i < N; i++)
        quarry_free(p[i]);
    /* Nothing more from this thread: the background thread does it. */
    size_t dirty = SIZE_MAX;
    for (int i = 0; i < 100 && dirty != 0; i++) {
        usleep(20 * 1000);
        dirty = ctl_size("stats.dirty");
    }
    cr_assert_eq(dirty, 0, "%zu dirty bytes after 2 s idle", dirty);
    cr_assert_eq(purge_background_set(false), 0);
    cr_assert(!purge_background_enabled());
}

Test(purge, a_second_explicit_purge_finds_nothing_to_give_back) {
    void *p = quarry_malloc(1 << 20);
    memset(p, 1, 1 << 20);
    quarry_free(p);
    cr_assert_gt(quarry_purge(), 0);
    cr_assert_eq(quarry_purge(), 0);
}

static void *free_thirty_mib_and_exit(void *arg) {
    (void)arg;
    char *p = quarry_malloc(30 << 20);
    memset(p, 1, 30 << 20);
    quarry_free(p);
    return NULL;
}

Test(huge_cache, an_exiting_thread_unmaps_its_slot) {
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, free_thirty_mib_and_exit, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(huge_get_stats().cached, 0, "exited threads' slots still hold %zu bytes", huge_get_stats().cached);
}
