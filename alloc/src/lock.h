/*
 * Locks. A futex-backed pthread mutex: uncontended it costs one atomic on
 * each side, contended it sleeps instead of spinning on a 2-core machine.
 * Lock order (fork takes them all in this order; no path takes one that
 * precedes a lock it already holds):
 *   init_lock < for each arena: its bin locks, then its arena lock
 *             < chunk_pool_lock < huge_lock < rtree_lock < base_lock
 * No path holds a bin lock while taking an arena lock, nor holds two
 * arenas' locks, so taking arenas one after the other cannot deadlock.
 */
#ifndef QUARRY_LOCK_H
#define QUARRY_LOCK_H

#include <pthread.h>

typedef struct {
    pthread_mutex_t mutex;
} lock_t;

#define LOCK_INITIALIZER {PTHREAD_MUTEX_INITIALIZER}

static inline void lock_init(lock_t *l) { pthread_mutex_init(&l->mutex, NULL); }
static inline void lock_acquire(lock_t *l) { pthread_mutex_lock(&l->mutex); }
static inline void lock_release(lock_t *l) { pthread_mutex_unlock(&l->mutex); }

#endif
