/*
 * The entry points: argument checks, size -> class, and the dispatch to
 * bins (small), the arena (large) and huge mappings. Everything a caller can
 * get wrong is caught here: sizes that overflow (ENOMEM), bad alignments
 * (EINVAL) and pointers that are not the start of a live block (abort).
 *
 * interpose.c includes this file whole and adds the standard names as
 * aliases of these functions, so malloc is quarry_malloc, not a wrapper.
 */
#include "quarry.h"

#include <errno.h>
#include <string.h>

#include "bin.h"
#include "huge.h"
#include "init.h"
#include "junk.h"
#include "large.h"
#include "reclaim.h"
#include "report.h"
#include "rtree.h"
#include "tcache.h"
#include "vg.h"

/* ---- allocation ------------------------------------------------------- */

static ALWAYS_INLINE void *malloc_impl(size_t size);

/* Above SMALL_MAX, or aligned beyond what a small class gives. size <=
 * SIZE_LIMIT; align a power of two. */
static NOINLINE void *malloc_pages(size_t size, size_t align, bool zero) {
    struct arena *a = arena_choose();
    if (unlikely(a == NULL))
        return fail_enomem();
    if (unlikely(tcache_max() == 0)) {
        /* The process's first block, asked before any cache set the limit:
         * set it, and take the cached path if the size has one now. */
        tcache_boot_once();
        if (size > SMALL_MAX && size <= tcache_max() && align <= PAGE) /* large runs start on pages */
            return zero ? quarry_calloc(1, size) : malloc_impl(size);
    }
    if (size == 0)
        size = 1;
    size_t align_slack = align > PAGE ? align - PAGE : 0;
    bool large = align_slack < LARGE_MAX && page_ceil(size) <= LARGE_MAX - align_slack;
    void *p = large ? large_malloc(a, size, align, zero) : huge_malloc(size, align, zero);
    if (p == NULL) {
        /* Caches may hold the address space: give it all back, once. */
        tcache_flush(thread_tcache);
        if (reclaim_for_retry())
            p = large ? large_malloc(a, size, align, zero) : huge_malloc(size, align, zero);
        if (p == NULL)
            return fail_enomem();
    }
    /* Large runs and huge blocks both hold the request rounded to pages. */
    tcache_count_direct(page_ceil(size), 0);
    if (!zero)
        junk_on_alloc(p, page_ceil(size));
    return p;
}

/* Small classes and large classes up to tcache_max_size come from the
 * thread cache; its slow path sets errno. */
static ALWAYS_INLINE void *malloc_impl(size_t size) {
    if (likely(size <= SMALL_MAX))
        return tcache_alloc_at(size_to_class_offset(size));
    if (size <= tcache_max())
        return tcache_alloc(tcache_large_bin(page_ceil(size) >> LG_PAGE));
    if (unlikely(size > SIZE_LIMIT))
        return fail_enomem();
    return malloc_pages(size, PAGE, false);
}

/* align: a power of two. */
static void *aligned_malloc(size_t size, size_t align) {
    if (unlikely(size > SIZE_LIMIT || align > SIZE_LIMIT / 2))
        return fail_enomem();
    if (size <= SMALL_MAX && align < PAGE) {
        /* The first class at least as large whose size is a multiple of
         * align: regions of such a class are all aligned, since runs start
         * on a page. */
        unsigned cls = size_to_class(size > align ? size : align);
        while (cls < NSMALL && (class_size(cls) & (align - 1)) != 0)
            cls++;
        if (cls < NSMALL)
            return tcache_alloc(cls);
    }
    if (size <= tcache_max()) {
        /* Large runs start on a page: the cached large classes serve any
         * alignment up to a page, and larger ones when the cached block
         * happens to be aligned. */
        size_t bin = tcache_large_bin(size == 0 ? 1 : page_ceil(size) >> LG_PAGE);
        void *p = align <= PAGE ? tcache_alloc(bin) : tcache_alloc_aligned(bin, align);
        if (p != NULL || align <= PAGE)
            return p;
    }
    return malloc_pages(size, align, false);
}

void *quarry_malloc(size_t size) { return malloc_impl(size); }

void *quarry_calloc(size_t count, size_t size) {
    size_t total;
    if (unlikely(__builtin_mul_overflow(count, size, &total)))
        return fail_enomem();
    if (likely(total <= SMALL_MAX || total <= tcache_max())) { /* small before start-up too */
        void *p = malloc_impl(total);
        if (likely(p != NULL))
            memset(p, 0, total);
        return p;
    }
    if (unlikely(total > SIZE_LIMIT))
        return fail_enomem();
    return malloc_pages(total, PAGE, true);
}

int quarry_posix_memalign(void **memptr, size_t alignment, size_t size) {
    if (unlikely(!is_pow2(alignment) || alignment < sizeof(void *)))
        return EINVAL;
    /* As glibc: a failure returns ENOMEM and leaves it in errno too. */
    void *p = aligned_malloc(size, alignment);
    if (unlikely(p == NULL))
        return ENOMEM;
    *memptr = p;
    return 0;
}

void *quarry_aligned_alloc(size_t alignment, size_t size) {
    if (unlikely(!is_pow2(alignment))) {
        errno = EINVAL;
        return NULL;
    }
    return aligned_malloc(size, alignment);
}

/* As glibc's memalign: any alignment, one that is not a power of two
 * rounded up to the next (aligned_alloc and posix_memalign keep EINVAL). */
void *quarry_memalign(size_t alignment, size_t size) {
    if (alignment > SIZE_MAX / 2 + 1) { /* no power of two above it */
        errno = EINVAL;
        return NULL;
    }
    size_t align = 1;
    while (align < alignment)
        align <<= 1;
    return quarry_aligned_alloc(align, size);
}

void *quarry_valloc(size_t size) { return aligned_malloc(size, PAGE); }

void *quarry_pvalloc(size_t size) {
    if (unlikely(size > SIZE_LIMIT))
        return fail_enomem();
    return aligned_malloc(size == 0 ? PAGE : page_ceil(size), PAGE);
}

/* ---- finding a block -------------------------------------------------- */

enum block_kind { BLOCK_SMALL, BLOCK_LARGE, BLOCK_HUGE };

struct block {
    enum block_kind kind;
    struct run *run; /* BLOCK_SMALL, BLOCK_LARGE */
    struct huge *huge;
};

/* Finds what ptr is the start of, or aborts naming func. A small region's
 * liveness is checked here only when check_live is set: free checks it when
 * the block leaves the thread cache instead. */
static void block_find(const void *ptr, const char *func, bool check_live, struct block *b) {
    /* The chunk-kind byte answers for keyed arena chunks in fewer loads
     * than the registry, which it agrees with (rtree_set() writes both). */
    void *owner = is_keyed_arena_chunk((uintptr_t)ptr) ? RTREE_ARENA_CHUNK : rtree_get((uintptr_t)ptr);
    if (owner == RTREE_ARENA_CHUNK) {
        /* Large first: the fast paths of free() and realloc() send only
         * what is not a small region here. */
        struct run *r = large_run_at(ptr);
        if (r != NULL) {
            if (check_live && tcache_caches_pages(r->npages) && tcache_is_keyed(ptr))
                report_invalid_pointer(func, ptr);
            b->kind = BLOCK_LARGE;
            b->run = r;
            return;
        }
        uint32_t index;
        r = run_region_at(ptr, &index);
        if (r != NULL) {
            if (check_live && (bitmap_get_relaxed(r->bitmap, index) || tcache_is_keyed(ptr)))
                report_invalid_pointer(func, ptr);
            b->kind = BLOCK_SMALL;
            b->run = r;
            return;
        }
        report_invalid_pointer(func, ptr);
    }
    if (owner != NULL && ((struct huge *)owner)->base == ptr) {
        b->kind = BLOCK_HUGE;
        b->huge = owner;
        return;
    }
    report_invalid_pointer(func, ptr);
}

static ALWAYS_INLINE size_t block_usable(const struct block *b) {
    switch (b->kind) {
    case BLOCK_SMALL:
        return class_size(b->run->cls);
    case BLOCK_LARGE:
        return (size_t)b->run->npages << LG_PAGE;
    default:
        return b->huge->size;
    }
}

/* A large block past tcache_max straight back to its arena. It finds the
 * run again rather than taking it from the caller: passing it kept a
 * register live on the caller's cached path (one more instruction per
 * cached large pair, callgrind). */
static NOINLINE void free_large_uncached(void *ptr) {
    struct run *r = large_run_at(ptr);
    if (unlikely(r == NULL)) /* freed by another thread meanwhile: a double free */
        report_invalid_pointer("free", ptr);
    size_t size = (size_t)r->npages << LG_PAGE;
    tcache_count_direct(0, size);
    junk_on_free(ptr, size);
    large_free(ptr, "free");
}

static ALWAYS_INLINE void block_free(void *ptr, const struct block *b) {
    switch (b->kind) {
    case BLOCK_SMALL:
        tcache_free(b->run->cls, ptr);
        break;
    case BLOCK_LARGE:
        if (tcache_caches_pages(b->run->npages)) {
            tcache_free(tcache_large_bin(b->run->npages), ptr);
        } else {
            free_large_uncached(ptr);
        }
        break;
    default:
        tcache_count_direct(0, b->huge->size);
        huge_free(b->huge);
        break;
    }
}

/* Whether size, the size a caller says it asked for, gives this block: the
 * same small class, the same number of pages, or a huge block it fits. */
static bool size_names_block(size_t size, const struct block *b) {
    switch (b->kind) {
    case BLOCK_SMALL:
        return size <= SMALL_MAX && size_to_class(size) == b->run->cls;
    case BLOCK_LARGE:
        return size > SMALL_MAX && page_ceil(size) == (size_t)b->run->npages << LG_PAGE;
    default:
        return size > LARGE_MAX && size <= b->huge->size;
    }
}

/* ---- freeing and resizing -------------------------------------------- */

/* Everything but a small region: NULL, large, huge, invalid. */
static NOINLINE void free_slow(void *ptr) {
    if (ptr == NULL)
        return;
    struct block b = {0};
    block_find(ptr, "free", false, &b);
    block_free(ptr, &b);
}

/* In an arena chunk, not a small region: a large block (as block_free()
 * does) without the registry lookup, since the chunk-kind byte already
 * said whose chunk it is; anything else through block_find(), which
 * reports it. */
static NOINLINE void free_in_arena_chunk(void *ptr) {
    struct run *r = large_run_at(ptr);
    if (unlikely(r == NULL)) {
        free_slow(ptr);
        return;
    }
    size_t npages = r->npages;
    if (likely(tcache_caches_pages(npages))) {
        tcache_free(tcache_large_bin(npages), ptr);
        return;
    }
    free_large_uncached(ptr);
}

void quarry_free(void *ptr) {
    if (likely(is_keyed_arena_chunk((uintptr_t)ptr))) {
        size_t off;
        uint32_t index;
        if (likely(page_region_at(ptr, &off, &index) != NULL)) {
            tcache_free_at(off, ptr);
            return;
        }
        free_in_arena_chunk(ptr);
        return;
    }
    free_slow(ptr);
}

/* The size names the class, so the cache bin is known without waiting for
 * the page map; the page map still checks, beside it, that ptr starts a
 * region of that very class (a wrong size or an interior pointer is
 * reported, never cached). */
/* Everything but a small region whose class the size names. */
static NOINLINE void free_sized_slow(void *ptr, size_t size) {
    if (ptr == NULL)
        return;
    struct block b = {0};
    block_find(ptr, "free_sized", false, &b);
    if (unlikely(!size_names_block(size, &b)))
        report_invalid_pointer("free_sized", ptr);
    block_free(ptr, &b);
}

void quarry_free_sized(void *ptr, size_t size) {
    if (likely(size <= SMALL_MAX && is_keyed_arena_chunk((uintptr_t)ptr))) {
        size_t off;
        uint32_t index;
        if (likely(page_region_at(ptr, &off, &index) != NULL && off == size_to_class_offset(size))) {
            tcache_free_at(off, ptr);
            return;
        }
    }
    free_sized_slow(ptr, size);
}

/* The class of the live small region ptr starts (its facts, and its
 * offset in *off), or NULL for anything else (NULL, large, huge, invalid,
 * freed): the lookup free() does, plus the two liveness tests (the
 * region's bit, then the key only freed blocks carry), for realloc, which
 * must not hand a free region back as live. The bit is the one read of
 * the run's descriptor; its index is below the class's region count, so
 * even a stray pointer's read stays within the descriptor. */
static ALWAYS_INLINE const struct class_facts *live_small_region(const void *ptr, size_t *off) {
    if (unlikely(!is_keyed_arena_chunk((uintptr_t)ptr)))
        return NULL;
    uint32_t index;
    const struct class_facts *f = page_region_at(ptr, off, &index);
    if (unlikely(f == NULL || bitmap_get_relaxed(run_of_page(ptr)->bitmap, index) || tcache_carries_key(ptr)))
        return NULL;
    return f;
}

static NOINLINE size_t usable_size_slow(const void *ptr) {
    if (ptr == NULL)
        return 0;
    struct block b = {0};
    block_find(ptr, "malloc_usable_size", true, &b);
    return block_usable(&b);
}

/* In a keyed arena chunk, not a small region: a live large block's size
 * from the page map (as free_in_arena_chunk() frees one), without
 * block_find(), for Redis's 4-8 KiB list nodes, whose size it asks at
 * every push and pop; anything else through usable_size_slow(), which
 * reports it. A cached large block carries the key, as a small one does. */
static NOINLINE size_t usable_in_arena_chunk(const void *ptr) {
    struct run *r = large_run_at(ptr);
    if (likely(r != NULL && !(tcache_caches_pages(r->npages) && tcache_carries_key(ptr))))
        return (size_t)r->npages << LG_PAGE;
    return usable_size_slow(ptr);
}

/* A small region that does not carry the free key is live, or was never
 * handed out, or was written after it was freed (tcache.h): the one test
 * that no live block fails, so the region's bit (the descriptor's second
 * cache line) is read only for a block that carries the key, where
 * usable_size_slow() reports it. */
size_t quarry_malloc_usable_size(const void *ptr) {
    if (likely(is_keyed_arena_chunk((uintptr_t)ptr))) {
        size_t off;
        uint32_t index;
        const struct class_facts *f = page_region_at(ptr, &off, &index);
        if (unlikely(f == NULL))
            return usable_in_arena_chunk(ptr);
        if (likely(!tcache_carries_key(ptr)))
            return f->size;
    }
    return usable_size_slow(ptr);
}

/* A live small region into a block of another class: the lookup is done. */
static NOINLINE void *realloc_small_move(void *ptr, size_t off, size_t size) {
    if (unlikely(size > SIZE_LIMIT))
        return fail_enomem();
    void *p = malloc_impl(size);
    if (unlikely(p == NULL))
        return NULL;
    size_t old_size = class_facts_at(off)->size;
    memcpy(p, ptr, old_size < size ? old_size : size);
    tcache_free_at(off, ptr);
    return p;
}

static NOINLINE void *realloc_slow(void *ptr, size_t size);

/* A small block resized within its class (Redis's strings and packed
 * lists grow and shrink so, constantly) returns at once; one moving to
 * another class skips the second lookup. Every other case, realloc_slow. */
void *quarry_realloc(void *ptr, size_t size) {
    size_t off;
    const struct class_facts *f = live_small_region(ptr, &off);
    if (likely(f != NULL && size != 0)) {
        if (likely(size <= SMALL_MAX && size_to_class_offset(size) == off)) {
            size_t usable = f->size;
            tcache_count_direct(usable, usable);
            return ptr;
        }
        return realloc_small_move(ptr, off, size);
    }
    return realloc_slow(ptr, size);
}

/* NULL, size 0, large, huge and invalid pointers. */
static NOINLINE void *realloc_slow(void *ptr, size_t size) {
    if (ptr == NULL)
        return malloc_impl(size);
    struct block b = {0};
    block_find(ptr, "realloc", true, &b);
    if (size == 0) {
        /* As glibc: realloc(p, 0) frees p and returns NULL. */
        block_free(ptr, &b);
        return NULL;
    }
    if (unlikely(size > SIZE_LIMIT))
        return fail_enomem();
    size_t old_usable = block_usable(&b);
    switch (b.kind) {
    case BLOCK_SMALL:
        if (size <= SMALL_MAX && size_to_class(size) == b.run->cls) {
            tcache_count_direct(old_usable, old_usable);
            return ptr;
        }
        break;
    case BLOCK_LARGE:
        if (size > SMALL_MAX && size <= LARGE_MAX && large_resize(b.run, size)) {
            tcache_count_direct(block_usable(&b), old_usable);
            return ptr;
        }
        break;
    default:
        if (size > LARGE_MAX) {
            void *p = huge_resize(b.huge, size);
            if (p == NULL)
                return fail_enomem();
            tcache_count_direct(b.huge->size, old_usable);
            return p;
        }
        break;
    }
    size_t old_size = block_usable(&b);
    void *p = malloc_impl(size);
    if (unlikely(p == NULL))
        return NULL;
    memcpy(p, ptr, old_size < size ? old_size : size);
    block_free(ptr, &b);
    return p;
}

size_t quarry_purge(void) {
    if (arena_choose() == NULL)
        return 0;
    tcache_flush(thread_tcache);
    return reclaim_purge(ARENAS_ALL);
}

void *quarry_reallocarray(void *ptr, size_t count, size_t size) {
    size_t total;
    if (unlikely(__builtin_mul_overflow(count, size, &total)))
        return fail_enomem();
    return quarry_realloc(ptr, total);
}
