/*
 * quarry: a general-purpose memory allocator.
 *
 * This header is the prefixed API, for programs that embed quarry beside
 * their own malloc (libquarry.a, `pkg-config --libs quarry`). The shared
 * library libquarry.so exports the same functions and also the standard
 * names (malloc, free, ..., operator new/delete) for LD_PRELOAD.
 *
 * Every function behaves as its standard counterpart: sizes that cannot be
 * served give NULL with errno ENOMEM, bad alignments EINVAL, and a pointer
 * that is not the start of a live block aborts with one line on stderr.
 */
#ifndef QUARRY_H
#define QUARRY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define QUARRY_EXPORT __attribute__((visibility("default")))
#define QUARRY_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define QUARRY_EXPORT
#define QUARRY_MALLOC_ATTR
#endif

QUARRY_EXPORT QUARRY_MALLOC_ATTR void *quarry_malloc(size_t size);
QUARRY_EXPORT QUARRY_MALLOC_ATTR void *quarry_calloc(size_t count, size_t size);
QUARRY_EXPORT void *quarry_realloc(void *ptr, size_t size);
QUARRY_EXPORT void *quarry_reallocarray(void *ptr, size_t count, size_t size);
QUARRY_EXPORT void quarry_free(void *ptr);
/* free() for a caller that knows the size it asked for (of a block from
 * quarry_malloc, quarry_calloc or quarry_realloc; aligned blocks go to
 * quarry_free): the cache bin comes from the size instead of the block's
 * metadata. A size that does not name the block's size class is reported
 * as an invalid free. */
QUARRY_EXPORT void quarry_free_sized(void *ptr, size_t size);
QUARRY_EXPORT int quarry_posix_memalign(void **memptr, size_t alignment, size_t size);
QUARRY_EXPORT QUARRY_MALLOC_ATTR void *quarry_aligned_alloc(size_t alignment, size_t size);
QUARRY_EXPORT QUARRY_MALLOC_ATTR void *quarry_memalign(size_t alignment, size_t size);
QUARRY_EXPORT QUARRY_MALLOC_ATTR void *quarry_valloc(size_t size);
QUARRY_EXPORT QUARRY_MALLOC_ATTR void *quarry_pvalloc(size_t size);
QUARRY_EXPORT size_t quarry_malloc_usable_size(const void *ptr);

/* Gives every free dirty page of every arena back to the kernel now (after
 * flushing the calling thread's cache), and empties the cache of freed huge
 * mappings. Returns the number of bytes given back. */
QUARRY_EXPORT size_t quarry_purge(void);

/* Reads (oldp/oldlenp) or triggers (no value) the control name `name`, as
 * jemalloc's mallctl: "stats.allocated", "opt.lg_dirty_mult",
 * "arena.4096.purge", "thread.tcache.flush", ... (docs/stats.md). Returns 0,
 * or ENOENT (unknown name), EINVAL (wrong size), EPERM (read-only). */
QUARRY_EXPORT int quarry_ctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

/* The same walk as quarry_ctl, by MIB (jemalloc's mallctlnametomib and
 * mallctlbymib): quarry_ctlnametomib turns a name into one number per
 * component (at most *miblenp; *miblenp becomes how many), so that a
 * caller can change an index (mib[2] in "stats.arenas.<i>.pactive") and
 * read by quarry_ctlbymib without parsing names again. */
QUARRY_EXPORT int quarry_ctlnametomib(const char *name, size_t *mibp, size_t *miblenp);
QUARRY_EXPORT int quarry_ctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
                                  size_t newlen);

/* The statistics as a report (jemalloc's malloc_stats_print): text, or
 * JSON when opts contains 'J'; the letters g (general), m (all arenas
 * merged), a (each arena), b (bins) and l (large classes) leave those
 * sections out. write_cb gets the report a piece at a time (NULL: stderr);
 * the report allocates nothing. */
QUARRY_EXPORT void quarry_stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts);

/* The memory doctor: where the bytes between allocated and resident lie
 * (free regions per size class, dirty pages, caches, metadata), and for
 * each finding the action to take, or "no issues" (docs/doctor.md).
 * write_cb gets the text a piece at a time (NULL: stderr); nothing is
 * allocated. Returns the number of findings. Also the control name
 * "quarry.doctor" written with a path, and QUARRY_CONF=doctor:true at exit. */
QUARRY_EXPORT unsigned quarry_doctor(void (*write_cb)(void *, const char *), void *cbopaque);

/* An SVG picture of the heap into the file at path: one row per chunk,
 * one cell per page, coloured by state. 0, or an errno value. Also
 * "quarry.heapmap" written with a path, and QUARRY_CONF=heapmap:PATH at
 * exit. */
QUARRY_EXPORT int quarry_heapmap(const char *path);

/* jemalloc's non-standard API, with jemalloc's flags (the encodings are
 * jemalloc's, so MALLOCX_* values from <jemalloc/jemalloc.h> work too):
 * an alignment, zeroing, "no thread cache", an arena index. docs/stats.md
 * says what quarry does with each. quarry_nallocx(n, flags) is exactly the
 * usable size quarry_mallocx(n, flags) gives, without allocating (0 when
 * no block can be that large). */
#define QUARRY_MALLOCX_LG_ALIGN(la) ((int)(la))
#define QUARRY_MALLOCX_ALIGN(a) ((int)__builtin_ctzll((unsigned long long)(a)))
#define QUARRY_MALLOCX_ZERO ((int)0x40)
#define QUARRY_MALLOCX_TCACHE(tc) ((int)(((tc) + 2) << 8))
#define QUARRY_MALLOCX_TCACHE_NONE QUARRY_MALLOCX_TCACHE(-1)
#define QUARRY_MALLOCX_ARENA(a) ((int)(((unsigned)(a) + 1) << 20))

QUARRY_EXPORT QUARRY_MALLOC_ATTR void *quarry_mallocx(size_t size, int flags);
/* Resizes, moving the block if it must (NULL, the block untouched, when no
 * memory); size 0 is taken as 1. */
QUARRY_EXPORT void *quarry_rallocx(void *ptr, size_t size, int flags);
/* Resizes in place only, to at least size and at most size + extra bytes
 * as room allows; returns the usable size after (the old one when it
 * could not). */
QUARRY_EXPORT size_t quarry_xallocx(void *ptr, size_t size, size_t extra, int flags);
QUARRY_EXPORT size_t quarry_sallocx(const void *ptr, int flags);
QUARRY_EXPORT void quarry_dallocx(void *ptr, int flags);
/* dallocx for a caller that knows the size it asked for (any size from
 * the request up to the usable size, with the flags of the allocation): a
 * size that cannot have made this block is reported as an invalid free. */
QUARRY_EXPORT void quarry_sdallocx(void *ptr, size_t size, int flags);
QUARRY_EXPORT size_t quarry_nallocx(size_t size, int flags);
/* C23's free_aligned_sized, for blocks of quarry_aligned_alloc: alignment
 * and size must be those of the allocation (reported otherwise). */
QUARRY_EXPORT void quarry_free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* mallopt() parameters quarry accepts beside glibc's (M_ARENA_MAX,
 * M_TRIM_THRESHOLD): Android bionic's numbers. */
#define QUARRY_M_DECAY_TIME (-100) /* value: decay_ms, the age limit of dirty pages */
#define QUARRY_M_PURGE (-101)      /* purge every arena now */
#define QUARRY_M_PURGE_ALL (-104)  /* the same */

#ifdef __cplusplus
}
#endif

#endif /* QUARRY_H */
