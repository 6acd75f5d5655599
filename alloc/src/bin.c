#include "bin.h"

#include "report.h"

static ALWAYS_INLINE void *run_take_region(struct run *r) {
    unsigned idx = bitmap_take_first(r->bitmap);
    r->nfree--;
    return r->base + (size_t)idx * class_size(r->cls);
}

/* Under b->lock, which it may drop and retake: a current run with a free
 * region, or NULL when no memory can be mapped. A run it made but found
 * unneeded (another thread refilled the bin meanwhile) goes to *unneeded,
 * for the caller to give back once the bin lock is released: kept, it
 * could sit empty in the tree for good. */
static struct run *bin_refill(struct arena *a, struct bin *b, unsigned cls, struct run **unneeded) {
    struct tree_node *n = tree_first(&b->nonfull);
    if (n != NULL) {
        tree_remove(&b->nonfull, n);
        b->current = (struct run *)n;
        return b->current;
    }
    lock_release(&b->lock);
    const struct size_class *sc = &size_classes[cls];
    bool zeroed;
    lock_acquire(&a->lock);
    struct run *r = arena_run_alloc(a, sc->run_pages, 1, RUN_SMALL, cls, &zeroed);
    lock_release(&a->lock);
    if (r != NULL) {
        r->nfree = sc->nregs;
        r->recip = sc->recip;
        r->regions_bytes = sc->nregs * sc->size;
        r->div_magic = UINT64_MAX / sc->size + 1;
        bitmap_init(r->bitmap, sc->nregs);
    }
    lock_acquire(&b->lock);
    if (b->current != NULL && b->current->nfree != 0) {
        /* Another thread refilled the bin while the lock was dropped. */
        if (r != NULL) {
            r->node.left = &(*unneeded)->node;
            *unneeded = r;
        }
        return b->current;
    }
    if (r != NULL) {
        b->stats.nruns++;
        b->current = r;
    }
    return r;
}


/* Returns a list of small runs (linked through node.left) to their arena,
 * under its lock alone: callers release the bin lock first. */
static void give_runs_back(struct arena *a, struct run *list) {
    if (list == NULL)
        return;
    lock_acquire(&a->lock);
    while (list != NULL) {
        struct run *next = (struct run *)list->node.left;
        arena_run_dalloc(a, list);
        list = next;
    }
    lock_release(&a->lock);
}

void *bin_malloc(struct arena *a, unsigned cls) {
    void *p;
    return bin_fill(a, cls, &p, 1) == 1 ? p : NULL;
}

unsigned bin_fill(struct arena *a, unsigned cls, void **dst, unsigned n) {
    struct bin *b = &a->bins[cls];
    struct run *unneeded = NULL; /* linked through node.left */
    unsigned got = 0;
    lock_acquire(&b->lock);
    while (got < n) {
        struct run *r = b->current;
        if (r == NULL || r->nfree == 0) {
            r = bin_refill(a, b, cls, &unneeded);
            if (r == NULL)
                break;
        }
        while (got < n && r->nfree != 0)
            dst[got++] = run_take_region(r);
    }
    b->stats.nfills++;
    b->stats.nmalloc += got;
    lock_release(&b->lock);
    give_runs_back(a, unneeded);
    return got;
}

/* Under b->lock. Returns r when it became empty (the caller gives its pages
 * back once the bin lock is released), else NULL. */
static struct run *bin_free_locked(struct bin *b, struct run *r, uint32_t idx) {
    bitmap_set(r->bitmap, idx);
    r->nfree++;
    b->stats.ndalloc++;
    if (r->nfree == size_classes[r->cls].nregs) {
        b->stats.nruns--;
        if (b->current == r)
            b->current = NULL;
        else
            tree_remove(&b->nonfull, &r->node);
        return r;
    }
    if (r->nfree == 1 && r != b->current) {
        /* It was full and tracked nowhere. Keep allocating from the lowest
         * address, so that high runs drain and can be given back. */
        struct run *cur = b->current;
        if (cur == NULL || r->base < cur->base) {
            if (cur != NULL && cur->nfree != 0) {
                cur->node.key = (uintptr_t)cur->base;
                tree_insert(&b->nonfull, &cur->node);
            }
            b->current = r;
        } else {
            r->node.key = (uintptr_t)r->base;
            tree_insert(&b->nonfull, &r->node);
        }
    }
    return NULL;
}

/* The run and region index of p, a block believed to be of class cls, or
 * NULL when p is no region of that class. */
static struct run *region_of(void *p, unsigned cls, uint32_t *idx) {
    struct chunk *c = chunk_of(p);
    struct run *r = c->map[chunk_page(c, p)];
    if (r->kind != RUN_SMALL || r->cls != cls)
        return NULL;
    size_t offset = (size_t)((char *)p - r->base);
    *idx = class_region_index(cls, offset);
    if (offset >= ((size_t)r->npages << LG_PAGE) || *idx >= size_classes[cls].nregs ||
        (size_t)*idx * class_size(cls) != offset)
        return NULL;
    return r;
}

bool bin_region_not_live(void *p, unsigned cls) {
    uint32_t idx;
    struct run *r = region_of(p, cls, &idx);
    return r == NULL || bitmap_get_relaxed(r->bitmap, idx);
}

void bin_free_batch(unsigned cls, void **items, unsigned n) {
    while (n > 0) {
        struct arena *a = chunk_of(items[0])->arena;
        struct bin *b = &a->bins[cls];
        struct run *emptied = NULL; /* linked through node.left */
        unsigned deferred = 0;
        lock_acquire(&b->lock);
        b->stats.nflushes++;
        for (unsigned i = 0; i < n; i++) {
            void *p = items[i];
            if (chunk_of(p)->arena != a) {
                items[deferred++] = p;
                continue;
            }
            uint32_t idx;
            struct run *r = region_of(p, cls, &idx);
            if (unlikely(r == NULL || bitmap_get(r->bitmap, idx))) {
                lock_release(&b->lock);
                report_invalid_pointer("free", p);
            }
            struct run *empty = bin_free_locked(b, r, idx);
            if (empty != NULL) {
                empty->node.left = &emptied->node;
                emptied = empty;
            }
        }
        lock_release(&b->lock);
        give_runs_back(a, emptied);
        n = deferred;
    }
}
