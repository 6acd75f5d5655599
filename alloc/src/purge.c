#include "purge.h"

#include "conf.h"
#include "report.h"

size_t arena_dirty_bound(const struct arena *a) {
    if (opt_lg_dirty_mult < 0)
        return SIZE_MAX;
    size_t bound = a->nactive >> opt_lg_dirty_mult;
    return bound > PURGE_FLOOR ? bound : PURGE_FLOOR;
}

/* The chunk to purge next: the one with the fewest allocated pages among
 * those holding dirty pages. Its free space is the most broken up by
 * allocations and the most likely to empty entirely, while dirty pages
 * in dense chunks are the ones about to be reused. */
static struct chunk *sparsest_dirty_chunk(struct arena *a) {
    struct chunk *best = NULL;
    for (struct chunk *c = a->chunks; c != NULL; c = c->next)
        if (c->ndirty_pages != 0 && (best == NULL || c->nalloc_pages < best->nalloc_pages))
            best = c;
    return best;
}

/* Under a->lock: purges dirty runs until at most keep dirty pages remain. */
static void purge(struct arena *a, size_t keep) {
    if (a->purging || a->ndirty <= keep)
        return;
    a->purging = true;
    a->stats.npurge++;
    /* Take whole dirty runs out of the free tree, marked RUN_PURGING and
     * counted as allocated, so that nothing allocates, merges or releases
     * them while the lock is dropped. */
    struct run *batch = NULL; /* linked through node.left */
    size_t want = a->ndirty - keep;
    while (want > 0) {
        struct chunk *c = sparsest_dirty_chunk(a);
        if (c == NULL)
            break;
        size_t before = want;
        for (size_t page = CHUNK_HEADER_PAGES; page < CHUNK_NPAGES && want > 0;) {
            struct run *r = c->map[page];
            page += r->npages;
            if (r->kind != RUN_FREE_DIRTY)
                continue;
            arena_avail_remove(a, r);
            r->kind = RUN_PURGING;
            c->nalloc_pages += r->npages;
            want = want > r->npages ? want - r->npages : 0;
            r->node.left = &batch->node;
            batch = r;
        }
        /* A chunk counted dirty must have dirty runs; never spin on one. */
        qassert(want < before);
        if (want == before)
            break;
    }
    lock_release(&a->lock);
    /* Each run comes back clean or lazy, as its own madvise went: sorted
     * into two lists (linked through node.left again). */
    struct run *clean = NULL, *lazy = NULL;
    size_t pages = 0, calls = 0;
    while (batch != NULL) {
        struct run *r = batch;
        batch = (struct run *)r->node.left;
        struct run **list = chunk_purge_pages(r->base, (size_t)r->npages << LG_PAGE) == RUN_FREE_CLEAN ? &clean : &lazy;
        r->node.left = &(*list)->node;
        *list = r;
        pages += r->npages;
        calls++;
    }
    lock_acquire(&a->lock);
    for (int i = 0; i < 2; i++) {
        struct run *list = i == 0 ? clean : lazy;
        while (list != NULL) {
            struct run *next = (struct run *)list->node.left;
            chunk_of(list->base)->nalloc_pages -= list->npages;
            arena_run_insert_free(a, list, i == 0 ? RUN_FREE_CLEAN : RUN_FREE_LAZY);
            list = next;
        }
    }
    a->stats.nmadvise += calls;
    a->stats.purged += pages;
    a->purging = false;
}

void arena_maybe_purge(struct arena *a) {
    size_t bound = arena_dirty_bound(a);
    if (a->ndirty > bound)
        purge(a, bound / 2);
}

void arena_purge_all(struct arena *a) { purge(a, 0); }

/* Placeholders until the decay policy lands. */
void purge_decayed(struct arena *a) { arena_maybe_purge(a); }
static bool background_on;
bool purge_background_enabled(void) { return background_on; }
int purge_background_set(bool enable) {
    background_on = enable;
    return 0;
}
