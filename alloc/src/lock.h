/*
 * Locks. A word and a futex: uncontended, taking one is one compare-and-
 * swap and giving it back one exchange, inlined where they are used;
 * contended, the taker spins briefly, then sleeps (lock.c).
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

#include <stdbool.h>
#include <stdint.h>

/* 0: free; 1: held; 2: held, and a thread may be asleep on it. */
typedef struct {
    uint32_t state;
} lock_t;

#define LOCK_INITIALIZER {0}

/* Per thread: quarry locks held or being taken, plus open busy sections.
 * Non-zero when a signal handler that calls fork() interrupted this
 * thread inside quarry: the fork handler (fork.c) must then not wait for
 * a lock, since the thread it would wait for is itself. Raised before
 * the lock is taken and lowered after it is released, so that no
 * instant of ownership is missed; a signal fence is enough because only
 * a handler on the same thread reads it. */
extern _Thread_local unsigned lock_busy __attribute__((tls_model("initial-exec")));

/* The contended halves (lock.c): spin, then sleep until the lock is had;
 * wake one sleeper. */
void lock_wait(lock_t *l);
void lock_wake(lock_t *l);

static inline void lock_init(lock_t *l) { __atomic_store_n(&l->state, 0, __ATOMIC_RELAXED); }

/* Takes the lock if it is free: one compare-and-swap. */
static inline bool lock_try_take(lock_t *l) {
    uint32_t free_state = 0;
    return __atomic_compare_exchange_n(&l->state, &free_state, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void lock_take(lock_t *l) {
    if (!lock_try_take(l))
        lock_wait(l);
}

static inline void lock_give(lock_t *l) {
    if (__atomic_exchange_n(&l->state, 0, __ATOMIC_RELEASE) == 2)
        lock_wake(l);
}

static inline void lock_acquire(lock_t *l) {
    lock_busy++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    lock_take(l);
}

static inline void lock_release(lock_t *l) {
    lock_give(l);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    lock_busy--;
}

/* lock_acquire() if the lock is free now; false, and nothing held, if not. */
static inline bool lock_try_acquire(lock_t *l) {
    lock_busy++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (lock_try_take(l))
        return true;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    lock_busy--;
    return false;
}

/* For a lock outside the fork order, which fork never takes (heapmap.c's
 * draw_lock, trace.c's start_lock): not counted in lock_busy, since a fork
 * on a thread that holds one can still take every ordered lock. */
static inline void lock_acquire_unordered(lock_t *l) { lock_take(l); }
static inline void lock_release_unordered(lock_t *l) { lock_give(l); }

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
