/*
 * The fork handlers: the one place that takes every lock of quarry, from
 * the start-up lock and the arenas down to the metadata, the thread-cache
 * registry, and the background thread and the locks outside the order
 * that a child must re-make. It sits above every layer it locks; no layer
 * calls it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "base.h"
#include "chunk.h"
#include "heapmap.h"
#include "huge.h"
#include "init.h"
#include "lock.h"
#include "reclaim.h"
#include "rtree.h"
#include "tcache.h"
#include "trace.h"

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
    init_prefork();
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
        init_postfork_parent();
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
        init_postfork_child();
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

/* Registered when the library is loaded, before any thread can race a
 * fork against start-up. glibc's pthread_atfork may call malloc; nothing
 * is locked here, and start-up works from any call. */
__attribute__((constructor)) static void register_fork_handlers(void) {
    pthread_atfork(prefork, postfork_parent, postfork_child);
}
