/*
 * Throughput under multi-size churn with a ring of live blocks, and the
 * RSS it costs: the workload where the purge threshold trades time (page
 * faults after purging, madvise calls) against memory.
 *
 * A ring of SLOTS live blocks (default 4096); each step frees the oldest
 * block and allocates a new one: with probability 3/4 log-uniform 16 B..4
 * KiB, else log-uniform 4 KiB..256 KiB (large page runs, so whole pages are
 * freed and reused all the time). Every page of each new block is written.
 * OPS steps (default 1,000,000) after the ring is first filled; then the
 * ring is freed.
 *
 * Prints the wall time of the OPS steps, the minor page faults during them, rss_peak (ru_maxrss), rss_final
 * (RSS at the end, ring still live), rss_empty (after freeing the ring) and,
 * under quarry, its purge counters.
 *
 * Usage: [QUARRY_CONF=...] LD_PRELOAD=<allocator.so> ./churn_ring [OPS] [SLOTS] [SEED]
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -fno-builtin \
 *            -o /tmp/churn_ring bench/tuning/churn_ring.c -ldl -lm
 */
#include "tuning.h"

static size_t pick_size(struct rng *r) {
    if (rng_below(r, 4) != 0)
        return rng_log_uniform(r, 16, 4096);
    return rng_log_uniform(r, 4097, 256 << 10);
}

int main(int argc, char **argv) {
    size_t ops = argc > 1 ? strtoul(argv[1], NULL, 0) : 1000000;
    size_t slots = argc > 2 ? strtoul(argv[2], NULL, 0) : 4096;
    struct rng r = {argc > 3 ? strtoull(argv[3], NULL, 0) : 7};
    void **ring = calloc(slots, sizeof(void *));
    if (ring == NULL)
        return 1;
    size_t rss_base = rss_bytes();
    for (size_t i = 0; i < slots; i++) {
        size_t size = pick_size(&r);
        ring[i] = malloc(size);
        touch_pages(ring[i], size);
    }
    long faults0 = minor_faults();
    double t0 = now_s();
    for (size_t i = 0; i < ops; i++) {
        size_t slot = i % slots;
        free(ring[slot]);
        size_t size = pick_size(&r);
        void *p = malloc(size);
        if (p == NULL)
            return 1;
        touch_pages(p, size);
        ring[slot] = p;
    }
    double t = now_s() - t0;
    long faults = minor_faults() - faults0;
    size_t rss_final = rss_bytes();
    for (size_t i = 0; i < slots; i++)
        free(ring[i]);
    size_t rss_empty = rss_bytes();

    const char *alloc = allocator_name();
    const char *conf = getenv("QUARRY_CONF");
    printf("alloc=%s conf=%s time=%.3f ns_per_op=%.0f faults=%ld rss_base=%.1f rss_peak=%.1f rss_final=%.1f rss_empty=%.1f\n",
           alloc, conf != NULL && strcmp(alloc, "quarry") == 0 ? conf : "-", t, t * 1e9 / (double)ops, faults,
           mib(rss_base), mib(peak_rss_bytes()), mib(rss_final), mib(rss_empty));
    print_quarry_purge_counts("  quarry arena 0: ");
    free(ring);
    return 0;
}
