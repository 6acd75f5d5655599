/*
 * Giving memory back on demand: the one place that empties quarry's caches
 * of memory for an explicit purge (quarry_purge, malloc_trim, mallctl
 * arena.<i>.purge / arena.<i>.decay) and for the retry after a failed
 * mapping. It sits above the arenas, the huge layer and the chunk pool and
 * drives them; nothing below calls it.
 */
#ifndef QUARRY_RECLAIM_H
#define QUARRY_RECLAIM_H

#include "common.h"

/* Arena index that means "every arena", as in jemalloc. */
#define ARENAS_ALL 4096

/* Flushes the calling thread's cache, then purges every dirty page of
 * arena `which` (or of all, ARENAS_ALL; then also the shared huge cache and
 * every thread's idle huge slot). Returns the bytes given back. */
size_t reclaim_purge(unsigned which);
/* Purges only the pages whose decay time has passed, in arena `which` (or
 * all). Returns the bytes given back. */
size_t reclaim_decay(unsigned which);
/* After a mapping failed: everything reclaim_purge(ARENAS_ALL) does, plus
 * retained chunks' address space. true when anything was given back, so
 * that one retry can succeed. */
bool reclaim_for_retry(void);

#endif
