/*
 * Huge allocations (above LARGE_MAX): a mapping of their own, aligned to a
 * chunk, registered under its first chunk in the registry.
 *
 * A thread keeps its most recently freed mapping (up to HUGE_SLOT_MAX) in
 * its cache's slot and takes it back for its next huge allocation that
 * fits, with no lock: a loop of large malloc/free pairs costs what glibc's
 * costs. Other freed mappings of at most HUGE_CACHE_FLOOR bytes go to a small
 * cache and handed out again whole (the best fit, or the largest grown with
 * mremap), so that a program that repeatedly allocates and frees blocks of
 * many megabytes does not fault in fresh pages every time. The pages stay
 * resident: they count as dirty memory. The cache holds at most
 * HUGE_CACHE_SLOTS mappings and max(HUGE_CACHE_FLOOR, bytes of huge blocks
 * in use >> lg_dirty_mult) bytes; the oldest go back to the kernel first,
 * and an explicit purge empties it.
 */
#ifndef QUARRY_HUGE_H
#define QUARRY_HUGE_H

#include "common.h"
#include "lock.h"

#define HUGE_CACHE_SLOTS 16
#define HUGE_CACHE_FLOOR ((size_t)64 << 20)
/* The largest mapping a thread keeps in its own slot (see tcache.h). */
#define HUGE_SLOT_MAX ((size_t)32 << 20)

struct huge {
    void *base;
    size_t size; /* bytes mapped, a multiple of PAGE */
    struct huge *next; /* in the cache, or the free list of records */
};

struct huge_stats {
    size_t allocated; /* bytes of huge blocks in use */
    size_t count;     /* huge blocks in use */
    uint64_t nmalloc; /* huge allocations made */
    uint64_t ndalloc; /* huge blocks freed */
    size_t cached;    /* bytes of freed mappings kept (shared cache and thread slots) */
    size_t ncached;   /* mappings in the shared cache */
    uint64_t nreused; /* allocations served from the cache or a slot */
};

extern lock_t huge_lock;

/* size > LARGE_MAX; align a power of two. zero: the block must read as zero. */
void *huge_malloc(size_t size, size_t align, bool zero);
void huge_free(struct huge *h);
/* Resizes in place or by moving the pages (never copying); NULL when the
 * kernel refuses, with the block unchanged. size > LARGE_MAX. */
void *huge_resize(struct huge *h, size_t size);
struct tcache;
/* Moves a thread's slot mapping, if any, to the shared cache. */
void huge_slot_release(struct tcache *tc);
/* Unmaps every mapping in the shared cache; returns the bytes given back. */
size_t huge_purge(void);
/* Moves thread slots idle for longer than the decay time to the shared
 * cache, and unmaps what the cache holds past its bounds; bytes unmapped. */
size_t huge_release_idle(void);
struct huge_stats huge_get_stats(void);

#endif
