/*
 * Giving dirty pages back to the kernel.
 *
 * An arena may keep at most max(nactive >> opt_lg_dirty_mult, PURGE_FLOOR)
 * dirty pages. Past that, a pass purges whole dirty runs, sparsest chunk
 * first, down to half the bound: the hysteresis, so that a program freeing
 * steadily pays one madvise pass per half-bound of frees rather than one
 * per free. The arena lock is dropped around the madvise calls.
 */
#ifndef QUARRY_PURGE_H
#define QUARRY_PURGE_H

#include "arena.h"

/* Dirty pages an arena may always keep, so that a small heap does not
 * purge on every free: 256 pages, 1 MiB. */
#define PURGE_FLOOR ((size_t)256)

/* Under a->lock (which it may drop and retake): purge if over the bound. */
void arena_maybe_purge(struct arena *a);
/* Under a->lock: purge every dirty page now. */
void arena_purge_all(struct arena *a);
/* The most dirty pages arena a may keep. */
size_t arena_dirty_bound(const struct arena *a);

#endif
