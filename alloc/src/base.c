#include "base.h"

#include "os.h"

/* Metadata comes in blocks of this size (or one larger mapping for a larger
 * request), so that many small records cost one system call. */
#define BASE_BLOCK ((size_t)256 << 10)

lock_t base_lock = LOCK_INITIALIZER;
static char *base_next;
static char *base_end;
static size_t base_total;

void *base_alloc(size_t size) {
    size = align_up(size, CACHELINE);
    lock_acquire(&base_lock);
    if ((size_t)(base_end - base_next) < size) {
        size_t block = size > BASE_BLOCK ? page_ceil(size) : BASE_BLOCK;
        /* A guard page at each end: the kernel may place the mapping right
         * after or before user chunks, and an overflow must fault there
         * rather than reach metadata. */
        char *p = os_map(block + 2 * PAGE);
        if (p == NULL) {
            lock_release(&base_lock);
            return NULL;
        }
        os_guard(p, PAGE);
        os_guard(p + PAGE + block, PAGE);
        p += PAGE;
        base_total += block;
        base_next = p;
        base_end = p + block;
    }
    void *ret = base_next;
    base_next += size;
    lock_release(&base_lock);
    return ret;
}

void *base_pool_get(struct base_pool *pool, size_t size) {
    lock_acquire(&base_lock);
    void *p = pool->head;
    if (p != NULL)
        pool->head = *(void **)p;
    lock_release(&base_lock);
    return p != NULL ? p : base_alloc(size);
}

void base_pool_put(struct base_pool *pool, void *p) {
    lock_acquire(&base_lock);
    *(void **)p = pool->head;
    pool->head = p;
    lock_release(&base_lock);
}

size_t base_mapped(void) {
    lock_acquire(&base_lock);
    size_t n = base_total;
    lock_release(&base_lock);
    return n;
}
