/*
 * glibc's introspection and tuning calls, in a program built for glibc and
 * run with LD_PRELOAD=libquarry.so by run_preloaded.py: each must bind to
 * quarry and report quarry's heap (not glibc's idle arena), mallopt must
 * say which parameters it honoured, memalign must take glibc's alignments.
 *
 *   glibc_api <output directory>
 * writes malloc_info.xml and malloc_stats.txt there for the driver, prints
 * "FAIL: ..." for each failed check and exits 1 if any.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "symbols.h"

/* mallinfo is deprecated; testing it is the point. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static int failures;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "FAIL: %s:%d: ", __FILE__, __LINE__);                                                      \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

#define MIB ((size_t)1 << 20)

/* Names glibc 2.36 does not declare, or that a program reaches by name. */
typedef int mallctl_fn(const char *, void *, size_t *, void *, size_t);
typedef void free_sized_fn(void *, size_t);
typedef void free_aligned_sized_fn(void *, size_t, size_t);
typedef void *alloc_fn(size_t);
typedef void *memalign_fn(size_t, size_t);
typedef struct mallinfo mallinfo_fn(void);
typedef int mallopt_fn(int, int);

static mallctl_fn *mallctl;

/* Blocks stored here escape: the compiler may not drop a malloc, memset
 * and free that nothing else sees. */
static void *volatile sink;

static const char *const glibc_names[] = {
    "malloc",          "free",          "calloc",          "realloc",         "memalign",        "valloc",
    "pvalloc",         "malloc_usable_size", "malloc_trim", "mallinfo",       "mallinfo2",       "malloc_stats",
    "malloc_info",     "mallopt",       "__libc_malloc",   "__libc_free",     "__libc_calloc",   "__libc_realloc",
    "__libc_memalign", "__libc_valloc", "__libc_pvalloc",  "__libc_mallinfo", "__libc_mallopt",  "free_sized",
    "free_aligned_sized", "cfree",      "posix_memalign",  "aligned_alloc",   "reallocarray",
};

static ssize_t opt_ssize(const char *name) {
    ssize_t v = 0;
    size_t len = sizeof(v);
    CHECK(mallctl(name, &v, &len, NULL, 0) == 0, "%s", name);
    return v;
}

static void check_mallinfo(void) {
    struct mallinfo2 before = mallinfo2();
    char *p = sink = malloc(100 * MIB);
    memset(p, 1, 100 * MIB);
    struct mallinfo2 during = mallinfo2();
    double grown = (double)(during.uordblks - before.uordblks);
    CHECK(grown > 0.99 * 100 * MIB && grown < 1.01 * 100 * MIB, "uordblks grew by %.0f for 100 MiB", grown);
    CHECK(during.hblks >= 1 && during.hblkhd >= 100 * MIB, "the block is huge: hblks %zu hblkhd %zu", during.hblks,
          during.hblkhd);
    CHECK(during.arena >= during.uordblks, "arena (mapped) %zu >= uordblks %zu", during.arena, during.uordblks);
    size_t allocated;
    size_t len = sizeof(allocated);
    mallctl("stats.allocated", &allocated, &len, NULL, 0);
    CHECK(during.uordblks <= allocated + MIB && during.uordblks + MIB >= allocated,
          "uordblks %zu vs stats.allocated %zu", during.uordblks, allocated);
    struct mallinfo old = mallinfo();
    CHECK((size_t)old.uordblks == during.uordblks || old.uordblks == INT_MAX, "mallinfo().uordblks");
    mallinfo_fn *libc_mallinfo = (mallinfo_fn *)dlsym(RTLD_DEFAULT, "__libc_mallinfo");
    CHECK(libc_mallinfo != NULL && libc_mallinfo().hblks == old.hblks, "__libc_mallinfo");
    free(p);
    struct mallinfo2 after = mallinfo2();
    double back = (double)after.uordblks - (double)before.uordblks;
    CHECK(back < 0.01 * 100 * MIB && back > -0.01 * 100 * MIB, "uordblks back within %.0f", back);

    /* The int fields saturate rather than wrap: 3 GiB of address space,
     * never touched. */
    void *big = sink = malloc((size_t)3 << 30);
    if (big != NULL) {
        old = mallinfo();
        CHECK(old.hblkhd == INT_MAX && old.uordblks == INT_MAX && old.arena == INT_MAX,
              "mallinfo saturates: hblkhd %d uordblks %d arena %d", old.hblkhd, old.uordblks, old.arena);
        CHECK(mallinfo2().hblkhd >= ((size_t)3 << 30), "mallinfo2 does not");
        free(big);
    }
}

static void check_mallopt(void) {
    ssize_t lg = opt_ssize("opt.lg_dirty_mult");
    CHECK(mallopt(M_TRIM_THRESHOLD, -1) == 1, "M_TRIM_THRESHOLD -1");
    CHECK(opt_ssize("opt.lg_dirty_mult") == -1, "purging on frees is off");
    CHECK(mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1, "M_TRIM_THRESHOLD on");
    CHECK(opt_ssize("opt.lg_dirty_mult") == lg, "and back to %zd", lg);
    CHECK(mallopt(-100, 2500) == 1, "M_DECAY_TIME (bionic's number)");
    CHECK(opt_ssize("opt.decay_ms") == 2500, "decay_ms follows");
    CHECK(mallopt(-100, -5) == 0, "a decay time out of range");
    CHECK(mallopt(-101, 0) == 1, "M_PURGE");
    mallopt_fn *libc_mallopt = (mallopt_fn *)dlsym(RTLD_DEFAULT, "__libc_mallopt");
    CHECK(libc_mallopt != NULL && libc_mallopt(-104, 0) == 1, "__libc_mallopt(M_PURGE_ALL)");
    unsigned n0, n1;
    size_t len = sizeof(n0);
    mallctl("arenas.narenas", &n0, &len, NULL, 0);
    CHECK(mallopt(M_ARENA_MAX, 1) == 0, "M_ARENA_MAX after the first allocation changes nothing");
    mallctl("arenas.narenas", &n1, &len, NULL, 0);
    CHECK(n0 == n1, "narenas %u then %u", n0, n1);
    static const int ignored[] = {M_MXFAST, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX, M_CHECK_ACTION,
                                  M_PERTURB, M_ARENA_TEST, 12345};
    for (size_t k = 0; k < sizeof(ignored) / sizeof(ignored[0]); k++)
        CHECK(mallopt(ignored[k], 1) == 0, "mallopt(%d) has no meaning in quarry: 0", ignored[k]);
    char *p = sink = malloc(64 * MIB);
    memset(p, 1, 64 * MIB);
    free(p);
    CHECK(malloc_trim(0) == 1, "malloc_trim gives the freed 64 MiB back");
    CHECK(malloc_trim(0) == 0, "nothing left to give back");
}

static void check_memalign(void) {
    memalign_fn *libc_memalign = (memalign_fn *)dlsym(RTLD_DEFAULT, "__libc_memalign");
    const size_t alignments[] = {0, 1, 3, 8, 24, 48, 100, 4000, 5000, 12288};
    for (size_t k = 0; k < sizeof(alignments) / sizeof(alignments[0]); k++) {
        size_t a = alignments[k], pow2 = 1;
        while (pow2 < a)
            pow2 <<= 1;
        for (size_t n = 1; n < 20000; n = n * 3 + 1) {
            void *p = sink = memalign(a, n);
            CHECK(p != NULL && ((uintptr_t)p & (pow2 - 1)) == 0 && malloc_usable_size(p) >= n,
                  "memalign(%zu, %zu) = %p", a, n, p);
            memset(p, 1, n);
            free(p);
            p = libc_memalign(a, n);
            CHECK(p != NULL && ((uintptr_t)p & (pow2 - 1)) == 0, "__libc_memalign(%zu, %zu)", a, n);
            free(p);
        }
    }
    errno = 0;
    CHECK(memalign(SIZE_MAX, 1) == NULL && errno == EINVAL, "memalign(SIZE_MAX): EINVAL");
    errno = 0;
    CHECK(aligned_alloc(24, 48) == NULL && errno == EINVAL, "aligned_alloc keeps EINVAL");
    void *p = NULL;
    CHECK(posix_memalign(&p, 24, 48) == EINVAL && p == NULL, "posix_memalign keeps EINVAL");
    const char *page_names[] = {"valloc", "pvalloc", "__libc_valloc", "__libc_pvalloc"};
    for (int k = 0; k < 4; k++) {
        alloc_fn *fn = (alloc_fn *)dlsym(RTLD_DEFAULT, page_names[k]);
        void *q = fn(100);
        CHECK(q != NULL && ((uintptr_t)q & 4095) == 0, "%s", page_names[k]);
        CHECK(k % 2 == 0 || malloc_usable_size(q) == 4096, "%s rounds to a page", page_names[k]);
        free(q);
    }
    free_sized_fn *free_sized = (free_sized_fn *)dlsym(RTLD_DEFAULT, "free_sized");
    free_aligned_sized_fn *free_aligned_sized =
        (free_aligned_sized_fn *)dlsym(RTLD_DEFAULT, "free_aligned_sized");
    free_sized(malloc(100), 100);
    free_aligned_sized(aligned_alloc(256, 300), 256, 300);
}

static void capture_stderr(const char *dir, const char *name, void (*fn)(void)) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fflush(stderr);
    int saved = dup(STDERR_FILENO), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: glibc_api <output directory>\n");
        return 2;
    }
    failures += expect_quarry(glibc_names, sizeof(glibc_names) / sizeof(glibc_names[0]));
    mallctl = (mallctl_fn *)dlsym(RTLD_DEFAULT, "mallctl");
    if (mallctl == NULL) {
        fprintf(stderr, "FAIL: no mallctl: not running under libquarry.so\n");
        return 1;
    }
    check_mallinfo();
    check_mallopt();
    check_memalign();
    void *keep[100];
    for (int k = 0; k < 100; k++)
        keep[k] = malloc((size_t)k * 37 + 1);
    char path[4096];
    snprintf(path, sizeof(path), "%s/malloc_info.xml", argv[1]);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL && malloc_info(0, f) == 0, "malloc_info");
    fclose(f);
    errno = 0;
    CHECK(malloc_info(1, stdout) == EINVAL && errno == EINVAL, "malloc_info with options");
    capture_stderr(argv[1], "malloc_stats.txt", malloc_stats);
    for (int k = 0; k < 100; k++)
        free(keep[k]);
    if (failures != 0)
        fprintf(stderr, "%d checks failed\n", failures);
    return failures != 0;
}
