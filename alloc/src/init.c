#include "init.h"

#include <pthread.h>
#include <stdbool.h>

#include "base.h"
#include "conf.h"
#include "lock.h"
#include "os.h"
#include "rtree.h"
#include "vg.h"

#if QUARRY_CONFIG_VALGRIND
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

unsigned narenas;
struct arena **arenas;
_Thread_local struct arena *thread_arena;

/* Guards start-up and the arena table (creation and thread counts). */
static lock_t init_lock = LOCK_INITIALIZER;
static bool initialized;
static pthread_key_t thread_key;

static void thread_exit(void *arg) {
    struct arena *a = arg;
    lock_acquire(&init_lock);
    /* Atomic although under init_lock: statistics read it without. */
    __atomic_sub_fetch(&a->nthreads, 1, __ATOMIC_RELAXED);
    lock_release(&init_lock);
    /* thread_arena stays set: destructors that run after this one may
     * still allocate, and must not bind (and count) the thread again. */
}

void init_prefork(void) {
    lock_acquire(&init_lock);
    for (unsigned i = 0; i < narenas; i++)
        if (arenas[i] != NULL)
            arena_prefork(arenas[i]);
}

void init_postfork_parent(void) {
    for (unsigned i = narenas; i-- > 0;)
        if (arenas[i] != NULL)
            arena_postfork_parent(arenas[i]);
    lock_release(&init_lock);
}

void init_postfork_child(void) {
    for (unsigned i = 0; i < narenas; i++)
        if (arenas[i] != NULL)
            arena_postfork_child(arenas[i]);
    lock_init(&init_lock);
}

/* Under init_lock. */
static bool init_locked(void) {
    /* Under valgrind every free should reach the arena at once, so that
     * memcheck sees it; QUARRY_CONF=tcache:true still turns the cache on
     * (callgrind measures the fast path that way). */
    if (RUNNING_ON_VALGRIND)
        opt_tcache = false;
    conf_init();
    vg_boot();
    rtree_boot();
    unsigned n = opt_narenas != 0 ? opt_narenas : 4 * os_ncpus();
    struct arena **table = base_alloc(n * sizeof(*table));
    if (table == NULL)
        return false;
    if (pthread_key_create(&thread_key, thread_exit) != 0)
        return false;
    arenas = table;
    narenas = n;
    return true;
}

/* Pages an arena holds, in use or dirty: what a thread bound to it can
 * reuse without faulting new pages in. */
static size_t arena_warmth(struct arena *a) {
    lock_acquire(&a->lock);
    size_t pages = a->nactive + a->ndirty;
    lock_release(&a->lock);
    return pages;
}

/* Under init_lock: the arena with the fewest threads, creating one while
 * some slot is still empty and every existing arena has a thread. Among
 * arenas with as few threads, the one that holds the most pages: a pool of
 * threads made again after the last one exited rebinds to the arenas whose
 * pages the old threads left dirty, instead of faulting in new ones while
 * those wait for their age steps (only threads that allocate bind: see
 * tcache_start()). */
static struct arena *pick_arena(void) {
    struct arena *best = NULL;
    size_t best_warmth = 0;
    unsigned i;
    for (i = 0; i < narenas && arenas[i] != NULL; i++) {
        struct arena *a = arenas[i];
        if (best != NULL && a->nthreads > best->nthreads)
            continue;
        size_t warmth = arena_warmth(a);
        if (best == NULL || a->nthreads < best->nthreads || warmth > best_warmth) {
            best = a;
            best_warmth = warmth;
        }
    }
    if ((best == NULL || best->nthreads > 0) && i < narenas) {
        struct arena *fresh = arena_new(i);
        if (fresh != NULL) {
            __atomic_store_n(&arenas[i], fresh, __ATOMIC_RELEASE);
            best = fresh;
        }
    }
    return best;
}

struct arena *arena_choose_slow(void) {
    lock_acquire(&init_lock);
    if (!initialized) {
        if (!init_locked()) {
            lock_release(&init_lock);
            return NULL;
        }
        initialized = true;
    }
    struct arena *a = pick_arena();
    if (a != NULL)
        __atomic_add_fetch(&a->nthreads, 1, __ATOMIC_RELAXED);
    lock_release(&init_lock);
    if (a == NULL)
        return NULL;
    /* Set before pthread_setspecific, which may itself allocate. */
    thread_arena = a;
    pthread_setspecific(thread_key, a);
    return a;
}
