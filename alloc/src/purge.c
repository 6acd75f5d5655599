#include "purge.h"

#include "conf.h"
#include "os.h"
#include "report.h"

/* One age step purges at most this share of the dirty pages (but at least
 * PURGE_FLOOR): a heap that goes idle gives its pages back over a few
 * steps, not in one madvise storm. */
#define AGE_STEP_SHIFT 2
/* Age steps come at most every decay_ms >> this. */
#define TICK_SHIFT 3
/* An arena holding at least its recent peak >> this keeps its young dirty
 * pages (see allowance). 4 made the madvise calls of a cross-thread
 * free-all as few as jemalloc's, 3 three times as many for the same CPU
 * time; 3 is kept because what the thread caches pin after a free-all
 * (4.8 MiB of runs after the suite's kv workloads) must stay below the
 * threshold for the heap to be purged (docs/design.md). */
#define YOUNG_HOLD_SHIFT 3

bool purge_by_background;

size_t arena_dirty_bound(const struct arena *a) {
    if (opt_lg_dirty_mult < 0)
        return SIZE_MAX;
    size_t bound = a->nactive >> opt_lg_dirty_mult;
    return bound > PURGE_FLOOR ? bound : PURGE_FLOOR;
}

/* Under a->lock: purges up to want pages of dirty runs, oldest first,
 * skipping runs younger than cutoff (ms; UINT64_MAX: none is too young).
 * The lock is dropped around the madvise calls. Returns pages purged. */
static size_t purge_pass(struct arena *a, size_t want, uint64_t cutoff) {
    if (a->purging || want == 0)
        return 0;
    a->purging = true;
    /* Take the runs out of the free tree, marked RUN_PURGING and counted
     * as allocated in their chunk, so that nothing allocates, merges or
     * releases them while the lock is dropped. */
    struct run *batch = NULL; /* linked through link */
    struct run *next;
    for (struct run *r = a->dirty_oldest; r != NULL && want > 0; r = next) {
        next = r->lru_next;
        if (r->dirty_since > cutoff)
            continue;
        if (chunk_arena(chunk_of(r->base), "free") != a)
            report_corruption("free", "chunk header names another arena", chunk_of(r->base));
        arena_avail_remove(a, r);
        r->kind = RUN_PURGING;
        chunk_of(r->base)->nalloc_pages += r->npages;
        want = want > r->npages ? want - r->npages : 0;
        r->link = batch;
        batch = r;
    }
    if (batch == NULL) { /* every dirty run is younger than the cutoff */
        a->purging = false;
        return 0;
    }
    a->stats.npurge++;
    lock_busy_enter();
    lock_release(&a->lock);
    /* Each run comes back clean or lazy, as its own madvise went. */
    struct run *clean = NULL, *lazy = NULL;
    size_t pages = 0, calls = 0;
    while (batch != NULL) {
        struct run *r = batch;
        batch = r->link;
        bool zeroed = chunk_purge_pages(r->base, (size_t)r->npages << LG_PAGE) == RUN_FREE_CLEAN;
        struct run **list = zeroed ? &clean : &lazy;
        r->link = *list;
        *list = r;
        pages += r->npages;
        calls++;
    }
    lock_acquire(&a->lock);
    for (int i = 0; i < 2; i++) {
        struct run *list = i == 0 ? clean : lazy;
        while (list != NULL) {
            struct run *r = list;
            list = r->link;
            chunk_of(r->base)->nalloc_pages -= r->npages;
            arena_run_insert_free(a, r, i == 0 ? RUN_FREE_CLEAN : RUN_FREE_LAZY);
        }
    }
    a->stats.nmadvise += calls;
    a->stats.purged += pages;
    a->purging = false;
    lock_busy_leave();
    return pages;
}

/* Under a->lock: starts a new peak window every decay_ms. */
static void roll_window(struct arena *a, uint64_t now) {
    if (now - a->purge.window_start >= (uint64_t)opt_decay_ms) {
        a->peak_prev = a->peak_cur;
        a->peak_cur = a->nactive;
        a->purge.window_start = now;
    }
}

void purge_decayed(struct arena *a) {
    if (opt_lg_dirty_mult < 0 || opt_decay_ms < 0)
        return;
    uint64_t now = os_now_ms();
    roll_window(a, now);
    a->purge.next_tick = now + ((uint64_t)opt_decay_ms >> TICK_SHIFT);
    if (a->dirty_oldest == NULL || now < (uint64_t)opt_decay_ms)
        return;
    size_t step = a->ndirty >> AGE_STEP_SHIFT;
    purge_pass(a, step > PURGE_FLOOR ? step : PURGE_FLOOR, now - (uint64_t)opt_decay_ms);
}

void purge_tick(struct arena *a) {
    if (opt_decay_ms < 0 || __atomic_load_n(&purge_by_background, __ATOMIC_RELAXED))
        return;
    uint64_t now = os_now_ms();
    if (now >= a->purge.next_tick)
        purge_decayed(a);
}

/* Under a->lock, with dirty pages over the bound: how many the arena may
 * keep now, the young pages' and the cycle allowance included. */
static size_t allowance(struct arena *a, size_t bound, uint64_t now) {
    if (opt_decay_ms < 0)
        return bound;
    /* Grown back to the mark set by the last pass, within decay_ms of it:
     * the pages that pass purged were faulted in again. */
    if (a->purge.last_purge != 0 && now - a->purge.last_purge < (uint64_t)opt_decay_ms &&
        a->purge.regrown >= a->purge.refault_mark)
        a->purge.cyclic_until = now + (uint64_t)opt_decay_ms;
    bool cyclic = now < a->purge.cyclic_until;
    size_t peak = a->peak_cur > a->peak_prev ? a->peak_cur : a->peak_prev;
    /* Outside a cycle, an arena that has fallen below 1/8 of its recent
     * peak has freed its heap: it purges down to the bound. Above that, it
     * keeps the pages it frees up to its peak footprint, and the age steps
     * take those older than decay_ms: purging while the heap is still
     * emptying would madvise runs one or two pages long between live
     * ones, which the next allocations fault straight back in. */
    if (!cyclic && a->nactive < peak >> YOUNG_HOLD_SHIFT)
        return bound;
    size_t footprint = peak + (peak >> opt_lg_dirty_mult);
    size_t keep = footprint > a->nactive ? footprint - a->nactive : 0;
    if (cyclic && a->purge.last_purge != 0)
        a->purge.last_purge = now; /* the cycle renews its allowance */
    return keep > bound ? keep : bound;
}

void purge_after_free(struct arena *a) {
    if (opt_lg_dirty_mult < 0)
        return;
    size_t bound = arena_dirty_bound(a);
    if (a->ndirty > bound) {
        uint64_t now = os_now_ms();
        if (opt_decay_ms >= 0)
            roll_window(a, now);
        size_t keep = allowance(a, bound, now);
        if (a->ndirty > keep) {
            /* Down to half the bound outside a cycle (hysteresis); inside
             * one, just to the allowance. */
            size_t target = keep == bound ? bound / 2 : keep;
            size_t purged = purge_pass(a, a->ndirty - target, UINT64_MAX);
            a->purge.last_purge = now;
            a->purge.refault_mark = a->nactive + purged / 2;
            a->purge.regrown = a->nactive;
        }
    }
    purge_tick(a);
}

void purge_all(struct arena *a) { purge_pass(a, a->ndirty, UINT64_MAX); }
