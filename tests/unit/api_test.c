/* The public API: alignment of every entry point, realloc across every
 * class boundary, and the answers to bad input. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include "chunk.h"
#include "helpers.h"
#include "valgrind_shim.h"
#include "quarry.h"
#include "size_class.h"

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31 + seed);
}

static void check(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 31 + seed))
            cr_assert_fail("byte %zu of %zu differs", i, n);
}

Test(api, malloc_zero_gives_unique_freeable_pointers) {
    void *a = quarry_malloc(0), *b = quarry_malloc(0);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_neq(a, b);
    quarry_free(a);
    quarry_free(b);
    quarry_free(NULL);
}

Test(api, every_alignment_up_to_8_mib_for_every_entry_point) {
    size_t sizes[] = {0, 1, 8, 24, 100, 1000, 3584, 3585, 5000, 40000, LARGE_MAX, LARGE_MAX + 1, 9 << 20};
    for (size_t align = 1; align <= ((size_t)8 << 20); align <<= 1) {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            size_t size = sizes[i];
            void *p = quarry_aligned_alloc(align, size);
            cr_assert_not_null(p, "aligned_alloc(%zu, %zu)", align, size);
            cr_assert_eq((uintptr_t)p % align, 0, "aligned_alloc(%zu, %zu) = %p", align, size, p);
            cr_assert_geq(quarry_malloc_usable_size(p), size);
            memset(p, 0x5a, size);
            quarry_free(p);

            p = quarry_memalign(align, size);
            cr_assert_eq((uintptr_t)p % align, 0);
            quarry_free(p);

            if (align >= sizeof(void *)) {
                void *q = NULL;
                cr_assert_eq(quarry_posix_memalign(&q, align, size), 0);
                cr_assert_eq((uintptr_t)q % align, 0, "posix_memalign(%zu, %zu)", align, size);
                quarry_free(q);
            }
        }
    }
    void *v = quarry_valloc(10);
    cr_assert_eq((uintptr_t)v % PAGE, 0);
    quarry_free(v);
    void *pv = quarry_pvalloc(PAGE + 1);
    cr_assert_eq((uintptr_t)pv % PAGE, 0);
    cr_assert_geq(quarry_malloc_usable_size(pv), 2 * PAGE);
    quarry_free(pv);
}

Test(api, plain_malloc_alignment) {
    for (size_t s = 16; s <= 8192; s += 16) {
        void *p = quarry_malloc(s);
        cr_assert_eq((uintptr_t)p % 16, 0, "malloc(%zu) not 16-aligned", s);
        quarry_free(p);
    }
}

Test(api, calloc_zeroes_every_class_even_on_reuse) {
    size_t sizes[] = {1, 8, 100, 3584, 5000, 65536, 1 << 20, 6 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        /* Dirty a block of the same size first so calloc may get it back. */
        unsigned char *d = quarry_malloc(sizes[i]);
        memset(d, 0xff, sizes[i]);
        quarry_free(d);
        unsigned char *p = quarry_calloc(1, sizes[i]);
        cr_assert_not_null(p);
        for (size_t j = 0; j < sizes[i]; j++)
            if (p[j] != 0)
                cr_assert_fail("calloc(%zu) byte %zu is %d", sizes[i], j, p[j]);
        quarry_free(p);
    }
}

/* Sizes on both sides of every class boundary, small -> large -> huge. */
static size_t boundary_sizes(size_t *out) {
    size_t n = 0;
    for (unsigned c = 0; c < NSMALL; c++) {
        out[n++] = class_size(c);
        out[n++] = class_size(c) + 1;
    }
    size_t more[] = {2 * PAGE, 2 * PAGE + 1, 32768, 100000, LARGE_MAX, LARGE_MAX + 1, 6 << 20, 13 << 20};
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
        out[n++] = more[i];
    return n;
}

Test(api, realloc_across_every_class_boundary_keeps_contents) {
    size_t sizes[80];
    size_t n = boundary_sizes(sizes);
    /* Up through every boundary, then back down. */
    unsigned char *p = quarry_malloc(1);
    size_t have = 1;
    fill(p, have, 7);
    for (size_t i = 0; i < 2 * n; i++) {
        size_t size = i < n ? sizes[i] : sizes[2 * n - 1 - i];
        p = quarry_realloc(p, size);
        cr_assert_not_null(p, "realloc to %zu", size);
        check(p, have < size ? have : size, 7);
        cr_assert_geq(quarry_malloc_usable_size(p), size);
        fill(p, size, 7);
        have = size;
    }
    quarry_free(p);
}

Test(api, realloc_stays_in_place_within_a_class) {
    char *p = quarry_malloc(130);
    cr_assert_eq(quarry_realloc(p, 160), p);
    cr_assert_eq(quarry_realloc(p, 129), p);
    quarry_free(p);
}

Test(api, realloc_edge_cases_follow_glibc) {
    void *p = quarry_realloc(NULL, 100);
    cr_assert_not_null(p);
    cr_assert_eq(quarry_malloc_usable_size(p), 112);
    cr_assert_null(quarry_realloc(p, 0), "realloc(p, 0) frees and returns NULL");
}

Test(api, overflowing_sizes_give_enomem) {
    errno = 0;
    cr_assert_null(quarry_malloc(SIZE_MAX));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(quarry_malloc((size_t)PTRDIFF_MAX + 1));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(quarry_calloc(SIZE_MAX / 2, 3));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(quarry_calloc((size_t)1 << 32, (size_t)1 << 32));
    cr_assert_eq(errno, ENOMEM);
    void *p = quarry_malloc(10);
    errno = 0;
    cr_assert_null(quarry_reallocarray(p, SIZE_MAX / 4, 8));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(quarry_realloc(p, SIZE_MAX - 10));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(quarry_malloc_usable_size(p), 16, "failed realloc must leave the block alone");
    quarry_free(p);
    errno = 0;
    cr_assert_null(quarry_aligned_alloc(64, SIZE_MAX - 100));
    cr_assert_eq(errno, ENOMEM);
    void *q = (void *)0x1234;
    cr_assert_eq(quarry_posix_memalign(&q, 64, SIZE_MAX), ENOMEM);
    cr_assert_eq(q, (void *)0x1234);
    errno = 0;
    cr_assert_null(quarry_pvalloc(SIZE_MAX));
    cr_assert_eq(errno, ENOMEM);
}

Test(api, bad_alignments_give_einval_but_memalign_rounds_up) {
    void *q = (void *)0x1234;
    size_t bad[] = {0, 3, 12, 24, 100, 4095};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(quarry_posix_memalign(&q, bad[i], 16), EINVAL, "alignment %zu", bad[i]);
        cr_assert_eq(q, (void *)0x1234, "*memptr must be untouched");
        errno = 0;
        cr_assert_null(quarry_aligned_alloc(bad[i], 16));
        cr_assert_eq(errno, EINVAL);
        /* memalign follows glibc: the alignment rounds up to a power of two. */
        size_t up = 1;
        while (up < bad[i])
            up <<= 1;
        void *m = quarry_memalign(bad[i], 16);
        cr_assert_not_null(m, "memalign(%zu)", bad[i]);
        cr_assert_eq((uintptr_t)m & (up - 1), 0, "memalign(%zu) gave %p", bad[i], m);
        quarry_free(m);
    }
    /* Powers of two below sizeof(void *) are not allowed by posix_memalign. */
    cr_assert_eq(quarry_posix_memalign(&q, 4, 16), EINVAL);
    cr_assert_eq(q, (void *)0x1234);
}

/* ---- invalid pointers: one stderr line, then abort ---------------------- */

static void double_free_small(void *arg) {
    (void)arg;
    void *p = quarry_malloc(40);
    quarry_free(p);
    quarry_free(p);
}

static void double_free_large(void *arg) {
    (void)arg;
    void *keep = quarry_malloc(3 * PAGE);
    void *p = quarry_malloc(5 * PAGE);
    void *after = quarry_malloc(PAGE);
    quarry_free(p);
    quarry_free(p);
    quarry_free(keep);
    quarry_free(after);
}

static void double_free_huge(void *arg) {
    (void)arg;
    void *p = quarry_malloc(10 << 20);
    quarry_free(p);
    quarry_free(p);
}

static void free_interior_small(void *arg) {
    (void)arg;
    char *p = quarry_malloc(64);
    quarry_free(p + 16);
}

static void free_interior_large(void *arg) {
    (void)arg;
    char *p = quarry_malloc(8 * PAGE);
    quarry_free(p + 2 * PAGE);
}

static void free_interior_huge(void *arg) {
    (void)arg;
    char *p = quarry_malloc(12 << 20);
    quarry_free(p + CHUNK + 4096);
}

static void free_stack(void *arg) {
    (void)arg;
    int x;
    quarry_free(&x);
}

static void free_foreign(void *arg) {
    (void)arg;
    void *p = malloc(100); /* glibc's malloc */
    quarry_free(p);
}

static void free_chunk_header(void *arg) {
    (void)arg;
    char *p = quarry_malloc(64);
    quarry_free((void *)((uintptr_t)p & ~CHUNK_MASK) + 64);
}

static void realloc_freed(void *arg) {
    (void)arg;
    void *p = quarry_malloc(100);
    void *keep = quarry_malloc(100);
    quarry_free(p);
    p = quarry_realloc(p, 200);
    quarry_free(keep);
}

static void usable_size_freed(void *arg) {
    (void)arg;
    void *keep = quarry_malloc(100);
    void *p = quarry_malloc(100);
    quarry_free(p);
    (void)quarry_malloc_usable_size(p);
    quarry_free(keep);
}

static void free_sized_too_big(void *arg) {
    (void)arg;
    void *p = quarry_malloc(100);
    quarry_free_sized(p, 5000);
}

Test(invalid, double_free_is_caught_for_every_kind) {
    if (RUNNING_ON_VALGRIND)
        cr_skip_test("memcheck sees quarry's blocks and reports a double free itself first (tests/memcheck)");
    assert_aborts_with(double_free_small, NULL, "quarry: free(): invalid pointer 0x");
    assert_aborts_with(double_free_large, NULL, "quarry: free(): invalid pointer 0x");
    assert_aborts_with(double_free_huge, NULL, "quarry: free(): invalid pointer 0x");
}

Test(invalid, interior_stack_foreign_and_header_pointers_are_caught) {
    assert_aborts_with(free_interior_small, NULL, "quarry: free(): invalid pointer 0x");
    assert_aborts_with(free_interior_large, NULL, "quarry: free(): invalid pointer 0x");
    assert_aborts_with(free_interior_huge, NULL, "quarry: free(): invalid pointer 0x");
    assert_aborts_with(free_stack, NULL, "quarry: free(): invalid pointer 0x");
    assert_aborts_with(free_foreign, NULL, "quarry: free(): invalid pointer 0x");
    assert_aborts_with(free_chunk_header, NULL, "quarry: free(): invalid pointer 0x");
}

Test(invalid, other_entry_points_name_themselves) {
    assert_aborts_with(realloc_freed, NULL, "quarry: realloc(): invalid pointer 0x");
    assert_aborts_with(usable_size_freed, NULL, "quarry: malloc_usable_size(): invalid pointer 0x");
    assert_aborts_with(free_sized_too_big, NULL, "quarry: free_sized(): invalid pointer 0x");
}

/* ---- running out of address space --------------------------------------- */

static void exhaust_address_space(void *arg) {
    (void)arg;
    /* Warm up (arena, first chunk) before the limit. */
    void *warm = quarry_malloc(100);
    /* Allow 64 MiB beyond what the process has mapped now. */
    unsigned long vm_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%lu", &vm_pages) != 1)
        _exit(9);
    fclose(f);
    rlim_t limit = (rlim_t)vm_pages * 4096 + ((rlim_t)64 << 20);
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        _exit(10);
    enum { MAX = 1 << 21 };
    static void *blocks[MAX];
    size_t sizes[] = {40, 3000, 20000, 300000, 5 << 20};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = 0;
        errno = 0;
        while (n < MAX && (blocks[n] = quarry_malloc(sizes[k])) != NULL)
            n++;
        if (n == MAX)
            _exit(11); /* never ran out */
        if (errno != ENOMEM)
            _exit(12);
        /* Other entry points fail the same way while memory is short. */
        errno = 0;
        if (quarry_calloc(1, 6 << 20) != NULL || errno != ENOMEM)
            _exit(13);
        void *q;
        if (quarry_posix_memalign(&q, 1 << 20, 6 << 20) != ENOMEM)
            _exit(14);
        for (size_t i = 0; i < n; i++)
            quarry_free(blocks[i]);
        /* Everything works again once memory is back. */
        void *again = quarry_malloc(sizes[k]);
        if (again == NULL)
            _exit(15);
        quarry_free(again);
    }
    quarry_free(warm);
    _exit(0);
}

Test(oom, every_entry_point_fails_with_enomem_and_recovers) {
    if (RUNNING_ON_VALGRIND)
        cr_skip_test("valgrind manages the address space itself");
    struct child_result res = run_in_child(exhaust_address_space, NULL);
    cr_assert(WIFEXITED(res.status), "child died: status 0x%x, stderr %s", res.status, res.err);
    cr_assert_eq(WEXITSTATUS(res.status), 0, "child failed at step %d", WEXITSTATUS(res.status));
}

/* Eight threads fill the address space up to a limit, free everything and
 * stay alive; the main thread then asks for nearly the whole limit at once.
 * The memory is free, only held by caches (threads' huge slots, dirty and
 * spare runs, retained chunks): quarry must give it back and succeed. */
enum { OOM_THREADS = 8 };
static pthread_barrier_t oom_freed, oom_done;

static void *fill_free_and_idle(void *arg) {
    (void)arg;
    enum { SMALL_N = 4096 };
    static _Thread_local void *small[SMALL_N];
    for (int i = 0; i < SMALL_N; i++)
        small[i] = quarry_malloc(16 + (size_t)(i % 64) * 48);
    void *large[16];
    for (int i = 0; i < 16; i++)
        large[i] = quarry_malloc((size_t)(i + 1) * 40000);
    char *huge = quarry_malloc(24 << 20);
    if (huge != NULL)
        memset(huge, 1, 24 << 20);
    for (int i = 0; i < SMALL_N; i++)
        quarry_free(small[i]);
    for (int i = 0; i < 16; i++)
        quarry_free(large[i]);
    quarry_free(huge);
    pthread_barrier_wait(&oom_freed);
    pthread_barrier_wait(&oom_done);
    return NULL;
}

static void everything_freed_then_one_big_block(void *arg) {
    (void)arg;
    void *warm = quarry_malloc(100);
    unsigned long vm_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%lu", &vm_pages) != 1)
        _exit(9);
    fclose(f);
    /* Thread stacks (8 MiB each) come out of the limit too, and so do the
     * chunks that the blocks left in each idle thread's cache keep (up to
     * two per thread with runs of 32 regions; the sanitizers' own memory
     * counts as well). Without reclaiming the 192 MiB of huge slots the
     * rest is still far from 200 MiB. */
    rlim_t headroom = (rlim_t)(OOM_THREADS * 8 + 320) << 20;
    rlim_t limit = (rlim_t)vm_pages * 4096 + headroom;
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        _exit(10);
    pthread_barrier_init(&oom_freed, NULL, OOM_THREADS + 1);
    pthread_barrier_init(&oom_done, NULL, OOM_THREADS + 1);
    pthread_t t[OOM_THREADS];
    for (int i = 0; i < OOM_THREADS; i++)
        if (pthread_create(&t[i], NULL, fill_free_and_idle, NULL) != 0)
            _exit(11);
    pthread_barrier_wait(&oom_freed);
    /* 192 MiB sit in the threads' huge slots: without reclaiming them the
     * limit leaves room for far less than this. */
    void *big = quarry_malloc(200 << 20);
    if (big == NULL)
        _exit(12);
    quarry_free(big);
    pthread_barrier_wait(&oom_done);
    for (int i = 0; i < OOM_THREADS; i++)
        pthread_join(t[i], NULL);
    quarry_free(warm);
    _exit(0);
}

Test(oom, memory_freed_by_idle_threads_serves_a_big_request, .timeout = 120) {
    if (RUNNING_ON_VALGRIND)
        cr_skip_test("valgrind manages the address space itself");
    for (int run = 0; run < 40; run++) {
        struct child_result res = run_in_child(everything_freed_then_one_big_block, NULL);
        cr_assert(WIFEXITED(res.status), "run %d: child died: status 0x%x, stderr %s", run, res.status, res.err);
        cr_assert_eq(WEXITSTATUS(res.status), 0, "run %d: child failed at step %d", run, WEXITSTATUS(res.status));
    }
}

static void posix_memalign_failure_sets_errno(void *arg) {
    (void)arg;
    void *p;
    errno = 0;
    if (quarry_posix_memalign(&p, 64, SIZE_MAX / 2) != ENOMEM || errno != ENOMEM)
        _exit(1);
    _exit(0);
}

Test(oom, a_failing_posix_memalign_leaves_enomem_in_errno_as_glibc_does) {
    struct child_result res = run_in_child(posix_memalign_failure_sets_errno, NULL);
    cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0, "status 0x%x", res.status);
}

/* Each test runs in a process of its own, so this calloc is the process's
 * first call into quarry, before start-up has set the cache limit: it used
 * to take the page path and give a 16-byte block a whole page. */
Test(api, first_call_calloc_gets_a_small_block) {
    unsigned char *p = quarry_calloc(1, 16);
    cr_assert_not_null(p);
    cr_assert_eq(quarry_malloc_usable_size(p), 16);
    for (int i = 0; i < 16; i++)
        cr_assert_eq(p[i], 0);
    quarry_free(p);
}
