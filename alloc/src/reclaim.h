/*
 * Giving memory back on demand, and the background purge thread: the one
 * place that empties quarry's caches of memory for an explicit purge
 * (quarry_purge, malloc_trim, mallctl arena.<i>.purge / arena.<i>.decay)
 * and for the retry after a failed mapping. It sits above the bins, the
 * purge policy, the huge layer and the chunk pool, and drives them;
 * nothing below calls it. Thread caches are above it: callers flush the
 * calling thread's cache first where that is wanted.
 */
#ifndef QUARRY_RECLAIM_H
#define QUARRY_RECLAIM_H

#include "common.h"

/* Arena index that means "every arena", as in jemalloc. */
#define ARENAS_ALL 4096

/* Purges every dirty page of arena `which` (or of all, ARENAS_ALL: then
 * also every bin's spare run, the shared huge cache and every thread's huge
 * slot). Returns the bytes given back. */
size_t reclaim_purge(unsigned which);
/* Purges only the pages whose decay time has passed, in arena `which` (or
 * all, then idle huge mappings too). Returns the bytes given back. */
size_t reclaim_decay(unsigned which);
/* The huge mappings' age step if one is due, and one arena's, the arenas
 * taken in turn, skipped when that arena's lock is busy. Thread caches
 * call it once per GC sweep, so that pages and idle huge mappings age out
 * while threads only hit their caches, and out of arenas whose threads
 * have exited, not only where slow paths run. Call with no lock held. */
void reclaim_age_step(void);
/* After a mapping failed: everything reclaim_purge(ARENAS_ALL) does, plus
 * retained chunks' address space. true when anything was given back, so
 * that one retry can succeed. */
bool reclaim_for_retry(void);

/* The background purge thread (opt_background_thread, mallctl
 * "background_thread"): it does the age steps of every arena and of the
 * huge mappings every decay_ms / 8, so that the application's threads do
 * none. Whether it is wanted, and turning it on or off: 0, or EAGAIN when
 * no thread can be made. */
bool purge_background_enabled(void);
int purge_background_set(bool enable);
/* Starts the thread if it is wanted and not running (after fork, the
 * child's first slow path restarts it). Call with no lock held. */
void reclaim_background_poll(void);
/* Fork: the thread does not exist in the child; it restarts on demand. */
void reclaim_postfork_child(void);

#endif
