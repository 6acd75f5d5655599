#include "stats.h"

#include "base.h"
#include "init.h"
#include "tcache.h"

bool stats_arena(unsigned i, struct arena_snapshot *out) {
    if (i >= narenas)
        return false;
    struct arena *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
    if (a == NULL)
        return false;
    out->small_allocated = 0;
    for (unsigned c = 0; c < NSMALL; c++) {
        struct bin *b = &a->bins[c];
        lock_acquire(&b->lock);
        out->bins[c].s = b->stats;
        lock_release(&b->lock);
        out->bins[c].curregs = (size_t)(out->bins[c].s.nmalloc - out->bins[c].s.ndalloc);
        out->small_allocated += out->bins[c].curregs * class_size(c);
    }
    lock_acquire(&a->lock);
    out->pactive = a->nactive;
    out->pdirty = a->ndirty;
    out->nchunks = a->nchunks;
    out->s = a->stats;
    lock_release(&a->lock);
    return true;
}

void stats_totals(struct stats_totals *t) {
    size_t pactive = 0, pdirty = 0, chunks = 0, allocated = 0;
    size_t retained = chunk_nretained();
    struct arena_snapshot snap;
    for (unsigned i = 0; i < narenas; i++) {
        if (!stats_arena(i, &snap))
            continue;
        pactive += snap.pactive;
        pdirty += snap.pdirty;
        chunks += snap.nchunks;
        allocated += snap.small_allocated + snap.s.large_allocated;
    }
    size_t caches = __atomic_load_n(&tcache_bytes, __ATOMIC_RELAXED);
    size_t headers = chunks * CHUNK_HEADER_PAGES * PAGE;
    size_t base = base_mapped();
    t->huge = huge_get_stats();
    /* The caches are large allocations of quarry's own: metadata. */
    t->allocated = allocated - caches + t->huge.allocated;
    t->active = pactive * PAGE + t->huge.allocated;
    t->metadata = base + headers + caches;
    t->dirty = pdirty * PAGE + t->huge.cached;
    /* A retained chunk keeps its first header page. */
    t->resident = (pactive + pdirty) * PAGE + headers + base + t->huge.allocated + t->huge.cached + retained * PAGE;
    t->mapped = chunks * CHUNK + t->huge.allocated + t->huge.cached + base;
    t->retained = retained * CHUNK;
}
