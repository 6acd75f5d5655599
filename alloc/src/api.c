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
#include "report.h"
#include "rtree.h"

static COLD void *fail_enomem(void) {
    errno = ENOMEM;
    return NULL;
}

/* ---- allocation ------------------------------------------------------- */

/* Above SMALL_MAX, or aligned beyond what a small class gives. size <=
 * SIZE_LIMIT; align a power of two. */
static NOINLINE void *malloc_pages(size_t size, size_t align, bool zero) {
    struct arena *a = arena_choose();
    if (unlikely(a == NULL))
        return fail_enomem();
    if (size == 0)
        size = 1;
    size_t align_slack = align > PAGE ? align - PAGE : 0;
    void *p;
    if (align_slack < LARGE_MAX && page_ceil(size) <= LARGE_MAX - align_slack)
        p = arena_malloc_large(a, size, align, zero);
    else
        p = huge_malloc(size, align);
    return p != NULL ? p : fail_enomem();
}

static ALWAYS_INLINE void *malloc_small(unsigned cls) {
    struct arena *a = arena_choose();
    if (unlikely(a == NULL))
        return fail_enomem();
    void *p = bin_malloc(a, cls);
    return likely(p != NULL) ? p : fail_enomem();
}

static ALWAYS_INLINE void *malloc_impl(size_t size) {
    if (likely(size <= SMALL_MAX))
        return malloc_small(size_to_class(size));
    if (unlikely(size > SIZE_LIMIT))
        return fail_enomem();
    return malloc_pages(size, PAGE, false);
}

/* align: a power of two. */
static void *aligned_malloc(size_t size, size_t align, bool zero) {
    if (unlikely(size > SIZE_LIMIT || align > SIZE_LIMIT / 2))
        return fail_enomem();
    if (size <= SMALL_MAX && align < PAGE) {
        /* The first class at least as large whose size is a multiple of
         * align: regions of such a class are all aligned, since runs start
         * on a page. */
        unsigned cls = size_to_class(size > align ? size : align);
        while (cls < NSMALL && (class_size(cls) & (align - 1)) != 0)
            cls++;
        if (cls < NSMALL) {
            void *p = malloc_small(cls);
            if (zero && p != NULL)
                memset(p, 0, size);
            return p;
        }
    }
    return malloc_pages(size, align, zero);
}

void *quarry_malloc(size_t size) { return malloc_impl(size); }

void *quarry_calloc(size_t count, size_t size) {
    size_t total;
    if (unlikely(__builtin_mul_overflow(count, size, &total)))
        return fail_enomem();
    if (likely(total <= SMALL_MAX)) {
        void *p = malloc_small(size_to_class(total));
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
    int saved = errno;
    void *p = aligned_malloc(size, alignment, false);
    if (unlikely(p == NULL)) {
        errno = saved;
        return ENOMEM;
    }
    *memptr = p;
    return 0;
}

void *quarry_aligned_alloc(size_t alignment, size_t size) {
    if (unlikely(!is_pow2(alignment))) {
        errno = EINVAL;
        return NULL;
    }
    return aligned_malloc(size, alignment, false);
}

void *quarry_memalign(size_t alignment, size_t size) { return quarry_aligned_alloc(alignment, size); }

void *quarry_valloc(size_t size) { return aligned_malloc(size, PAGE, false); }

void *quarry_pvalloc(size_t size) {
    if (unlikely(size > SIZE_LIMIT))
        return fail_enomem();
    return aligned_malloc(size == 0 ? PAGE : page_ceil(size), PAGE, false);
}

/* ---- finding a block -------------------------------------------------- */

enum block_kind { BLOCK_SMALL, BLOCK_LARGE, BLOCK_HUGE };

struct block {
    enum block_kind kind;
    uint32_t region; /* BLOCK_SMALL: index in its run */
    struct run *run; /* BLOCK_SMALL, BLOCK_LARGE */
    struct huge *huge;
};

/* Finds what ptr is the start of, or aborts naming func. A small region's
 * liveness is checked here only when check_live is set: free checks it under
 * the bin lock instead. */
static ALWAYS_INLINE void block_find(const void *ptr, const char *func, bool check_live, struct block *b) {
    void *owner = rtree_get((uintptr_t)ptr);
    if (likely(owner == RTREE_ARENA_CHUNK)) {
        struct chunk *c = chunk_of(ptr);
        if (unlikely((uintptr_t)ptr - (uintptr_t)c < CHUNK_HEADER_PAGES * PAGE))
            report_invalid_pointer(func, ptr);
        struct run *r = c->map[chunk_page(c, ptr)];
        if (unlikely(r == NULL))
            report_invalid_pointer(func, ptr);
        if (likely(r->kind == RUN_SMALL)) {
            size_t offset = (size_t)((const char *)ptr - r->base);
            unsigned cls = r->cls;
            uint32_t idx = class_region_index(cls, offset);
            if (unlikely(offset >= ((size_t)r->npages << LG_PAGE) || idx >= size_classes[cls].nregs ||
                         (size_t)idx * class_size(cls) != offset))
                report_invalid_pointer(func, ptr);
            if (check_live && unlikely(bitmap_get_relaxed(r->bitmap, idx)))
                report_invalid_pointer(func, ptr);
            b->kind = BLOCK_SMALL;
            b->region = idx;
            b->run = r;
            return;
        }
        if (likely(r->kind == RUN_LARGE && r->base == ptr)) {
            b->kind = BLOCK_LARGE;
            b->run = r;
            return;
        }
        report_invalid_pointer(func, ptr);
    }
    if (likely(owner != NULL && ((struct huge *)owner)->base == ptr)) {
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

static ALWAYS_INLINE void block_free(void *ptr, const struct block *b, const char *func) {
    switch (b->kind) {
    case BLOCK_SMALL:
        bin_free(chunk_of(ptr)->arena, b->run, b->region, func, ptr);
        break;
    case BLOCK_LARGE:
        arena_free_large(chunk_of(ptr)->arena, b->run);
        break;
    default:
        huge_free(b->huge);
        break;
    }
}

/* ---- freeing and resizing -------------------------------------------- */

static ALWAYS_INLINE void free_impl(void *ptr, const char *func) {
    if (unlikely(ptr == NULL))
        return;
    struct block b = {0};
    block_find(ptr, func, false, &b);
    block_free(ptr, &b, func);
}

void quarry_free(void *ptr) { free_impl(ptr, "free"); }

void quarry_free_sized(void *ptr, size_t size) {
    if (unlikely(ptr == NULL))
        return;
    struct block b = {0};
    block_find(ptr, "free_sized", false, &b);
    if (unlikely(size > block_usable(&b)))
        report_invalid_pointer("free_sized", ptr);
    block_free(ptr, &b, "free_sized");
}

size_t quarry_malloc_usable_size(const void *ptr) {
    if (ptr == NULL)
        return 0;
    struct block b = {0};
    block_find(ptr, "malloc_usable_size", true, &b);
    return block_usable(&b);
}

void *quarry_realloc(void *ptr, size_t size) {
    if (ptr == NULL)
        return malloc_impl(size);
    struct block b = {0};
    block_find(ptr, "realloc", true, &b);
    if (size == 0) {
        /* As glibc: realloc(p, 0) frees p and returns NULL. */
        block_free(ptr, &b, "realloc");
        return NULL;
    }
    if (unlikely(size > SIZE_LIMIT))
        return fail_enomem();
    switch (b.kind) {
    case BLOCK_SMALL:
        if (size <= SMALL_MAX && size_to_class(size) == b.run->cls)
            return ptr;
        break;
    case BLOCK_LARGE:
        if (size > SMALL_MAX && size <= LARGE_MAX && arena_resize_large(chunk_of(ptr)->arena, b.run, size))
            return ptr;
        break;
    default:
        if (size > LARGE_MAX) {
            void *p = huge_resize(b.huge, size);
            return p != NULL ? p : fail_enomem();
        }
        break;
    }
    size_t old_size = block_usable(&b);
    void *p = malloc_impl(size);
    if (unlikely(p == NULL))
        return NULL;
    memcpy(p, ptr, old_size < size ? old_size : size);
    block_free(ptr, &b, "realloc");
    return p;
}

void *quarry_reallocarray(void *ptr, size_t count, size_t size) {
    size_t total;
    if (unlikely(__builtin_mul_overflow(count, size, &total)))
        return fail_enomem();
    return quarry_realloc(ptr, total);
}
