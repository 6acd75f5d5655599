#include "rtree.h"

#include "base.h"

void **rtree_root[(size_t)1 << RTREE_ROOT_BITS];
lock_t rtree_lock = LOCK_INITIALIZER;
struct fast_tables fast_tables;
/* The kind rtree_set() gives an arena chunk (rtree.h). */
static uint8_t arena_chunk_kind = CHUNK_ARENA_UNKEYED;

void rtree_boot(void) { class_facts_fill(fast_tables.class_facts); }

void rtree_keys_in_force(void) { __atomic_store_n(&arena_chunk_kind, CHUNK_ARENA, __ATOMIC_RELEASE); }

bool rtree_set(uintptr_t chunk_addr, void *value) {
    if (chunk_addr >> RTREE_ADDR_BITS != 0)
        return false;
    size_t root_index = chunk_addr >> (LG_CHUNK + RTREE_LEAF_BITS);
    size_t leaf_index = (chunk_addr >> LG_CHUNK) & (((size_t)1 << RTREE_LEAF_BITS) - 1);
    /* Only making a leaf needs the lock: each chunk's entries are written
     * by whoever owns that chunk, one at a time. */
    void **leaf = __atomic_load_n(&rtree_root[root_index], __ATOMIC_ACQUIRE);
    if (leaf == NULL) {
        lock_acquire(&rtree_lock);
        leaf = rtree_root[root_index];
        if (leaf == NULL) {
            leaf = base_alloc(sizeof(void *) << RTREE_LEAF_BITS);
            if (leaf == NULL) {
                lock_release(&rtree_lock);
                return false;
            }
            __atomic_store_n(&rtree_root[root_index], leaf, __ATOMIC_RELEASE);
        }
        lock_release(&rtree_lock);
    }
    __atomic_store_n(&leaf[leaf_index], value, __ATOMIC_RELEASE);
    uint8_t kind = value == NULL                ? CHUNK_NONE
                   : value == RTREE_ARENA_CHUNK ? __atomic_load_n(&arena_chunk_kind, __ATOMIC_ACQUIRE)
                                                : CHUNK_HUGE;
    __atomic_store_n(&fast_tables.chunk_kinds[chunk_addr >> LG_CHUNK], kind, __ATOMIC_RELEASE);
    return true;
}
