#include "init.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "base.h"
#include "chunk.h"
#include "conf.h"
#include "heapmap.h"
#include "huge.h"
#include "lock.h"
#include "os.h"
#include "reclaim.h"
#include "rtree.h"
#include "tcache.h"
#include "trace.h"

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
    /* Atomic although under init_lock: statistics read it without. */
    __atomic_sub_fetch(&a->nthreads, 1, __ATOMIC_RELAXED);
    lock_release(&init_lock);
    /* thread_arena stays set: destructors that run after this one may
     * still allocate, and must not bind (and count) the thread again. */
}

/*
 * Fork. The prepare handler takes every quarry lock in the order of
 * lock.h so that the child starts with a consistent heap, and two rules
 * keep that from ever deadlocking:
 *
 * 1. glibc's fork (2.36) runs the prepare handlers first and only then
 *    takes its stdio list lock (after a leaf NSS lock), then forks. A
 *    thread that holds the list lock (fflush(NULL), fopen, fclose) may
 *    wait for a FILE lock whose holder allocates (getdelim reallocs under
 *    it): had the prepare handler already taken quarry's locks, the three
 *    would wait for each other. So the handler takes the list lock
 *    itself, before quarry's, whenever glibc will (the process has
 *    threads); it is recursive, so glibc's own take just counts. The
 *    order is then list lock < FILE locks < quarry locks everywhere, and
 *    quarry's are leaves (lock.h).
 *
 * 2. A signal handler may fork on a thread that is already inside quarry.
 *    Inside the fork window itself it cannot, since the prepare handler
 *    blocks every signal until the parent or child handler is done: a
 *    signal that arrives then is delivered after the locks are dropped,
 *    and its fork is an ordinary one. Inside an allocation it can
 *    (lock_busy says so): the prepare handler then takes nothing, because
 *    the thread it would wait for is itself; the parent goes on, and the
 *    child, which POSIX lets use only async-signal-safe functions after a
 *    fork from a signal handler, inherits the heap as it was. The same
 *    holds for a nested fork (a prepare handler running while this thread
 *    already holds the locks): only the outermost level locks.
 */

/* Exported by glibc but not declared by its headers; weak so that another
 * C library links and the stdio step is skipped. */
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));
extern char __libc_single_threaded __attribute__((weak));

_Thread_local unsigned lock_busy;

static _Thread_local unsigned fork_depth;     /* prepare handlers not yet matched */
static _Thread_local unsigned fork_locked_at; /* the depth that took the locks; 0: none */
static _Thread_local bool fork_took_stdio;
static _Thread_local sigset_t fork_saved_mask;

/* glibc's fork takes the list lock exactly when the process has (had)
 * threads; a single-threaded process has nobody to deadlock with. */
static bool fork_needs_stdio(void) {
    return _IO_list_lock != NULL && _IO_list_unlock != NULL && _IO_list_resetlock != NULL &&
           !(&__libc_single_threaded != NULL && __libc_single_threaded);
}

static void prefork(void) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (fork_depth++ == 0)
        fork_saved_mask = old;
    if (lock_busy != 0)
        return;
    fork_locked_at = fork_depth;
    fork_took_stdio = fork_needs_stdio();
    if (fork_took_stdio)
        _IO_list_lock();
    lock_acquire(&init_lock);
    for (unsigned i = 0; i < narenas; i++)
        if (arenas[i] != NULL)
            arena_prefork(arenas[i]);
    lock_acquire(&chunk_pool_lock);
    lock_acquire(&huge_lock);
    lock_acquire(&rtree_lock);
    lock_acquire(&base_lock);
    tcache_prefork();
}

static void fork_leave(void) {
    if (--fork_depth == 0)
        pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}

static void postfork_parent(void) {
    if (fork_locked_at == fork_depth) {
        tcache_postfork_parent();
        lock_release(&base_lock);
        lock_release(&rtree_lock);
        lock_release(&huge_lock);
        lock_release(&chunk_pool_lock);
        for (unsigned i = narenas; i-- > 0;)
            if (arenas[i] != NULL)
                arena_postfork_parent(arenas[i]);
        lock_release(&init_lock);
        if (fork_took_stdio)
            _IO_list_unlock();
        fork_locked_at = 0;
    }
    fork_leave();
}

/* The child has one thread, the one that forked, and it holds every lock:
 * make them new. The stdio list lock is reset, not released: glibc has
 * already reset it in a child of a threaded process, and a reset is right
 * either way with one thread. */
static void postfork_child(void) {
    if (fork_locked_at == fork_depth) {
        tcache_postfork_child();
        lock_init(&base_lock);
        lock_init(&rtree_lock);
        lock_init(&huge_lock);
        lock_init(&chunk_pool_lock);
        for (unsigned i = 0; i < narenas; i++)
            if (arenas[i] != NULL)
                arena_postfork_child(arenas[i]);
        lock_init(&init_lock);
        /* The locks were taken with lock_busy at 0 and are re-made, not
         * released. */
        lock_busy = 0;
        /* The background purge thread, if any, did not come along. */
        reclaim_postfork_child();
        /* Their locks are outside the order (heapmap.c, trace.c say why). */
        heapmap_postfork_child();
        trace_postfork_child();
        if (fork_took_stdio)
            _IO_list_resetlock();
        fork_locked_at = 0;
    }
    fork_leave();
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
        __atomic_add_fetch(&a->nthreads, 1, __ATOMIC_RELAXED);
    lock_release(&init_lock);
    if (a == NULL)
        return NULL;
    /* Set before pthread_setspecific, which may itself allocate. */
    thread_arena = a;
    pthread_setspecific(thread_key, a);
    return a;
}
