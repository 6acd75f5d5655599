/* Statistics, gathered on demand by walking the arenas under their locks
 * (bins first, then the arena: the lock order). Nothing on the fast paths
 * counts anything. docs/stats.md says what each number means. */
#ifndef QUARRY_STATS_H
#define QUARRY_STATS_H

#include "arena.h"
#include "huge.h"

struct bin_snapshot {
    struct bin_stats s;
    size_t curregs; /* regions held by the program or thread caches */
};

struct arena_snapshot {
    size_t pactive, pdirty, nchunks;
    size_t small_allocated;
    struct arena_stats s;
    struct bin_snapshot bins[NSMALL];
};

struct stats_totals {
    size_t allocated; /* bytes held by the program (and thread caches) */
    size_t active;    /* pages in runs holding allocations, plus huge blocks */
    size_t metadata;  /* chunk headers, descriptors, caches, registry */
    size_t resident;  /* touched and not purged */
    size_t mapped;    /* chunks in use, huge mappings, metadata */
    size_t retained;  /* purged chunks kept as address space (one header page each stays resident) */
    size_t dirty;     /* free pages still holding memory, huge cache included */
    struct huge_stats huge;
};

/* false when arena i does not exist (yet). */
bool stats_arena(unsigned i, struct arena_snapshot *out);
void stats_totals(struct stats_totals *out);
/* Writes the statistics as text to stderr. */
void stats_print_text(void);

#endif
