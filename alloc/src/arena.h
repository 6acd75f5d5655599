/*
 * Arenas: independent heaps, 4 per CPU by default. An arena owns chunks,
 * keeps their free page runs in a tree ordered by (pages, address) for best
 * fit, serves large allocations (whole pages) and small runs to its bins.
 *
 * Locking: a->lock guards the free-run tree, chunk bookkeeping and the
 * descriptor pool; each bin has its own lock (bin.h). No path holds a bin
 * lock while taking a->lock.
 */
#ifndef QUARRY_ARENA_H
#define QUARRY_ARENA_H

#include "chunk.h"
#include "common.h"
#include "lock.h"
#include "size_class.h"
#include "tree.h"

struct bin {
    lock_t lock;
    /* The run regions come from; a full current run is replaced on the next
     * allocation. Other runs with free regions wait in nonfull. */
    struct run *current;
    struct tree nonfull;
} CACHE_ALIGNED;

struct arena {
    lock_t lock;
    unsigned index;
    unsigned nthreads; /* threads bound here; under init_lock */
    struct tree avail; /* free runs, key free_run_key() */
    /* One wholly free chunk kept (its runs stay in avail) so that a program
     * that empties and refills an arena does not map and unmap a chunk on
     * every cycle. */
    struct chunk *spare;
    struct run *pool; /* unused descriptors, linked through node.left */
    size_t nactive;   /* pages in allocated runs */
    size_t ndirty;    /* pages in RUN_FREE_DIRTY runs */
    size_t nchunks;
    struct bin bins[NSMALL];
};

struct arena *arena_new(unsigned index);

/* Under a->lock. A run of npages whose base is a multiple of
 * align_pages * PAGE, marked kind/cls in the page map; *zeroed tells whether
 * its pages read as zero. NULL when no memory can be mapped. */
struct run *arena_run_alloc(struct arena *a, size_t npages, size_t align_pages, enum run_kind kind,
                            unsigned cls, bool *zeroed);
/* Under a->lock. Returns an allocated run's pages to the free tree. */
void arena_run_dalloc(struct arena *a, struct run *r);

void *arena_malloc_large(struct arena *a, size_t size, size_t align, bool zero);
void arena_free_large(struct arena *a, struct run *r);
/* Resizes a large run in place to page_ceil(size) bytes: shrinking always
 * works, growing when the following pages are free. */
bool arena_resize_large(struct arena *a, struct run *r, size_t size);

void arena_prefork(struct arena *a);
void arena_postfork_parent(struct arena *a);
void arena_postfork_child(struct arena *a);

#endif
