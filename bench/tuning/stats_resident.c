/*
 * stats.resident against the kernel's count: after a peak of 1 GiB of
 * 1 KiB blocks is freed and purged, what quarry says it keeps resident
 * (stats.resident, stats.metadata, stats.retained) and what /proc/self/statm
 * says the process gained. The gap is what stats.resident leaves out.
 *
 * Usage: LD_PRELOAD=libquarry.so ./stats_resident [SIZE] [TOTAL_MIB]
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -fno-builtin \
 *            -o /tmp/stats_resident bench/tuning/stats_resident.c -ldl -lm
 */
#include <sys/mman.h>

#include "tuning.h"

int main(int argc, char **argv) {
    size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
    size_t n = ((argc > 2 ? strtoul(argv[2], NULL, 0) : 1024) << 20) / size;
    if (dlsym(RTLD_DEFAULT, "quarry_ctl") == NULL) {
        printf("quarry is not loaded\n");
        return 1;
    }
    void **p = mmap(NULL, n * sizeof(void *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    memset(p, 0, n * sizeof(void *));
    free(malloc(1));
    size_t base = rss_bytes();
    uint64_t q_base = quarry_stat("stats.resident");
    for (size_t i = 0; i < n; i++) {
        p[i] = malloc(size);
        memset(p[i], 1, size);
    }
    printf("peak:   statm gain %.1f MiB, stats.resident gain %.1f MiB\n", mib(rss_bytes() - base),
           mib(quarry_stat("stats.resident") - q_base));
    for (size_t i = 0; i < n; i++)
        free(p[i]);
    explicit_purge();
    printf("purged: statm gain %.1f MiB, stats.resident gain %.1f MiB (metadata %.1f, retained %.1f MiB of "
           "address space)\n",
           mib(rss_bytes() - base), mib(quarry_stat("stats.resident") - q_base), mib(quarry_stat("stats.metadata")),
           mib(quarry_stat("stats.retained")));
    return 0;
}
