/* Large allocations: whole-page runs of an arena, from one page up to
 * LARGE_MAX. They sit beside the bins, above the arena's run mechanics and
 * the purge policy. */
#ifndef QUARRY_LARGE_H
#define QUARRY_LARGE_H

#include "arena.h"

/* page_ceil(size) bytes aligned to align (a power of two; runs start on a
 * page anyway), zeroed when zero. NULL when no memory can be mapped. */
void *large_malloc(struct arena *a, size_t size, size_t align, bool zero);
/* Frees the large block at ptr, checking under the arena lock that ptr
 * still starts a large run: a block freed twice (say by two threads'
 * caches) is reported through report_invalid_pointer(func, ptr). */
void large_free(void *ptr, const char *func);
/* large_free() of n blocks, with one acquisition of each arena's lock for
 * the blocks of that arena: a thread cache's flush. Reorders items. */
void large_free_batch(void **items, unsigned n, const char *func);
/* Resizes large run r in place to page_ceil(size) bytes: shrinking always
 * works (unless metadata memory runs out), growing when the following
 * pages are free. */
bool large_resize(struct run *r, size_t size);

#endif
