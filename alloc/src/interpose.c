/*
 * The standard names, for LD_PRELOAD: only libquarry.so is built from this
 * file. Each name of the standard and glibc API is an alias of the quarry_*
 * function (same code, same address), never a wrapper; jemalloc's names,
 * whose code lives in other files, are one jump to theirs. exports.map
 * lists what the library exports. A program may bind to any of these, so
 * each family is exported whole: no call can reach another allocator's
 * code with a block of quarry's (or the reverse).
 */
#include "api.c"
#include "glibc_compat.c"

#define ALIAS(target) __attribute__((alias(#target), COPY_ATTRIBUTES(target) used, visibility("default")))

void *malloc(size_t size) ALIAS(quarry_malloc);
void *calloc(size_t count, size_t size) ALIAS(quarry_calloc);
void *realloc(void *ptr, size_t size) ALIAS(quarry_realloc);
void *reallocarray(void *ptr, size_t count, size_t size) ALIAS(quarry_reallocarray);
void free(void *ptr) ALIAS(quarry_free);
int posix_memalign(void **memptr, size_t alignment, size_t size) ALIAS(quarry_posix_memalign);
void *aligned_alloc(size_t alignment, size_t size) ALIAS(quarry_aligned_alloc);
void *memalign(size_t alignment, size_t size) ALIAS(quarry_memalign);
void *valloc(size_t size) ALIAS(quarry_valloc);
void *pvalloc(size_t size) ALIAS(quarry_pvalloc);
size_t malloc_usable_size(void *ptr) ALIAS(quarry_malloc_usable_size);
/* C23. */
void free_sized(void *ptr, size_t size) ALIAS(quarry_free_sized);
__attribute__((visibility("default"))) void free_aligned_sized(void *ptr, size_t alignment, size_t size) {
    quarry_free_aligned_sized(ptr, alignment, size);
}
/* Old programs still bind to glibc's long-deprecated cfree. */
void cfree(void *ptr) ALIAS(quarry_free);

/* glibc's internal names: programs and libraries that call these expect
 * the process's malloc. */
void *__libc_malloc(size_t size) ALIAS(quarry_malloc);
void *__libc_calloc(size_t count, size_t size) ALIAS(quarry_calloc);
void *__libc_realloc(void *ptr, size_t size) ALIAS(quarry_realloc);
void __libc_free(void *ptr) ALIAS(quarry_free);
void *__libc_memalign(size_t alignment, size_t size) ALIAS(quarry_memalign);
void *__libc_valloc(size_t size) ALIAS(quarry_valloc);
void *__libc_pvalloc(size_t size) ALIAS(quarry_pvalloc);
int __posix_memalign(void **memptr, size_t alignment, size_t size) ALIAS(quarry_posix_memalign);

/* glibc's malloc_trim: purge everything now; 1 if memory went back. The
 * pad argument (memory to keep at the top of the heap) has no meaning for
 * quarry and is ignored. */
__attribute__((visibility("default"))) int malloc_trim(size_t pad) {
    (void)pad;
    return quarry_purge() != 0;
}

/* jemalloc's API, for programs built for jemalloc (xalloc.c, ctl.c,
 * stats_print.c). */
#define EXPORT __attribute__((visibility("default")))
EXPORT void *mallocx(size_t size, int flags) { return quarry_mallocx(size, flags); }
EXPORT void *rallocx(void *ptr, size_t size, int flags) { return quarry_rallocx(ptr, size, flags); }
EXPORT size_t xallocx(void *ptr, size_t size, size_t extra, int flags) {
    return quarry_xallocx(ptr, size, extra, flags);
}
EXPORT size_t sallocx(const void *ptr, int flags) { return quarry_sallocx(ptr, flags); }
EXPORT void dallocx(void *ptr, int flags) { quarry_dallocx(ptr, flags); }
EXPORT void sdallocx(void *ptr, size_t size, int flags) { quarry_sdallocx(ptr, size, flags); }
EXPORT size_t nallocx(size_t size, int flags) { return quarry_nallocx(size, flags); }
EXPORT int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    return quarry_ctl(name, oldp, oldlenp, newp, newlen);
}
EXPORT int mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp) {
    return quarry_ctlnametomib(name, mibp, miblenp);
}
EXPORT int mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    return quarry_ctlbymib(mib, miblen, oldp, oldlenp, newp, newlen);
}
EXPORT void malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts) {
    quarry_stats_print(write_cb, cbopaque, opts);
}

/* The most common C++ operators, written here under their mangled names so
 * that they are the malloc and free fast paths themselves: delete is free
 * (sized delete is quarry_free_sized), and new is malloc with a failure
 * branch to interpose_cxx.cc, which calls the new_handler and throws. The
 * other forms (nothrow, aligned) live in interpose_cxx.cc. */
void *cxx_new_slow(size_t size) __attribute__((visibility("hidden")));

__attribute__((visibility("default"))) void *_Znwm(size_t size) {
    void *p = malloc_impl(size);
    if (likely(p != NULL))
        return p;
    return cxx_new_slow(size);
}

__attribute__((visibility("default"))) void *_Znam(size_t size) {
    void *p = malloc_impl(size);
    if (likely(p != NULL))
        return p;
    return cxx_new_slow(size);
}

void _ZdlPv(void *ptr) ALIAS(quarry_free);
void _ZdaPv(void *ptr) ALIAS(quarry_free);
void _ZdlPvm(void *ptr, size_t size) ALIAS(quarry_free_sized);
void _ZdaPvm(void *ptr, size_t size) ALIAS(quarry_free_sized);

/* For interpose_cxx.cc: the same functions under hidden names, so that the
 * C++ operators reach them without a trip through the PLT. */
#define HIDDEN_ALIAS(target) __attribute__((alias(#target), COPY_ATTRIBUTES(target) visibility("hidden")))
void *cxx_malloc(size_t size) HIDDEN_ALIAS(quarry_malloc);
void *cxx_aligned_alloc(size_t alignment, size_t size) HIDDEN_ALIAS(quarry_aligned_alloc);
void cxx_free(void *ptr) HIDDEN_ALIAS(quarry_free);
