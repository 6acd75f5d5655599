/*
 * Return after free: how much memory the allocator gives back to the kernel
 * once a program frees everything, without and with an explicit purge call.
 *
 * Allocates TOTAL MiB (default 1024) as blocks of SIZE bytes, writes every
 * byte (so every page is resident), frees them all (in allocation order, or
 * in random order with "random"), and prints:
 *   rss_base   RSS before the first allocation
 *   rss_peak   RSS with everything allocated
 *   rss_free   RSS right after the last free (no explicit call)
 *   rss_purge  RSS after the allocator's explicit purge (tuning.h:
 *              quarry_purge / malloc_trim(0) / mallctl arena.4096.purge /
 *              mi_collect(true) / MallocExtension_ReleaseFreeMemory)
 * and the time of the allocation pass, the free-all pass and the purge call.
 * Under quarry it also prints its own view (stats.dirty, stats.retained,
 * stats.metadata) right after the frees, and its purge counters.
 *
 * Usage: LD_PRELOAD=<allocator.so> ./return_after_free SIZE [TOTAL_MIB] [inorder|random]
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -fno-builtin \
 *            -o /tmp/return_after_free bench/tuning/return_after_free.c -ldl -lm
 */
#include <sys/mman.h>

#include "tuning.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SIZE [TOTAL_MIB] [inorder|random]\n", argv[0]);
        return 2;
    }
    size_t size = strtoul(argv[1], NULL, 0);
    size_t total = (argc > 2 ? strtoul(argv[2], NULL, 0) : 1024) << 20;
    int random_order = argc > 3 && strcmp(argv[3], "random") == 0;
    size_t n = total / size;

    /* The pointer array lives outside the heap under test, touched before
     * the baseline so that it is part of rss_base. */
    void **blocks = mmap(NULL, n * sizeof(void *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blocks == MAP_FAILED)
        return 1;
    memset(blocks, 0, n * sizeof(void *));
    const char *alloc = allocator_name();
    free(malloc(1)); /* start the allocator up before the baseline */
    size_t rss_base = rss_bytes();

    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        blocks[i] = malloc(size);
        if (blocks[i] == NULL) {
            fprintf(stderr, "malloc failed\n");
            return 1;
        }
        memset(blocks[i], 0x5a, size);
    }
    double t_alloc = now_s() - t0;
    size_t rss_peak = rss_bytes();

    if (random_order) {
        struct rng r = {42};
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = rng_below(&r, i + 1);
            void *t = blocks[i];
            blocks[i] = blocks[j];
            blocks[j] = t;
        }
    }
    t0 = now_s();
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    double t_free = now_s() - t0;
    size_t rss_free = rss_bytes();
    uint64_t q_dirty = quarry_stat("stats.dirty"), q_retained = quarry_stat("stats.retained");
    uint64_t q_metadata = quarry_stat("stats.metadata");

    t0 = now_s();
    const char *how = explicit_purge();
    double t_purge = now_s() - t0;
    size_t rss_purge = rss_bytes();

    const char *conf = getenv("QUARRY_CONF");
    printf("alloc=%s conf=%s size=%zu total_mib=%zu order=%s rss_base=%.1f rss_peak=%.1f rss_free=%.1f "
           "rss_purge=%.1f t_alloc=%.3f t_free=%.4f t_purge=%.4f purge_call=%s",
           alloc, conf != NULL && strcmp(alloc, "quarry") == 0 ? conf : "-", size, total >> 20,
           random_order ? "random" : "inorder", mib(rss_base), mib(rss_peak), mib(rss_free), mib(rss_purge),
           t_alloc, t_free, t_purge, how);
    if (strcmp(alloc, "quarry") == 0)
        printf(" q_dirty_after_free=%.1f q_retained_after_free=%.1f q_metadata=%.1f", mib(q_dirty), mib(q_retained),
               mib(q_metadata));
    printf("\n");
    print_quarry_purge_counts("  quarry arena 0: ");
    munmap(blocks, n * sizeof(void *));
    return 0;
}
