/*
 * Giving dirty pages back to the kernel: the policy, and the pass that
 * does it. It sits above the arena's run mechanics (arena.h) and below
 * the bins and large runs, which call it after they free pages.
 *
 * Four limits, measured in docs/tuning.md and docs/design.md:
 *   - the bound: an arena keeps at most max(nactive >> lg_dirty_mult,
 *     PURGE_FLOOR) dirty pages, unless one of the next two lets it keep
 *     more. Past it, a pass purges the oldest dirty runs down to half the
 *     bound (hysteresis: one pass per half-bound of frees, not one per
 *     free).
 *   - young pages: an arena that still holds 1/8 of its recent peak keeps
 *     the pages it frees up to its peak footprint (peak + peak >>
 *     lg_dirty_mult). A heap that is emptying in shuffled order frees its
 *     runs between live ones; purging them then costs a madvise per run
 *     of a page or two, and the next allocations fault them back. Below
 *     1/8 of its peak the runs have merged and the bound holds again.
 *   - the cycle allowance: when an arena grows back into pages it purged
 *     less than decay_ms ago, its workload is cyclic (it frees and
 *     refills), and purging only makes the next refill fault the pages in
 *     again. For decay_ms from then on it may keep dirty pages up to its
 *     recent peak footprint even below 1/8 of the peak, and renews that
 *     as long as the cycles go on.
 *   - age: dirty pages older than decay_ms go back in any case, a bounded
 *     number per step, checked at most every decay_ms / 8 from the slow
 *     paths, the thread caches' GC sweeps or the background thread; so
 *     an idle heap's RSS follows its live data within about twice
 *     decay_ms while any thread makes allocator calls.
 * lg_dirty_mult -1 turns all purging off; decay_ms -1 turns off the last
 * three (the bound alone, as before decay).
 */
#ifndef QUARRY_PURGE_H
#define QUARRY_PURGE_H

#include "arena.h"

/* Dirty pages an arena may always keep, so that a small heap does not
 * purge on every free: 256 pages, 1 MiB. */
#define PURGE_FLOOR ((size_t)256)

/* Set while the background thread (reclaim.h) takes the age steps: the
 * slow paths then take none. */
extern bool purge_by_background;

/* Under a->lock (which it may drop and retake), after pages became dirty:
 * purge if over the bound, and the age step if one is due. */
void purge_after_free(struct arena *a);
/* Under a->lock, from allocation slow paths: the age step if one is due. */
void purge_tick(struct arena *a);
/* Under a->lock: the age step now, whatever the interval. */
void purge_decayed(struct arena *a);
/* Under a->lock: purge every dirty page now. */
void purge_all(struct arena *a);
/* The most dirty pages arena a may keep outside a cycle. */
size_t arena_dirty_bound(const struct arena *a);

#endif
