/* jemalloc's allocation API in its prefixed form (quarry_mallocx, ...):
 * nallocx is the usable size of what mallocx gives for every size and
 * alignment, every flag does what docs/stats.md says, sized frees with a
 * wrong size are reported, and xallocx/rallocx resize as promised. The
 * same calls under jemalloc's names run in tests/compat/jemalloc_api.c, a
 * program linked with libjemalloc. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "../unit/helpers.h"
#include "init.h"
#include "quarry.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

static void check_nallocx(size_t size, int flags) {
    size_t expect = quarry_nallocx(size, flags);
    void *p = quarry_mallocx(size, flags);
    cr_assert_not_null(p, "mallocx(%zu, %#x)", size, flags);
    size_t usable = quarry_malloc_usable_size(p);
    cr_assert_eq(usable, expect, "nallocx(%zu, %#x) = %zu, usable size %zu", size, flags, expect, usable);
    cr_assert_eq(quarry_sallocx(p, flags), usable);
    unsigned lg = (unsigned)flags & 0x3f;
    if (lg != 0)
        cr_assert_eq((uintptr_t)p & (((uintptr_t)1 << lg) - 1), 0, "mallocx(%zu, %#x) misaligned", size, flags);
    quarry_sdallocx(p, size, flags);
}

Test(xalloc, nallocx_is_the_usable_size_of_every_size) {
    for (size_t size = 0; size <= 70000; size++)
        check_nallocx(size, 0);
    for (size_t size = 70000; size <= 64 * MIB; size += size / 7 + 4093)
        check_nallocx(size, 0);
    check_nallocx(64 * MIB, 0);
}

Test(xalloc, nallocx_with_every_alignment_and_flag) {
    for (int lg = 0; lg <= 22; lg++) {
        for (int extra = 0; extra < 3; extra++) {
            int flags = QUARRY_MALLOCX_LG_ALIGN(lg) |
                        (extra == 1 ? QUARRY_MALLOCX_ZERO : extra == 2 ? QUARRY_MALLOCX_TCACHE_NONE : 0);
            for (size_t size = 0; size <= 9000; size += size < 600 ? 1 : 37)
                check_nallocx(size, flags);
            for (size_t size = 9000; size <= 12 * MIB; size = size * 3 + 4095)
                check_nallocx(size, flags);
        }
    }
    cr_assert_eq(QUARRY_MALLOCX_ALIGN(4096), QUARRY_MALLOCX_LG_ALIGN(12));
}

Test(xalloc, impossible_requests_fail_cleanly) {
    cr_assert_eq(quarry_nallocx(SIZE_MAX, 0), 0);
    cr_assert_eq(quarry_nallocx((size_t)PTRDIFF_MAX + 1, 0), 0);
    cr_assert_eq(quarry_nallocx(1, QUARRY_MALLOCX_LG_ALIGN(63)), 0);
    errno = 0;
    cr_assert_null(quarry_mallocx(SIZE_MAX, QUARRY_MALLOCX_ZERO));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(quarry_mallocx(16, QUARRY_MALLOCX_LG_ALIGN(63)));
    cr_assert_eq(errno, ENOMEM);
    void *p = quarry_malloc(100);
    cr_assert_null(quarry_rallocx(p, SIZE_MAX, 0));
    cr_assert_eq(quarry_xallocx(p, SIZE_MAX, 0, 0), 112, "unchanged");
    quarry_free(p);
}

/* Each size is dirtied, freed, and asked for again zeroed: every usable
 * byte must read zero, from the cache, a bin, the arena or a mapping. */
Test(xalloc, zero_clears_the_whole_usable_size) {
    static const size_t sizes[] = {8, 100, 3000, 5000, 30000, 100000, 5 * MIB};
    static const int flags[] = {0, QUARRY_MALLOCX_ALIGN(64), QUARRY_MALLOCX_ALIGN(8192), QUARRY_MALLOCX_TCACHE_NONE};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
            for (int round = 0; round < 3; round++) {
                unsigned char *p = quarry_mallocx(sizes[k], flags[f] | QUARRY_MALLOCX_ZERO);
                size_t usable = quarry_malloc_usable_size(p);
                for (size_t b = 0; b < usable; b++)
                    cr_assert_eq(p[b], 0, "mallocx(%zu, %#x): byte %zu of %zu", sizes[k], flags[f], b, usable);
                memset(p, 0xff, usable);
                quarry_dallocx(p, flags[f]);
            }
        }
    }
}

/* ---- thread cache and arena flags ---------------------------------------- */

static uint64_t bin_count(unsigned arena, unsigned cls, const char *what) {
    char name[96];
    snprintf(name, sizeof(name), "stats.arenas.%u.bins.%u.%s", arena, cls, what);
    uint64_t v = 0;
    size_t len = sizeof(v);
    cr_assert_eq(quarry_ctl(name, &v, &len, NULL, 0), 0, "%s", name);
    return v;
}

Test(xalloc, tcache_none_goes_straight_to_the_bin) {
    void *warm = quarry_malloc(48);
    unsigned a = thread_arena->index, cls = size_to_class(48);
    uint64_t m0 = bin_count(a, cls, "nmalloc"), d0 = bin_count(a, cls, "ndalloc");
    void *p = quarry_mallocx(48, QUARRY_MALLOCX_TCACHE_NONE);
    cr_assert_eq(bin_count(a, cls, "nmalloc"), m0 + 1, "one region, not a cache fill");
    quarry_dallocx(p, QUARRY_MALLOCX_TCACHE_NONE);
    cr_assert_eq(bin_count(a, cls, "ndalloc"), d0 + 1, "back in the bin at once");
    p = quarry_mallocx(48, QUARRY_MALLOCX_TCACHE_NONE);
    quarry_sdallocx(p, 48, QUARRY_MALLOCX_TCACHE_NONE);
    cr_assert_eq(bin_count(a, cls, "ndalloc"), d0 + 2);
    quarry_free(warm);
}

static void *make_arena(void *arg) {
    void *p = quarry_malloc(1);
    *(unsigned *)arg = thread_arena->index;
    quarry_free(p);
    return NULL;
}

Test(xalloc, an_existing_arena_serves_mallocx_arena) {
    void *warm = quarry_malloc(1);
    unsigned mine = thread_arena->index, other;
    pthread_t t;
    pthread_create(&t, NULL, make_arena, &other);
    pthread_join(t, NULL);
    cr_assert_neq(other, mine);
    static const size_t sizes[] = {16, 3000, 20000, 200000};
    for (size_t k = 0; k < 4; k++) {
        void *p = quarry_mallocx(sizes[k], QUARRY_MALLOCX_ARENA(other));
        cr_assert_eq(chunk_of(p)->arena, arenas[other], "size %zu", sizes[k]);
        quarry_dallocx(p, 0);
    }
    /* An index beyond the table: the thread's own arena, as jemalloc (the
     * cache, which now holds the other arena's blocks, emptied first). */
    quarry_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    void *p = quarry_mallocx(16, QUARRY_MALLOCX_ARENA(narenas + 5));
    cr_assert_eq(chunk_of(p)->arena, thread_arena);
    quarry_free(p);
    quarry_free(warm);
}

/* ---- sized frees --------------------------------------------------------- */

static void wrong_sdallocx(void *arg) {
    (void)arg;
    void *p = quarry_mallocx(100, 0);
    quarry_sdallocx(p, 48, 0);
}

static void oversized_sdallocx(void *arg) {
    (void)arg;
    void *p = quarry_mallocx(5000, 0);
    quarry_sdallocx(p, 9000, 0);
}

static void wrong_alignment_sdallocx(void *arg) {
    (void)arg;
    void *p = quarry_mallocx(100, QUARRY_MALLOCX_ALIGN(256));
    quarry_sdallocx(p, 100, 0);
}

static void wrong_free_aligned_sized(void *arg) {
    (void)arg;
    void *p = quarry_aligned_alloc(64, 100);
    quarry_free_aligned_sized(p, 64, 1000);
}

Test(xalloc, sized_frees_accept_the_request_and_report_a_wrong_size) {
    for (size_t size = 97; size <= 112; size++)
        quarry_sdallocx(quarry_mallocx(100, 0), size, 0);
    quarry_sdallocx(quarry_mallocx(100, QUARRY_MALLOCX_ALIGN(256)), 100, QUARRY_MALLOCX_ALIGN(256));
    quarry_sdallocx(quarry_mallocx(5000, 0), 8192, 0);
    quarry_sdallocx(quarry_mallocx(9 * MIB, 0), 9 * MIB, 0);
    quarry_free_aligned_sized(quarry_aligned_alloc(64, 100), 64, 100);
    quarry_free_aligned_sized(quarry_aligned_alloc(8192, 100), 8192, 100);
    quarry_free_aligned_sized(NULL, 64, 100);
    assert_aborts_with(wrong_sdallocx, NULL, "quarry: sdallocx(): invalid pointer 0x");
    assert_aborts_with(oversized_sdallocx, NULL, "quarry: sdallocx(): invalid pointer 0x");
    assert_aborts_with(wrong_alignment_sdallocx, NULL, "quarry: sdallocx(): invalid pointer 0x");
    assert_aborts_with(wrong_free_aligned_sized, NULL, "quarry: free_aligned_sized(): invalid pointer 0x");
}

/* ---- resizing ------------------------------------------------------------ */

Test(xalloc, xallocx_grows_and_shrinks_in_place) {
    void *warm = quarry_malloc(1);
    /* Two neighbouring large runs; freeing the second leaves room. */
    char *a = quarry_malloc(50 * 4096), *b = quarry_malloc(50 * 4096);
    cr_assert_eq(b, a + 50 * 4096, "laid out one after the other");
    memset(a, 7, 50 * 4096);
    quarry_free(b);
    cr_assert_eq(quarry_xallocx(a, 80 * 4096, 0, QUARRY_MALLOCX_ZERO), 80 * 4096);
    cr_assert_eq(quarry_malloc_usable_size(a), 80 * 4096);
    cr_assert_eq(a[50 * 4096 - 1], 7, "contents kept");
    for (size_t k = 50 * 4096; k < 80 * 4096; k++)
        cr_assert_eq(a[k], 0, "MALLOCX_ZERO: grown bytes zero");
    cr_assert_eq(quarry_xallocx(a, 10 * 4096, 0, 0), 10 * 4096, "shrinks");
    cr_assert_eq(quarry_xallocx(a, 20 * 4096, 30 * 4096, 0), 50 * 4096, "extra, as room allows");
    cr_assert_eq(quarry_xallocx(a, 50 * 4096 - 100, 0, 0), 50 * 4096, "already fits");
    cr_assert_eq(a[0], 7);
    quarry_free(a);

    char *s = quarry_malloc(100);
    cr_assert_eq(quarry_xallocx(s, 200, 0, 0), 112, "a small block keeps its class");
    cr_assert_eq(quarry_xallocx(s, 10, 0, 0), 112);
    quarry_free(s);

    char *h = quarry_malloc(10 * MIB);
    h[10 * MIB - 1] = 3;
    cr_assert_eq(quarry_xallocx(h, 6 * MIB, 0, 0), 6 * MIB, "a huge block shrinks in place");
    cr_assert_eq(quarry_malloc_usable_size(h), 6 * MIB);
    size_t grown = quarry_xallocx(h, 8 * MIB, 0, 0);
    cr_assert(grown == 8 * MIB || grown == 6 * MIB, "%zu", grown);
    cr_assert_eq(quarry_malloc_usable_size(h), grown);
    cr_assert_eq(quarry_xallocx(h, 1000, 0, 0), grown, "huge stays huge");
    quarry_free(h);
    quarry_free(warm);
}

Test(xalloc, rallocx_moves_keeps_contents_and_honours_flags) {
    unsigned char *p = quarry_mallocx(100, 0);
    for (int k = 0; k < 100; k++)
        p[k] = (unsigned char)k;
    p = quarry_rallocx(p, 5000, QUARRY_MALLOCX_ALIGN(4096) | QUARRY_MALLOCX_ZERO);
    cr_assert_eq((uintptr_t)p & 4095, 0);
    cr_assert_eq(quarry_malloc_usable_size(p), 8192);
    for (int k = 0; k < 100; k++)
        cr_assert_eq(p[k], k);
    for (size_t k = 112; k < 8192; k++)
        cr_assert_eq(p[k], 0, "byte %zu beyond the old usable size", k);
    p = quarry_rallocx(p, 50, QUARRY_MALLOCX_ALIGN(64));
    cr_assert_eq((uintptr_t)p & 63, 0);
    cr_assert_eq(quarry_malloc_usable_size(p), 64);
    cr_assert_eq(p[49], 49);
    void *same = quarry_rallocx(p, 60, QUARRY_MALLOCX_ALIGN(64));
    cr_assert_eq(same, p, "the same class in place");
    p = quarry_rallocx(p, 0, 0);
    cr_assert_not_null(p, "size 0 is not a free");
    cr_assert_eq(quarry_malloc_usable_size(p), 8);
    p = quarry_rallocx(p, 3 * MIB, QUARRY_MALLOCX_TCACHE_NONE);
    cr_assert_eq(quarry_malloc_usable_size(p), 3 * MIB);
    quarry_dallocx(p, QUARRY_MALLOCX_TCACHE_NONE);
}

Test(xalloc, thread_counters_follow_every_call) {
    void *warm = quarry_malloc(1);
    uint64_t a0, d0, a1, d1;
    size_t len = sizeof(uint64_t);
    quarry_ctl("thread.allocated", &a0, &len, NULL, 0);
    quarry_ctl("thread.deallocated", &d0, &len, NULL, 0);
    void *p = quarry_mallocx(100, QUARRY_MALLOCX_TCACHE_NONE);
    void *q = quarry_mallocx(70 * 4096, QUARRY_MALLOCX_ZERO);
    void *r = quarry_mallocx(3000, QUARRY_MALLOCX_ALIGN(1024));
    quarry_xallocx(q, 20 * 4096, 0, 0);
    r = quarry_rallocx(r, 10000, 0);
    size_t live = quarry_malloc_usable_size(p) + quarry_malloc_usable_size(q) + quarry_malloc_usable_size(r);
    quarry_ctl("thread.allocated", &a1, &len, NULL, 0);
    quarry_ctl("thread.deallocated", &d1, &len, NULL, 0);
    cr_assert_eq((a1 - a0) - (d1 - d0), live);
    quarry_dallocx(p, QUARRY_MALLOCX_TCACHE_NONE);
    quarry_sdallocx(q, 20 * 4096, 0);
    quarry_dallocx(r, 0);
    quarry_ctl("thread.allocated", &a1, &len, NULL, 0);
    quarry_ctl("thread.deallocated", &d1, &len, NULL, 0);
    cr_assert_eq(a1 - a0, d1 - d0);
    quarry_free(warm);
}
