#include "large.h"

#include <string.h>

#include "conf.h"
#include "purge.h"
#include "report.h"
#include "vg.h"

/* Under a->lock: a large run of npages enters or leaves use. */
static void stats_add(struct arena *a, size_t npages) {
    struct large_class_stats *ls = &a->large[npages - 1];
    ls->nmalloc++;
    ls->curruns++;
    a->stats.large_allocated += npages << LG_PAGE;
}

static void stats_sub(struct arena *a, size_t npages) {
    struct large_class_stats *ls = &a->large[npages - 1];
    ls->ndalloc++;
    ls->curruns--;
    a->stats.large_allocated -= npages << LG_PAGE;
}

void *large_malloc(struct arena *a, size_t size, size_t align, bool zero) {
    size_t npages = page_ceil(size) >> LG_PAGE;
    size_t align_pages = align > PAGE ? align >> LG_PAGE : 1;
    bool zeroed;
    lock_acquire(&a->lock);
    struct run *r = arena_run_alloc(a, npages, align_pages, RUN_LARGE, 0, &zeroed);
    if (r != NULL) {
        stats_add(a, npages);
        if (zero && zeroed)
            a->stats.calloc_zeroed++;
    }
    lock_release(&a->lock);
    if (r == NULL)
        return NULL;
    vg_alloc(r->base, npages << LG_PAGE, zeroed);
    if (zero && !zeroed)
        memset(r->base, 0, npages << LG_PAGE);
    else if (!zeroed && !vg_active)
        *(uintptr_t *)r->base = 0; /* a cached block's key may lie there (tcache.h) */
    return r->base;
}

/* Under a->lock: frees the large block at ptr, which must start a large
 * run of a (reported through func otherwise, the lock dropped first). */
static void free_locked(struct arena *a, void *ptr, const char *func) {
    struct run *r = large_run_at(ptr);
    if (unlikely(r == NULL || (opt_safe && chunk_cached_get(ptr)))) {
        lock_release(&a->lock);
        report_invalid_pointer(func, ptr);
    }
    stats_sub(a, r->npages);
    vg_free(ptr);
    arena_run_dalloc(a, r);
}

void large_free(void *ptr, const char *func) {
    struct arena *a = chunk_arena(chunk_of(ptr), func);
    lock_acquire(&a->lock);
    free_locked(a, ptr, func);
    purge_after_free(a);
    lock_release(&a->lock);
}

void large_free_batch(void **items, unsigned n, const char *func) {
    while (n > 0) {
        struct arena *a = chunk_arena(chunk_of(items[0]), func);
        unsigned deferred = 0;
        lock_acquire(&a->lock);
        for (unsigned i = 0; i < n; i++) {
            void *p = items[i];
            if (chunk_arena(chunk_of(p), func) != a)
                items[deferred++] = p;
            else
                free_locked(a, p, func);
        }
        purge_after_free(a);
        lock_release(&a->lock);
        n = deferred;
    }
}

bool large_resize(struct run *r, size_t size) {
    size_t npages = page_ceil(size) >> LG_PAGE;
    if (npages == r->npages)
        return true;
    struct arena *a = chunk_arena(chunk_of(r->base), "realloc");
    size_t old = r->npages;
    bool ok = true;
    lock_acquire(&a->lock);
    if (npages < old) {
        ok = arena_desc_reserve(a, 1);
        if (ok) {
            struct run *tail = arena_run_split_tail(a, r, old - npages);
            arena_run_dalloc(a, tail);
            purge_after_free(a);
        }
    } else {
        ok = arena_run_grow(a, r, npages);
    }
    if (ok) {
        stats_sub(a, old);
        stats_add(a, npages);
        vg_resize(r->base, old << LG_PAGE, npages << LG_PAGE);
    }
    lock_release(&a->lock);
    return ok;
}
