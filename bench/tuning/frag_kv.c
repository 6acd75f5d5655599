/*
 * Fragmentation under key-value-store-like churn: how much RSS the
 * allocator needs beyond what the program holds, at the peak and once the
 * store has shrunk.
 *
 * The store is filled to LIVE MiB (default 256) with values of mix A
 * (log-uniform 16 B..4 KiB), then three times a random half is deleted and
 * the store refilled with the other mix (B: log-uniform 4 KiB..128 KiB,
 * so whole pages and page runs are freed and must be reused or purged),
 * A, B, A, B in all. Finally a random 3/4 is evicted (the store shrinks)
 * and, last, everything is freed. Every value is written in full.
 *
 * Prints: wall time of the whole workload (fills, deletes, shrink, free),
 * the minor page faults in it,
 * rss_peak (getrusage ru_maxrss), rss_final (RSS after the shrink, the
 * quarter still live), live_final (bytes the program holds then),
 * rss_empty (RSS once everything is freed), the AnonHugePages seen at the
 * end of the last fill and after the shrink (smaps_rollup), phys_final:
 * the anonymous memory actually held after the shrink, with every huge
 * page that is still partly mapped counted in full (tuning.h,
 * anon_physical_bytes: needs root; RSS undercounts it once huge pages have
 * been partly purged), thp_final: the part of it in huge pages, the same
 * two once everything is freed (phys_empty, thp_empty), and, under
 * quarry, its purge counters. The store's index is in its own mmap, outside
 * the heap under test, touched before rss_base is read (subtract rss_base
 * from the other RSS figures to get the heap's own).
 *
 * Usage: [QUARRY_CONF=...] LD_PRELOAD=<allocator.so> ./frag_kv [LIVE_MIB] [SEED]
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -fno-builtin \
 *            -o /tmp/frag_kv bench/tuning/frag_kv.c -ldl -lm
 */
#include <sys/mman.h>

#include "tuning.h"

struct entry {
    void *p;
    size_t size;
};

static struct entry *entries;
static size_t count, capacity, live;

static int fill(struct rng *r, size_t lo, size_t hi, size_t target) {
    while (live < target) {
        if (count == capacity)
            return -1;
        size_t size = rng_log_uniform(r, lo, hi);
        void *p = malloc(size);
        if (p == NULL)
            return -1;
        memset(p, 0x5a, size);
        entries[count].p = p;
        entries[count].size = size;
        count++;
        live += size;
    }
    return 0;
}

/* Deletes a uniformly random `num/den` of the entries. */
static void delete_fraction(struct rng *r, size_t num, size_t den) {
    size_t victims = count * num / den;
    for (size_t i = 0; i < victims; i++) {
        size_t j = i + rng_below(r, count - i);
        struct entry v = entries[j];
        entries[j] = entries[i];
        entries[i] = v;
        free(v.p);
        live -= v.size;
    }
    memmove(entries, entries + victims, (count - victims) * sizeof(*entries));
    count -= victims;
}

int main(int argc, char **argv) {
    size_t target = (argc > 1 ? strtoul(argv[1], NULL, 0) : 256) << 20;
    struct rng r = {argc > 2 ? strtoull(argv[2], NULL, 0) : 1};
    /* Mix A averages ~740 bytes, so no store holds more than target / 256
     * entries; a fill that would overflow fails loudly. */
    capacity = target / 256 + 4096;
    entries = mmap(NULL, capacity * sizeof(*entries), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (entries == MAP_FAILED)
        return 1;
    memset(entries, 0, capacity * sizeof(*entries));
    free(malloc(1));
    size_t rss_base = rss_bytes();

    const size_t mix[2][2] = {{16, 4096}, {4097, 128 << 10}};
    long faults0 = minor_faults();
    double t0 = now_s();
    if (fill(&r, mix[0][0], mix[0][1], target) != 0)
        return 1;
    for (int gen = 1; gen <= 3; gen++) {
        delete_fraction(&r, 1, 2);
        if (fill(&r, mix[gen & 1][0], mix[gen & 1][1], target) != 0)
            return 1;
    }
    /* The /proc reads are not the workload's time: paused is taken off. */
    double tp = now_s();
    size_t huge_full = smaps_field("AnonHugePages");
    double paused = now_s() - tp;
    delete_fraction(&r, 3, 4);
    tp = now_s();
    size_t rss_final = rss_bytes(), live_final = live;
    size_t huge_final = smaps_field("AnonHugePages");
    size_t thp_final = 0, phys_final = anon_physical_bytes(&thp_final);
    paused += now_s() - tp;
    for (size_t i = 0; i < count; i++)
        free(entries[i].p);
    double t = now_s() - t0 - paused;
    long faults = minor_faults() - faults0;
    size_t rss_empty = rss_bytes();
    size_t thp_empty = 0, phys_empty = anon_physical_bytes(&thp_empty);

    const char *alloc = allocator_name();
    const char *conf = getenv("QUARRY_CONF");
    printf("alloc=%s conf=%s time=%.3f faults=%ld rss_base=%.1f rss_peak=%.1f rss_final=%.1f live_final=%.1f rss_empty=%.1f "
           "anonhuge_full=%.1f anonhuge_final=%.1f phys_final=%.1f thp_final=%.1f "
           "phys_empty=%.1f thp_empty=%.1f\n",
           alloc, conf != NULL && strcmp(alloc, "quarry") == 0 ? conf : "-", t, faults, mib(rss_base),
           mib(peak_rss_bytes()), mib(rss_final), mib(live_final), mib(rss_empty), mib(huge_full),
           mib(huge_final), mib(phys_final), mib(thp_final), mib(phys_empty), mib(thp_empty));
    print_quarry_purge_counts("  quarry arena 0: ");
    return 0;
}
