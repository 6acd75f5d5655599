/*
 * Huge blocks: the cost of allocations far above the chunk size.
 *
 * Mode "touch": ITERS times (default 200) malloc a random 5..25 MiB block,
 * write every page, free it; prints the mean time per block and the
 * fault-free floor for comparison (the same touch loop over one block that
 * stays allocated, i.e. the cost of the writes alone).
 * Mode "pair": ITERS times (default 100000) malloc(8 MiB) then free it, the
 * block never written; prints the mean time per pair.
 * "touch" also prints the minor page faults per block (4 KiB pages the
 * kernel had to supply: a 15 MiB block faulted in full is 3840).
 * Both print rss_peak and the RSS after the loop (what the allocator keeps
 * cached).
 *
 * Usage: [QUARRY_CONF=...] LD_PRELOAD=<allocator.so> ./huge_blocks touch|pair [ITERS] [SEED]
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -fno-builtin \
 *            -o /tmp/huge_blocks bench/tuning/huge_blocks.c -ldl -lm
 */
#include "tuning.h"

int main(int argc, char **argv) {
    int pair = argc > 1 && strcmp(argv[1], "pair") == 0;
    size_t iters = argc > 2 ? strtoul(argv[2], NULL, 0) : (pair ? 100000 : 200);
    struct rng r = {argc > 3 ? strtoull(argv[3], NULL, 0) : 5};
    free(malloc(1));
    size_t rss_base = rss_bytes();
    const char *alloc = allocator_name();
    double t0, t;
    long faults0 = minor_faults();
    if (pair) {
        t0 = now_s();
        for (size_t i = 0; i < iters; i++) {
            void *volatile p = malloc(8 << 20);
            if (p == NULL)
                return 1;
            free(p);
        }
        t = now_s() - t0;
        printf("alloc=%s mode=pair ns_per_pair=%.0f", alloc, t * 1e9 / (double)iters);
    } else {
        size_t *sizes = calloc(iters, sizeof(size_t)), total = 0;
        for (size_t i = 0; i < iters; i++) {
            sizes[i] = rng_between(&r, 5 << 20, 25 << 20);
            total += sizes[i];
        }
        t0 = now_s();
        for (size_t i = 0; i < iters; i++) {
            void *p = malloc(sizes[i]);
            if (p == NULL)
                return 1;
            touch_pages(p, sizes[i]);
            free(p);
        }
        t = now_s() - t0;
        /* The floor: the same writes into memory that is already mapped. */
        char *keep = malloc(25 << 20);
        touch_pages(keep, 25 << 20);
        long faults = minor_faults() - faults0;
        double f0 = now_s();
        for (size_t i = 0; i < iters; i++)
            touch_pages(keep, sizes[i]);
        double floor = now_s() - f0;
        free(keep);
        printf("alloc=%s mode=touch us_per_block=%.0f floor_us_per_block=%.0f mean_mib=%.1f faults_per_block=%.0f",
               alloc, t * 1e6 / (double)iters, floor * 1e6 / (double)iters, mib(total) / (double)iters,
               (double)faults / (double)iters);
        free(sizes);
    }
    printf(" rss_base=%.1f rss_peak=%.1f rss_after=%.1f\n", mib(rss_base), mib(peak_rss_bytes()), mib(rss_bytes()));
    return 0;
}
