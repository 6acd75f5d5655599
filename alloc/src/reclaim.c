#include "reclaim.h"

#include "chunk.h"
#include "huge.h"
#include "init.h"
#include "purge.h"
#include "quarry.h"
#include "tcache.h"

/* Purges arena i, or all; returns pages given back. */
static size_t purge_arenas(unsigned which, bool decayed_only) {
    size_t pages = 0;
    for (unsigned i = 0; i < narenas; i++) {
        if (which != ARENAS_ALL && i != which)
            continue;
        struct arena *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (a == NULL)
            continue;
        lock_acquire(&a->lock);
        uint64_t before = a->stats.purged;
        if (decayed_only)
            purge_decayed(a);
        else
            arena_purge_all(a);
        pages += (size_t)(a->stats.purged - before);
        lock_release(&a->lock);
    }
    return pages;
}

size_t reclaim_purge(unsigned which) {
    tcache_flush(thread_tcache);
    size_t bytes = purge_arenas(which, false) << LG_PAGE;
    if (which == ARENAS_ALL)
        bytes += huge_purge();
    return bytes;
}

size_t reclaim_decay(unsigned which) {
    size_t bytes = purge_arenas(which, true) << LG_PAGE;
    if (which == ARENAS_ALL)
        bytes += huge_release_idle();
    return bytes;
}

bool reclaim_for_retry(void) {
    size_t bytes = reclaim_purge(ARENAS_ALL);
    return chunk_release_retained() + bytes != 0;
}

size_t quarry_purge(void) {
    if (arena_choose() == NULL)
        return 0;
    return reclaim_purge(ARENAS_ALL);
}
