/*
 * Chunks and page runs. A chunk is CHUNK bytes aligned to CHUNK; its first
 * CHUNK_HEADER_PAGES pages hold struct chunk, whose page map has one entry
 * per remaining page: the struct run that page belongs to. A second
 * per-page array, exact for every page, tells the fast paths of free,
 * malloc_usable_size and realloc the class of a small run's page and where
 * its run starts, so that they never wait on a descriptor (page_region_at()).
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

#include <stddef.h>

#include "bitmap.h"
#include "common.h"
#include "lock.h"
#include "rtree.h"
#include "size_class.h"
#include "tree.h"

struct arena;

#define CHUNK_HEADER_PAGES 5
#define RUN_PAGES_MAX (CHUNK_NPAGES - CHUNK_HEADER_PAGES)
/* The largest large allocation; above it, allocations are huge. */
#define LARGE_MAX (RUN_PAGES_MAX * PAGE)

enum run_kind {
    RUN_UNUSED = 0,  /* descriptor in its arena's pool */
    RUN_FREE_CLEAN,  /* free pages that read as zero (never touched, or purged with MADV_DONTNEED) */
    RUN_FREE_DIRTY,  /* free pages that were used and still hold memory */
    RUN_FREE_LAZY,   /* free pages purged with MADV_FREE: not dirty, not known to be zero */
    RUN_SMALL,       /* regions of one size class */
    RUN_LARGE,       /* one allocation */
    RUN_PURGING,     /* dirty pages being purged with the arena lock dropped */
};

static inline bool run_kind_is_free(unsigned kind) {
    return kind == RUN_FREE_CLEAN || kind == RUN_FREE_DIRTY || kind == RUN_FREE_LAZY;
}

struct run {
    /* In a bin's tree of non-full runs (key: base) or the arena's tree of
     * free runs (key: free_run_key()). */
    struct tree_node node;
    /* The one list a run is on outside the trees, at most one at a time:
     * the arena's pool of unused descriptors, or a batch being handed from
     * one step to the next (runs to give back, runs being purged). */
    struct run *link;
    char *base;
    uint16_t npages; /* a run lies within its chunk: at most CHUNK_NPAGES */
    uint8_t kind;
    uint8_t cls;     /* RUN_SMALL: size class */
    uint16_t nfree;  /* RUN_SMALL: free regions */
    uint16_t reg_size; /* RUN_SMALL: class_size(cls) */
    /* RUN_SMALL: the class's nregs; 0 for every other kind (set by the
     * bin that makes the run small, cleared when it is freed), so that the
     * region test of run_region_at() needs no test of the kind. */
    uint32_t small_nregs;
    uint8_t div_shift; /* RUN_SMALL: trailing zero bits of the class size */
    /* A run is small or free, never both: their fields share the space.
     * (An unlocked reader that raced a small run's release reads garbage
     * only for a pointer that was already invalid; the locked paths hold
     * the bin lock of the class they test, under which a run of that
     * class stays small.) */
    union {
        struct {
            /* RUN_SMALL: odd_inverse() of the class size's odd part,
             * for region_index() (size_class.h). */
            uint64_t div_inverse;
            bitmap_t bitmap; /* free regions */
        };
        struct {
            /* RUN_FREE_DIRTY: the arena's dirty runs, oldest first
             * (purge.c), and when the run became dirty (milliseconds,
             * monotonic clock). */
            struct run *lru_prev, *lru_next;
            uint64_t dirty_since;
        };
    };
} __attribute__((aligned(16)));

/* A page's entry for the fast paths. For a page of a small run: the class
 * offset (cls << CLASS_OFFSET_SHIFT, size_class.h) and the low 32 bits of
 * the run's base times the class's inverse, modulo 2^32.
 * For every other page (the header's, free and large runs'):
 * CLASS_NONE_OFFSET, whose class has no regions. Written under the arena
 * lock when a small run is made and when it is released. */
struct page_class {
    uint32_t base_product;
    uint32_t cls_offset;
};

struct chunk;
NORETURN COLD void chunk_report_corrupt(const struct chunk *c, const char *func);

struct chunk {
    /* chunk_secret ^ the chunk's address, first: an overflow off the end
     * of the previous mapping reaches it before anything else, and the
     * slow paths check it (chunk_arena()) before they trust the header. */
    uintptr_t cookie;
    struct arena *arena;
    /* Under the arena lock: pages in allocated (or purging) runs, 0 when the
     * chunk is wholly free; pages in dirty free runs; the arena's list of
     * chunks (in use or retained). */
    size_t nalloc_pages;
    size_t ndirty_pages;
    struct chunk *next;
    struct chunk *prev;
    bool lazy_purged; /* retained after MADV_FREE: pages may not read as zero */
    /* opt_safe: one bit per 8-byte granule of the chunk, set while the
     * block that starts there sits in a thread cache (chunk_cached_*).
     * Metadata memory (base.h), taken when the chunk is mapped, kept
     * while it is retained, recycled when it is unmapped; NULL without
     * opt_safe. */
    uint64_t *cached;
    /* Indexed by page number in the chunk; the header's own entries name
     * run_none, so a pointer into the header finds no run. */
    struct run *map[CHUNK_NPAGES];
    /* The fast paths' entries, exact for every page (page_region_at()). */
    struct page_class classes[CHUNK_NPAGES];
};

_Static_assert(sizeof(struct chunk) <= CHUNK_HEADER_PAGES * PAGE, "chunk header too large");
/* bin.c's flush prefetches a descriptor's two cache lines, the first and
 * the bitmap's (descriptors come in cache-aligned batches). */
_Static_assert(sizeof(struct run) == 2 * CACHELINE && offsetof(struct run, bitmap) == CACHELINE,
               "struct run is two cache lines, the bitmap the second");
_Static_assert(RUN_PAGES_MAX <= UINT16_MAX && SMALL_MAX <= UINT16_MAX, "run fields are 16 bits");

/* Per process, from getrandom at the first chunk. */
extern uintptr_t chunk_secret;

/* The arena that owns chunk c, after checking the header's cookie: a
 * header that an overflow reached is reported as heap corruption (func
 * names the entry point) and aborts. */
static ALWAYS_INLINE struct arena *chunk_arena(const struct chunk *c, const char *func) {
    if (unlikely(c->cookie != (chunk_secret ^ (uintptr_t)c)))
        chunk_report_corrupt(c, func);
    return c->arena;
}

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

#define CHUNK_CACHED_BYTES (CHUNK >> 6) /* one bit per 8 bytes */

/* opt_safe's record of the cached blocks, kept outside the blocks so that
 * no write after free can forge it. Set and cleared with atomics: two
 * threads may free the same block at once, and other threads' blocks
 * share the word. chunk_cached_set() returns whether the bit was set
 * before. */
static ALWAYS_INLINE uint64_t *chunk_cached_word(const void *p, uint64_t *mask) {
    size_t granule = ((uintptr_t)p & CHUNK_MASK) >> 3;
    *mask = (uint64_t)1 << (granule & 63);
    return &chunk_of(p)->cached[granule >> 6];
}

/* Whether the block that starts at p sits in some thread's cache: the
 * paths that free a block into its run without a cache (and the flush,
 * which cleared its blocks' bits first) call a set bit a double free. */
static ALWAYS_INLINE bool chunk_cached_get(const void *p) {
    uint64_t mask;
    uint64_t *w = chunk_cached_word(p, &mask);
    return (__atomic_load_n(w, __ATOMIC_RELAXED) & mask) != 0;
}

static ALWAYS_INLINE bool chunk_cached_set(const void *p) {
    uint64_t mask;
    uint64_t *w = chunk_cached_word(p, &mask);
    return (__atomic_fetch_or(w, mask, __ATOMIC_RELAXED) & mask) != 0;
}

static ALWAYS_INLINE void chunk_cached_clear(const void *p) {
    uint64_t mask;
    uint64_t *w = chunk_cached_word(p, &mask);
    __atomic_fetch_and(w, ~mask, __ATOMIC_RELAXED);
}

/* p's page number in its chunk, as the fast paths compute it (the same
 * expression in each, so that the compiler computes it once). */
static ALWAYS_INLINE size_t page_in_chunk(const void *p) {
    return ((uintptr_t)p & CHUNK_MASK) >> LG_PAGE;
}

static ALWAYS_INLINE struct run *run_of_page(const void *p) {
    return chunk_of(p)->map[page_in_chunk(p)];
}

/* The large run p is the start of, or NULL: the page map's entry for a
 * large run's first page is exact, and a stale interior entry names a run
 * based elsewhere. */
static ALWAYS_INLINE struct run *large_run_at(const void *p) {
    struct run *r = run_of_page(p);
    return r->kind == RUN_LARGE && r->base == p ? r : NULL;
}

/* The small run whose region p is the start of, or NULL, and the region's
 * index: one page-map load, one descriptor, one multiply. Pages of the
 * chunk header map to run_none, whose small_nregs is 0 as every run's
 * but a small one's. The locked paths' test (the bins' flush,
 * block_find()), which holds under the bin lock; the fast paths take the
 * same test from the page's entry (page_region_at() below). */
static ALWAYS_INLINE struct run *run_region_at(const void *p, uint32_t *index) {
    struct run *r = run_of_page(p);
    uint64_t i = region_index((uintptr_t)p - (uintptr_t)r->base, r->div_inverse, r->div_shift);
    if (unlikely(i >= r->small_nregs))
        return NULL;
    *index = (uint32_t)i;
    return r;
}

/* The fast paths' region test: the facts of p's class when p starts a
 * region of a small run, with the class offset and the region's index;
 * else NULL. One load of the page's entry, then the class table (a few hot
 * cache lines), never the run's descriptor, which on a large heap is a
 * cache miss (docs/design.md). It answers as run_region_at() does for
 * every page whose run is not being made or released at that moment;
 * an unlocked caller that races either was handed a stray pointer, and
 * the locked paths test such a pointer again with run_region_at(). */
static ALWAYS_INLINE const struct class_facts *page_region_at(const void *p, size_t *cls_offset, uint32_t *index) {
    const struct page_class *e = &chunk_of(p)->classes[page_in_chunk(p)];
    size_t off = e->cls_offset;
    const struct class_facts *f = class_facts_at(off);
    /* (p - base) * inverse modulo 2^32, from p's low bits alone: p and
     * the base lie in one chunk, so their distance stays exact. */
    uint32_t i = region_index32((uint32_t)(uintptr_t)p * f->inverse - e->base_product, f->shift);
    if (unlikely(i >= f->nregs))
        return NULL;
    *cls_offset = off;
    *index = i;
    return f;
}

/* Marks the pages of a small run of class cls that starts at base (npages
 * of them), or with cls == NSMALL the pages of a run that is no longer
 * small. */
void chunk_set_page_classes(char *base, size_t npages, unsigned cls);

static ALWAYS_INLINE struct run *run_of_region(const void *p) {
    uint32_t index;
    return run_region_at(p, &index);
}

#define FREE_RUN_KEY_SHIFT (RTREE_ADDR_BITS - LG_PAGE)
_Static_assert(CHUNK_NPAGES < (1 << (TREE_KEY_BITS - FREE_RUN_KEY_SHIFT)), "free_run_key fits the tree's keys");

static ALWAYS_INLINE uint64_t free_run_key(const struct run *r) {
    /* Size first (best fit), then address (lowest first). User addresses
     * have at most 47 bits, so base >> LG_PAGE fits in 35, and with the
     * 10 bits of npages the key stays within tree.h's 48. */
    return ((uint64_t)r->npages << FREE_RUN_KEY_SHIFT) | ((uintptr_t)r->base >> LG_PAGE);
}

/* A chunk for arena a, registered, every page free and either zeroed or
 * (*lazy) purged with MADV_FREE: a retained chunk if there is one, else a
 * new mapping. NULL when the kernel has no memory (reclaim.h gives caches
 * back for a retry). */
struct chunk *chunk_alloc(struct arena *a, bool *lazy);
/* A wholly free chunk leaves its arena: unmapped, or with opt_retain purged
 * and kept (address space only) for the next chunk_alloc. */
void chunk_dealloc(struct chunk *c);
/* Gives a range of pages back as opt_purge says. Returns the kind of free
 * run they make now: RUN_FREE_CLEAN when they read as zero (MADV_DONTNEED
 * worked), else RUN_FREE_LAZY (MADV_FREE, or a kernel that refused because
 * the pages are locked): no longer counted as dirty, not known to be zero. */
enum run_kind chunk_purge_pages(void *addr, size_t size);
/* Unmaps every retained chunk; returns how many. */
size_t chunk_release_retained(void);
size_t chunk_nretained(void);

extern lock_t chunk_pool_lock;

#endif
