/*
 * Arenas: independent heaps, 4 per CPU by default. An arena owns chunks,
 * keeps their free page runs in a tree ordered by (pages, address) for best
 * fit, serves large allocations (whole pages) and small runs to its bins,
 * and purges its dirty pages (purge.c).
 *
 * Locking: a->lock guards the free-run tree, chunk bookkeeping, the
 * descriptor pool and the counters below; each bin has its own lock. No
 * path holds a bin lock while taking a->lock.
 */
#ifndef QUARRY_ARENA_H
#define QUARRY_ARENA_H

#include "chunk.h"
#include "common.h"
#include "lock.h"
#include "size_class.h"
#include "tree.h"

struct bin_stats {
    uint64_t nfills;   /* lock acquisitions that handed out regions */
    uint64_t nflushes; /* lock acquisitions that took regions back */
    uint64_t nmalloc;  /* regions handed out (to caches or callers) */
    uint64_t ndalloc;  /* regions taken back */
    size_t nruns;      /* runs holding regions (the spare not included) */
};

struct bin {
    lock_t lock;
    /* The run regions come from; a full current run is replaced on the next
     * allocation. Other runs with free regions wait in nonfull. */
    struct run *current;
    struct tree nonfull;
    /* Runs that got a free region since the last refill, not yet in
     * nonfull (bin.c). */
    struct run *pending;
    /* An emptied run kept for the next refill (bin.h), or NULL. */
    struct run *spare;
    struct bin_stats stats;
} CACHE_ALIGNED;

/* Per large class (a run of n pages is class n - 1), under the arena lock.
 * Blocks handed to thread caches count as allocated. */
struct large_class_stats {
    uint64_t nmalloc;
    uint64_t ndalloc;
    size_t curruns;
};

struct arena_stats {
    uint64_t npurge;       /* purge passes */
    uint64_t nmadvise;     /* madvise calls made by them */
    uint64_t purged;       /* pages purged */
    uint64_t calloc_zeroed; /* large callocs served from pages known zero: no memset */
    size_t large_allocated; /* bytes in large runs handed out */
};

struct arena {
    lock_t lock;
    unsigned index;
    unsigned nthreads; /* threads bound here; under init_lock */
    /* Free runs, key free_run_key(): those whose pages are likely still
     * resident (dirty, or lazily purged) apart from the clean ones, so that
     * allocation reuses resident pages before it faults in clean ones. */
    struct tree avail_used;
    struct tree avail_clean;
    struct chunk *chunks;   /* in use, linked through next/prev */
    /* One wholly free chunk kept in use (its runs stay in the free trees) so that a
     * program that empties and refills an arena does not give a chunk back
     * and take it again on every cycle. */
    struct chunk *spare;
    struct run *pool;  /* unused descriptors, linked through link */
    size_t npool;      /* how many */
    size_t nactive;    /* pages in allocated runs */
    size_t ndirty;     /* pages in RUN_FREE_DIRTY runs */
    size_t nlazy;      /* pages in RUN_FREE_LAZY runs: purged with MADV_FREE, resident until the kernel takes them */
    size_t nchunks;    /* in use (spare included) */
    bool purging;      /* a purge pass has dropped the lock */
    /* Dirty runs in the order they became dirty (purge.c takes the oldest
     * first); linked through lru_prev/lru_next. */
    struct run *dirty_oldest, *dirty_newest;
    /* The highest nactive in the current and the previous decay window. */
    size_t peak_cur, peak_prev;
    struct purge_state {
        uint64_t window_start;  /* ms: start of the current decay window */
        uint64_t next_tick;     /* ms: no decay pass before this */
        uint64_t last_purge;    /* ms: the last bound-driven purge pass */
        size_t refault_mark;    /* nactive that, reached again soon after that pass, marks a cycle */
        size_t regrown;         /* the highest nactive since that pass */
        uint64_t cyclic_until;  /* ms: until then the arena keeps its recent peak's pages */
    } purge;
    struct arena_stats stats;
    struct large_class_stats *large; /* [RUN_PAGES_MAX], from base memory */
    struct bin bins[NSMALL];
};

struct arena *arena_new(unsigned index);

/* Under a->lock. A run of npages whose base is a multiple of
 * align_pages * PAGE, marked kind/cls in the page map; *zeroed tells whether
 * its pages read as zero. NULL when no memory can be mapped. */
struct run *arena_run_alloc(struct arena *a, size_t npages, size_t align_pages, enum run_kind kind,
                            unsigned cls, bool *zeroed);
/* Under a->lock. Returns an allocated run's pages to the free tree as
 * dirty pages. The caller then lets the purge policy look (purge.h). */
void arena_run_dalloc(struct arena *a, struct run *r);
/* Under a->lock. Inserts run r, just made free of the given kind, into the
 * free tree, merging it with free neighbours of the same kind; gives a
 * wholly free chunk back. */
void arena_run_insert_free(struct arena *a, struct run *r, enum run_kind kind);
/* Under a->lock: takes free run r out of the free tree. */
void arena_avail_remove(struct arena *a, struct run *r);

/* Under a->lock: lets the spare chunk go too (retired like any other
 * wholly free chunk) if it holds no dirty pages; for explicit purges and
 * the retry after ENOMEM. */
void arena_release_spare(struct arena *a);
/* Under a->lock: makes sure a run split cannot run out of descriptors
 * (n of them); false when metadata memory cannot be had. */
bool arena_desc_reserve(struct arena *a, unsigned n);
/* Under a->lock: cuts the last npages off allocated run r into a new
 * allocated run of the same kind, which it returns. The caller has
 * reserved a descriptor. */
struct run *arena_run_split_tail(struct arena *a, struct run *r, size_t npages);
/* Under a->lock: grows allocated run r by the free pages that follow it,
 * to npages; false when they are not free. */
bool arena_run_grow(struct arena *a, struct run *r, size_t npages);

/* Debug builds, under a->lock: the arena's page accounting against its
 * chunks (every page in exactly one run; active, dirty and lazy counts per
 * chunk and per arena; free runs in their trees, dirty ones in the age
 * list). Aborts with a message when they disagree; nothing otherwise. */
void arena_check(struct arena *a);

void arena_prefork(struct arena *a);
void arena_postfork_parent(struct arena *a);
void arena_postfork_child(struct arena *a);

#endif
