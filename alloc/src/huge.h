/*
 * Huge allocations (above LARGE_MAX): a mapping of their own, aligned to a
 * chunk, registered under its first chunk in the registry.
 *
 * A block's usable size is exactly its request rounded up to pages, so
 * that nallocx() and malloc_usable_size() agree. Its mapping may be longer
 * than that (a reused mapping up to HUGE_SLACK_MAX times the request): the
 * slack is mapped, never handed out, and lets the block grow in place.
 *
 * Freed mappings are kept for reuse, so that a program that allocates and
 * frees blocks of many megabytes does not fault in fresh pages each time:
 *   - each thread's slot holds its most recently freed mapping (up to
 *     HUGE_SLOT_MAX), taken back by its next huge allocation without a lock;
 *   - a shared cache holds others (each at most HUGE_CACHE_FLOOR bytes), at
 *     most HUGE_CACHE_SLOTS mappings and max(HUGE_CACHE_FLOOR, bytes of huge
 *     blocks in use >> lg_dirty_mult) bytes, oldest evicted first.
 * Both are resident memory: a mapping idle for decay_ms is unmapped (at the
 * next huge free or new mapping, age step or background pass), a thread's
 * slot goes at its exit, and an explicit purge empties every slot and the
 * cache. A mapping put into the cache joins the cached ones next to it.
 */
#ifndef QUARRY_HUGE_H
#define QUARRY_HUGE_H

#include "common.h"
#include "lock.h"

#define HUGE_CACHE_SLOTS 16
#define HUGE_CACHE_FLOOR ((size_t)64 << 20)
/* The largest mapping a thread keeps in its own slot. */
#define HUGE_SLOT_MAX ((size_t)32 << 20)
/* A reused mapping longer than this many times the request is cut down. */
#define HUGE_SLACK_MAX 2

struct huge {
    void *base;
    size_t size;   /* usable bytes: the request rounded up to pages */
    size_t mapped; /* bytes mapped, >= size */
    uint64_t freed_at; /* ms, while cached */
    struct huge *next; /* in the cache, or the free list of records */
};

struct huge_stats {
    size_t allocated; /* usable bytes of huge blocks in use */
    size_t count;     /* huge blocks in use */
    uint64_t nmalloc; /* huge allocations made */
    uint64_t ndalloc; /* huge blocks freed */
    size_t slack;     /* bytes mapped past the usable size of blocks in use */
    size_t cached;    /* bytes of freed mappings kept (shared cache and thread slots) */
    size_t ncached;   /* mappings kept (shared cache and thread slots) */
    uint64_t nreused; /* allocations served from the cache or a slot */
};

extern lock_t huge_lock;

/* size > LARGE_MAX; align a power of two. zero: the block must read as
 * zero. NULL when the kernel refuses (the caller may reclaim and retry). */
void *huge_malloc(size_t size, size_t align, bool zero);
void huge_free(struct huge *h);
/* Resizes in place, within the slack or by remapping, or by moving the
 * pages (never copying); NULL when the kernel refuses, with the block
 * unchanged. size > LARGE_MAX. */
void *huge_resize(struct huge *h, size_t size);
/* Resizes in place only (within the mapping or growing it where the
 * address space after it is free); false when it cannot. */
bool huge_resize_in_place(struct huge *h, size_t size);
/* Unmaps every thread's slot and the shared cache; returns the bytes. */
size_t huge_purge(void);
/* Unmaps slots and cached mappings idle for longer than decay_ms;
 * returns the bytes. */
size_t huge_release_idle(void);
/* huge_release_idle() if decay_ms / 8 has passed since the last such step
 * (huge operations take it, and thread caches' sweeps through reclaim.h). */
void huge_age_step(void);
/* The calling thread is exiting (huge.c's own thread-specific key calls
 * it): its slot's mapping is unmapped, and it keeps no slot from now on. */
void huge_thread_exit(void);
struct huge_stats huge_get_stats(void);

#endif
