/*
 * stress [threads [iterations [churn-threads [seed]]]]
 *
 * Multi-threaded stress of the allocator: a few edge cases first, then
 * the steady phase (long-lived threads, cross-thread frees, whole-heap
 * checks at barriers), then the churn phase (many short-lived threads).
 * Exits 0 with a summary on stdout, or 1 with "stress: FAIL: ..." on
 * stderr at the first problem.
 *
 * When STRESS_EXPECT_MALLOC_FROM is set (the preloaded test sets it to
 * "libquarry"), the program first proves that malloc really resolves
 * into that library: a preload that silently did not happen would
 * otherwise make this a test of libc.
 */
#define _GNU_SOURCE
#include "stress.h"
#include "stress_api.h"
#include "stress_util.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_interposer(void)
{
    const char *want = getenv("STRESS_EXPECT_MALLOC_FROM");
    if (want == NULL || *want == '\0')
        return;
    Dl_info info;
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    if (sym == NULL || !dladdr(sym, &info) || info.dli_fname == NULL)
        fail("cannot tell which library provides malloc");
    if (strstr(info.dli_fname, want) == NULL)
        fail("malloc comes from %s, not %s: was LD_PRELOAD honoured?",
             info.dli_fname, want);
    printf("malloc resolves into %s\n", info.dli_fname);
}

/* The few error paths a stress mix never reaches by chance. */
static void check_edges(void)
{
    /* volatile: the compiler knows these calls must fail and would
     * otherwise warn, or fold the checks away. */
    volatile size_t huge = SIZE_MAX, half = SIZE_MAX / 2;
    errno = 0;
    if (S_MALLOC(huge) != NULL || errno != ENOMEM)
        fail("malloc(SIZE_MAX) did not fail with ENOMEM");
    errno = 0;
    if (S_CALLOC(half, 3) != NULL || errno != ENOMEM)
        fail("calloc with an overflowing count*size did not fail with ENOMEM");
    void *p = S_MALLOC(100);
    if (p == NULL)
        fail("malloc(100) returned NULL");
    memset(p, 0x5a, 100);
    errno = 0;
    if (S_REALLOC(p, huge - 4096) != NULL)
        fail("realloc to a huge size did not fail");
#ifndef STRESS_LAX_REALLOC_ERRNO
    /* quarry promises ENOMEM here; jemalloc 5.3, a handy stand-in
     * interposer for checking this program, does not set errno, so a
     * build for that purpose can opt out. */
    if (errno != ENOMEM)
        fail("realloc to a huge size failed without setting ENOMEM");
#endif
    for (int i = 0; i < 100; i++)
        if (((unsigned char *)p)[i] != 0x5a)
            fail("failed realloc damaged the original block at byte %d", i);
    errno = 0;
    if (S_REALLOCARRAY(p, half, 3) != NULL || errno != ENOMEM)
        fail("reallocarray with an overflowing count*size did not fail "
             "with ENOMEM");
    S_FREE(p);
    void *q = (void *)1;
    if (S_POSIX_MEMALIGN(&q, 24, 16) != EINVAL)
        fail("posix_memalign with alignment 24 did not give EINVAL");
    if (S_POSIX_MEMALIGN(&q, 4, 16) != EINVAL)
        fail("posix_memalign with alignment 4 (< sizeof(void *)) did not "
             "give EINVAL");
    S_FREE(NULL);
    /* malloc(0) may give NULL or a unique pointer; either must be freeable. */
    void *z1 = S_MALLOC(0), *z2 = S_MALLOC(0);
    if (z1 && z1 == z2)
        fail("malloc(0) returned the same pointer twice");
    S_FREE(z1);
    S_FREE(z2);
}

static unsigned long arg(int argc, char **argv, int i, unsigned long dflt,
                         unsigned long max)
{
    if (argc <= i)
        return dflt;
    char *end;
    errno = 0;
    unsigned long v = strtoul(argv[i], &end, 0);
    if (errno || *end || v == 0 || v > max) {
        fprintf(stderr, "usage: %s [threads [iterations [churn-threads "
                "[seed]]]]\n  bad argument '%s'\n", argv[0], argv[i]);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    unsigned threads = (unsigned)arg(argc, argv, 1, 4, 256);
    unsigned long iters = arg(argc, argv, 2, 150000, 1ul << 40);
    unsigned churn = (unsigned)arg(argc, argv, 3, 200, 100000);
    uint64_t seed = arg(argc, argv, 4, 20240229, UINT64_MAX);
    if (threads < 2) {
        fprintf(stderr, "%s: need at least 2 threads for cross-thread "
                "frees\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("stress: %s, seed %llu\n", S_FLAVOUR, (unsigned long long)seed);
    check_interposer();
    check_edges();
    run_steady(threads, iters, seed);
    run_churn(churn, seed);
    printf("stress: ok\n");
    return 0;
}
