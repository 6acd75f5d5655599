/* Metadata memory: run descriptors, huge records, arenas, registry leaves.
 * Bump-allocated from mappings of its own and never returned, so a stale
 * pointer to a descriptor always points at readable memory. */
#ifndef QUARRY_BASE_H
#define QUARRY_BASE_H

#include "common.h"
#include "lock.h"

/* Zeroed, aligned to 64 bytes; NULL when the kernel has no memory. */
void *base_alloc(size_t size);
/* Bytes of metadata mapped so far. */
size_t base_mapped(void);

/* Records of one size given back for reuse (thread caches, as threads
 * come and go): a list under base_lock, linked through each record's
 * first word. */
struct base_pool {
    void *head;
};
/* A record of size bytes, recycled (not zeroed) or new (zeroed). */
void *base_pool_get(struct base_pool *pool, size_t size);
void base_pool_put(struct base_pool *pool, void *p);

extern lock_t base_lock;

#endif
