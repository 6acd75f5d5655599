/*
 * Thread caches: per thread, one LIFO stack of free blocks for each small
 * class and each large class up to opt_tcache_max. A hit takes no lock, no
 * atomic and no call.
 *
 * A thread starts on tcache_initial, a static cache whose stacks are empty
 * and have no room: every malloc and free misses and lands in
 * tcache_*_slow(), which builds the thread's real cache. So the fast path
 * has no "initialised?" branch. After thread exit (or with caching off) the
 * thread points at tcache_bypass, whose misses go straight to the arena.
 */
#ifndef QUARRY_TCACHE_H
#define QUARRY_TCACHE_H

#include "common.h"
#include "conf.h"
#include "size_class.h"

/* Large classes are whole pages: class NSMALL + pages - 1, up to
 * TCACHE_MAX_LIMIT (conf.h). */
#define TCACHE_NBINS_MAX (NSMALL + (TCACHE_MAX_LIMIT >> LG_PAGE))
#define TCACHE_LARGE_CAP 20
/* One GC step (one bin examined) every this many frees into the cache. */
#define TCACHE_GC_INTERVAL 256

struct arena;

/* A stack of cached blocks: [base, top) holds them, oldest at base. The
 * static caches have base == top == end == low_water == NULL: every pop
 * and every push misses. */
struct tcache_bin {
    void **top;
    void **base;
    void **end;
    /* Lowest top since the last GC step of this bin (or since a fill or
     * flush moved top below it): base <= low_water <= top, which
     * tcache_alloc_at() relies on. */
    void **low_water;
};
_Static_assert(sizeof(struct tcache_bin) == 1 << CLASS_OFFSET_SHIFT,
               "bins[] is indexed by class offsets (size_class.h)");

/* A bin's counters and fill state, in an array beside bins[] with the same
 * stride, so that the fast path reaches a bin's counter from the bin's own
 * offset. */
struct tcache_bin_stats {
    /* Blocks pushed by frees (the only counter on a fast path), blocks
     * brought in by fills, blocks given back by flushes. Blocks popped by
     * allocations follow: filled + freed - flushed - held. */
    uint64_t nfreed;
    uint64_t nfilled;
    uint64_t nflushed;
    uint8_t lg_fill_div; /* a fill takes cap >> lg_fill_div */
    bool missed;         /* a pop found the stack empty */
} __attribute__((aligned(32)));
_Static_assert(sizeof(struct tcache_bin_stats) == sizeof(struct tcache_bin), "the same stride");

struct tcache {
    /* What the fast paths see; first: bin i is at byte offset i <<
     * CLASS_OFFSET_SHIFT, and its counters that much past stats. */
    struct tcache_bin bins[TCACHE_NBINS_MAX];
    struct tcache_bin_stats stats[TCACHE_NBINS_MAX];
    /* The stacks themselves: bins, or with opt_safe an array of their own
     * while every bins[i] stays empty with no room, so that every malloc
     * and free lands in the slow paths, which keep the blocks' cached bits
     * (chunk_cached_set) beside the stacks. */
    struct tcache_bin *stacks;
    uint32_t gc_countdown;
    uint32_t gc_next;   /* bin the next GC step examines */
    uintptr_t free_key; /* tcache_free_key, kept beside the bins */
    struct arena *arena;
    unsigned nbins;
    /* The registry of live caches (tcache_census), under its own lock;
     * set when the cache is built and cleared at thread exit, never on a
     * fast path. */
    struct tcache *live_next;
    struct tcache **live_prev; /* the pointer that points at this cache */
};

extern struct tcache tcache_initial;
extern struct tcache tcache_bypass;

static ALWAYS_INLINE bool tcache_is_real(const struct tcache *tc) {
    return tc != &tcache_initial && tc != &tcache_bypass;
}

/* opt_safe's caches keep their stacks apart from bins[] (above). */
static ALWAYS_INLINE bool tcache_is_safe(const struct tcache *tc) { return tc->stacks != tc->bins; }

static ALWAYS_INLINE unsigned tcache_bin_count(const struct tcache_bin *b) { return (unsigned)(b->top - b->base); }
static ALWAYS_INLINE unsigned tcache_bin_cap(const struct tcache_bin *b) { return (unsigned)(b->end - b->base); }

extern _Thread_local struct tcache *thread_tcache __attribute__((tls_model("initial-exec")));
/* key: written into a block's first word whenever it enters a cache (a
 * free or a fill) or is freed straight into its run, kept by a flush, and
 * cleared whenever the block leaves for the program, so that no live
 * block carries it: a free of a block that carries it is a double free,
 * whichever thread's cache holds the first copy.
 * unkeyed: what tcache_is_keyed() ORs into its comparison: 0, or all ones
 * while no block can carry the key (before the boot, and under memcheck,
 * where a block's first word may be undefined: memcheck counts x | ~0 as
 * defined). So that test is one comparison, with no branch of its own on
 * vg_active. */
struct tcache_key {
    uintptr_t key;
    uintptr_t unkeyed;
};
extern HIDDEN struct tcache_key tcache_free_key;

/* Whether the block at ptr carries the key: it is free, in some thread's
 * cache or back in its run (unless written after free), for the slow
 * paths, which may be handed a block of any arena chunk, keyed or not
 * (rtree.h); the fast paths, in CHUNK_ARENA chunks only, use
 * tcache_carries_key(). */
static ALWAYS_INLINE bool tcache_is_keyed(const void *ptr) {
    uintptr_t word = *(const uintptr_t *)ptr;
    uintptr_t diff = (word ^ __atomic_load_n(&tcache_free_key.key, __ATOMIC_RELAXED)) |
                     __atomic_load_n(&tcache_free_key.unkeyed, __ATOMIC_RELAXED);
    return diff == 0;
}
/* Whether the block at ptr, in an arena chunk of kind CHUNK_ARENA
 * (rtree.h), carries the key. Such chunks exist only once the key is in
 * force (never under memcheck), so the test needs no word that turns it
 * off, and no live block answers true: malloc_usable_size() trusts a
 * false answer and takes its full test (the region's bit, then
 * tcache_is_keyed()) on a true one. A freed block carries the key while
 * it is free: a free or fill writes it, a flush leaves it, and a free
 * past the caches writes it too (tcache_key_uncached()); only a write
 * after free removes it. */
static ALWAYS_INLINE bool tcache_carries_key(const void *ptr) {
    return *(const uintptr_t *)ptr == __atomic_load_n(&tcache_free_key.key, __ATOMIC_RELAXED);
}
/* Keys a small block freed straight into its run (no cache on the way),
 * as a flushed block stays keyed. */
void tcache_key_uncached(void *ptr);
extern HIDDEN size_t tcache_max_size; /* largest size cached; 0 before start-up */
/* tcache_max_size, read by threads that may run before start-up has set
 * it (they see 0 and take the uncached path): a relaxed load, the same
 * instruction as a plain one. */
static ALWAYS_INLINE size_t tcache_max(void) { return __atomic_load_n(&tcache_max_size, __ATOMIC_RELAXED); }

/* Sets the cache limit and the free key, once per process; every thread's
 * first cached allocation calls it, and so does the first allocation of
 * pages, so that the process's first block may already be cached. */
void tcache_boot_once(void);
void *tcache_alloc_slow(size_t bin);
void tcache_free_slow(size_t bin, void *ptr);
void tcache_gc_step(struct tcache *tc);
/* Gives every cached block back to its arena. */
void tcache_flush(struct tcache *tc);
/* A block popped from a cache lost its key: reports it and aborts. Typed
 * to return (it never does) so that the fast path can jump to it rather
 * than call it, and keeps no stack frame of its own. */
COLD void *tcache_alloc_unkeyed(const void *ptr);
/* The thread is exiting (the cache's own thread-specific key calls it):
 * flush, free the cache, bypass from now on. */
void tcache_thread_exit(void);

/* Every thread's cache at one moment, for the doctor: the cached blocks,
 * their bytes (by class size), and how many threads have a cache. The
 * other threads go on allocating while it is read, so the figures are an
 * estimate that is exact only for a quiet program. */
struct tcache_census {
    size_t bytes, blocks;
    unsigned nthreads;
};
void tcache_census(struct tcache_census *out);
/* Fork (fork.c): the registry's lock comes last in lock.h's order. The
 * child keeps only its own thread's cache on the list. */
void tcache_prefork(void);
void tcache_postfork_parent(void);
void tcache_postfork_child(void);

/* Bytes (usable sizes) of the blocks the calling thread has allocated and
 * freed since it started, cached or not; both only grow. */
void tcache_thread_bytes(uint64_t *allocated, uint64_t *deallocated);
/* Thread-local copies of those two figures, for mallctl's
 * thread.allocatedp: refreshed by tcache_thread_bytes() and, once a pointer
 * has been asked for, at every fill, flush and GC step of the cache. */
uint64_t *tcache_thread_allocatedp(void);
uint64_t *tcache_thread_deallocatedp(void);
/* Bytes of blocks the thread allocated or freed without its cache (large
 * blocks past tcache_max, huge blocks, caching off, resizes): counted by
 * the caller with tcache_count_direct(). */
extern _Thread_local uint64_t tcache_direct_allocated __attribute__((tls_model("initial-exec")));
extern _Thread_local uint64_t tcache_direct_deallocated __attribute__((tls_model("initial-exec")));

static ALWAYS_INLINE void tcache_count_direct(size_t allocated, size_t deallocated) {
    tcache_direct_allocated += allocated;
    tcache_direct_deallocated += deallocated;
}

static ALWAYS_INLINE unsigned tcache_large_bin(size_t npages) { return NSMALL + (unsigned)npages - 1; }
/* Whether large blocks of npages pages go through the caches. */
static ALWAYS_INLINE bool tcache_caches_pages(size_t npages) { return npages <= (tcache_max() >> LG_PAGE); }

/* Bin (a class, or tcache_large_bin()) at byte offset off of bins[] and
 * stats[]: off is bin << CLASS_OFFSET_SHIFT. */
static ALWAYS_INLINE struct tcache_bin *tcache_bin_at(struct tcache *tc, size_t off) {
    return (struct tcache_bin *)((char *)tc->bins + off);
}

static ALWAYS_INLINE struct tcache_bin_stats *tcache_stats_at(struct tcache *tc, size_t off) {
    return (struct tcache_bin_stats *)((char *)tc->stats + off);
}

/* Hands out the block at top, b's new top: the end of every pop. */
static ALWAYS_INLINE void *tcache_bin_take(struct tcache *tc, struct tcache_bin *b, void **top) {
    b->top = top;
    void *p = *top;
    /* Every cached block carries the key (frees and fills write it): one
     * without it was written after it was freed, or freed twice with a
     * write in between, and must not be handed out. */
    if (unlikely(*(uintptr_t *)p != tc->free_key))
        return tcache_alloc_unkeyed(p);
    *(uintptr_t *)p = 0; /* take the free key off */
    return p;
}

/* Takes the top block of b, which is not empty: opt_safe's cache hit. */
static ALWAYS_INLINE void *tcache_bin_pop(struct tcache *tc, struct tcache_bin *b) {
    void **top = b->top - 1;
    if (top < b->low_water)
        b->low_water = top;
    return tcache_bin_take(tc, b, top);
}

/* malloc's cache hit; off is the bin's offset (size_to_class_offset()).
 * base <= low_water <= top always, so a stack whose top is above its
 * low-water mark is not empty, and the pop below it stays at or above
 * the mark: one compare tells both, and only a pop that reaches the mark
 * tests for an empty stack and lowers the mark. */
static ALWAYS_INLINE void *tcache_alloc_at(size_t off) {
    struct tcache *tc = thread_tcache;
    struct tcache_bin *b = tcache_bin_at(tc, off);
    void **top = b->top;
    if (unlikely(top == b->low_water)) {
        if (top == b->base)
            return tcache_alloc_slow(off >> CLASS_OFFSET_SHIFT);
        b->low_water = top - 1;
    }
    return tcache_bin_take(tc, b, top - 1);
}

static ALWAYS_INLINE void *tcache_alloc(size_t bin) { return tcache_alloc_at(bin << CLASS_OFFSET_SHIFT); }

/* The block on top of bin when its address is a multiple of align, else
 * NULL (nothing is filled): a block freed by an aligned allocation of the
 * same size is usually right there. */
static inline void *tcache_alloc_aligned(size_t bin, size_t align) {
    struct tcache_bin *b = &thread_tcache->bins[bin];
    void **top = b->top;
    if (top == b->base || ((uintptr_t)top[-1] & (align - 1)) != 0)
        return NULL;
    return tcache_alloc(bin);
}

/* free's cache push; off is the bin's offset (a class offset, size_class.h). */
static ALWAYS_INLINE void tcache_free_at(size_t off, void *ptr) {
    struct tcache *tc = thread_tcache;
    struct tcache_bin *b = tcache_bin_at(tc, off);
    void **top = b->top;
    /* A block that carries the key is in a cache already, this thread's
     * or another's: the slow path reports it. Blocks are at least 8 bytes,
     * so word 0 is ours. */
    if (unlikely(top == b->end || *(uintptr_t *)ptr == tc->free_key)) {
        tcache_free_slow(off >> CLASS_OFFSET_SHIFT, ptr);
        return;
    }
    *(uintptr_t *)ptr = tc->free_key;
    *top = ptr;
    b->top = top + 1;
    tcache_stats_at(tc, off)->nfreed++;
    /* GC is driven by frees, which the static caches never get this far
     * with; the call is the function's last act, so it is a jump. */
    if (unlikely(--tc->gc_countdown == 0))
        tcache_gc_step(tc);
}

static ALWAYS_INLINE void tcache_free(size_t bin, void *ptr) { tcache_free_at(bin << CLASS_OFFSET_SHIFT, ptr); }

#endif
