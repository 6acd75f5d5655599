#include "stats.h"

#include <string.h>

#include "base.h"
#include "init.h"
#include "report.h"
#include "tcache.h"

/* Every lock of arena a, in the fork order (bins by class, then the arena):
 * no path takes a bin lock while holding the arena lock, so this cannot
 * deadlock, and while they are held no region, run or page of the arena
 * changes state. */
static void lock_arena_all(struct arena *a) {
    for (unsigned c = 0; c < NSMALL; c++)
        lock_acquire(&a->bins[c].lock);
    lock_acquire(&a->lock);
}

static struct arena *arena_at(unsigned i) {
    return i < narenas ? __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE) : NULL;
}

static void snapshot_one(struct arena *a, struct arena_snapshot *out) {
    memset(out, 0, sizeof(*out));
    out->narenas = 1;
    out->nthreads = __atomic_load_n(&a->nthreads, __ATOMIC_RELAXED);
    lock_arena_all(a);
    for (unsigned c = 0; c < NSMALL; c++) {
        struct bin_snapshot *b = &out->bins[c];
        b->s = a->bins[c].stats;
        b->curregs = (size_t)(b->s.nmalloc - b->s.ndalloc);
    }
    out->pactive = a->nactive;
    out->pdirty = a->ndirty;
    out->pmuzzy = a->nlazy;
    out->nchunks = a->nchunks;
    out->s = a->stats;
    /* The large classes change only under the arena lock: the bins can go
     * on while they are summed. */
    for (unsigned c = NSMALL; c-- > 0;)
        lock_release(&a->bins[c].lock);
    for (unsigned j = 0; j < RUN_PAGES_MAX; j++) {
        out->large_nmalloc += a->large[j].nmalloc;
        out->large_ndalloc += a->large[j].ndalloc;
        out->large_curruns += a->large[j].curruns;
    }
    lock_release(&a->lock);
    for (unsigned c = 0; c < NSMALL; c++) {
        const struct bin_snapshot *b = &out->bins[c];
        out->small_allocated += b->curregs * class_size(c);
        out->small_nmalloc += b->s.nmalloc;
        out->small_ndalloc += b->s.ndalloc;
        out->small_nfills += b->s.nfills;
        out->small_nflushes += b->s.nflushes;
    }
}

static void snapshot_add(struct arena_snapshot *sum, const struct arena_snapshot *a) {
    sum->narenas += a->narenas;
    sum->nthreads += a->nthreads;
    sum->pactive += a->pactive;
    sum->pdirty += a->pdirty;
    sum->pmuzzy += a->pmuzzy;
    sum->nchunks += a->nchunks;
    sum->small_allocated += a->small_allocated;
    sum->small_nmalloc += a->small_nmalloc;
    sum->small_ndalloc += a->small_ndalloc;
    sum->small_nfills += a->small_nfills;
    sum->small_nflushes += a->small_nflushes;
    sum->large_nmalloc += a->large_nmalloc;
    sum->large_ndalloc += a->large_ndalloc;
    sum->large_curruns += a->large_curruns;
    sum->s.npurge += a->s.npurge;
    sum->s.nmadvise += a->s.nmadvise;
    sum->s.purged += a->s.purged;
    sum->s.calloc_zeroed += a->s.calloc_zeroed;
    sum->s.large_allocated += a->s.large_allocated;
    for (unsigned c = 0; c < NSMALL; c++) {
        struct bin_snapshot *b = &sum->bins[c];
        const struct bin_snapshot *x = &a->bins[c];
        b->s.nfills += x->s.nfills;
        b->s.nflushes += x->s.nflushes;
        b->s.nmalloc += x->s.nmalloc;
        b->s.ndalloc += x->s.ndalloc;
        b->s.nruns += x->s.nruns;
        b->curregs += x->curregs;
    }
}

bool stats_arena(unsigned i, struct arena_snapshot *out) {
    if (i != STATS_ARENAS_ALL) {
        struct arena *a = arena_at(i);
        if (a == NULL)
            return false;
        snapshot_one(a, out);
        return true;
    }
    memset(out, 0, sizeof(*out));
    struct arena_snapshot one;
    for (unsigned k = 0; k < narenas; k++) {
        struct arena *a = arena_at(k);
        if (a == NULL)
            continue;
        snapshot_one(a, &one);
        snapshot_add(out, &one);
    }
    return true;
}

bool stats_large(unsigned i, unsigned first, unsigned n, struct large_class_stats *out) {
    if (first > RUN_PAGES_MAX || n > RUN_PAGES_MAX - first)
        return false;
    memset(out, 0, n * sizeof(*out));
    for (unsigned k = 0; k < narenas; k++) {
        if (i != STATS_ARENAS_ALL && k != i)
            continue;
        struct arena *a = arena_at(k);
        if (a == NULL) {
            if (i != STATS_ARENAS_ALL)
                return false;
            continue;
        }
        lock_acquire(&a->lock);
        for (unsigned j = 0; j < n; j++) {
            out[j].nmalloc += a->large[first + j].nmalloc;
            out[j].ndalloc += a->large[first + j].ndalloc;
            out[j].curruns += a->large[first + j].curruns;
        }
        lock_release(&a->lock);
    }
    return i == STATS_ARENAS_ALL || i < narenas;
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/*
 * Why the four totals are ordered at every read, even while other threads
 * allocate and free:
 *   - each arena is one snapshot taken under all its locks, in which its
 *     held bytes lie in its active pages, which are among its resident
 *     pages, which lie in its chunks; sums of such snapshots keep the order
 *     whatever happened between them;
 *   - every other term (huge blocks, huge slack and cache, metadata,
 *     retained chunks' kept page) is read once and added to each total it
 *     belongs to, so it cannot break the order either;
 * The clamps below therefore never act when the counters are right; they
 * are there so that no interleaving the argument missed can show a reader
 * an inverted order (debug builds assert instead).
 */
void stats_totals(struct stats_totals *t) {
    struct arena_snapshot all;
    stats_arena(STATS_ARENAS_ALL, &all);
    size_t retained = chunk_nretained();
    size_t base = base_mapped();
    t->huge = huge_get_stats();
    size_t huge_mapped = t->huge.allocated + t->huge.slack + t->huge.cached;

    size_t allocated = snap_allocated(&all) + t->huge.allocated;
    size_t active = all.pactive * PAGE + t->huge.allocated;
    /* A retained chunk keeps its first page (the pool's link) resident. */
    size_t resident = snap_resident(&all) + base + huge_mapped + retained * PAGE;
    size_t mapped = snap_mapped(&all) + base + huge_mapped + retained * PAGE;
    qassert(allocated <= active && active <= resident && resident <= mapped);

    t->allocated = allocated;
    t->active = max_size(active, allocated);
    t->resident = max_size(resident, t->active);
    t->mapped = max_size(mapped, t->resident);
    t->metadata = base + snap_headers(&all); /* thread caches are in base */
    t->retained = retained * (CHUNK - PAGE);
    t->dirty = all.pdirty * PAGE + t->huge.cached;
    t->muzzy = all.pmuzzy * PAGE;
}
