/*
 * badfree <mode>: commits one kind of invalid free through the standard
 * names (so, when preloaded, through quarry's interposed free). quarry's
 * contract: print exactly one stderr line
 *     quarry: free(): invalid pointer 0x<address>
 * and abort(). run_badfree.sh checks the line, the SIGABRT and that the
 * address is the one this program announced on stdout just before the
 * bad call ("bad free of 0x...").
 *
 * Modes: ok (a valid run, the control), double-small, double-large,
 * double-huge, double-remote (second free in another thread),
 * double-written and double-written-large (the block written between the
 * two frees), double-written-direct (the same, the second free bypassing
 * the cache), double-refill (between the two frees the block went back to
 * its run and into another thread's cache; run with narenas:1), interior, stale-realloc (the
 * old pointer after realloc moved the block), not-heap (a pointer into
 * this program's data).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Called through a volatile pointer: the compiler must neither warn
 * about, nor optimise around, frees it can see are invalid. */
static void (*volatile free_fn)(void *) = free;

static char not_heap[256];
/* stdout's buffer, given up front: were stdio to malloc it between the
 * two frees of a double free, it could land on the just-freed block and
 * make the second free legitimate. */
static char stdout_buf[4096];

static void bad_free(void *p)
{
    printf("bad free of %p\n", p);
    fflush(stdout);
    free_fn(p);
    /* Only reached if free() accepted the pointer. */
    printf("free() returned\n");
    exit(3);
}

static void *free_in_thread(void *p)
{
    free_fn(p);
    return NULL;
}

/* Allocate, fill and free some blocks so the bad free does not hit a
 * pristine heap. */
static void warm_up(void)
{
    void *keep[64];
    for (int i = 0; i < 64; i++) {
        keep[i] = malloc((size_t)(i * 37 % 3000) + 1);
        memset(keep[i], i, (size_t)(i * 37 % 3000) + 1);
    }
    for (int i = 0; i < 64; i += 2)
        free_fn(keep[i]);
    for (int i = 1; i < 64; i += 2)
        free_fn(keep[i]);
}

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

/* quarry's mallctl, which the double-refill case needs; without it (not
 * preloaded) the case cannot be set up. */
static mallctl_fn ctl(void)
{
    mallctl_fn f = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    if (f == NULL)
        exit(4);
    return f;
}

static unsigned thread_arena(void)
{
    unsigned arena;
    size_t len = sizeof(arena);
    if (ctl()("thread.arena", &arena, &len, NULL, 0) != 0)
        exit(4);
    return arena;
}

static unsigned refill_arena;

/* Its refill must come from the main thread's arena (the test runs with
 * narenas:1) for the block to reach this thread's cache. */
static void *malloc_in_thread(void *arg)
{
    (void)arg;
    void *p = malloc(48);
    refill_arena = thread_arena();
    return p;
}

static void double_written(size_t size)
{
    char *p = malloc(size);
    if (p == NULL)
        exit(4);
    free_fn(p);
    memset((char *volatile)p, 0x77, 16);
    bad_free(p);
}

static void double_free(size_t size)
{
    char *p = malloc(size);
    if (p == NULL)
        exit(4);
    memset(p, 1, size);
    free_fn(p);
    bad_free(p);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <mode>\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    setvbuf(stdout, stdout_buf, _IOFBF, sizeof stdout_buf);
    warm_up();
    if (strcmp(mode, "ok") == 0) {
        char *p = calloc(10, 100);
        char *q = realloc(p, 100000);
        if (q == NULL)
            return 4;
        free_fn(q);
        free_fn(NULL);
        printf("ok\n");
        return 0;
    }
    if (strcmp(mode, "double-small") == 0)
        double_free(24);
    else if (strcmp(mode, "double-large") == 0)
        double_free(100 * 1000);
    else if (strcmp(mode, "double-huge") == 0)
        double_free(8 << 20);
    else if (strcmp(mode, "double-written") == 0)
        /* A use after free overwrites the block's first word before the
         * second free: caught at the second free with safe:true (the
         * cached bit) or tcache:false (the run's bitmap). */
        double_written(48);
    else if (strcmp(mode, "double-written-large") == 0)
        double_written(20000);
    else if (strcmp(mode, "double-refill") == 0) {
        /* Two blocks freed and flushed back to their run; another thread's
         * refill takes both and hands out the lower; the higher waits in
         * that thread's cache when this thread frees it again. */
        char *a = malloc(48), *b = malloc(48);
        pthread_t t;
        void *got;
        if (a == NULL || b == NULL)
            return 4;
        char *high = a < b ? b : a;
        free_fn(a);
        free_fn(b);
        if (ctl()("thread.tcache.flush", NULL, NULL, NULL, 0) != 0)
            return 4;
        if (pthread_create(&t, NULL, malloc_in_thread, NULL) != 0 || pthread_join(t, &got) != 0)
            return 4;
        if ((char *)got == high || refill_arena != thread_arena())
            return 4; /* not the layout this case needs */
        bad_free(high);
    } else if (strcmp(mode, "double-written-direct") == 0) {
        /* As double-written, the second free bypassing the cache
         * (dallocx with MALLOCX_TCACHE_NONE) straight to the run, where
         * the block is still counted as allocated. */
        void (*dallocx_fn)(void *, int) = (void (*)(void *, int))dlsym(RTLD_DEFAULT, "dallocx");
        char *p = malloc(48);
        if (p == NULL || dallocx_fn == NULL)
            return 4;
        free_fn(p);
        memset((char *volatile)p, 0x77, 16);
        printf("bad free of %p\n", (void *)p);
        fflush(stdout);
        dallocx_fn(p, 1 << 8); /* MALLOCX_TCACHE_NONE */
        printf("free() returned\n");
        exit(3);
    } else if (strcmp(mode, "double-remote") == 0) {
        char *p = malloc(48);
        pthread_t t;
        if (p == NULL || pthread_create(&t, NULL, free_in_thread, p) != 0)
            return 4;
        pthread_join(t, NULL);
        bad_free(p);
    } else if (strcmp(mode, "interior") == 0) {
        char *p = malloc(256);
        if (p == NULL)
            return 4;
        bad_free(p + 16);
    } else if (strcmp(mode, "stale-realloc") == 0) {
        char *p = malloc(16);
        /* Another live block right behind it, so 16 -> 1 MiB cannot grow
         * in place and must move. */
        char *fence = malloc(16);
        /* via volatile: gcc rightly warns about using p after realloc */
        char *volatile stale = p;
        char *q = realloc(p, 1 << 20);
        if (stale == NULL || fence == NULL || q == NULL || q == stale)
            return 4;
        bad_free(stale);
    } else if (strcmp(mode, "not-heap") == 0)
        bad_free(not_heap + 64);
    else {
        fprintf(stderr, "%s: unknown mode '%s'\n", argv[0], mode);
        return 2;
    }
    return 0;
}
