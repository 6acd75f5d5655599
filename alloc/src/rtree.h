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
#include "size_class.h"

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
 * huge record. rtree_set() writes both.
 *
 * Arena chunks come in two kinds. CHUNK_ARENA: registered once the free
 * key is in force (tcache.h), so a small block in it carries the key
 * exactly while it is free (unless written after free), and the fast
 * paths may read a block's first word to tell. CHUNK_ARENA_UNKEYED:
 * registered before that (the process's first mallocx() past the caches
 * can make one) or while it never will be (under memcheck, where a freed
 * block must not even be read); every fast path sends its pointers to the
 * slow paths, whose tests do not trust the key. */
enum chunk_kind { CHUNK_NONE = 0, CHUNK_ARENA = 1, CHUNK_HUGE = 2, CHUNK_ARENA_UNKEYED = 3 };

/* The byte map, and the class facts (size_class.h) that the fast paths
 * read after it, in one object: the address the chunk-kind test takes
 * then reaches the facts too (at a constant offset that the addressing
 * absorbs), one instruction less on every lookup (docs/design.md).
 * rtree_boot() fills the facts, at start-up, before any chunk exists. */
struct fast_tables {
    uint8_t chunk_kinds[(size_t)1 << (RTREE_ADDR_BITS - LG_CHUNK)];
    struct class_facts class_facts[NSMALL + 1];
};
extern HIDDEN struct fast_tables fast_tables;

void rtree_boot(void);

/* The facts of the class at offset off (a class offset, or
 * CLASS_NONE_OFFSET). */
static ALWAYS_INLINE const struct class_facts *class_facts_at(size_t off) {
    return (const struct class_facts *)((const char *)fast_tables.class_facts + off);
}

/* Whether addr is in an arena chunk of kind CHUNK_ARENA. */
static ALWAYS_INLINE bool is_keyed_arena_chunk(uintptr_t addr) {
    uintptr_t index = addr >> LG_CHUNK;
    return likely(index < sizeof(fast_tables.chunk_kinds)) &&
           __atomic_load_n(&fast_tables.chunk_kinds[index], __ATOMIC_RELAXED) == CHUNK_ARENA;
}

/* The free key is in force from now on: arena chunks registered after
 * this call are CHUNK_ARENA. Called once, by the thread caches' boot. */
void rtree_keys_in_force(void);

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
