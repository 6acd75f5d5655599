/*
 * Chunks and page runs. A chunk is CHUNK bytes aligned to CHUNK; its first
 * CHUNK_HEADER_PAGES pages hold struct chunk, whose page map has one entry
 * per remaining page: the struct run that page belongs to.
 *
 * Which map entries are kept exact:
 *   - every page of a small run (free() of any region finds its run);
 *   - the first and last page of every other run (large or free), which is
 *     all that free() of a large block and coalescing of neighbours read.
 * The interior entries of large and free runs may be stale; a stale entry
 * still points at a descriptor (descriptors are never unmapped), and
 * readers check the descriptor's kind and range before trusting it.
 */
#ifndef QUARRY_CHUNK_H
#define QUARRY_CHUNK_H

#include "bitmap.h"
#include "common.h"
#include "tree.h"

struct arena;

#define CHUNK_HEADER_PAGES 3
#define RUN_PAGES_MAX (CHUNK_NPAGES - CHUNK_HEADER_PAGES)
/* The largest large allocation; above it, allocations are huge. */
#define LARGE_MAX (RUN_PAGES_MAX * PAGE)

enum run_kind {
    RUN_UNUSED = 0,  /* descriptor in its arena's pool */
    RUN_FREE_CLEAN,  /* free pages that read as zero (never touched or purged) */
    RUN_FREE_DIRTY,  /* free pages that were used */
    RUN_SMALL,       /* regions of one size class */
    RUN_LARGE,       /* one allocation */
};

struct run {
    /* In a bin's tree of non-full runs (key: base) or the arena's tree of
     * free runs (key: free_run_key()); a pool link while unused. */
    struct tree_node node;
    char *base;
    uint32_t npages;
    uint8_t kind;
    uint8_t cls;     /* RUN_SMALL: size class */
    uint16_t nfree;  /* RUN_SMALL: free regions */
    /* RUN_SMALL: the class's geometry, copied here so that free() finds it
     * in the descriptor it has loaded anyway. */
    uint32_t region_size;
    uint32_t recip;
    uint32_t nregs;
    uint32_t regions_bytes; /* nregs * region_size */
    /* 1 + floor((2^64 - 1) / region_size): for offsets below 2^32, offset
     * is a multiple of region_size exactly when offset * div_magic (mod
     * 2^64) is below div_magic (Lemire, Kaser, Kurz 2019). */
    uint64_t div_magic;
    bitmap_t bitmap; /* RUN_SMALL: free regions */
} __attribute__((aligned(16)));

struct chunk {
    struct arena *arena;
    /* Pages in allocated runs; 0 means the chunk is wholly free. Under the
     * arena lock. */
    size_t nalloc_pages;
    /* Indexed by page number in the chunk; the header's own entries stay
     * NULL, so a pointer into the header finds no run. */
    struct run *map[CHUNK_NPAGES];
};

_Static_assert(sizeof(struct chunk) <= CHUNK_HEADER_PAGES * PAGE, "chunk header too large");

/* What the page map holds for pages that belong to no run yet (and for the
 * header's own pages): a descriptor of kind RUN_UNUSED, so that readers need
 * no NULL test. */
extern struct run run_none;

static ALWAYS_INLINE struct chunk *chunk_of(const void *p) {
    return (struct chunk *)((uintptr_t)p & ~CHUNK_MASK);
}

/* Page number of p in its chunk (the header's pages included). */
static ALWAYS_INLINE size_t chunk_page(const struct chunk *c, const void *p) {
    return ((uintptr_t)p - (uintptr_t)c) >> LG_PAGE;
}

static ALWAYS_INLINE char *chunk_page_addr(struct chunk *c, size_t page) {
    return (char *)c + (page << LG_PAGE);
}

static ALWAYS_INLINE uint64_t free_run_key(const struct run *r) {
    /* Size first (best fit), then address (lowest first). User addresses
     * have at most 47 bits, so base >> LG_PAGE fits in 40. */
    return ((uint64_t)r->npages << 40) | ((uintptr_t)r->base >> LG_PAGE);
}

/* A new chunk for arena a, registered, its pages zeroed; NULL on ENOMEM. */
struct chunk *chunk_alloc(struct arena *a);
void chunk_dealloc(struct chunk *c);

#endif
