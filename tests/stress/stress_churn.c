/*
 * Churn phase: many short-lived threads, a few alive at a time. What it
 * is after is thread exit: a dying thread's cache and arena assignment
 * must be torn down while blocks it allocated live on (handed to the main
 * thread), and blocks allocated by threads that are already gone get
 * freed by new threads. Each thread:
 *   - frees "gifts": some blocks from the main thread, some allocated by
 *     threads of the previous wave that have since exited;
 *   - allocates, reallocs and frees its own blocks;
 *   - hands a few of its blocks to the main thread and exits (some
 *     through pthread_exit, some by returning).
 */
#define _GNU_SOURCE
#include "stress.h"
#include "stress_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define WAVE          8     /* threads alive at once */
#define OWN_BLOCKS    96    /* blocks each thread allocates */
#define HANDED        16    /* of which it hands this many to main */
#define GIFTS_MAIN    8     /* blocks main allocates for each thread */
#define GIFTS_CARRY   8     /* blocks from dead threads, per thread */
#define MAIN_SLOTS    64

typedef struct {
    unsigned idx;
    uint64_t seed;
    block_t gifts[GIFTS_MAIN + GIFTS_CARRY];
    size_t ngifts;
    pthread_t thread;
} churn_arg_t;

/* A growable list of blocks; main-thread only except `inbox`. */
typedef struct {
    block_t *items;
    size_t n, cap;
} list_t;

static pthread_mutex_t inbox_mu = PTHREAD_MUTEX_INITIALIZER;
static list_t inbox;    /* handed to main by exiting threads */

static void list_push(list_t *l, const block_t *b)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->items = realloc(l->items, l->cap * sizeof *l->items);
        if (l->items == NULL)
            fail("churn: no memory for bookkeeping");
    }
    l->items[l->n++] = *b;
}

static void *churn_thread(void *arg)
{
    churn_arg_t *a = arg;
    char who[48];
    snprintf(who, sizeof who, "churn thread %u", a->idx);
    rng_t rng;
    rng_seed(&rng, a->seed);
    block_t own[OWN_BLOCKS] = {{0}};
    uint64_t seq = 0;
    size_t gift = 0;

    for (size_t i = 0; i < OWN_BLOCKS; i++) {
        /* Interleave the remote frees with our own allocations so the
         * thread cache holds a mix of foreign and local blocks. */
        if (gift < a->ngifts && rng_below(&rng, 4) == 0)
            block_release(&a->gifts[gift++], &rng, who);
        block_alloc(&own[i], &rng, ((uint64_t)(a->idx + 1000) << 40) | ++seq,
                    who);
        if (rng_below(&rng, 3) == 0)
            block_resize(&own[rng_below(&rng, i + 1)], &rng, who);
    }
    while (gift < a->ngifts)
        block_release(&a->gifts[gift++], &rng, who);

    /* Hand the first HANDED to main (they outlive us), free the rest in
     * random order. */
    pthread_mutex_lock(&inbox_mu);
    for (size_t i = 0; i < HANDED; i++) {
        list_push(&inbox, &own[i]);
        own[i].p = NULL;
    }
    pthread_mutex_unlock(&inbox_mu);
    for (size_t left = OWN_BLOCKS - HANDED; left > 0; left--) {
        size_t i;
        do
            i = HANDED + rng_below(&rng, OWN_BLOCKS - HANDED);
        while (own[i].p == NULL);
        block_release(&own[i], &rng, who);
    }
    /* Both ways out of a thread run the same TSD destructors, but
     * pthread_exit unwinds from deeper inside; do both. */
    if (a->idx % 3 == 0)
        pthread_exit(NULL);
    return NULL;
}

static void check_main_view(list_t *carry, list_t *keep, block_t *mine,
                            const char *when)
{
    list_t all = {0};
    for (size_t i = 0; i < carry->n; i++)
        list_push(&all, &carry->items[i]);
    for (size_t i = 0; i < keep->n; i++)
        list_push(&all, &keep->items[i]);
    for (size_t i = 0; i < MAIN_SLOTS; i++)
        if (mine[i].p)
            list_push(&all, &mine[i]);
    check_live_set(all.items, all.n, when);
    free(all.items);
}

void run_churn(unsigned total, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed ^ 0xC4u);
    const char *who = "churn main thread";
    list_t carry = {0};   /* blocks of dead threads, to give the next wave */
    list_t keep = {0};    /* blocks of dead threads, freed at the very end */
    block_t mine[MAIN_SLOTS] = {{0}};
    uint64_t seq = 0;
    churn_arg_t *args = calloc(WAVE, sizeof *args);
    if (args == NULL)
        fail("churn: no memory");
    unsigned long exited = 0;

    for (unsigned base = 0; base < total; base += WAVE) {
        unsigned width = total - base < WAVE ? total - base : WAVE;
        for (unsigned k = 0; k < width; k++) {
            churn_arg_t *a = &args[k];
            a->idx = base + k;
            a->seed = seed * 7919u + a->idx;
            a->ngifts = 0;
            for (size_t g = 0; g < GIFTS_MAIN; g++)
                block_alloc(&a->gifts[a->ngifts++], &rng,
                            ((uint64_t)999 << 40) | ++seq, who);
            for (size_t g = 0; g < GIFTS_CARRY && carry.n > 0; g++)
                a->gifts[a->ngifts++] = carry.items[--carry.n];
            if (pthread_create(&a->thread, NULL, churn_thread, a))
                fail("churn: pthread_create failed for thread %u", a->idx);
        }
        /* Keep the main thread's own arena busy while they run. */
        for (int op = 0; op < 32; op++) {
            block_t *b = &mine[rng_below(&rng, MAIN_SLOTS)];
            if (b->p == NULL)
                block_alloc(b, &rng, ((uint64_t)999 << 40) | ++seq, who);
            else if (rng_below(&rng, 2))
                block_resize(b, &rng, who);
            else
                block_release(b, &rng, who);
        }
        for (unsigned k = 0; k < width; k++) {
            pthread_join(args[k].thread, NULL);
            exited++;
        }
        /* Sort what the dead threads left: half becomes the next wave's
         * gifts, a tenth stays to the end, the rest is freed here. */
        for (size_t i = 0; i < inbox.n; i++) {
            block_t *b = &inbox.items[i];
            uint64_t c = rng_below(&rng, 10);
            if (c < 5)
                list_push(&carry, b);
            else if (c < 6)
                list_push(&keep, b);
            else
                block_release(b, &rng, who);
        }
        inbox.n = 0;
        check_main_view(&carry, &keep, mine, "churn check after a wave");
    }
    check_main_view(&carry, &keep, mine, "churn final check");
    size_t survivors = carry.n + keep.n;
    for (size_t i = 0; i < carry.n; i++)
        block_release(&carry.items[i], &rng, who);
    for (size_t i = 0; i < keep.n; i++)
        block_release(&keep.items[i], &rng, who);
    for (size_t i = 0; i < MAIN_SLOTS; i++)
        if (mine[i].p)
            block_release(&mine[i], &rng, who);
    printf("churn: %lu short-lived threads exited; %zu of their blocks "
           "outlived them to the end\n", exited, survivors);
    free(carry.items);
    free(keep.items);
    free(inbox.items);
    free(args);
}
