#include "huge.h"

#include <string.h>

#include "base.h"
#include "chunk.h"
#include "conf.h"
#include "os.h"
#include "rtree.h"
#include "tcache.h"

lock_t huge_lock = LOCK_INITIALIZER;
static struct huge *free_records;
static struct huge *cache; /* most recently freed first */
static struct huge_stats stats; /* under huge_lock, but for the atomics below */
/* Counters changed without the lock, relaxed atomics that huge_get_stats()
 * adds in: bytes in thread slots, allocations served from slots, and the
 * change in bytes allocated made by frees and slot hits (a sum modulo
 * 2^64 with stats.allocated). */
static size_t slot_bytes;
static uint64_t slot_reused;
static size_t slot_allocated_delta;
static uint64_t nmalloc, ndalloc;

/* Under huge_lock. */
static struct huge *record_get(void) {
    struct huge *h = free_records;
    if (h != NULL) {
        free_records = h->next;
        return h;
    }
    return base_alloc(sizeof(*h));
}

/* Under huge_lock. */
static void record_put(struct huge *h) {
    h->base = NULL;
    h->next = free_records;
    free_records = h;
}

/* Under huge_lock: the cached mapping that fits size best, taken out. */
static struct huge *cache_take(size_t size) {
    struct huge **best = NULL, **largest = NULL;
    for (struct huge **link = &cache; *link != NULL; link = &(*link)->next) {
        if ((*link)->size >= size && (best == NULL || (*link)->size < (*best)->size))
            best = link;
        if (largest == NULL || (*link)->size > (*largest)->size)
            largest = link;
    }
    struct huge **take = best != NULL ? best : largest;
    if (take == NULL)
        return NULL;
    struct huge *h = *take;
    *take = h->next;
    stats.cached -= h->size;
    stats.ncached--;
    return h;
}

/* Under huge_lock: evicts the oldest mappings past the cache's bounds, into
 * *evicted (unmapped by the caller, outside the lock). */
static void cache_trim(struct huge **evicted) {
    size_t allocated = stats.allocated + __atomic_load_n(&slot_allocated_delta, __ATOMIC_RELAXED);
    size_t bound = HUGE_CACHE_FLOOR;
    if (opt_lg_dirty_mult >= 0 && (allocated >> opt_lg_dirty_mult) > bound)
        bound = allocated >> opt_lg_dirty_mult;
    while (stats.ncached > HUGE_CACHE_SLOTS || stats.cached > bound) {
        struct huge **link = &cache;
        while ((*link)->next != NULL)
            link = &(*link)->next;
        struct huge *h = *link;
        *link = NULL;
        stats.cached -= h->size;
        stats.ncached--;
        h->next = *evicted;
        *evicted = h;
    }
}

static void unmap_records(struct huge *list) {
    while (list != NULL) {
        struct huge *next = list->next;
        rtree_set((uintptr_t)list->base, NULL);
        os_unmap(list->base, list->size);
        lock_acquire(&huge_lock);
        record_put(list);
        lock_release(&huge_lock);
        list = next;
    }
}

static void *remap(struct huge *h, size_t size);

/* A cached mapping that holds size bytes, or NULL. The best fit is handed
 * out whole, its pages already faulted in (its usable size is what it
 * maps); when none is large enough, the largest grows in place or moves
 * with mremap, so that only the new pages fault. This is what keeps a loop
 * of large malloc/touch/free as cheap as glibc's, which serves it from its
 * heap. */
static void *reuse(size_t size, bool zero) {
    lock_acquire(&huge_lock);
    struct huge *h = cache_take(size);
    bool fits = h != NULL && h->size >= size;
    if (fits) {
        stats.allocated += h->size;
        stats.nreused++;
    }
    lock_release(&huge_lock);
    if (h == NULL)
        return NULL;
    void *p = h->base;
    if (!fits) {
        p = remap(h, size);
        if (p == NULL) {
            h->next = NULL;
            unmap_records(h);
            return NULL;
        }
        lock_acquire(&huge_lock);
        stats.allocated += h->size;
        stats.nreused++;
        lock_release(&huge_lock);
    }
    /* Cached mappings are not registered: a free of one is invalid. The
     * leaf for this chunk exists from its first registration. */
    rtree_set((uintptr_t)p, h);
    if (zero)
        memset(p, 0, size);
    return p;
}

static void *huge_malloc_counted(size_t size, size_t align, bool zero);

void *huge_malloc(size_t size, size_t align, bool zero) {
    void *p = huge_malloc_counted(size, align, zero);
    if (p != NULL)
        __atomic_add_fetch(&nmalloc, 1, __ATOMIC_RELAXED);
    return p;
}

static void *huge_malloc_counted(size_t size, size_t align, bool zero) {
    size = page_ceil(size);
    struct tcache *tc = thread_tcache;
    struct huge *slot = tc->huge_slot; /* always NULL in the static caches */
    if (slot != NULL && slot->size >= size && align <= CHUNK) {
        tc->huge_slot = NULL;
        __atomic_sub_fetch(&slot_bytes, slot->size, __ATOMIC_RELAXED);
        __atomic_add_fetch(&slot_allocated_delta, slot->size, __ATOMIC_RELAXED);
        __atomic_add_fetch(&slot_reused, 1, __ATOMIC_RELAXED);
        rtree_set((uintptr_t)slot->base, slot);
        if (zero)
            memset(slot->base, 0, size);
        return slot->base;
    }
    if (align <= CHUNK) {
        void *p = reuse(size, zero);
        if (p != NULL)
            return p;
    }
    lock_acquire(&huge_lock);
    struct huge *h = record_get();
    lock_release(&huge_lock);
    if (h == NULL)
        return NULL;
    void *p = os_map_aligned(size, align > CHUNK ? align : CHUNK);
    if (p == NULL) {
        /* Caches may hold the address space: this thread's slot, the
         * shared cache, retained chunks. (Other threads' slots are theirs.) */
        if (tcache_is_real(tc))
            huge_slot_release(tc);
        if (huge_purge() + chunk_release_retained() != 0)
            p = os_map_aligned(size, align > CHUNK ? align : CHUNK);
    }
    if (p == NULL || !rtree_set((uintptr_t)p, h)) {
        if (p != NULL)
            os_unmap(p, size);
        lock_acquire(&huge_lock);
        record_put(h);
        lock_release(&huge_lock);
        return NULL;
    }
    h->base = p;
    h->size = size;
    lock_acquire(&huge_lock);
    stats.allocated += size;
    lock_release(&huge_lock);
    return p;
}

/* A freed (unregistered) mapping into the shared cache, or unmapped. */
static void cache_put(struct huge *h) {
    struct huge *evicted = NULL;
    lock_acquire(&huge_lock);
    if (h->size <= HUGE_CACHE_FLOOR) {
        h->next = cache;
        cache = h;
        stats.cached += h->size;
        stats.ncached++;
    } else {
        h->next = evicted;
        evicted = h;
    }
    cache_trim(&evicted);
    lock_release(&huge_lock);
    unmap_records(evicted);
}

void huge_free(struct huge *h) {
    __atomic_add_fetch(&ndalloc, 1, __ATOMIC_RELAXED);
    rtree_set((uintptr_t)h->base, NULL);
    __atomic_sub_fetch(&slot_allocated_delta, h->size, __ATOMIC_RELAXED);
    struct tcache *tc = thread_tcache;
    if (tcache_is_real(tc) && h->size <= HUGE_SLOT_MAX) {
        struct huge *old = tc->huge_slot;
        tc->huge_slot = h;
        tc->huge_slot_idle = false;
        __atomic_add_fetch(&slot_bytes, h->size, __ATOMIC_RELAXED);
        if (old == NULL)
            return;
        __atomic_sub_fetch(&slot_bytes, old->size, __ATOMIC_RELAXED);
        h = old;
    }
    cache_put(h);
}

void huge_slot_release(struct tcache *tc) {
    struct huge *h = tc->huge_slot;
    if (h == NULL)
        return;
    tc->huge_slot = NULL;
    __atomic_sub_fetch(&slot_bytes, h->size, __ATOMIC_RELAXED);
    cache_put(h);
}

static void *remap(struct huge *h, size_t size) {
    size = page_ceil(size);
    size_t old = h->size;
    if (size == old)
        return h->base;
    void *p = h->base;
    if (os_remap_in_place(h->base, old, size)) {
        h->size = size;
    } else {
        /* Move: reserve an aligned range, then let the kernel move the
         * pages into it, so that the block stays chunk-aligned and nothing
         * is copied. */
        void *dest = os_map_aligned(size, CHUNK);
        if (dest == NULL)
            return NULL;
        if (!rtree_set((uintptr_t)dest, h) || !os_remap_to(h->base, old, size, dest)) {
            rtree_set((uintptr_t)dest, NULL);
            os_unmap(dest, size);
            return NULL;
        }
        rtree_set((uintptr_t)h->base, NULL);
        h->base = p = dest;
        h->size = size;
    }
    return p;
}

void *huge_resize(struct huge *h, size_t size) {
    size_t old = h->size;
    void *p = remap(h, size);
    if (p != NULL) {
        lock_acquire(&huge_lock);
        stats.allocated = stats.allocated - old + h->size;
        lock_release(&huge_lock);
    }
    return p;
}

size_t huge_purge(void) {
    lock_acquire(&huge_lock);
    struct huge *all = cache;
    size_t bytes = stats.cached;
    cache = NULL;
    stats.cached = 0;
    stats.ncached = 0;
    lock_release(&huge_lock);
    unmap_records(all);
    return bytes;
}

struct huge_stats huge_get_stats(void) {
    lock_acquire(&huge_lock);
    struct huge_stats s = stats;
    lock_release(&huge_lock);
    s.allocated += __atomic_load_n(&slot_allocated_delta, __ATOMIC_RELAXED);
    s.cached += __atomic_load_n(&slot_bytes, __ATOMIC_RELAXED);
    s.nreused += __atomic_load_n(&slot_reused, __ATOMIC_RELAXED);
    s.ndalloc = __atomic_load_n(&ndalloc, __ATOMIC_RELAXED);
    s.nmalloc = __atomic_load_n(&nmalloc, __ATOMIC_RELAXED);
    s.count = (size_t)(s.nmalloc - s.ndalloc);
    return s;
}

size_t huge_release_idle(void) { return 0; }
