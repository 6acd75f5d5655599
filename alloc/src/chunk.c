#include "chunk.h"

#include "base.h"
#include "conf.h"
#include "os.h"
#include "rtree.h"

#include <sys/random.h>

#include "report.h"
#include "vg.h"

struct run run_none;
uintptr_t chunk_secret;

void chunk_report_corrupt(const struct chunk *c, const char *func) {
    report_corruption(func, "chunk header overwritten (an overflow from the memory before it?)", c);
}

/* The secret, made once: racing first chunks agree through the swap. */
static void secret_init(void) {
    if (__atomic_load_n(&chunk_secret, __ATOMIC_ACQUIRE) != 0)
        return;
    uintptr_t v;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
        v = ((uintptr_t)&v * 0x9e3779b97f4a7c15ull) ^ 0x2545f4914f6cdd1dull;
    v |= 1; /* never 0, the "not made yet" value */
    uintptr_t expected = 0;
    __atomic_compare_exchange_n(&chunk_secret, &expected, v, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Retained chunks, shared by all arenas (lock order: after the arena locks,
 * before huge_lock). They are not registered while retained, so a stray free
 * into one is reported as a foreign pointer; chunk_init rewrites their page
 * map when they are used again. */
lock_t chunk_pool_lock = LOCK_INITIALIZER;
static struct chunk *retained;
static size_t nretained;

static void chunk_init(struct chunk *c, struct arena *a) {
    secret_init();
    c->cookie = chunk_secret ^ (uintptr_t)c;
    c->arena = a;
    c->nalloc_pages = 0;
    c->ndirty_pages = 0;
    for (size_t i = 0; i < CHUNK_NPAGES; i++) {
        c->map[i] = &run_none;
        c->classes[i] = (struct page_class){0, CLASS_NONE_OFFSET};
    }
    vg_no_access(chunk_page_addr(c, CHUNK_HEADER_PAGES), CHUNK - CHUNK_HEADER_PAGES * PAGE);
    if (opt_thp != THP_DEFAULT)
        os_advise_hugepages(c, CHUNK, opt_thp == THP_ALWAYS);
}

void chunk_set_page_classes(char *base, size_t npages, unsigned cls) {
    struct chunk *c = chunk_of(base);
    size_t first = chunk_page(c, base);
    const struct class_facts *f = class_facts_at((size_t)cls << CLASS_OFFSET_SHIFT);
    struct page_class e = {(uint32_t)(uintptr_t)base * f->inverse, cls << CLASS_OFFSET_SHIFT};
    for (size_t i = 0; i < npages; i++)
        c->classes[first + i] = e;
}

/* opt_safe's bitmaps (chunk.h), metadata memory with guard pages like
 * every other allocator structure, recycled as chunks come and go. */
static struct base_pool cached_pool;

static void unmap_chunk(struct chunk *c) {
    if (c->cached != NULL)
        base_pool_put(&cached_pool, c->cached);
    os_unmap(c, CHUNK);
}

static struct chunk *map_chunk(void) {
    struct chunk *c = os_map_aligned(CHUNK, CHUNK);
    if (c == NULL)
        return NULL;
    c->cached = NULL;
    if (opt_safe) {
        /* Every bit is clear again by the time a chunk is wholly free (no
         * block is cached then): a recycled bitmap needs only the pool's
         * link in word 0 cleared, and a retained chunk keeps its own. */
        c->cached = base_pool_get(&cached_pool, CHUNK_CACHED_BYTES);
        if (c->cached == NULL) {
            os_unmap(c, CHUNK);
            return NULL;
        }
        c->cached[0] = 0;
    }
    return c;
}

enum run_kind chunk_purge_pages(void *addr, size_t size) {
    if (opt_purge == PURGE_FREE && os_purge_lazy(addr, size))
        return RUN_FREE_LAZY;
    return os_purge(addr, size) ? RUN_FREE_CLEAN : RUN_FREE_LAZY;
}

struct chunk *chunk_alloc(struct arena *a, bool *lazy) {
    lock_acquire(&chunk_pool_lock);
    struct chunk *c = retained;
    if (c != NULL) {
        retained = c->next;
        nretained--;
    }
    lock_release(&chunk_pool_lock);
    if (c != NULL) {
        *lazy = c->lazy_purged;
    } else {
        *lazy = false;
        c = map_chunk();
        if (c == NULL)
            return NULL;
        c->lazy_purged = false;
    }
    /* The header first, then the registry: a stray pointer into the chunk
     * that the fast paths see as quarry's already finds every page
     * naming no run and no class (a zeroed page entry would read as
     * class 0). */
    chunk_init(c, a);
    if (!rtree_set((uintptr_t)c, RTREE_ARENA_CHUNK)) { /* a retained chunk's leaf exists: cannot fail */
        unmap_chunk(c);
        return NULL;
    }
    return c;
}

void chunk_dealloc(struct chunk *c) {
    if (!opt_retain) {
        rtree_set((uintptr_t)c, NULL);
        unmap_chunk(c);
        return;
    }
    rtree_set((uintptr_t)c, NULL);
    /* Everything but the header's first page, which holds the fields the
     * pool needs; with MADV_DONTNEED whatever opt_purge says, so that a
     * retained chunk is address space only, as the statistics count it
     * (MADV_FREE would leave it resident until memory pressure). */
    c->lazy_purged = !os_purge((char *)c + PAGE, CHUNK - PAGE);
    lock_acquire(&chunk_pool_lock);
    c->next = retained;
    retained = c;
    nretained++;
    lock_release(&chunk_pool_lock);
}

size_t chunk_release_retained(void) {
    lock_acquire(&chunk_pool_lock);
    struct chunk *list = retained;
    size_t n = nretained;
    retained = NULL;
    nretained = 0;
    lock_release(&chunk_pool_lock);
    while (list != NULL) {
        struct chunk *next = list->next;
        rtree_set((uintptr_t)list, NULL);
        unmap_chunk(list);
        list = next;
    }
    return n;
}

size_t chunk_nretained(void) {
    lock_acquire(&chunk_pool_lock);
    size_t n = nretained;
    lock_release(&chunk_pool_lock);
    return n;
}
