/*
 * Fill and empty: a program that repeatedly builds up ~64 MiB of large
 * blocks and frees them all (a request arena, a batch job's working set).
 * Measures what purging with MADV_DONTNEED vs MADV_FREE (purge:) and
 * keeping emptied chunks as address space vs unmapping them (retain:) cost
 * in time, and what they leave resident.
 *
 * CYCLES times (default 50): allocate log-uniform 32 KiB..1 MiB blocks until
 * FILL MiB (default 64) are live, write every page, free them all (random
 * order). Prints the wall time of all cycles, the minor page faults in them, rss_peak (ru_maxrss),
 * rss_empty (RSS after the last free), lazyfree (the part of RSS that the
 * kernel may reclaim at will: MADV_FREE'd pages, smaps_rollup LazyFree),
 * and quarry's purge counters.
 *
 * Usage: [QUARRY_CONF=...] LD_PRELOAD=<allocator.so> ./fill_empty [CYCLES] [FILL_MIB] [SEED]
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -fno-builtin \
 *            -o /tmp/fill_empty bench/tuning/fill_empty.c -ldl -lm
 */
#include "tuning.h"

#define MAX_BLOCKS 65536

int main(int argc, char **argv) {
    size_t cycles = argc > 1 ? strtoul(argv[1], NULL, 0) : 50;
    size_t fill = (argc > 2 ? strtoul(argv[2], NULL, 0) : 64) << 20;
    struct rng r = {argc > 3 ? strtoull(argv[3], NULL, 0) : 3};
    static void *blocks[MAX_BLOCKS];
    free(malloc(1));
    size_t rss_base = rss_bytes();
    long faults0 = minor_faults();
    double t0 = now_s();
    for (size_t c = 0; c < cycles; c++) {
        size_t n = 0, live = 0;
        while (live < fill && n < MAX_BLOCKS) {
            size_t size = rng_log_uniform(&r, 32 << 10, 1 << 20);
            void *p = malloc(size);
            if (p == NULL)
                return 1;
            touch_pages(p, size);
            blocks[n++] = p;
            live += size;
        }
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = rng_below(&r, i + 1);
            void *t = blocks[i];
            blocks[i] = blocks[j];
            blocks[j] = t;
        }
        for (size_t i = 0; i < n; i++)
            free(blocks[i]);
    }
    double t = now_s() - t0;
    long faults = minor_faults() - faults0;
    size_t rss_empty = rss_bytes();
    const char *alloc = allocator_name();
    const char *conf = getenv("QUARRY_CONF");
    printf("alloc=%s conf=%s time=%.3f ms_per_cycle=%.2f faults=%ld rss_base=%.1f rss_peak=%.1f rss_empty=%.1f lazyfree=%.1f\n",
           alloc, conf != NULL && strcmp(alloc, "quarry") == 0 ? conf : "-", t, t * 1e3 / (double)cycles, faults,
           mib(rss_base), mib(peak_rss_bytes()), mib(rss_empty), mib(smaps_field("LazyFree")));
    print_quarry_purge_counts("  quarry arena 0: ");
    return 0;
}
