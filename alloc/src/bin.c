#include "bin.h"

#include "conf.h"
#include "purge.h"
#include "report.h"
#include "vg.h"

/* Debug builds: run r's free count agrees with its bitmap, and no bit is
 * set past its last region. Called where a bin changes a run, so that a
 * corrupted or mis-updated run is caught at the operation that broke it. */
static void run_check(const struct run *r) {
    if (!config_debug)
        return;
    const struct size_class *sc = &size_classes[r->cls];
    if (r->kind != RUN_SMALL || bitmap_count(r->bitmap) != r->nfree || r->nfree > sc->nregs)
        report_fatal("run check: free count and bitmap disagree");
    for (unsigned bit = sc->nregs; bit < RUN_MAX_REGIONS; bit++)
        if (bitmap_get(r->bitmap, bit))
            report_fatal("run check: a bit set past the last region");
}

/* Under b->lock: takes up to n free regions of run r, lowest first, a
 * bitmap word at a time, and stores them downwards from end: the lowest at
 * end[-1]. Free regions at the bottom of a word (a fresh run has whole
 * words of them) are taken by stepping the address, the others by
 * find-first-set. */
static unsigned run_take_regions(struct run *r, void **end, unsigned n) {
    size_t size = r->reg_size;
    void **d = end, **stop = end - n;
    for (unsigned w = 0; d > stop && w < BITMAP_WORDS; w++) {
        uint64_t bits = r->bitmap[w];
        if (bits == 0)
            continue;
        char *q = r->base + (size_t)w * 64 * size;
        size_t want = (size_t)(d - stop);
        uint64_t low = want >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << want) - 1;
        if ((bits & low) == low) {
            for (void **last = d - (want >= 64 ? 64 : want); d > last; q += size)
                *--d = q;
            bits &= ~low;
        } else {
            do {
                *--d = q + (size_t)(unsigned)__builtin_ctzll(bits) * size;
                bits &= bits - 1;
            } while (bits != 0 && d > stop);
        }
        /* Relaxed stores: malloc_usable_size() and realloc read words
         * unlocked (api.c). */
        __atomic_store_n(&r->bitmap[w], bits, __ATOMIC_RELAXED);
    }
    unsigned got = (unsigned)(end - d);
    r->nfree -= (uint16_t)got;
    run_check(r);
    return got;
}

static void run_init_small(struct run *r, unsigned cls) {
    const struct size_class *sc = &size_classes[cls];
    r->nfree = sc->nregs;
    r->reg_size = (uint16_t)sc->size;
    r->div_shift = (uint8_t)__builtin_ctz(sc->size);
    r->div_inverse = odd_inverse(sc->size >> r->div_shift);
    bitmap_init(r->bitmap, sc->nregs);
    /* Last, with a release store, so that a locked reader that sees the
     * run small sees it whole. An unlocked lookup of a stray pointer into
     * the new run may still pair this count with the free run's leftover
     * inverse; its index is below the count it compared with all the
     * same, so it never indexes past the bitmap, and the locked paths
     * test the pointer again. A valid pointer never meets a run being
     * made. */
    __atomic_store_n(&r->small_nregs, sc->nregs, __ATOMIC_RELEASE);
}

/*
 * Runs that get a free region wait on the bin's pending list (linked
 * through their tree node, key 0) and enter the address-ordered tree only
 * when a refill needs a run. A run that empties in the meantime (the usual
 * fate of a run whose blocks another thread frees as a batch) leaves the
 * list in O(1), without the tree walks an insert and a remove would cost.
 */
static void pending_push(struct bin *b, struct run *r) {
    struct tree_node *n = &r->node;
    n->key = 0;
    n->left = NULL;
    n->right = b->pending != NULL ? &b->pending->node : NULL;
    if (b->pending != NULL)
        b->pending->node.left = n;
    b->pending = r;
}

static void pending_remove(struct bin *b, struct run *r) {
    struct tree_node *prev = r->node.left, *next = r->node.right;
    if (prev != NULL)
        prev->right = next;
    else
        b->pending = (struct run *)next;
    if (next != NULL)
        next->left = prev;
}

/* Under b->lock: the pending runs into the tree, keyed by address. */
static void pending_drain(struct bin *b) {
    struct run *r = b->pending;
    b->pending = NULL;
    while (r != NULL) {
        struct run *next = (struct run *)r->node.right;
        tree_insert(&b->nonfull, &r->node, (uintptr_t)r->base);
        r = next;
    }
}

/* Under b->lock, which it may drop and retake: a current run with a free
 * region, or NULL when no memory can be mapped. A run it made but found
 * unneeded (another thread refilled the bin meanwhile) goes on *unneeded,
 * for the caller to give back once the bin lock is released: kept, it
 * could sit empty in the tree for good. */
static struct run *bin_refill(struct arena *a, struct bin *b, unsigned cls, struct run **unneeded) {
    pending_drain(b);
    struct tree_node *n = tree_first(&b->nonfull);
    if (n != NULL) {
        tree_remove(&b->nonfull, n);
        b->current = (struct run *)n;
        return b->current;
    }
    if (b->spare != NULL) {
        b->current = b->spare;
        b->spare = NULL;
        b->stats.nruns++;
        return b->current;
    }
    lock_release(&b->lock);
    bool zeroed;
    lock_acquire(&a->lock);
    struct run *r = arena_run_alloc(a, size_classes[cls].run_pages, 1, RUN_SMALL, cls, &zeroed);
    purge_tick(a);
    lock_release(&a->lock);
    if (r != NULL)
        run_init_small(r, cls);
    lock_acquire(&b->lock);
    if (b->current != NULL && b->current->nfree != 0) {
        /* Another thread refilled the bin while the lock was dropped. */
        if (r != NULL) {
            r->link = *unneeded;
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

/* Returns a list of small runs (linked through link) to their arena,
 * under its lock alone: callers release the bin lock first. */
static void give_runs_back(struct arena *a, struct run *list) {
    if (list == NULL)
        return;
    lock_acquire(&a->lock);
    while (list != NULL) {
        struct run *next = list->link;
        arena_run_dalloc(a, list);
        list = next;
    }
    purge_after_free(a);
    lock_release(&a->lock);
}

void *bin_malloc(struct arena *a, unsigned cls) {
    void *p;
    if (bin_fill(a, cls, &p, 1) != 1)
        return NULL;
    vg_alloc(p, class_size(cls), false);
    return p;
}

unsigned bin_fill(struct arena *a, unsigned cls, void **dst, unsigned n) {
    struct bin *b = &a->bins[cls];
    struct run *unneeded = NULL;
    unsigned got = 0;
    lock_acquire(&b->lock);
    while (got < n) {
        struct run *r = b->current;
        if (r == NULL || r->nfree == 0) {
            r = bin_refill(a, b, cls, &unneeded);
            if (r == NULL)
                break;
        }
        got += run_take_regions(r, dst + n - got, n - got);
    }
    b->stats.nfills++;
    b->stats.nmalloc += got;
    lock_release(&b->lock);
    give_runs_back(a, unneeded);
    return got;
}

/* Under b->lock. Returns r when it became empty and the bin already has a
 * spare (the caller gives its pages back once the bin lock is released),
 * else NULL. */
static struct run *bin_free_locked(struct bin *b, struct run *r, uint32_t idx) {
    bitmap_set(r->bitmap, idx);
    r->nfree++;
    run_check(r);
    b->stats.ndalloc++;
    if (r->nfree == size_classes[r->cls].nregs) {
        b->stats.nruns--;
        if (b->current == r)
            b->current = NULL;
        else if (r->node.key == 0)
            pending_remove(b, r);
        else
            tree_remove(&b->nonfull, &r->node);
        if (b->spare == NULL) {
            b->spare = r;
            return NULL;
        }
        return r;
    }
    if (r->nfree == 1 && r != b->current) {
        /* It was full and tracked nowhere. Keep allocating from the lowest
         * address, so that high runs drain and can be given back. */
        struct run *cur = b->current;
        if (cur == NULL || r->base < cur->base) {
            if (cur != NULL && cur->nfree != 0)
                pending_push(b, cur);
            b->current = r;
        } else {
            pending_push(b, r);
        }
    }
    return NULL;
}

/* The run p is a region of and the region's index, when p starts a region
 * of class cls; else NULL. */
static struct run *region_of(const void *p, unsigned cls, uint32_t *idx) {
    struct run *r = run_region_at(p, idx);
    if (r == NULL || r->cls != cls)
        return NULL;
    return r;
}

void bin_free_batch(unsigned cls, void **items, unsigned n) {
    /* Before any lock: start loading every block's run descriptor, both
     * its lines (the bitmap is the second), so that the locked pass below
     * does not wait for them one at a time (a flush of blocks freed in
     * random order touches a cold descriptor each). */
    for (unsigned i = 0; i < n; i++) {
        struct chunk *c = chunk_of(items[i]);
        struct run *r = c->map[chunk_page(c, items[i])];
        __builtin_prefetch(r);
        __builtin_prefetch(r->bitmap);
    }
    while (n > 0) {
        struct arena *a = chunk_arena(chunk_of(items[0]), "free");
        struct bin *b = &a->bins[cls];
        struct run *emptied = NULL;
        unsigned deferred = 0;
        lock_acquire(&b->lock);
        b->stats.nflushes++;
        for (unsigned i = 0; i < n; i++) {
            void *p = items[i];
            if (chunk_arena(chunk_of(p), "free") != a) {
                items[deferred++] = p;
                continue;
            }
            uint32_t idx;
            struct run *r = region_of(p, cls, &idx);
            if (unlikely(r == NULL || bitmap_get(r->bitmap, idx) || (opt_safe && chunk_cached_get(p)))) {
                lock_release(&b->lock);
                report_invalid_pointer("free", p);
            }
            struct run *empty = bin_free_locked(b, r, idx);
            if (empty != NULL) {
                empty->link = emptied;
                emptied = empty;
            }
        }
        lock_release(&b->lock);
        give_runs_back(a, emptied);
        n = deferred;
    }
}

unsigned bin_release_spares(struct arena *a) {
    struct run *spares = NULL;
    unsigned n = 0;
    for (unsigned cls = 0; cls < NSMALL; cls++) {
        struct bin *b = &a->bins[cls];
        lock_acquire(&b->lock);
        struct run *r = b->spare;
        b->spare = NULL;
        lock_release(&b->lock);
        if (r != NULL) {
            r->link = spares;
            spares = r;
            n++;
        }
    }
    give_runs_back(a, spares);
    return n;
}

size_t bin_spare_pages(struct arena *a) {
    size_t pages = 0;
    for (unsigned cls = 0; cls < NSMALL; cls++) {
        struct bin *b = &a->bins[cls];
        lock_acquire(&b->lock);
        if (b->spare != NULL)
            pages += b->spare->npages;
        lock_release(&b->lock);
    }
    return pages;
}
