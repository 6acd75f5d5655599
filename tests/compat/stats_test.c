/* The statistics: the specification's worked example to the byte, the
 * order allocated <= active <= resident <= mapped under eight churning
 * threads, the merged view as the sum of the arenas, large classes and huge
 * blocks counted, and stats.resident against the kernel's RSS with
 * MADV_FREE purging. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "quarry.h"
#include "stats.h"
#include "../unit/valgrind_shim.h"

static size_t ctl_size(const char *name) {
    size_t v = 0, len = sizeof(v);
    cr_assert_eq(quarry_ctl(name, &v, &len, NULL, 0), 0, "%s", name);
    return v;
}

static uint64_t ctl_u64(const char *name) {
    uint64_t v = 0;
    size_t len = sizeof(v);
    cr_assert_eq(quarry_ctl(name, &v, &len, NULL, 0), 0, "%s", name);
    return v;
}

static void flush_and_epoch(void) {
    uint64_t e = 1;
    cr_assert_eq(quarry_ctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0);
    cr_assert_eq(quarry_ctl("epoch", NULL, NULL, &e, sizeof(e)), 0);
}

/* 90,000 entries of a hash table, each a 24-byte record and three 16-byte
 * strings, and one 1 MiB bucket array: 90,000 x (32 + 16 + 16 + 16) +
 * 1,048,576 = 8,248,576 bytes by usable size. */
Test(stats, the_worked_example_to_the_byte) {
    enum { N = 90000 };
    static void *blocks[N][4];
    void *warm = quarry_malloc(1);
    flush_and_epoch();
    size_t allocated0 = ctl_size("stats.allocated");
    uint64_t thread0 = ctl_u64("thread.allocated");
    static const size_t sizes[4] = {24, 16, 16, 16};
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 4; k++)
            blocks[i][k] = quarry_malloc(sizes[k]);
    void *buckets = quarry_malloc(1 << 20);
    flush_and_epoch();
    cr_assert_eq(ctl_size("stats.allocated") - allocated0, 8248576);
    cr_assert_eq(ctl_u64("thread.allocated") - thread0, 8248576);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 4; k++)
            quarry_free(blocks[i][k]);
    quarry_free(buckets);
    flush_and_epoch();
    cr_assert_eq(ctl_size("stats.allocated"), allocated0);
    quarry_free(warm);
}

/* ---- order under churn --------------------------------------------------- */

static atomic_bool stop;

static void *churn(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    enum { LIVE = 512 };
    void *live[LIVE] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned k = (unsigned)rand_r(&seed) % LIVE;
        quarry_free(live[k]);
        unsigned r = (unsigned)rand_r(&seed) % 1000;
        size_t size = r < 900 ? 1 + r % 3000 : r < 995 ? 4096 + (size_t)(r % 40) * 4096 : (size_t)(5 + r % 4) << 20;
        live[k] = quarry_malloc(size);
        if (live[k] != NULL)
            memset(live[k], 1, size < 256 ? size : 256);
    }
    for (unsigned k = 0; k < LIVE; k++)
        quarry_free(live[k]);
    return NULL;
}

Test(stats, allocated_active_resident_mapped_stay_ordered_while_eight_threads_churn, .timeout = 120) {
    enum { THREADS = 8 };
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, churn, (void *)(i + 1));
    unsigned reads = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        /* As a jemalloc caller reads them: epoch, then one name at a time. */
        uint64_t e = 1;
        cr_assert_eq(quarry_ctl("epoch", NULL, NULL, &e, sizeof(e)), 0);
        size_t allocated = ctl_size("stats.allocated"), active = ctl_size("stats.active"),
               resident = ctl_size("stats.resident"), mapped = ctl_size("stats.mapped");
        cr_assert(allocated <= active && active <= resident && resident <= mapped,
                  "allocated %zu active %zu resident %zu mapped %zu", allocated, active, resident, mapped);
        /* And the totals themselves, unclamped arithmetic checked below. */
        struct stats_totals s;
        stats_totals(&s);
        cr_assert(s.allocated <= s.active && s.active <= s.resident && s.resident <= s.mapped);
        /* Each arena's own snapshot is ordered without any clamp. */
        struct arena_snapshot a;
        for (unsigned i = 0; i < narenas; i++) {
            if (!stats_arena(i, &a))
                continue;
            cr_assert_leq(snap_allocated(&a), a.pactive * PAGE, "arena %u", i);
            cr_assert_leq(snap_resident(&a), snap_mapped(&a), "arena %u", i);
        }
        reads++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < 2000 || reads < 20);
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    cr_log_info("%u consistent reads", reads);
}

/* ---- merged view, large classes, huge blocks ----------------------------- */

Test(stats, all_arenas_are_the_sum_of_each) {
    enum { THREADS = 4 };
    pthread_t t[THREADS];
    atomic_store(&stop, false);
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, churn, (void *)(i + 100));
    usleep(200000);
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    /* Quiet now: the sum of the arenas' snapshots is the merged one. */
    struct arena_snapshot all, one;
    cr_assert(stats_arena(STATS_ARENAS_ALL, &all));
    size_t pactive = 0, pdirty = 0, allocated = 0;
    uint64_t nmalloc = 0;
    for (unsigned i = 0; i < narenas; i++) {
        if (!stats_arena(i, &one))
            continue;
        pactive += one.pactive;
        pdirty += one.pdirty;
        allocated += snap_allocated(&one);
        nmalloc += one.bins[3].s.nmalloc;
    }
    cr_assert_eq(all.pactive, pactive);
    cr_assert_eq(all.pdirty, pdirty);
    cr_assert_eq(snap_allocated(&all), allocated);
    cr_assert_eq(all.bins[3].s.nmalloc, nmalloc);
    cr_assert_eq(ctl_size("stats.arenas.4096.pactive"), pactive);
}

Test(stats, large_classes_and_huge_blocks_are_counted) {
    void *warm = quarry_malloc(1);
    char name[96];
    unsigned i = thread_arena->index;
    /* 40 pages: above tcache_max, so straight from the arena. */
    snprintf(name, sizeof(name), "stats.arenas.%u.lextents.39.curlextents", i);
    size_t runs0 = ctl_size(name);
    snprintf(name, sizeof(name), "stats.arenas.%u.lextents.39.nmalloc", i);
    uint64_t nmalloc0 = ctl_u64(name);
    snprintf(name, sizeof(name), "stats.arenas.%u.large.allocated", i);
    size_t large0 = ctl_size(name);
    size_t huge0 = ctl_size("stats.huge.allocated"), count0 = ctl_size("stats.huge.count");
    void *p[3];
    for (int k = 0; k < 3; k++)
        p[k] = quarry_malloc(40 * 4096 - 100);
    void *h = quarry_malloc((6 << 20) + 1);
    snprintf(name, sizeof(name), "stats.arenas.%u.lextents.39.curlextents", i);
    cr_assert_eq(ctl_size(name), runs0 + 3);
    snprintf(name, sizeof(name), "stats.arenas.%u.lextents.39.nmalloc", i);
    cr_assert_eq(ctl_u64(name), nmalloc0 + 3);
    snprintf(name, sizeof(name), "stats.arenas.%u.large.allocated", i);
    cr_assert_eq(ctl_size(name), large0 + 3 * 40 * 4096);
    cr_assert_eq(ctl_size("stats.huge.allocated"), huge0 + (6 << 20) + 4096);
    cr_assert_eq(ctl_size("stats.huge.count"), count0 + 1);
    for (int k = 0; k < 3; k++)
        quarry_free(p[k]);
    quarry_free(h);
    snprintf(name, sizeof(name), "stats.arenas.%u.lextents.39.curlextents", i);
    cr_assert_eq(ctl_size(name), runs0);
    cr_assert_eq(ctl_size("stats.huge.allocated"), huge0);
    quarry_free(warm);
}

/* ---- resident against the kernel ------------------------------------------ */

static size_t rss_anon(void) {
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "RssAnon: %zu kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

/* With purge:free the pages a purge gives back stay in RSS until the
 * kernel needs them; stats.resident must still count them (pmuzzy). Purging
 * on frees is off here so that every chunk stays in its arena. */
static void lazy_purging(void) { setenv("QUARRY_CONF", "purge:free,lg_dirty_mult:-1", 1); }

Test(stats, resident_follows_rss_with_madv_free, .init = lazy_purging) {
    enum { N = 4096, SIZE = 64 << 10 };
    static void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = quarry_malloc(SIZE);
        memset(blocks[i], 1, SIZE);
    }
    for (int i = 0; i < N; i++)
        quarry_free(blocks[i]);
    quarry_purge();
    uint64_t e = 1;
    cr_assert_eq(quarry_ctl("epoch", NULL, NULL, &e, sizeof(e)), 0);
    size_t resident = ctl_size("stats.resident"), muzzy = ctl_size("stats.muzzy"), rss = rss_anon();
    cr_log_info("resident %zu muzzy %zu RssAnon %zu", resident, muzzy, rss);
    cr_assert_gt(muzzy, (size_t)N * SIZE / 2, "MADV_FREE'd pages are counted as muzzy");
    if (RUNNING_ON_VALGRIND)
        return; /* valgrind's own memory is in the RSS */
    /* RSS also holds what is not quarry's: the test runner's heap, stacks. */
    size_t slack = resident / 20 + (8 << 20);
    cr_assert(resident + slack >= rss && rss + slack >= resident, "resident %zu vs RssAnon %zu", resident, rss);
}

/* The same with purging on frees: chunks that empty are retired to the
 * retained pool, purged with MADV_DONTNEED whatever `purge` says, so they
 * leave RSS and stats.resident together. */
static void lazy_purging_on_frees(void) { setenv("QUARRY_CONF", "purge:free", 1); }

Test(stats, resident_follows_rss_with_madv_free_when_chunks_retire, .init = lazy_purging_on_frees) {
    enum { N = 4096, SIZE = 64 << 10 };
    static void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = quarry_malloc(SIZE);
        memset(blocks[i], 1, SIZE);
    }
    for (int i = 0; i < N; i++)
        quarry_free(blocks[i]);
    uint64_t e = 1;
    cr_assert_eq(quarry_ctl("epoch", NULL, NULL, &e, sizeof(e)), 0);
    size_t resident = ctl_size("stats.resident"), rss = rss_anon();
    cr_log_info("resident %zu RssAnon %zu retained %zu", resident, rss, ctl_size("stats.retained"));
    if (RUNNING_ON_VALGRIND)
        return;
    size_t slack = resident / 20 + (8 << 20);
    cr_assert(resident + slack >= rss && rss + slack >= resident, "resident %zu vs RssAnon %zu", resident, rss);
}
