/*
 * A program built for jemalloc: compiled against <jemalloc/jemalloc.h> and
 * linked with -ljemalloc, then run with LD_PRELOAD=libquarry.so by
 * run_preloaded.py. Every call of jemalloc's API must reach quarry (the
 * symbol check below), behave as jemalloc documents it, and agree with the
 * rest of quarry: blocks of mallocx freed by free, nallocx equal to
 * malloc_usable_size, statistics printed and read by name alike.
 *
 *   jemalloc_api <output directory>
 * writes stats.txt, stats.json, stats_omit.json and mallctl.txt there for
 * the driver, prints "FAIL: ..." for each failed check and exits 1 if any.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <jemalloc/jemalloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "symbols.h"

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

static const char *const jemalloc_names[] = {
    "malloc",   "calloc",   "realloc", "free",    "posix_memalign", "aligned_alloc",    "memalign",
    "valloc",   "malloc_usable_size",  "mallocx", "rallocx",        "xallocx",          "sallocx",
    "dallocx",  "sdallocx", "nallocx", "mallctl", "mallctlnametomib", "mallctlbymib",   "malloc_stats_print",
};

static void check_symbols(void) {
    failures += expect_quarry(jemalloc_names, sizeof(jemalloc_names) / sizeof(jemalloc_names[0]));
    /* And the addresses this program itself calls through. */
    const void *called[] = {(void *)mallocx, (void *)rallocx, (void *)xallocx, (void *)sallocx,
                            (void *)dallocx, (void *)sdallocx, (void *)nallocx, (void *)mallctl,
                            (void *)mallctlnametomib, (void *)mallctlbymib, (void *)malloc_stats_print,
                            (void *)malloc, (void *)free, (void *)malloc_usable_size};
    for (size_t k = 0; k < sizeof(called) / sizeof(called[0]); k++)
        CHECK(strncmp(address_object(called[k]), "libquarry.so", 12) == 0, "call %zu goes to %s", k,
              address_object(called[k]));
}

/* The blocks of one API freed by another: the heap is one. */
static void check_one_heap(void) {
    free(mallocx(100, 0));
    void *p = malloc(100);
    CHECK(sallocx(p, 0) == 112, "sallocx(malloc(100)) = %zu", sallocx(p, 0));
    dallocx(p, 0);
    p = rallocx(malloc(10), 1000, 0);
    CHECK(malloc_usable_size(p) == nallocx(1000, 0), "rallocx of a malloc block");
    free(p);
}

static void check_nallocx(size_t size, int flags) {
    size_t expect = nallocx(size, flags);
    void *p = mallocx(size, flags);
    CHECK(p != NULL, "mallocx(%zu, %#x)", size, flags);
    if (p == NULL)
        return;
    CHECK(malloc_usable_size(p) == expect, "nallocx(%zu, %#x) = %zu, usable %zu", size, flags, expect,
          malloc_usable_size(p));
    sdallocx(p, size, flags);
}

static void check_every_size(void) {
    for (size_t size = 1; size <= 70000; size++)
        check_nallocx(size, 0);
    for (size_t size = 70000; size <= 64 * MIB; size += size / 5 + 4093)
        check_nallocx(size, 0);
    check_nallocx(64 * MIB, 0);
}

/* Every call, with every flag jemalloc has, on every kind of block. */
static void check_every_flag(void) {
    unsigned narenas, tc;
    size_t len = sizeof(unsigned);
    CHECK(mallctl("arenas.narenas", &narenas, &len, NULL, 0) == 0, "arenas.narenas");
    CHECK(mallctl("tcache.create", &tc, &len, NULL, 0) == 0, "tcache.create");
    const int flags[] = {0,
                         MALLOCX_ZERO,
                         MALLOCX_ALIGN(16),
                         MALLOCX_ALIGN(64) | MALLOCX_ZERO,
                         MALLOCX_LG_ALIGN(12),
                         MALLOCX_ALIGN(1 << 16),
                         MALLOCX_ALIGN(4 * MIB),
                         MALLOCX_TCACHE_NONE,
                         MALLOCX_TCACHE_NONE | MALLOCX_ZERO | MALLOCX_ALIGN(256),
                         MALLOCX_TCACHE(tc),
                         MALLOCX_ARENA(0),
                         MALLOCX_ARENA(0) | MALLOCX_TCACHE_NONE | MALLOCX_ZERO,
                         MALLOCX_ARENA(narenas + 3)};
    const size_t sizes[] = {1, 100, 3000, 5000, 40000, 200000, 5 * MIB};
    for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
        int fl = flags[f];
        size_t align = (fl & 0x3f) ? (size_t)1 << (fl & 0x3f) : 1;
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            size_t size = sizes[s];
            unsigned char *p = mallocx(size, fl);
            CHECK(p != NULL && ((uintptr_t)p & (align - 1)) == 0, "mallocx(%zu, %#x) = %p", size, fl, (void *)p);
            if (p == NULL)
                continue;
            size_t usable = sallocx(p, fl);
            CHECK(usable == nallocx(size, fl), "sallocx %zu vs nallocx %zu (%zu, %#x)", usable, nallocx(size, fl),
                  size, fl);
            if (fl & MALLOCX_ZERO)
                for (size_t b = 0; b < usable; b += 61)
                    CHECK(p[b] == 0, "mallocx(%zu, %#x) byte %zu not zero", size, fl, b);
            memset(p, 0x5c, usable);
            /* Grow, shrink, in place and moving, with the same flags. */
            p = rallocx(p, size * 2 + 1, fl);
            CHECK(p != NULL && ((uintptr_t)p & (align - 1)) == 0 && p[usable - 1] == 0x5c, "rallocx(%zu, %#x) grow",
                  size, fl);
            if (p == NULL)
                continue;
            if ((fl & MALLOCX_ZERO) && sallocx(p, 0) > usable)
                CHECK(p[sallocx(p, 0) - 1] == 0 && p[usable] == 0, "rallocx(%#x): grown bytes zero", fl);
            size_t now = xallocx(p, size, 0, fl);
            CHECK(now >= size && now == sallocx(p, 0), "xallocx(%zu, %#x) = %zu", size, fl, now);
            p = rallocx(p, size / 2 + 1, fl);
            CHECK(p != NULL && p[0] == 0x5c, "rallocx(%zu, %#x) shrink", size, fl);
            if (p == NULL)
                continue;
            if (s % 2 == 0)
                sdallocx(p, size / 2 + 1, fl);
            else
                dallocx(p, fl);
        }
    }
    CHECK(mallctl("tcache.destroy", NULL, NULL, &tc, sizeof(tc)) == 0, "tcache.destroy");
    volatile size_t too_much = (size_t)1 << 63;
    CHECK(mallocx(too_much, 0) == NULL, "mallocx(too much)");
    CHECK(nallocx(SIZE_MAX, 0) == 0, "nallocx(SIZE_MAX)");
}

static void check_xallocx(void) {
    char *a = mallocx(50 * 4096, 0), *b = mallocx(50 * 4096, 0);
    CHECK(b == a + 50 * 4096, "neighbouring runs");
    dallocx(b, 0);
    CHECK(xallocx(a, 80 * 4096, 0, 0) == 80 * 4096, "xallocx grows in place");
    CHECK(xallocx(a, 10 * 4096, 0, 0) == 10 * 4096, "xallocx shrinks");
    CHECK(xallocx(a, 10 * 4096, 40 * 4096, 0) == 50 * 4096, "xallocx with extra");
    dallocx(a, 0);
    char *s = mallocx(100, 0);
    CHECK(xallocx(s, 1000, 0, 0) == 112, "a small block stays");
    dallocx(s, 0);
    char *h = mallocx(12 * MIB, 0);
    CHECK(xallocx(h, 7 * MIB, 0, 0) == 7 * MIB, "a huge block shrinks in place");
    size_t grown = xallocx(h, 9 * MIB, 0, 0);
    CHECK(grown == 9 * MIB || grown == 7 * MIB, "xallocx huge grow = %zu", grown);
    dallocx(h, 0);
}

/* sdallocx with a size that cannot be the block's: reported, one line,
 * abort, as every invalid free. */
static void check_wrong_sdallocx(void) {
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        void *p = mallocx(100, 0);
        sdallocx(p, 500, 0);
        _exit(0);
    }
    close(fds[1]);
    char err[512] = {0};
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(err) - 1 && (n = read(fds[0], err + len, sizeof(err) - 1 - len)) > 0)
        len += (size_t)n;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "sdallocx with a wrong size: status %#x", status);
    CHECK(strncmp(err, "quarry: sdallocx(): invalid pointer 0x", 38) == 0, "stderr: %s", err);
}

static void check_mibs(void) {
    unsigned nbins;
    size_t len = sizeof(nbins);
    CHECK(mallctl("arenas.nbins", &nbins, &len, NULL, 0) == 0 && nbins == 28, "arenas.nbins");
    size_t mib[8], miblen = 4;
    CHECK(mallctlnametomib("arenas.bin.0.size", mib, &miblen) == 0 && miblen == 4, "nametomib");
    size_t last = 0;
    for (unsigned j = 0; j < nbins; j++) {
        mib[2] = j;
        size_t size;
        len = sizeof(size);
        CHECK(mallctlbymib(mib, miblen, &size, &len, NULL, 0) == 0 && size > last, "bin %u size", j);
        last = size;
    }
    CHECK(last == 3584, "the largest small class is %zu", last);
    miblen = 8;
    CHECK(mallctlnametomib("stats.arenas.0.bins.0.curregs", mib, &miblen) == 0 && miblen == 6, "nametomib");
    mib[2] = 4096;
    size_t total = 0;
    for (unsigned j = 0; j < nbins; j++) {
        mib[4] = j;
        size_t regs;
        len = sizeof(regs);
        CHECK(mallctlbymib(mib, miblen, &regs, &len, NULL, 0) == 0, "curregs of bin %u", j);
        total += regs;
    }
    CHECK(total > 0, "regions in use");
    miblen = 8;
    CHECK(mallctlnametomib("stats.arenas.4097.pactive", mib, &miblen) == ENOENT, "no destroyed arenas");
    /* Redis's DEBUG MALLCTL probes sizes from 8 bytes down. */
    uint64_t old = 0;
    len = 8;
    CHECK(mallctl("arenas.narenas", &old, &len, NULL, 0) == EINVAL, "8 bytes for an unsigned");
    len = 4;
    CHECK(mallctl("arenas.narenas", &old, &len, NULL, 0) == 0 && old > 0, "4 bytes");
    char val = 1;
    CHECK(mallctl("background_thread", NULL, NULL, &val, 1) == 0, "Redis's set_jemalloc_bg_thread");
    val = 0;
    CHECK(mallctl("background_thread", NULL, NULL, &val, 1) == 0, "and off");
}

/* ---- malloc_stats_print ------------------------------------------------- */

static char report[1 << 22];
static size_t report_len;

/* Appends to a static buffer: the callback allocates nothing, so that the
 * statistics read after the report are those it printed. */
static void collect(void *opaque, const char *s) {
    (void)opaque;
    size_t n = strlen(s);
    if (report_len + n < sizeof(report)) {
        memcpy(report + report_len, s, n);
        report_len += n;
    }
}

static void save(const char *dir, const char *name, const char *text, size_t len) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0, "open %s", path);
    CHECK(write(fd, text, len) == (ssize_t)len, "write %s", path);
    close(fd);
}

static void print_report(const char *dir, const char *opts, const char *file) {
    report_len = 0;
    malloc_stats_print(collect, NULL, opts);
    save(dir, file, report, report_len);
}

static void check_stats_print(const char *dir) {
    print_report(dir, NULL, "stats.txt");
    CHECK(strstr(report, "___ Begin quarry statistics ___") != NULL && strstr(report, "___ End quarry statistics") &&
              strstr(report, "bins:") != NULL,
          "the text report");
    print_report(dir, "Jgabl", "stats_omit.json");
    report_len = 0;
    malloc_stats_print(collect, NULL, "J");
    /* Right after the report, with nothing allocated in between. */
    static const char *const totals[] = {"allocated", "active", "metadata", "resident", "mapped", "retained"};
    size_t values[6];
    uint64_t epoch = 1;
    mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
    for (int k = 0; k < 6; k++) {
        char name[64];
        snprintf(name, sizeof(name), "stats.%s", totals[k]);
        size_t len = sizeof(size_t);
        CHECK(mallctl(name, &values[k], &len, NULL, 0) == 0, "%s", name);
    }
    save(dir, "stats.json", report, report_len);
    char text[1024];
    size_t n = 0;
    for (int k = 0; k < 6; k++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s=%zu\n", totals[k], values[k]);
    save(dir, "mallctl.txt", text, n);

    /* A NULL callback writes to stderr. */
    char path[4096];
    snprintf(path, sizeof(path), "%s/stderr.txt", dir);
    int saved = dup(STDERR_FILENO), fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDERR_FILENO);
    malloc_stats_print(NULL, NULL, "gmabl");
    dup2(saved, STDERR_FILENO);
    close(saved);
    char back[4096] = {0};
    ssize_t got = pread(fd, back, sizeof(back) - 1, 0);
    close(fd);
    CHECK(got > 0 && strstr(back, "___ Begin quarry statistics ___") != NULL, "malloc_stats_print(NULL, ...)");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: jemalloc_api <output directory>\n");
        return 2;
    }
    check_symbols();
    check_one_heap();
    check_every_size();
    check_every_flag();
    check_xallocx();
    check_wrong_sdallocx();
    void *keep[64];
    for (int k = 0; k < 64; k++)
        keep[k] = malloc((size_t)k * 100 + 1);
    check_mibs();
    check_stats_print(argv[1]);
    for (int k = 0; k < 64; k++)
        free(keep[k]);
    if (failures != 0)
        fprintf(stderr, "%d checks failed\n", failures);
    return failures != 0;
}
