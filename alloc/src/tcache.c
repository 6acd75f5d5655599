#include "tcache.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "base.h"
#include "bin.h"
#include "chunk.h"
#include "conf.h"
#include "large.h"
#include "reclaim.h"
#include "rtree.h"
#include "vg.h"
#include "init.h"
#include "junk.h"
#include "lock.h"
#include "report.h"

_Thread_local struct tcache *thread_tcache = &tcache_initial;
struct tcache tcache_initial;
struct tcache tcache_bypass;
/* Odd and never 0 even before the boot sets a random one: a block made
 * before any cache existed (a direct allocation) may hold a 0 in its first
 * word, and must not be taken for a cached one. */
struct tcache_key tcache_free_key = {0x9e3779b97f4a7c15ull, ~(uintptr_t)0};
size_t tcache_max_size;
/* Caches of exited threads, for the next new thread. All have one size:
 * opt_tcache_max is fixed at start-up. */
static struct base_pool cache_pool;

/* The thread's uncached traffic, in bytes (tcache_count_direct), and the
 * published copies of its totals (tcache_thread_allocatedp). */
_Thread_local uint64_t tcache_direct_allocated, tcache_direct_deallocated;
static _Thread_local uint64_t published_allocated, published_deallocated;
static _Thread_local bool publishing;

/* Stack capacity of a small class: two runs' worth of regions (a fill then
 * takes one run), at most 32 KiB of blocks (but at least 16 blocks) and at
 * most 200, so that the small classes' stacks hold 2,107 pointers (16 KiB)
 * a thread. The byte bound keeps what an idle thread's cache pins small:
 * the blocks left in it keep their runs, up to 16 pages each. Large
 * classes hold TCACHE_LARGE_CAP blocks. */
static unsigned bin_cap(unsigned bin) {
    if (bin >= NSMALL)
        return TCACHE_LARGE_CAP;
    unsigned cap = 2u * size_classes[bin].nregs;
    unsigned by_bytes = (32u << 10) / size_classes[bin].size;
    if (by_bytes < 16)
        by_bytes = 16;
    if (cap > by_bytes)
        cap = by_bytes;
    return cap < 200 ? cap : 200;
}

static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
/* Its destructor gives a thread's cache back when the thread exits. */
static pthread_key_t exit_key;
static bool exit_key_made;

static void on_thread_exit(void *tc) {
    (void)tc;
    tcache_thread_exit();
}

/* Once, at the first thread's start or the first allocation of pages
 * (start-up has read the options by then). Before it tcache_max_size is 0,
 * so larger blocks are simply not cached, and the key is the constant
 * above: the blocks made before it (direct allocations) were never cached. */
static void tcache_boot(void) {
    exit_key_made = pthread_key_create(&exit_key, on_thread_exit) == 0;
    /* Random bytes of its own (not AT_RANDOM, which glibc's stack canary is
     * made from: the key is visible in freed and fresh blocks). Without
     * getrandom, an address-derived value still differs between runs
     * (ASLR) and is never a block pointer. */
    uintptr_t key;
    if (getrandom(&key, sizeof(key), GRND_NONBLOCK) != (ssize_t)sizeof(key))
        key = ((uintptr_t)&key * 0x9e3779b97f4a7c15ull) ^ 0x5851f42d4c957f2dull;
    key |= 1; /* odd: never a block pointer */
    __atomic_store_n(&tcache_free_key.key, key, __ATOMIC_RELAXED);
    /* Under memcheck no block is ever keyed (the caches are off), and
     * every arena chunk stays CHUNK_ARENA_UNKEYED. */
    if (!vg_active) {
        __atomic_store_n(&tcache_free_key.unkeyed, 0, __ATOMIC_RELAXED);
        rtree_keys_in_force();
    }
    /* The key before the limit: a thread that sees cached large classes
     * (tcache_max) may test a large block for the key. */
    __atomic_store_n(&tcache_max_size, opt_tcache_max < SMALL_MAX ? SMALL_MAX : opt_tcache_max, __ATOMIC_RELEASE);
}

static struct tcache *tcache_create(struct arena *a) {
    unsigned nbins = NSMALL + (unsigned)(opt_tcache_max >> LG_PAGE);
    size_t slots = 0;
    for (unsigned i = 0; i < nbins; i++)
        slots += bin_cap(i);
    size_t stacks_size = opt_safe ? nbins * sizeof(struct tcache_bin) : 0;
    size_t size = sizeof(struct tcache) + stacks_size + slots * sizeof(void *);
    /* Metadata memory, never a run among user blocks: an overflow off a
     * user block cannot reach another thread's stacks. */
    struct tcache *tc = base_pool_get(&cache_pool, size);
    if (tc == NULL)
        return NULL;
    memset(tc, 0, sizeof(*tc)); /* with opt_safe, bins[] stays so: no room */
    tc->stacks = opt_safe ? (struct tcache_bin *)(tc + 1) : tc->bins;
    void **next = (void **)((char *)(tc + 1) + stacks_size);
    for (unsigned i = 0; i < nbins; i++) {
        struct tcache_bin *b = &tc->stacks[i];
        b->base = b->top = b->low_water = next;
        next += bin_cap(i);
        b->end = next;
        tc->stats[i].lg_fill_div = 1;
    }
    tc->nbins = nbins;
    tc->arena = a;
    tc->free_key = __atomic_load_n(&tcache_free_key.key, __ATOMIC_RELAXED);
    tc->gc_countdown = TCACHE_GC_INTERVAL;
    return tc;
}

/* ---- the registry of live caches ----------------------------------------
 * So that the doctor sees the blocks every thread holds, not only the
 * calling thread's. A cache joins when it is built and leaves at thread
 * exit, before its memory goes back to cache_pool; the fast paths never
 * look at the list, so it costs one lock per thread's life. The lock is
 * a leaf: nothing else is taken while it is held. */
static lock_t registry_lock = LOCK_INITIALIZER;
static struct tcache *registry_head;

/* Under registry_lock. */
static void registry_push(struct tcache *tc) {
    tc->live_next = registry_head;
    tc->live_prev = &registry_head;
    if (registry_head != NULL)
        registry_head->live_prev = &tc->live_next;
    registry_head = tc;
}

static void registry_link(struct tcache *tc) {
    lock_acquire(&registry_lock);
    registry_push(tc);
    lock_release(&registry_lock);
}

static void registry_unlink(struct tcache *tc) {
    lock_acquire(&registry_lock);
    *tc->live_prev = tc->live_next;
    if (tc->live_next != NULL)
        tc->live_next->live_prev = tc->live_prev;
    tc->live_next = NULL;
    tc->live_prev = NULL;
    lock_release(&registry_lock);
}

static size_t bin_size(size_t bin);

void tcache_census(struct tcache_census *out) {
    memset(out, 0, sizeof(*out));
    lock_acquire(&registry_lock);
    for (const struct tcache *tc = registry_head; tc != NULL; tc = tc->live_next) {
        out->nthreads++;
        for (unsigned bin = 0; bin < tc->nbins; bin++) {
            const struct tcache_bin *b = &tc->stacks[bin];
            /* A racy read, on purpose: the owning thread moves top with
             * plain stores on its fast path, and taking anything there to
             * make this exact would cost every malloc. A relaxed load
             * sees some recent value, enough for an estimate. base and
             * end were set before the cache was linked (the lock orders
             * that) and never move. */
            void **top = __atomic_load_n(&b->top, __ATOMIC_RELAXED);
            size_t n = top >= b->base && top <= b->end ? (size_t)(top - b->base) : 0;
            out->blocks += n;
            out->bytes += n * bin_size(bin);
        }
    }
    lock_release(&registry_lock);
}

void tcache_prefork(void) { lock_acquire(&registry_lock); }

void tcache_postfork_parent(void) { lock_release(&registry_lock); }

/* The other threads did not come along: their caches leave the list so
 * that a census in the child counts only threads that exist. (Their
 * blocks stay cached where no thread will use them, as they would
 * without the registry.) */
void tcache_postfork_child(void) {
    lock_init(&registry_lock);
    registry_head = NULL;
    struct tcache *tc = thread_tcache;
    if (tcache_is_real(tc) && tc->live_prev != NULL)
        registry_push(tc);
}

void tcache_boot_once(void) { pthread_once(&boot_once, tcache_boot); }

/* The calling thread's first call that reaches a cache: build it. A
 * thread whose first call is an allocation binds to an arena here; one
 * whose first call is a free (quarry is started: the block came from it)
 * binds at its first fill, so that a thread that only frees what others
 * allocated (a consumer) never takes an arena, nor counts against one,
 * and the threads that allocate spread over the arenas by themselves. */
static bool tcache_start(bool allocating) {
    struct arena *a = NULL;
    if (allocating) {
        a = arena_choose();
        if (a == NULL)
            return false;
    }
    tcache_boot_once();
    if (!opt_tcache || opt_junk || opt_zero || !exit_key_made) {
        thread_tcache = &tcache_bypass;
        return true;
    }
    struct tcache *tc = tcache_create(a);
    if (tc == NULL) {
        reclaim_for_retry();
        tc = tcache_create(a);
    }
    if (tc == NULL)
        return false;
    registry_link(tc);
    thread_tcache = tc;
    /* After the cache is in place: pthread_setspecific may allocate. A
     * cache whose exit cannot be seen would keep its blocks for good. */
    if (pthread_setspecific(exit_key, tc) != 0)
        tcache_thread_exit();
    reclaim_background_poll();
    return true;
}

static size_t bin_size(size_t bin) { return bin < NSMALL ? class_size(bin) : (bin - NSMALL + 1) << LG_PAGE; }

static void *alloc_from_arena(struct arena *a, size_t bin) {
    return bin < NSMALL ? bin_malloc(a, bin) : large_malloc(a, bin_size(bin), PAGE, false);
}

static void *alloc_uncached(size_t bin) {
    struct arena *a = arena_choose();
    void *p = NULL;
    if (a != NULL) {
        p = alloc_from_arena(a, bin);
        if (p == NULL) {
            tcache_flush(thread_tcache);
            if (reclaim_for_retry())
                p = alloc_from_arena(a, bin);
        }
    }
    if (p == NULL)
        return fail_enomem();
    if (!vg_active) /* (no block is keyed then, and the word stays undefined) */
        *(uintptr_t *)p = 0; /* a block once cached may still carry the free key */
    tcache_direct_allocated += bin_size(bin);
    junk_on_alloc(p, bin_size(bin));
    return p;
}

/* The oldest n blocks of bin go back to their arenas. */
static void publish(struct tcache *tc);

static void flush_oldest(struct tcache *tc, unsigned bin, unsigned n) {
    struct tcache_bin *b = &tc->stacks[bin];
    if (n == 0)
        return;
    tc->stats[bin].nflushed += n;
    /* Before the blocks are free in their runs: after, another thread's
     * fill may take one and set its bit. */
    if (tcache_is_safe(tc))
        for (unsigned i = 0; i < n; i++)
            chunk_cached_clear(b->base[i]);
    if (bin < NSMALL) {
        bin_free_batch(bin, b->base, n);
    } else {
        large_free_batch(b->base, n, "free");
    }
    unsigned left = tcache_bin_count(b) - n;
    memmove(b->base, b->base + n, left * sizeof(void *));
    b->top = b->base + left;
    if (b->low_water > b->top)
        b->low_water = b->top;
    if (unlikely(publishing))
        publish(tc);
}

/* opt_safe's cache hit, here rather than in tcache_alloc(): as the fast
 * path, plus the block's cached bit cleared. */
static void *safe_pop(struct tcache *tc, struct tcache_bin *b) {
    void *p = tcache_bin_pop(tc, b);
    chunk_cached_clear(p);
    return p;
}

void *tcache_alloc_slow(size_t bin) {
    struct tcache *tc = thread_tcache;
    if (tc == &tcache_initial) {
        if (!tcache_start(true))
            return fail_enomem();
        tc = thread_tcache;
    }
    if (tc == &tcache_bypass || bin >= tc->nbins)
        return alloc_uncached(bin);
    struct tcache_bin *b = &tc->stacks[bin];
    if (tcache_is_safe(tc) && b->top != b->base)
        return safe_pop(tc, b);
    tc->stats[bin].missed = true;
    if (bin >= NSMALL)
        return alloc_uncached(bin);
    /* Each miss doubles the next fill (down to half the stack): a thread
     * that only allocates, for a while, reaches full-sized fills within a
     * few misses instead of waiting for GC steps, which only frees drive. */
    if (tc->stats[bin].lg_fill_div > 1)
        tc->stats[bin].lg_fill_div--;
    if (unlikely(tc->arena == NULL)) { /* the cache came with a free */
        tc->arena = arena_choose();
        if (tc->arena == NULL)
            return fail_enomem();
    }
    /* Fill, then hand out the lowest address: bin_fill() stacks the
     * regions so that the lowest ends on top. */
    unsigned want = tcache_bin_cap(b) >> tc->stats[bin].lg_fill_div;
    if (want == 0)
        want = 1;
    unsigned got = bin_fill(tc->arena, bin, b->base, want);
    if (unlikely(got != 0 && got < want)) /* short of memory: to the base */
        memmove(b->base, b->base + (want - got), got * sizeof(void *));
    if (got == 0) {
        tcache_flush(tc);
        if (reclaim_for_retry())
            got = bin_fill(tc->arena, bin, b->base, 1);
        if (got == 0)
            return fail_enomem();
    }
    tc->stats[bin].nfilled += got;
    if (unlikely(publishing))
        publish(tc);
    /* Locals, loops of their own: stores through the blocks and the
     * safe mode's atomics would otherwise make the compiler reload the
     * stack's base and the key for every block. */
    void **slots = b->base;
    uintptr_t key = tc->free_key;
    /* The filled blocks wait in the cache: they carry the key like freed
     * ones, so that a stray free of one (by a thread that freed it twice,
     * another thread's copy having come back through its arena) is seen. */
    for (unsigned i = 0; i + 1 < got; i++)
        *(uintptr_t *)slots[i] = key;
    /* A block free in its run was in no cache: a set bit means a double
     * free raced the flush that gave the block back. */
    if (tcache_is_safe(tc))
        for (unsigned i = 0; i + 1 < got; i++)
            if (chunk_cached_set(slots[i]))
                report_invalid_pointer("free", slots[i]);
    b->top = b->base + got - 1;
    b->low_water = b->top;
    void *p = *b->top;
    *(uintptr_t *)p = 0; /* as tcache_alloc: the free key comes off */
    return p;
}

void *tcache_alloc_unkeyed(const void *ptr) {
    report_corruption("malloc", "freed block written after free (or freed twice with a write between)", ptr);
}

void tcache_key_uncached(void *ptr) {
    if (!vg_active) /* (memcheck: no block is keyed, and the block is about to be no-access) */
        *(uintptr_t *)ptr = __atomic_load_n(&tcache_free_key.key, __ATOMIC_RELAXED);
}

void tcache_free_slow(size_t bin, void *ptr) {
    struct tcache *tc = thread_tcache;
    if (tc == &tcache_initial) {
        tcache_start(false);
        tc = thread_tcache;
        if (tc == &tcache_initial)
            tc = &tcache_bypass; /* no memory for a cache: free directly */
    }
    /* A keyed block sits in some thread's cache: freed already. */
    if (tcache_is_keyed(ptr))
        report_invalid_pointer("free", ptr);
    if (tc == &tcache_bypass || bin >= tc->nbins) {
        tcache_direct_deallocated += bin_size(bin);
        junk_on_free(ptr, bin_size(bin));
        if (bin < NSMALL) {
            tcache_key_uncached(ptr);
            vg_free(ptr);
            bin_free_batch(bin, &ptr, 1);
        } else {
            large_free(ptr, "free");
        }
        return;
    }
    /* The check that no write after free can defeat: the bit is outside
     * the block, and set whichever thread's cache holds the first copy. */
    if (tcache_is_safe(tc) && chunk_cached_set(ptr))
        report_invalid_pointer("free", ptr);
    struct tcache_bin *b = &tc->stacks[bin];
    if (b->top == b->end)
        flush_oldest(tc, bin, tcache_bin_cap(b) - tcache_bin_cap(b) / 2);
    *(uintptr_t *)ptr = tc->free_key;
    *b->top++ = ptr;
    tc->stats[bin].nfreed++;
    if (--tc->gc_countdown == 0)
        tcache_gc_step(tc);
}

/* One bin per step. Blocks that stayed below the low-water mark for a whole
 * sweep were not needed: three quarters of them go back, and the bin fills
 * less next time. A bin that missed fills more. */
void tcache_gc_step(struct tcache *tc) {
    tc->gc_countdown = TCACHE_GC_INTERVAL;
    unsigned bin = tc->gc_next;
    tc->gc_next = bin + 1 == tc->nbins ? 0 : bin + 1;
    if (tc->gc_next == 0) {
        /* Once per sweep: restarts the background thread after fork, and
         * takes an age step (one arena in turn, and the huge mappings). */
        reclaim_background_poll();
        reclaim_age_step();
    }
    struct tcache_bin *b = &tc->stacks[bin];
    unsigned unused = (unsigned)(b->low_water - b->base);
    if (!tc->stats[bin].missed && unused > 0) {
        flush_oldest(tc, bin, unused - unused / 4);
        if ((tcache_bin_cap(b) >> (tc->stats[bin].lg_fill_div + 1)) >= 1)
            tc->stats[bin].lg_fill_div++;
    }
    tc->stats[bin].missed = false;
    b->low_water = b->top;
}

void tcache_flush(struct tcache *tc) {
    if (!tcache_is_real(tc))
        return;
    for (unsigned bin = 0; bin < tc->nbins; bin++)
        flush_oldest(tc, bin, tcache_bin_count(&tc->stacks[bin]));
}


void tcache_thread_exit(void) {
    struct tcache *tc = thread_tcache;
    if (!tcache_is_real(tc)) {
        thread_tcache = &tcache_bypass;
        return;
    }
    tcache_flush(tc);
    /* The cache's counters go with it: fold its totals into the direct
     * ones, which destructors running later keep adding to. */
    tcache_thread_bytes(&tcache_direct_allocated, &tcache_direct_deallocated);
    registry_unlink(tc);
    thread_tcache = &tcache_bypass;
    base_pool_put(&cache_pool, tc);
}

void tcache_thread_bytes(uint64_t *allocated, uint64_t *deallocated) {
    uint64_t in = tcache_direct_allocated, out = tcache_direct_deallocated;
    struct tcache *tc = thread_tcache;
    if (tcache_is_real(tc)) {
        for (unsigned bin = 0; bin < tc->nbins; bin++) {
            const struct tcache_bin_stats *st = &tc->stats[bin];
            uint64_t popped = st->nfilled + st->nfreed - st->nflushed -
                              tcache_bin_count(&tc->stacks[bin]);
            in += popped * bin_size(bin);
            out += st->nfreed * bin_size(bin);
        }
    }
    published_allocated = in;
    published_deallocated = out;
    *allocated = in;
    *deallocated = out;
}

static void publish(struct tcache *tc) {
    (void)tc;
    uint64_t in, out;
    tcache_thread_bytes(&in, &out);
}

uint64_t *tcache_thread_allocatedp(void) {
    publishing = true;
    publish(thread_tcache);
    return &published_allocated;
}

uint64_t *tcache_thread_deallocatedp(void) {
    publishing = true;
    publish(thread_tcache);
    return &published_deallocated;
}
