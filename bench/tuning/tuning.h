/*
 * Helpers shared by the bench/tuning/ measurement programs (header only).
 *
 * Every program calls plain malloc/free and is run with the allocator under
 * test in LD_PRELOAD, so one binary measures quarry, glibc, jemalloc,
 * mimalloc and tcmalloc. Allocator-specific calls (explicit purge, quarry's
 * statistics) are looked up at run time with dlsym, so nothing here links
 * against any allocator.
 *
 * Compile each program with
 *   gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -fno-builtin \
 *       -o /tmp/<name> bench/tuning/<name>.c -ldl -lm
 * (-fno-builtin keeps every malloc/free a real call into the preloaded
 * allocator).
 */
#ifndef QUARRY_TUNING_H
#define QUARRY_TUNING_H

#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident set size now, in bytes, from /proc/self/statm (second field). */
static inline size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    unsigned long size = 0, resident = 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Peak RSS of the process so far (getrusage ru_maxrss), in bytes. */
static inline size_t peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024;
}

/* A field of /proc/self/smaps_rollup ("LazyFree", "AnonHugePages"), in
 * bytes; 0 when absent. */
static inline size_t smaps_field(const char *field) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (f == NULL)
        return 0;
    char line[256];
    size_t len = strlen(field), kb = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kb = strtoul(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb * 1024;
}

/* Minor page faults of the process so far (getrusage ru_minflt): each is a
 * page the kernel had to supply (and zero), e.g. again after a purge. */
static inline long minor_faults(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* Physical memory behind this process's anonymous pages, counting every
 * transparent huge page that still has any page mapped as its full 2 MiB.
 * RSS counts mapped 4 KiB pages only: after MADV_DONTNEED zaps part of a
 * huge page the kernel splits the mapping, RSS falls, but the huge page is
 * only queued for a deferred split and its unmapped pages stay allocated
 * until memory pressure. Reads /proc/self/pagemap and /proc/kpageflags
 * (root only); returns 0 when they cannot be read. *thp_bytes gets the
 * part held in huge pages. */
static inline size_t anon_physical_bytes(size_t *thp_bytes) {
    FILE *maps = fopen("/proc/self/maps", "r");
    int pm = open("/proc/self/pagemap", O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
    size_t small = 0, huge = 0;
    uint64_t last_head = UINT64_MAX;
    char line[512];
    while (maps != NULL && pm >= 0 && kf >= 0 && fgets(line, sizeof(line), maps) != NULL) {
        unsigned long lo, hi, off, inode;
        char perms[8], dev[16];
        int fields = sscanf(line, "%lx-%lx %7s %lx %15s %lu", &lo, &hi, perms, &off, dev, &inode);
        if (fields != 6 || inode != 0 || perms[0] != 'r' || perms[1] != 'w' || strstr(line, "[stack]") != NULL)
            continue;
        for (unsigned long a = lo; a < hi; a += 4096 * 512) {
            uint64_t ent[512];
            size_t n = (hi - a) / 4096 < 512 ? (hi - a) / 4096 : 512;
            if (pread(pm, ent, n * 8, (off_t)(a / 4096 * 8)) != (ssize_t)(n * 8))
                break;
            for (size_t i = 0; i < n; i++) {
                if (!(ent[i] >> 63))
                    continue; /* not present */
                uint64_t pfn = ent[i] & ((1ull << 55) - 1), flags = 0;
                if (pfn == 0 || pread(kf, &flags, 8, (off_t)(pfn * 8)) != 8)
                    continue;
                if (flags & (1ull << 22)) { /* KPF_THP: count its 2 MiB once */
                    uint64_t head = pfn & ~511ull;
                    if (head != last_head)
                        huge += 2 << 20;
                    last_head = head;
                } else {
                    small += 4096;
                }
            }
        }
    }
    if (maps != NULL)
        fclose(maps);
    if (pm >= 0)
        close(pm);
    if (kf >= 0)
        close(kf);
    if (thp_bytes != NULL)
        *thp_bytes = huge;
    return small + huge;
}

static inline double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* splitmix64: a small, fast, seedable generator. */
struct rng {
    uint64_t s;
};
static inline uint64_t rng_next(struct rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline size_t rng_below(struct rng *r, size_t n) { return (size_t)(rng_next(r) % n); }
static inline size_t rng_between(struct rng *r, size_t lo, size_t hi) { return lo + rng_below(r, hi - lo + 1); }
/* Log-uniform in [lo, hi]: as many blocks of 16..32 bytes as of 8..16 KiB. */
static inline size_t rng_log_uniform(struct rng *r, size_t lo, size_t hi) {
    double u = (double)(rng_next(r) >> 11) * 0x1.0p-53;
    double l = __builtin_log((double)lo), h = __builtin_log((double)hi + 1.0);
    size_t v = (size_t)__builtin_exp(l + u * (h - l));
    return v < lo ? lo : v > hi ? hi : v;
}

/* Writes one byte in every page of [p, p + n), and the last byte. */
static inline void touch_pages(void *p, size_t n) {
    volatile char *c = p;
    for (size_t i = 0; i < n; i += 4096)
        c[i] = (char)i;
    if (n != 0)
        c[n - 1] = 1;
}

/* Which allocator is preloaded, by the symbols it exports. */
static inline const char *allocator_name(void) {
    if (dlsym(RTLD_DEFAULT, "quarry_purge") != NULL)
        return "quarry";
    if (dlsym(RTLD_DEFAULT, "mi_collect") != NULL)
        return "mimalloc";
    if (dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory") != NULL)
        return "tcmalloc";
    if (dlsym(RTLD_DEFAULT, "mallctl") != NULL)
        return "jemalloc";
    return "glibc";
}

/* The allocator's "give free memory back now" call: quarry_purge(),
 * mi_collect(true), MallocExtension_ReleaseFreeMemory(),
 * mallctl("arena.4096.purge") for jemalloc, malloc_trim(0) for glibc.
 * Returns the name of what it called. */
static inline const char *explicit_purge(void) {
    void *f;
    if ((f = dlsym(RTLD_DEFAULT, "quarry_purge")) != NULL) {
        ((size_t (*)(void))f)();
        return "quarry_purge()";
    }
    if ((f = dlsym(RTLD_DEFAULT, "mi_collect")) != NULL) {
        ((void (*)(_Bool))f)(1);
        return "mi_collect(true)";
    }
    if ((f = dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory")) != NULL) {
        ((void (*)(void))f)();
        return "MallocExtension_ReleaseFreeMemory()";
    }
    if ((f = dlsym(RTLD_DEFAULT, "mallctl")) != NULL) {
        ((int (*)(const char *, void *, size_t *, void *, size_t))f)("arena.4096.purge", NULL, NULL, NULL, 0);
        return "mallctl(\"arena.4096.purge\")";
    }
    if ((f = dlsym(RTLD_DEFAULT, "malloc_trim")) != NULL) {
        ((int (*)(size_t))f)(0);
        return "malloc_trim(0)";
    }
    return "none";
}

/* A size_t or uint64_t statistic of quarry through quarry_ctl; 0 when
 * quarry is not the allocator or the name is unknown. */
static inline uint64_t quarry_stat(const char *name) {
    void *f = dlsym(RTLD_DEFAULT, "quarry_ctl");
    if (f == NULL)
        return 0;
    uint64_t v = 0;
    size_t len = sizeof(v);
    if (((int (*)(const char *, void *, size_t *, void *, size_t))f)(name, &v, &len, NULL, 0) != 0)
        return 0;
    return v;
}

/* Purge passes and madvise calls of quarry's arena 0 (single-threaded
 * programs use only arena 0). */
static inline void print_quarry_purge_counts(const char *prefix) {
    if (dlsym(RTLD_DEFAULT, "quarry_ctl") == NULL)
        return;
    printf("%snpurge=%llu nmadvise=%llu purged_pages=%llu\n", prefix,
           (unsigned long long)quarry_stat("stats.arenas.0.npurge"),
           (unsigned long long)quarry_stat("stats.arenas.0.nmadvise"),
           (unsigned long long)quarry_stat("stats.arenas.0.purged"));
}

#endif
