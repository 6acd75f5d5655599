/* Huge allocations (above LARGE_MAX): a mapping of their own, aligned to a
 * chunk, registered under its first chunk in the registry. */
#ifndef QUARRY_HUGE_H
#define QUARRY_HUGE_H

#include "common.h"
#include "lock.h"

struct huge {
    void *base;
    size_t size; /* bytes mapped, a multiple of PAGE */
    struct huge *next_free;
};

extern lock_t huge_lock;

/* size > LARGE_MAX; align a power of two. Zeroed (fresh pages). */
void *huge_malloc(size_t size, size_t align);
void huge_free(struct huge *h);
/* Resizes in place or by moving the pages (never copying); NULL when the
 * kernel refuses, with the block unchanged. size > LARGE_MAX. */
void *huge_resize(struct huge *h, size_t size);

#endif
