/*
 * Locks. A futex-backed pthread mutex: uncontended it costs one atomic on
 * each side; contended it spins briefly (glibc's adaptive kind), then
 * sleeps.
 * Lock order (fork takes them all in this order; no path takes one that
 * precedes a lock it already holds):
 *   init_lock < for each arena: its bin locks, then its arena lock
 *             < chunk_pool_lock < huge_lock < rtree_lock < base_lock
 *             < tcache.c's registry_lock (the list of live thread caches)
 * No path holds a bin lock while taking an arena lock, nor holds two
 * arenas' locks, so taking arenas one after the other cannot deadlock.
 * Every lock in that order is a leaf for the rest of the process: no path
 * calls out of quarry (stdio, other libraries' locks) while holding one.
 * Fork relies on that (fork.c). Locks outside the order, which fork never
 * takes, use the _unordered calls below; a forked child re-makes them
 * (heapmap_postfork_child, trace_postfork_child).
 */
#ifndef QUARRY_LOCK_H
#define QUARRY_LOCK_H

#include <pthread.h>

typedef struct {
    pthread_mutex_t mutex;
} lock_t;

/* glibc's adaptive mutex: a contended lock spins briefly before it
 * sleeps. A flush or a fill holds a bin lock for microseconds; sleeping
 * at once made the thread on the other side pay a context switch and a
 * wake-up each time. */
#define LOCK_INITIALIZER {PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP}

/* Per thread: quarry locks held or being taken, plus open busy sections.
 * Non-zero when a signal handler that calls fork() interrupted this
 * thread inside quarry: the fork handler (fork.c) must then not wait for
 * a lock, since the thread it would wait for is itself. Raised before
 * the mutex is taken and lowered after it is released, so that no
 * instant of ownership is missed; a signal fence is enough because only
 * a handler on the same thread reads it. */
extern _Thread_local unsigned lock_busy __attribute__((tls_model("initial-exec")));

static inline void lock_init(lock_t *l) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&l->mutex, &attr);
    pthread_mutexattr_destroy(&attr);
}

static inline void lock_acquire(lock_t *l) {
    lock_busy++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    pthread_mutex_lock(&l->mutex);
}

static inline void lock_release(lock_t *l) {
    pthread_mutex_unlock(&l->mutex);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    lock_busy--;
}

/* For a lock outside the fork order, which fork never takes (heapmap.c's
 * draw_lock, trace.c's start_lock): not counted in lock_busy, since a fork
 * on a thread that holds one can still take every ordered lock. */
static inline void lock_acquire_unordered(lock_t *l) { pthread_mutex_lock(&l->mutex); }
static inline void lock_release_unordered(lock_t *l) { pthread_mutex_unlock(&l->mutex); }

/* Brackets a stretch in which shared state is mid-update with its lock
 * dropped (purge's madvise window: other threads wait for it to end), so
 * that a fork from a signal handler on this thread does not wait for it. */
static inline void lock_busy_enter(void) {
    lock_busy++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void lock_busy_leave(void) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    lock_busy--;
}

#endif
