#include "bin.h"

#include "report.h"

static ALWAYS_INLINE void *run_take_region(struct run *r) {
    unsigned idx = bitmap_take_first(r->bitmap);
    r->nfree--;
    return r->base + (size_t)idx * class_size(r->cls);
}

/* Under b->lock, which it may drop and retake: a current run with a free
 * region, or NULL when no memory can be mapped. */
static struct run *bin_refill(struct arena *a, struct bin *b, unsigned cls) {
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
        bitmap_init(r->bitmap, sc->nregs);
    }
    lock_acquire(&b->lock);
    if (b->current != NULL && b->current->nfree != 0) {
        /* Another thread refilled the bin while the lock was dropped. */
        if (r != NULL) {
            r->node.key = (uintptr_t)r->base;
            tree_insert(&b->nonfull, &r->node);
        }
        return b->current;
    }
    if (r != NULL)
        b->current = r;
    return r;
}

void *bin_malloc(struct arena *a, unsigned cls) {
    struct bin *b = &a->bins[cls];
    lock_acquire(&b->lock);
    struct run *r = b->current;
    if (unlikely(r == NULL || r->nfree == 0)) {
        r = bin_refill(a, b, cls);
        if (r == NULL) {
            lock_release(&b->lock);
            return NULL;
        }
    }
    void *p = run_take_region(r);
    lock_release(&b->lock);
    return p;
}

void bin_free(struct arena *a, struct run *r, uint32_t idx, const char *func, const void *ptr) {
    struct bin *b = &a->bins[r->cls];
    lock_acquire(&b->lock);
    if (unlikely(bitmap_get(r->bitmap, idx))) {
        lock_release(&b->lock);
        report_invalid_pointer(func, ptr);
    }
    bitmap_set(r->bitmap, idx);
    r->nfree++;
    if (r->nfree == size_classes[r->cls].nregs) {
        /* Empty: give the pages back to the arena. */
        if (b->current == r)
            b->current = NULL;
        else
            tree_remove(&b->nonfull, &r->node);
        lock_release(&b->lock);
        lock_acquire(&a->lock);
        arena_run_dalloc(a, r);
        lock_release(&a->lock);
        return;
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
    lock_release(&b->lock);
}
