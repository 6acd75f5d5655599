#include "init.h"

#include <pthread.h>

#include "base.h"
#include "chunk.h"
#include "conf.h"
#include "huge.h"
#include "lock.h"
#include "os.h"
#include "rtree.h"
#include "tcache.h"

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
    tcache_thread_exit();
    lock_acquire(&init_lock);
    a->nthreads--;
    lock_release(&init_lock);
    /* thread_arena stays set: destructors that run after this one may
     * still allocate, and must not bind (and count) the thread again. */
}

static void prefork(void) {
    lock_acquire(&init_lock);
    for (unsigned i = 0; i < narenas; i++)
        if (arenas[i] != NULL)
            arena_prefork(arenas[i]);
    lock_acquire(&chunk_pool_lock);
    lock_acquire(&huge_lock);
    lock_acquire(&rtree_lock);
    lock_acquire(&base_lock);
}

static void postfork_parent(void) {
    lock_release(&base_lock);
    lock_release(&rtree_lock);
    lock_release(&huge_lock);
    lock_release(&chunk_pool_lock);
    for (unsigned i = narenas; i-- > 0;)
        if (arenas[i] != NULL)
            arena_postfork_parent(arenas[i]);
    lock_release(&init_lock);
}

/* The child has one thread, the one that forked, and it holds every lock:
 * make them new. */
static void postfork_child(void) {
    lock_init(&base_lock);
    lock_init(&rtree_lock);
    lock_init(&huge_lock);
    lock_init(&chunk_pool_lock);
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
    tcache_boot();
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

/* Under init_lock: the arena with the fewest threads, creating one while
 * some slot is still empty and every existing arena has a thread. */
static struct arena *pick_arena(void) {
    struct arena *best = NULL;
    unsigned i;
    for (i = 0; i < narenas && arenas[i] != NULL; i++)
        if (best == NULL || arenas[i]->nthreads < best->nthreads)
            best = arenas[i];
    if ((best == NULL || best->nthreads > 0) && i < narenas) {
        struct arena *fresh = arena_new(i);
        if (fresh != NULL) {
            __atomic_store_n(&arenas[i], fresh, __ATOMIC_RELEASE);
            best = fresh;
        }
    }
    return best;
}

/* The fork handlers are registered when the library is loaded, before any
 * thread can race a fork against start-up. glibc's pthread_atfork may call
 * malloc; nothing is locked here, and start-up works from any call. */
__attribute__((constructor)) static void register_fork_handlers(void) {
    pthread_atfork(prefork, postfork_parent, postfork_child);
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
        a->nthreads++;
    lock_release(&init_lock);
    if (a == NULL)
        return NULL;
    /* Set before pthread_setspecific, which may itself allocate. */
    thread_arena = a;
    pthread_setspecific(thread_key, a);
    return a;
}
