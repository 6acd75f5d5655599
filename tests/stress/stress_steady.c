/*
 * Steady phase: N long-lived threads, each churning a table of live blocks
 * (allocate, realloc, verify, free), with about 30% of frees handed to
 * another thread first so the allocator sees frees of blocks that belong
 * to a foreign thread cache / arena. Every `check_every` iterations all
 * threads meet at a barrier and one of them checks the whole live set
 * (patterns, usable sizes, no overlaps) while the others wait.
 */
#define _GNU_SOURCE
#include "stress.h"
#include "stress_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_SLOTS   1024
#define MAILBOX_CAP   1024
#define REMOTE_PCT    30

/* Blocks handed to a thread by others. A mutex is enough: the point is
 * the allocator's cross-thread path, not the queue's. */
typedef struct {
    pthread_mutex_t mu;
    block_t items[MAILBOX_CAP];
    size_t n;
    atomic_size_t hint;   /* n, readable without the lock */
} mailbox_t;

typedef struct {
    unsigned idx;
    pthread_t thread;
    rng_t rng;
    uint64_t next_id;
    block_t table[TABLE_SLOTS];
    mailbox_t mailbox;
    char name[32];
    /* counters for the summary line */
    unsigned long allocs, reallocs, frees, sent, received, adopted;
} worker_t;

static worker_t *workers;
static unsigned nworkers;
static unsigned long iterations;
static unsigned long check_every;
static pthread_barrier_t barrier;
static atomic_ulong checks_done;

/* Ids: thread index in the top bits, so ids are unique process-wide
 * without a shared counter and a failure message tells whose block it
 * was. */
static uint64_t new_id(worker_t *w)
{
    return ((uint64_t)(w->idx + 1) << 40) | ++w->next_id;
}

/* Hand `b` to a random other thread; frees it here if that mailbox is
 * full. Returns whether it was handed over. */
static int send_block(worker_t *w, block_t *b)
{
    unsigned to = (unsigned)rng_below(&w->rng, nworkers - 1);
    if (to >= w->idx)
        to++;   /* anyone but ourselves */
    mailbox_t *mb = &workers[to].mailbox;
    int sent = 0;
    pthread_mutex_lock(&mb->mu);
    if (mb->n < MAILBOX_CAP) {
        mb->items[mb->n++] = *b;
        atomic_store_explicit(&mb->hint, mb->n, memory_order_relaxed);
        sent = 1;
    }
    pthread_mutex_unlock(&mb->mu);
    if (sent) {
        b->p = NULL;
        w->sent++;
    }
    return sent;
}

/* Take everything others sent: free most of it here (remote free), adopt
 * some into our own table so it is later realloc'ed / freed by a thread
 * other than its allocator. */
static void drain_mailbox(worker_t *w, int adopt)
{
    mailbox_t *mb = &w->mailbox;
    if (atomic_load_explicit(&mb->hint, memory_order_relaxed) == 0)
        return;
    block_t local[MAILBOX_CAP];   /* 40 KiB of stack; threads have MiBs */
    pthread_mutex_lock(&mb->mu);
    size_t n = mb->n;
    memcpy(local, mb->items, n * sizeof local[0]);
    mb->n = 0;
    atomic_store_explicit(&mb->hint, 0, memory_order_relaxed);
    pthread_mutex_unlock(&mb->mu);

    for (size_t i = 0; i < n; i++) {
        block_t *b = &local[i];
        w->received++;
        block_verify(b, w->name);
        if (adopt && rng_below(&w->rng, 2) == 0) {
            block_t *slot = &w->table[rng_below(&w->rng, TABLE_SLOTS)];
            if (slot->p == NULL) {
                *slot = *b;
                w->adopted++;
                continue;
            }
        }
        block_release(b, &w->rng, w->name);
        w->frees++;
    }
}

/* Runs in exactly one thread while all others wait at the barrier. */
static void check_all(const char *when)
{
    size_t cap = (size_t)nworkers * (TABLE_SLOTS + MAILBOX_CAP);
    block_t *all = malloc(cap * sizeof *all);
    if (all == NULL)
        fail("%s: no memory for the live-set snapshot", when);
    size_t n = 0;
    for (unsigned t = 0; t < nworkers; t++) {
        worker_t *w = &workers[t];
        for (size_t i = 0; i < TABLE_SLOTS; i++)
            if (w->table[i].p)
                all[n++] = w->table[i];
        pthread_mutex_lock(&w->mailbox.mu);
        for (size_t i = 0; i < w->mailbox.n; i++)
            all[n++] = w->mailbox.items[i];
        pthread_mutex_unlock(&w->mailbox.mu);
    }
    check_live_set(all, n, when);
    free(all);
    atomic_fetch_add(&checks_done, 1);
}

static void pause_and_check(const char *when)
{
    /* First wait: everyone has stopped touching blocks. Second wait:
     * nobody resumes until the check is over. */
    if (pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD)
        check_all(when);
    pthread_barrier_wait(&barrier);
}

static void one_step(worker_t *w)
{
    block_t *b = &w->table[rng_below(&w->rng, TABLE_SLOTS)];
    if (b->p == NULL) {
        block_alloc(b, &w->rng, new_id(w), w->name);
        w->allocs++;
        return;
    }
    uint64_t c = rng_below(&w->rng, 100);
    if (c < 55) {
        if (rng_below(&w->rng, 100) < REMOTE_PCT && send_block(w, b))
            return;
        block_release(b, &w->rng, w->name);
        w->frees++;
    } else if (c < 90) {
        block_resize(b, &w->rng, w->name);
        w->reallocs++;
    } else {
        block_verify(b, w->name);
    }
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    for (unsigned long it = 1; it <= iterations; it++) {
        one_step(w);
        if (it % 8 == 0)
            drain_mailbox(w, 1);
        if (it % check_every == 0)
            pause_and_check("periodic check");
    }
    pause_and_check("final check");
    /* Tear down: own table first, then (after everyone stopped sending)
     * whatever is still in our mailbox. */
    for (size_t i = 0; i < TABLE_SLOTS; i++)
        if (w->table[i].p) {
            block_release(&w->table[i], &w->rng, w->name);
            w->frees++;
        }
    pthread_barrier_wait(&barrier);
    drain_mailbox(w, 0);
    return NULL;
}

void run_steady(unsigned threads, unsigned long iters, uint64_t seed)
{
    nworkers = threads;
    iterations = iters;
    check_every = iters / 8 ? iters / 8 : 1;
    /* Plain calloc: libc's in the static build, quarry's when preloaded,
     * where this ~1 MiB per thread of bookkeeping is itself a large
     * block that must survive the whole run. */
    workers = calloc(threads, sizeof *workers);
    if (workers == NULL)
        fail("no memory for %u workers", threads);
    if (pthread_barrier_init(&barrier, NULL, threads) != 0)
        fail("pthread_barrier_init failed");
    for (unsigned t = 0; t < threads; t++) {
        worker_t *w = &workers[t];
        w->idx = t;
        rng_seed(&w->rng, seed * 1000003u + t);
        snprintf(w->name, sizeof w->name, "steady thread %u", t);
        pthread_mutex_init(&w->mailbox.mu, NULL);
    }
    for (unsigned t = 0; t < threads; t++)
        if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]))
            fail("pthread_create failed for steady thread %u", t);

    unsigned long allocs = 0, reallocs = 0, frees = 0, sent = 0, adopted = 0;
    for (unsigned t = 0; t < threads; t++) {
        pthread_join(workers[t].thread, NULL);
        allocs += workers[t].allocs;
        reallocs += workers[t].reallocs;
        frees += workers[t].frees;
        sent += workers[t].sent;
        adopted += workers[t].adopted;
    }
    /* Every block allocated must have been freed exactly once. */
    if (allocs != frees)
        fail("steady: %lu allocations but %lu frees (bookkeeping bug)",
             allocs, frees);
    printf("steady: %u threads x %lu iterations: %lu allocs, %lu reallocs, "
           "%lu frees (%lu handed to another thread, %lu adopted), %lu "
           "whole-heap checks\n", threads, iters, allocs, reallocs, frees,
           sent, adopted, (unsigned long)atomic_load(&checks_done));
    for (unsigned t = 0; t < threads; t++)
        pthread_mutex_destroy(&workers[t].mailbox.mu);
    pthread_barrier_destroy(&barrier);
    free(workers);
}
