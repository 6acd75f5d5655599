/*
 * jemalloc's non-standard allocation API, prefixed (quarry_mallocx, ...):
 * interpose.c exports them under jemalloc's own names, so that a program
 * built for jemalloc gets quarry's heap from every call it makes. Flags use
 * jemalloc's encoding (quarry.h):
 *   bits 0-5   lg of the alignment (0: none)
 *   bit 6      zero the block
 *   bits 8-19  thread cache: 0 automatic, 1 none, 2 + n an explicit one
 *   bits 20-31 arena: 0 automatic, 1 + i arena i
 * What quarry does with the indices: "no cache" and a named arena that
 * exists take the block straight from (and give it straight back to) the
 * arena, past the thread's cache; an explicit cache means the thread's own
 * cache; an arena that does not exist (yet) means the thread's arena.
 *
 * The usable size of every block is a function of the request and its
 * alignment (usable_for below, which is nallocx): a small class, or whole
 * pages. The rest is built on the public functions and on large_resize and
 * huge_resize_in_place for resizing in place. Pointers are checked by
 * quarry_malloc_usable_size(), so an invalid one is reported under that
 * name (a wrong size for sdallocx under its own).
 */
#include "quarry.h"

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

#define FLAG_LG_ALIGN 0x3fu
#define FLAG_ZERO 0x40u
#define FLAG_FIELD(flags, shift) (((unsigned)(flags) >> (shift)) & 0xfffu)
#define TCACHE_SHIFT 8
#define ARENA_SHIFT 20
#define TCACHE_NONE 1u

struct xflags {
    size_t align; /* 0: none */
    bool zero;
    bool direct;          /* past the thread cache */
    struct arena *arena;  /* NULL: the thread's */
};

static size_t flags_align(int flags) {
    unsigned lg = (unsigned)flags & FLAG_LG_ALIGN;
    return lg != 0 ? (size_t)1 << lg : 0;
}

static bool flags_no_tcache(int flags) { return FLAG_FIELD(flags, TCACHE_SHIFT) == TCACHE_NONE; }

static struct xflags decode(int flags) {
    struct xflags f = {flags_align(flags), ((unsigned)flags & FLAG_ZERO) != 0, flags_no_tcache(flags), NULL};
    unsigned named = FLAG_FIELD(flags, ARENA_SHIFT);
    if (named != 0 && named - 1 < narenas) {
        f.arena = __atomic_load_n(&arenas[named - 1], __ATOMIC_ACQUIRE);
        f.direct |= f.arena != NULL;
    }
    return f;
}

/* The usable size of mallocx(size) with alignment align (0: none), as the
 * entry points choose it (api.c): the smallest class that fits and whose
 * size is a multiple of the alignment (regions of such a class are aligned,
 * since runs start on pages), else whole pages. 0 when no block can be
 * that large. */
static size_t usable_for(size_t size, size_t align) {
    if (size > SIZE_LIMIT || align > SIZE_LIMIT / 2)
        return 0;
    if (size <= SMALL_MAX) {
        if (align == 0)
            return class_size(size_to_class(size));
        if (align < PAGE) {
            unsigned cls = size_to_class(size > align ? size : align);
            while (cls < NSMALL && (class_size(cls) & (align - 1)) != 0)
                cls++;
            if (cls < NSMALL)
                return class_size(cls);
        }
    }
    return page_ceil(size == 0 ? 1 : size);
}

size_t quarry_nallocx(size_t size, int flags) { return usable_for(size, flags_align(flags)); }

size_t quarry_sallocx(const void *ptr, int flags) {
    (void)flags;
    return quarry_malloc_usable_size(ptr);
}

/* ---- allocation --------------------------------------------------------- */

static void *pages_from(struct arena *a, size_t size, size_t align, bool zero) {
    size_t slack = align > PAGE ? align - PAGE : 0;
    if (slack < LARGE_MAX && page_ceil(size) <= LARGE_MAX - slack)
        return large_malloc(a, size, align, zero);
    return huge_malloc(size, align > PAGE ? align : PAGE, zero);
}

/* From arena a itself, past the thread cache (usable: usable_for()). */
static void *alloc_direct(struct arena *a, size_t size, size_t usable, size_t align, bool zero) {
    void *p;
    if (usable <= SMALL_MAX) {
        p = bin_malloc(a, size_to_class(usable));
        if (p == NULL)
            return fail_enomem();
        if (!vg_active) /* (under memcheck no block is keyed, and the word stays undefined) */
            *(uintptr_t *)p = 0; /* a block once cached may still carry the free key */
        if (zero)
            memset(p, 0, usable);
    } else {
        size = size == 0 ? 1 : size;
        p = pages_from(a, size, align, zero);
        if (p == NULL) {
            /* Caches may hold the address space: give it all back, once. */
            tcache_flush(thread_tcache);
            if (reclaim_for_retry())
                p = pages_from(a, size, align, zero);
            if (p == NULL)
                return fail_enomem();
        }
    }
    if (!zero)
        junk_on_alloc(p, usable);
    tcache_count_direct(usable, 0);
    return p;
}

void *quarry_mallocx(size_t size, int flags) {
    if (flags == 0)
        return quarry_malloc(size);
    struct xflags f = decode(flags);
    size_t usable = usable_for(size, f.align);
    if (usable == 0)
        return fail_enomem();
    if (!f.direct && usable <= tcache_max()) {
        void *p = f.align != 0 ? quarry_aligned_alloc(f.align, size) : quarry_malloc(size);
        if (p != NULL && f.zero)
            memset(p, 0, usable);
        return p;
    }
    struct arena *a = f.arena != NULL ? f.arena : arena_choose();
    if (a == NULL)
        return fail_enomem();
    return alloc_direct(a, size, usable, f.align, f.zero);
}

/* ---- what a block is ---------------------------------------------------- */

enum xkind { X_SMALL, X_LARGE, X_HUGE };

/* For a pointer malloc_usable_size() has accepted (so the registry and the
 * page map can be trusted for it). */
static enum xkind kind_of(const void *ptr, struct run **run, struct huge **huge) {
    void *owner = rtree_get((uintptr_t)ptr);
    if (owner == RTREE_ARENA_CHUNK) {
        struct chunk *c = chunk_of(ptr);
        *run = c->map[chunk_page(c, ptr)];
        return (*run)->kind == RUN_SMALL ? X_SMALL : X_LARGE;
    }
    *huge = owner;
    return X_HUGE;
}

/* ---- freeing ------------------------------------------------------------ */

static void free_direct(void *ptr, size_t usable, const char *func) {
    struct run *r = NULL;
    struct huge *h = NULL;
    enum xkind kind = kind_of(ptr, &r, &h);
    tcache_count_direct(0, usable);
    if (kind != X_HUGE)
        junk_on_free(ptr, usable);
    if (kind == X_SMALL) {
        tcache_key_uncached(ptr);
        vg_free(ptr);
        bin_free_batch(r->cls, &ptr, 1);
    }
    else if (kind == X_LARGE)
        large_free(ptr, func);
    else
        huge_free(h);
}

void quarry_dallocx(void *ptr, int flags) {
    if (!flags_no_tcache(flags) || ptr == NULL) {
        quarry_free(ptr);
        return;
    }
    free_direct(ptr, quarry_malloc_usable_size(ptr), "dallocx");
}

/* Whether size (with alignment align) can be the request that made a block
 * of this usable size: the same small class exactly; for whole pages, a
 * request served by pages and not above the block (xallocx may have grown
 * it past what was asked). Anything else is reported as an invalid free. */
static void check_size(void *ptr, size_t usable, size_t size, size_t align, const char *func) {
    size_t expect = usable_for(size, align);
    bool ok = usable <= SMALL_MAX ? expect == usable : expect > SMALL_MAX && expect <= usable;
    if (unlikely(!ok))
        report_invalid_pointer(func, ptr);
}

void quarry_sdallocx(void *ptr, size_t size, int flags) {
    if (ptr == NULL)
        return;
    size_t usable = quarry_malloc_usable_size(ptr);
    check_size(ptr, usable, size, flags_align(flags), "sdallocx");
    if (flags_no_tcache(flags))
        free_direct(ptr, usable, "sdallocx");
    else
        quarry_free(ptr);
}

void quarry_free_aligned_sized(void *ptr, size_t alignment, size_t size) {
    if (ptr == NULL)
        return;
    size_t usable = quarry_malloc_usable_size(ptr);
    if (!is_pow2(alignment))
        report_invalid_pointer("free_aligned_sized", ptr);
    check_size(ptr, usable, size, alignment, "free_aligned_sized");
    quarry_free(ptr);
}

/* ---- resizing ----------------------------------------------------------- */

/* Resizes the block in place to hold at least size bytes, and size + extra
 * if it can (shrinking it when it holds more than that); returns its usable
 * size after. Small blocks keep their class; large runs stay large and huge
 * blocks huge. */
static size_t resize_in_place(void *ptr, size_t old, size_t size, size_t extra) {
    struct run *r = NULL;
    struct huge *h = NULL;
    enum xkind kind = kind_of(ptr, &r, &h);
    if (kind == X_SMALL)
        return old;
    size_t low = page_ceil(size == 0 ? 1 : size);
    size_t high = page_ceil(size + extra);
    if (kind == X_LARGE) {
        if (low > LARGE_MAX)
            return old;
        if (high > LARGE_MAX)
            high = LARGE_MAX;
        if (old > high)
            large_resize(r, high);
        else if (old < high && !large_resize(r, high) && old < low)
            large_resize(r, low);
    } else {
        if (high <= LARGE_MAX)
            return old;
        if (low <= LARGE_MAX)
            low = LARGE_MAX + PAGE;
        if (old > high)
            huge_resize_in_place(h, high);
        else if (old < high && !huge_resize_in_place(h, high) && old < low)
            huge_resize_in_place(h, low);
    }
    size_t now = kind == X_LARGE ? (size_t)r->npages << LG_PAGE : h->size;
    if (now != old)
        tcache_count_direct(now, old);
    return now;
}

size_t quarry_xallocx(void *ptr, size_t size, size_t extra, int flags) {
    size_t old = quarry_malloc_usable_size(ptr);
    size_t align = flags_align(flags);
    if (size > SIZE_LIMIT || (align != 0 && ((uintptr_t)ptr & (align - 1)) != 0))
        return old;
    if (extra > SIZE_LIMIT - size)
        extra = SIZE_LIMIT - size;
    size_t now = resize_in_place(ptr, old, size, extra);
    if (((unsigned)flags & FLAG_ZERO) != 0 && now > old)
        memset((char *)ptr + old, 0, now - old);
    return now;
}

void *quarry_rallocx(void *ptr, size_t size, int flags) {
    if (ptr == NULL)
        return quarry_mallocx(size, flags);
    struct xflags f = decode(flags);
    size = size == 0 ? 1 : size; /* never a free, as realloc(p, 0) is */
    size_t usable = usable_for(size, f.align);
    if (usable == 0)
        return fail_enomem();
    size_t old = quarry_malloc_usable_size(ptr);
    void *p;
    if (f.align == 0 && !f.direct) {
        p = quarry_realloc(ptr, size);
        if (p == NULL)
            return NULL;
    } else if ((f.align == 0 || ((uintptr_t)ptr & (f.align - 1)) == 0) &&
               resize_in_place(ptr, old, size, 0) == usable) {
        p = ptr;
    } else {
        p = quarry_mallocx(size, flags & ~(int)FLAG_ZERO);
        if (p == NULL)
            return NULL;
        memcpy(p, ptr, old < size ? old : size);
        quarry_dallocx(ptr, flags);
    }
    if (f.zero) {
        size_t now = quarry_malloc_usable_size(p);
        if (now > old)
            memset((char *)p + old, 0, now - old);
    }
    return p;
}
