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

#ifdef __cplusplus
}
#endif

#endif /* QUARRY_H */
