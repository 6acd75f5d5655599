#include "huge.h"

#include "base.h"
#include "os.h"
#include "rtree.h"

lock_t huge_lock = LOCK_INITIALIZER;
static struct huge *huge_pool;

static struct huge *record_get(void) {
    lock_acquire(&huge_lock);
    struct huge *h = huge_pool;
    if (h != NULL)
        huge_pool = h->next_free;
    lock_release(&huge_lock);
    if (h == NULL)
        h = base_alloc(sizeof(*h));
    return h;
}

static void record_put(struct huge *h) {
    lock_acquire(&huge_lock);
    h->base = NULL;
    h->next_free = huge_pool;
    huge_pool = h;
    lock_release(&huge_lock);
}

void *huge_malloc(size_t size, size_t align) {
    size = page_ceil(size);
    struct huge *h = record_get();
    if (h == NULL)
        return NULL;
    void *p = os_map_aligned(size, align > CHUNK ? align : CHUNK);
    if (p == NULL) {
        record_put(h);
        return NULL;
    }
    h->base = p;
    h->size = size;
    if (!rtree_set((uintptr_t)p, h)) {
        os_unmap(p, size);
        record_put(h);
        return NULL;
    }
    return p;
}

void huge_free(struct huge *h) {
    rtree_set((uintptr_t)h->base, NULL);
    os_unmap(h->base, h->size);
    record_put(h);
}

void *huge_resize(struct huge *h, size_t size) {
    size = page_ceil(size);
    if (size == h->size)
        return h->base;
    if (os_remap_in_place(h->base, h->size, size)) {
        h->size = size;
        return h->base;
    }
    /* Move: reserve an aligned range, then let the kernel move the pages
     * into it, so that the block stays chunk-aligned and nothing is copied. */
    void *dest = os_map_aligned(size, CHUNK);
    if (dest == NULL)
        return NULL;
    if (!rtree_set((uintptr_t)dest, h) || !os_remap_to(h->base, h->size, size, dest)) {
        rtree_set((uintptr_t)dest, NULL);
        os_unmap(dest, size);
        return NULL;
    }
    rtree_set((uintptr_t)h->base, NULL);
    h->base = dest;
    h->size = size;
    return dest;
}
