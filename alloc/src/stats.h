/*
 * Statistics, gathered on demand: nothing on the fast paths counts for
 * them. An arena is read with all its locks held at once (its bin locks in
 * class order, then the arena lock: the fork order), so that one arena's
 * figures are taken at one instant and agree with each other. The totals
 * add up such snapshots and global counters each read once, which is what
 * keeps allocated <= active <= resident <= mapped at every read (see
 * stats_totals). docs/stats.md says what each number means.
 */
#ifndef QUARRY_STATS_H
#define QUARRY_STATS_H

#include "arena.h"
#include "huge.h"

/* The arena index that names all arenas together, as jemalloc's
 * MALLCTL_ARENAS_ALL (reclaim.h's ARENAS_ALL). */
#define STATS_ARENAS_ALL 4096

struct bin_snapshot {
    struct bin_stats s;
    size_t curregs; /* regions held by the program or thread caches */
};

/* One arena's figures at one instant, or the sum of every arena's. */
struct arena_snapshot {
    unsigned narenas;  /* arenas summed in (1 for one arena) */
    unsigned nthreads; /* threads bound */
    size_t pactive, pdirty, pmuzzy, nchunks;
    size_t small_allocated;
    uint64_t small_nmalloc, small_ndalloc, small_nfills, small_nflushes;
    uint64_t large_nmalloc, large_ndalloc;
    size_t large_curruns;
    struct arena_stats s; /* purging counters and large_allocated */
    struct bin_snapshot bins[NSMALL];
};

/* Bytes derived from a snapshot; each is at least the one before. */
static inline size_t snap_allocated(const struct arena_snapshot *s) {
    return s->small_allocated + s->s.large_allocated;
}
static inline size_t snap_headers(const struct arena_snapshot *s) {
    return s->nchunks * CHUNK_HEADER_PAGES * PAGE;
}
static inline size_t snap_resident(const struct arena_snapshot *s) {
    return (s->pactive + s->pdirty + s->pmuzzy) * PAGE + snap_headers(s);
}
static inline size_t snap_mapped(const struct arena_snapshot *s) { return s->nchunks * CHUNK; }

struct stats_totals {
    size_t allocated; /* bytes held by the program (and thread caches) */
    size_t active;    /* pages in runs holding allocations, plus huge blocks */
    size_t metadata;  /* chunk headers, descriptors, caches, registry */
    size_t resident;  /* touched and not purged (MADV_FREE'd pages included) */
    size_t mapped;    /* chunks in use, huge mappings, metadata, retained chunks' kept page */
    size_t retained;  /* address space of purged chunks kept for reuse */
    size_t dirty;     /* free pages still holding memory, huge cache included */
    size_t muzzy;     /* pages purged with MADV_FREE, resident until the kernel takes them */
    struct huge_stats huge;
};

/* Arena i (< narenas), or every arena summed (STATS_ARENAS_ALL). false when
 * arena i does not exist (yet). */
bool stats_arena(unsigned i, struct arena_snapshot *out);
/* n large classes from class first (class j: j + 1 pages) of arena i, or of
 * every arena summed (STATS_ARENAS_ALL); false when arena i does not exist. */
bool stats_large(unsigned i, unsigned first, unsigned n, struct large_class_stats *out);
void stats_totals(struct stats_totals *out);

#endif
