/*
 * The chunk registry: a two-level radix tree over the chunk-number bits of
 * a user-space address, telling free() which chunks are quarry's and what
 * they hold. Lookups take no lock (acquire loads); so do updates, but for
 * making a new leaf, which holds rtree_lock.
 */
#ifndef QUARRY_RTREE_H
#define QUARRY_RTREE_H

#include "common.h"
#include "lock.h"

/* Registry value of a chunk that belongs to an arena; any other non-NULL
 * value is the struct huge of the huge allocation starting at that chunk. */
#define RTREE_ARENA_CHUNK ((void *)1)

#define RTREE_ADDR_BITS 47
#define RTREE_LEAF_BITS 12
#define RTREE_ROOT_BITS (RTREE_ADDR_BITS - LG_CHUNK - RTREE_LEAF_BITS)

extern void **rtree_root[(size_t)1 << RTREE_ROOT_BITS];
extern lock_t rtree_lock;

/* One byte per chunk of the address space (32 MiB of bss, touched only
 * where quarry has chunks): free()'s fast path asks it "is this an arena
 * chunk?" in a few instructions, and goes to the radix tree only for the
 * huge record. rtree_set() writes both. */
enum chunk_kind { CHUNK_NONE = 0, CHUNK_ARENA = 1, CHUNK_HUGE = 2 };
extern HIDDEN uint8_t chunk_kinds[(size_t)1 << (RTREE_ADDR_BITS - LG_CHUNK)];

static ALWAYS_INLINE bool is_arena_chunk(uintptr_t addr) {
    uintptr_t index = addr >> LG_CHUNK;
    return likely(index < sizeof(chunk_kinds)) &&
           __atomic_load_n(&chunk_kinds[index], __ATOMIC_RELAXED) == CHUNK_ARENA;
}

/* What the registry holds for the chunk containing addr, or NULL. */
static ALWAYS_INLINE void *rtree_get(uintptr_t addr) {
    if (unlikely(addr >> RTREE_ADDR_BITS != 0))
        return NULL;
    void **leaf = __atomic_load_n(&rtree_root[addr >> (LG_CHUNK + RTREE_LEAF_BITS)], __ATOMIC_ACQUIRE);
    if (unlikely(leaf == NULL))
        return NULL;
    return __atomic_load_n(&leaf[(addr >> LG_CHUNK) & (((size_t)1 << RTREE_LEAF_BITS) - 1)], __ATOMIC_ACQUIRE);
}

/* false when a leaf could not be allocated (or addr is out of range). */
bool rtree_set(uintptr_t chunk_addr, void *value);

#endif
