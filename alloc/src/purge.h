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
/* Under a->lock: purge the pages whose decay time has passed. */
void purge_decayed(struct arena *a);
/* The most dirty pages arena a may keep. */
size_t arena_dirty_bound(const struct arena *a);

/* The background purge thread (opt_background_thread, mallctl
 * "background_thread"): whether it runs, and starting or stopping it.
 * purge_background_set returns 0, or EAGAIN when no thread can be made. */
bool purge_background_enabled(void);
int purge_background_set(bool enable);

#endif
