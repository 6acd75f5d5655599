#include "huge.h"

#include <pthread.h>
#include <string.h>

#include "base.h"
#include "conf.h"
#include "os.h"
#include "purge.h"
#include "rtree.h"
#include "vg.h"

lock_t huge_lock = LOCK_INITIALIZER;
static struct huge *free_records; /* under huge_lock */
static struct huge *cache;        /* under huge_lock; most recently freed first */
static size_t cache_bytes, cache_count; /* under huge_lock */

/* Bytes of blocks in use and their slack: relaxed atomics, since no lock
 * is taken for a slot hit. The bytes kept for reuse are not counted as
 * they come and go (that was four locked instructions per slot hit): the
 * statistics add up the cache and the slots when asked. */
static size_t st_allocated, st_slack;

#define ADD(var, v) __atomic_add_fetch(&(var), (v), __ATOMIC_RELAXED)
#define SUB(var, v) __atomic_sub_fetch(&(var), (v), __ATOMIC_RELAXED)
#define LOAD(var) __atomic_load_n(&(var), __ATOMIC_RELAXED)

/* Operation counts, only ever added to. */
struct huge_counts {
    uint64_t nmalloc, ndalloc, nreused;
};

/* A thread's slot: a record of its own in a list that never shrinks, so
 * that a purge or an age step in another thread can take what it holds
 * (with a compare-and-swap; the owner takes and puts with an exchange).
 * Its counts are written by its owner only, with plain relaxed stores; a
 * thread without a slot (after its exit, or without memory for one) counts
 * in shared_counts with atomic adds. A slot passed on to a new thread keeps
 * its counts: they are sums. */
struct slot {
    struct huge *held;
    size_t held_mapped; /* held->mapped, for the statistics to read */
    struct slot *next;
    bool owned;
    struct huge_counts counts;
};
static struct slot *slots; /* under huge_lock */
static _Thread_local struct slot *my_slot;
static _Thread_local bool slot_retired;
static struct huge_counts shared_counts;
static uint64_t next_idle_check; /* ms */

#define COUNT(field)                                                                                 \
    do {                                                                                             \
        struct slot *s_ = my_slot;                                                                   \
        if (s_ != NULL)                                                                              \
            __atomic_store_n(&s_->counts.field, s_->counts.field + 1, __ATOMIC_RELAXED);              \
        else                                                                                         \
            ADD(shared_counts.field, 1);                                                             \
    } while (0)

/* Under huge_lock. */
static struct huge *record_get(void) {
    struct huge *h = free_records;
    if (h != NULL) {
        free_records = h->next;
        return h;
    }
    h = base_alloc(sizeof(*h));
    if (h != NULL)
        vg_metadata(h, sizeof(*h));
    return h;
}

/* Under huge_lock. */
static void record_recycle(struct huge *h) {
    h->base = NULL;
    h->next = free_records;
    free_records = h;
}

static void record_put(struct huge *h) {
    lock_acquire(&huge_lock);
    record_recycle(h);
    lock_release(&huge_lock);
}

/* Unmaps a list of unregistered mappings and recycles their records. */
static size_t unmap_list(struct huge *list) {
    size_t bytes = 0;
    while (list != NULL) {
        struct huge *next = list->next;
        bytes += list->mapped;
        os_unmap(list->base, list->mapped);
        record_put(list);
        list = next;
    }
    return bytes;
}

/* Under huge_lock: the oldest mappings past the cache's bounds, taken out. */
static struct huge *cache_trim(void) {
    size_t bound = HUGE_CACHE_FLOOR;
    size_t allocated = LOAD(st_allocated);
    if (opt_lg_dirty_mult >= 0 && (allocated >> opt_lg_dirty_mult) > bound)
        bound = allocated >> opt_lg_dirty_mult;
    struct huge *evicted = NULL;
    while (cache_count > HUGE_CACHE_SLOTS || cache_bytes > bound) {
        struct huge **link = &cache;
        while ((*link)->next != NULL)
            link = &(*link)->next;
        struct huge *h = *link;
        *link = NULL;
        cache_bytes -= h->mapped;
        cache_count--;
        h->next = evicted;
        evicted = h;
    }
    return evicted;
}

/* Under huge_lock: joins h with the cached mappings right before and
 * after it, taking them out of the cache. A mapping cut by trim() and its
 * tail come together again this way, so that a program whose huge sizes go
 * up and down reuses the same pages instead of growing a short mapping
 * into fresh ones (which the kernel must fault in and zero). Every base is
 * chunk-aligned, so the lower one is. */
static void cache_coalesce(struct huge *h) {
    for (struct huge **link = &cache; *link != NULL;) {
        struct huge *c = *link;
        bool before = (char *)c->base + c->mapped == (char *)h->base;
        if (!before && (char *)h->base + h->mapped != (char *)c->base) {
            link = &c->next;
            continue;
        }
        *link = c->next;
        cache_bytes -= c->mapped;
        cache_count--;
        if (before)
            h->base = c->base;
        h->mapped += c->mapped;
        record_recycle(c);
    }
}

/* A freed, unregistered mapping into the shared cache, or unmapped. */
static void cache_put(struct huge *h) {
    if (h->mapped > HUGE_CACHE_FLOOR) {
        h->next = NULL;
        unmap_list(h);
        return;
    }
    lock_acquire(&huge_lock);
    cache_coalesce(h);
    h->next = cache;
    cache = h;
    cache_bytes += h->mapped;
    cache_count++;
    struct huge *evicted = cache_trim();
    lock_release(&huge_lock);
    unmap_list(evicted);
}

/* The cached mapping that fits size best, or else the largest (to be
 * grown), taken out; NULL when the cache is empty. */
static struct huge *cache_take(size_t size) {
    lock_acquire(&huge_lock);
    struct huge **best = NULL, **largest = NULL;
    for (struct huge **link = &cache; *link != NULL; link = &(*link)->next) {
        size_t m = (*link)->mapped;
        if (m >= size && (best == NULL || m < (*best)->mapped))
            best = link;
        if (largest == NULL || m > (*largest)->mapped)
            largest = link;
    }
    struct huge **take = best != NULL ? best : largest;
    struct huge *h = NULL;
    if (take != NULL) {
        h = *take;
        *take = h->next;
        cache_bytes -= h->mapped;
        cache_count--;
    }
    lock_release(&huge_lock);
    return h;
}

/* Grows (or moves) h's mapping to size bytes; registered says whether the
 * registry points at it (a live block) and must follow a move. */
static bool remap(struct huge *h, size_t size, bool registered) {
    if (os_remap_in_place(h->base, h->mapped, size)) {
        h->mapped = size;
        return true;
    }
    /* Move: reserve an aligned range, then let the kernel move the pages
     * into it, so that the block stays chunk-aligned and nothing is
     * copied. */
    void *dest = os_map_aligned(size, CHUNK);
    if (dest == NULL)
        return false;
    if ((registered && !rtree_set((uintptr_t)dest, h)) || !os_remap_to(h->base, h->mapped, size, dest)) {
        if (registered)
            rtree_set((uintptr_t)dest, NULL);
        os_unmap(dest, size);
        return false;
    }
    if (registered)
        rtree_set((uintptr_t)h->base, NULL);
    h->base = dest;
    h->mapped = size;
    return true;
}

/* Cuts h's mapping down to chunk_ceil(size) bytes; a tail of whole chunks
 * becomes a cached mapping of its own, a shorter one is unmapped. */
static void trim(struct huge *h, size_t size) {
    size_t keep = chunk_ceil(size);
    if (keep >= h->mapped)
        return;
    char *tail = (char *)h->base + keep;
    size_t tail_size = h->mapped - keep;
    h->mapped = keep;
    if (tail_size >= CHUNK) {
        lock_acquire(&huge_lock);
        struct huge *t = record_get();
        lock_release(&huge_lock);
        if (t != NULL) {
            t->base = tail;
            t->size = t->mapped = tail_size;
            t->freed_at = h->freed_at;
            cache_put(t);
            return;
        }
    }
    os_unmap(tail, tail_size);
}

/* Hands out mapping h (unregistered, mapped >= size) as a block of size
 * bytes; NULL (h unmapped) when the registry cannot take it. */
static void *hand_out(struct huge *h, size_t size, bool zero, bool reused) {
    if (h->mapped > HUGE_SLACK_MAX * size)
        trim(h, size);
    if (!rtree_set((uintptr_t)h->base, h)) {
        h->next = NULL;
        unmap_list(h);
        return NULL;
    }
    h->size = size;
    ADD(st_allocated, size);
    ADD(st_slack, h->mapped - size);
    COUNT(nmalloc);
    vg_alloc(h->base, size, !reused);
    if (reused) {
        COUNT(nreused);
        if (zero)
            memset(h->base, 0, size);
    }
    return h->base;
}

/* Takes whatever the calling thread's slot holds. */
static struct huge *slot_take(void) {
    struct slot *s = my_slot;
    if (s == NULL || __atomic_load_n(&s->held, __ATOMIC_RELAXED) == NULL)
        return NULL;
    return __atomic_exchange_n(&s->held, NULL, __ATOMIC_ACQ_REL);
}

static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key; /* its destructor unmaps the slot's mapping */
static bool exit_key_made;

static void on_thread_exit(void *slot) {
    (void)slot;
    huge_thread_exit();
}

static void make_exit_key(void) { exit_key_made = pthread_key_create(&exit_key, on_thread_exit) == 0; }

/* The calling thread's slot, made on its first use; NULL after its exit
 * (or without memory for a slot record, or a way to see the exit). */
static struct slot *slot_get(void) {
    if (my_slot != NULL || slot_retired)
        return my_slot;
    pthread_once(&exit_key_once, make_exit_key);
    if (!exit_key_made)
        return NULL;
    lock_acquire(&huge_lock);
    struct slot *s = slots;
    while (s != NULL && s->owned)
        s = s->next;
    if (s == NULL) {
        s = base_alloc(sizeof(*s));
        if (s != NULL) {
            s->next = slots;
            slots = s;
        }
    }
    if (s != NULL)
        s->owned = true;
    lock_release(&huge_lock);
    my_slot = s;
    /* After my_slot is set: pthread_setspecific may allocate. A slot
     * whose thread's exit cannot be seen would hold its mapping for good. */
    if (s != NULL && pthread_setspecific(exit_key, s) != 0) {
        huge_thread_exit();
        return NULL;
    }
    return s;
}

/* The age step, at most every decay_ms / 8, from huge operations. */
static void maybe_release_idle(uint64_t now) {
    if (opt_decay_ms < 0 || __atomic_load_n(&purge_by_background, __ATOMIC_RELAXED))
        return;
    uint64_t next = __atomic_load_n(&next_idle_check, __ATOMIC_RELAXED);
    if (now < next || !__atomic_compare_exchange_n(&next_idle_check, &next, now + ((uint64_t)opt_decay_ms >> 3),
                                                   false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;
    huge_release_idle();
}

void huge_age_step(void) { maybe_release_idle(os_now_ms()); }

void *huge_malloc(size_t size, size_t align, bool zero) {
    size = page_ceil(size);
    if (align <= CHUNK) {
        struct huge *h = slot_take();
        if (h != NULL) {
            if (h->mapped >= size)
                return hand_out(h, size, zero, true);
            cache_put(h);
        }
        h = cache_take(size);
        if (h != NULL) {
            if (h->mapped >= size || remap(h, size, false))
                return hand_out(h, size, zero, true);
            h->next = NULL;
            unmap_list(h);
        }
    }
    /* About to map: the moment to unmap what has idled (frees do it too). */
    maybe_release_idle(os_now_ms());
    lock_acquire(&huge_lock);
    struct huge *h = record_get();
    lock_release(&huge_lock);
    if (h == NULL)
        return NULL;
    void *p = os_map_aligned(size, align > CHUNK ? align : CHUNK);
    if (p == NULL) {
        record_put(h);
        return NULL;
    }
    h->base = p;
    h->mapped = size;
    return hand_out(h, size, zero, false);
}

void huge_free(struct huge *h) {
    vg_free(h->base);
    rtree_set((uintptr_t)h->base, NULL);
    SUB(st_allocated, h->size);
    SUB(st_slack, h->mapped - h->size);
    COUNT(ndalloc);
    uint64_t now = os_now_ms();
    h->freed_at = now;
    struct slot *s = h->mapped <= HUGE_SLOT_MAX ? slot_get() : NULL;
    if (s != NULL) {
        __atomic_store_n(&s->held_mapped, h->mapped, __ATOMIC_RELAXED);
        h = __atomic_exchange_n(&s->held, h, __ATOMIC_ACQ_REL);
        if (h == NULL)
            goto done;
    }
    cache_put(h);
done:
    maybe_release_idle(now);
}

/* Resizes within the mapping, cutting a slack past the bound. */
static bool resize_within(struct huge *h, size_t size) {
    if (size > h->mapped)
        return false;
    size_t old = h->size, old_mapped = h->mapped;
    vg_resize(h->base, old, size);
    if (h->mapped > HUGE_SLACK_MAX * size) {
        os_unmap((char *)h->base + size, h->mapped - size);
        h->mapped = size;
    }
    h->size = size;
    ADD(st_allocated, size - old); /* wraps when it shrinks: the sum is right */
    ADD(st_slack, (h->mapped - size) - (old_mapped - old));
    return true;
}

bool huge_resize_in_place(struct huge *h, size_t size) {
    size = page_ceil(size);
    if (size > h->mapped) {
        size_t old_mapped = h->mapped;
        if (!os_remap_in_place(h->base, h->mapped, size))
            return false;
        h->mapped = size;
        ADD(st_slack, size - old_mapped);
    }
    return resize_within(h, size);
}

void *huge_resize(struct huge *h, size_t size) {
    size = page_ceil(size);
    if (size > h->mapped) {
        size_t old_mapped = h->mapped;
        void *old_base = h->base;
        if (!remap(h, size, true))
            return NULL;
        ADD(st_slack, h->mapped - old_mapped);
        if (h->base != old_base) {
            /* The pages moved, contents and all: the block is new to
             * memcheck, defined up to its old size (not tracked further). */
            vg_free(old_base);
            vg_alloc(h->base, h->size, true);
        }
    }
    resize_within(h, size);
    return h->base;
}

size_t huge_purge(void) {
    struct huge *list = NULL;
    lock_acquire(&huge_lock);
    for (struct slot *s = slots; s != NULL; s = s->next) {
        struct huge *h = __atomic_exchange_n(&s->held, NULL, __ATOMIC_ACQ_REL);
        if (h != NULL) {
            h->next = list;
            list = h;
        }
    }
    while (cache != NULL) {
        struct huge *h = cache;
        cache = h->next;
        h->next = list;
        list = h;
    }
    cache_bytes = 0;
    cache_count = 0;
    lock_release(&huge_lock);
    return unmap_list(list);
}

size_t huge_release_idle(void) {
    if (opt_decay_ms < 0)
        return 0;
    uint64_t now = os_now_ms();
    if (now < (uint64_t)opt_decay_ms)
        return 0;
    uint64_t cutoff = now - (uint64_t)opt_decay_ms;
    struct huge *list = NULL;
    lock_acquire(&huge_lock);
    for (struct slot *s = slots; s != NULL; s = s->next) {
        struct huge *h = __atomic_load_n(&s->held, __ATOMIC_ACQUIRE);
        /* Records are never unmapped, so reading a stale one is safe; the
         * swap succeeds only if the owner has not taken it meanwhile. */
        if (h == NULL || h->freed_at > cutoff ||
            !__atomic_compare_exchange_n(&s->held, &h, NULL, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        h->next = list;
        list = h;
    }
    for (struct huge **link = &cache; *link != NULL;) {
        struct huge *h = *link;
        if (h->freed_at > cutoff) {
            link = &h->next;
            continue;
        }
        *link = h->next;
        cache_bytes -= h->mapped;
        cache_count--;
        h->next = list;
        list = h;
    }
    lock_release(&huge_lock);
    return unmap_list(list);
}

void huge_thread_exit(void) {
    struct slot *s = my_slot;
    slot_retired = true;
    if (s == NULL)
        return;
    struct huge *h = slot_take();
    if (h != NULL) {
        h->next = NULL;
        unmap_list(h);
    }
    my_slot = NULL;
    lock_acquire(&huge_lock);
    s->owned = false;
    lock_release(&huge_lock);
}

struct huge_stats huge_get_stats(void) {
    struct huge_stats s;
    s.allocated = LOAD(st_allocated);
    s.slack = LOAD(st_slack);
    /* Frees are read before allocations, so that the count of blocks in
     * use a concurrent pair may leave behind is never negative. */
    s.ndalloc = LOAD(shared_counts.ndalloc);
    s.nmalloc = s.nreused = 0;
    s.cached = s.ncached = 0;
    lock_acquire(&huge_lock);
    for (const struct slot *t = slots; t != NULL; t = t->next)
        s.ndalloc += LOAD(t->counts.ndalloc);
    for (const struct slot *t = slots; t != NULL; t = t->next) {
        s.nmalloc += LOAD(t->counts.nmalloc);
        s.nreused += LOAD(t->counts.nreused);
        /* Without dereferencing held, which its owner may be changing. */
        if (LOAD(t->held) != NULL) {
            s.cached += LOAD(t->held_mapped);
            s.ncached++;
        }
    }
    s.cached += cache_bytes;
    s.ncached += cache_count;
    lock_release(&huge_lock);
    s.nmalloc += LOAD(shared_counts.nmalloc);
    s.nreused += LOAD(shared_counts.nreused);
    s.count = (size_t)(s.nmalloc - s.ndalloc);
    return s;
}
