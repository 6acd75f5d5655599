/*
 * threads_mix [rounds]: quarry's prefixed API from many threads at once,
 * for ThreadSanitizer (Criterion cannot start under it) and as an ordinary
 * test in every other build.
 *
 * Workers allocate blocks of every kind, fill them with a pattern of their
 * own and pass them through a shared queue; whoever takes a block checks
 * its pattern and usable size, may realloc it (a block made by another
 * thread) and frees it, sized or not. Meanwhile an observer reads
 * statistics and purges, and short-lived threads allocate, hand blocks
 * over and exit while those blocks are still in use, so that thread exit
 * and cache flushes race with everything else. Exits 0, or 1 with
 * "threads_mix: FAIL: ..." at the first wrong block.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quarry.h"

enum { WORKERS = 4, QUEUE = 256, SHORT_LIVED = 24 };

struct block {
    unsigned char *p;
    size_t size;
    unsigned char tag;
    bool aligned;
};

/* A ring of blocks in transit, under one mutex: the happens-before edge
 * between the thread that filled a block and the one that reads it. */
static struct {
    pthread_mutex_t lock;
    struct block slot[QUEUE];
    size_t head, count;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER};

static atomic_bool stop;
static atomic_long live; /* blocks made and not yet freed */

static _Noreturn void fail(const char *what, const void *p, size_t v) {
    fprintf(stderr, "threads_mix: FAIL: %s (block %p, %zu)\n", what, p, v);
    exit(1);
}

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t pick_size(uint64_t *rng) {
    uint64_t r = next(rng);
    switch (r % 32) {
    case 0:
        return ((size_t)4 << 20) + r % (2u << 20); /* huge */
    case 1: case 2: case 3:
        return 4096 + r % 200000; /* large */
    default:
        return 1 + r % 3584; /* small */
    }
}

/* The pattern covers the head and the tail: enough to see a block that two
 * threads hold at once or whose contents moved wrongly. */
static void fill(struct block *b) {
    size_t n = b->size < 256 ? b->size : 256;
    memset(b->p, b->tag, n);
    memset(b->p + b->size - n, b->tag, n);
}

static void check(const struct block *b) {
    size_t n = b->size < 256 ? b->size : 256;
    for (size_t i = 0; i < n; i++)
        if (b->p[i] != b->tag || b->p[b->size - 1 - i] != b->tag)
            fail("block contents changed in transit", b->p, i);
    if (quarry_malloc_usable_size(b->p) < b->size)
        fail("usable size below the size asked for", b->p, b->size);
}

static struct block make(uint64_t *rng) {
    struct block b = {.size = pick_size(rng), .tag = (unsigned char)(1 + next(rng) % 250)};
    switch (next(rng) % 4) {
    case 0:
        b.p = quarry_calloc(1, b.size);
        if (b.p != NULL && (b.p[0] != 0 || b.p[b.size - 1] != 0))
            fail("calloc block not zeroed", b.p, b.size);
        break;
    case 1: {
        void *p = NULL;
        size_t align = (size_t)64 << next(rng) % 8;
        if (quarry_posix_memalign(&p, align, b.size) != 0 || (uintptr_t)p % align != 0)
            fail("posix_memalign failed or misaligned", p, align);
        b.p = p;
        b.aligned = true;
        break;
    }
    default:
        b.p = quarry_malloc(b.size);
    }
    if (b.p == NULL)
        fail("out of memory", NULL, b.size);
    atomic_fetch_add(&live, 1);
    fill(&b);
    return b;
}

static void destroy(struct block *b, uint64_t *rng) {
    if (b->p == NULL)
        fail("a block went missing in the queue", NULL, 0);
    check(b);
    atomic_fetch_sub(&live, 1);
    if (!b->aligned && next(rng) % 3 == 0) {
        /* Grow or shrink a block another thread made, then free it. */
        size_t size = pick_size(rng);
        unsigned char *p = quarry_realloc(b->p, size);
        if (p == NULL)
            fail("realloc failed", b->p, size);
        size_t kept = size < b->size ? size : b->size;
        kept = kept < 256 ? kept : 256; /* the head fill() wrote */
        for (size_t i = 0; i < kept; i++)
            if (p[i] != b->tag)
                fail("realloc lost the contents", p, i);
        quarry_free(p);
    } else if (!b->aligned && next(rng) % 2 == 0) {
        quarry_free_sized(b->p, b->size);
    } else {
        quarry_free(b->p);
    }
}

/* Swaps b with a block in transit when the ring is full enough; returns
 * whether b now holds a block to destroy. */
static bool exchange(struct block *b) {
    pthread_mutex_lock(&queue.lock);
    bool got = false;
    if (queue.count == QUEUE || (queue.count > QUEUE / 2 && b->tag % 2 == 0)) {
        /* The oldest leaves, b joins at the tail. */
        struct block out = queue.slot[queue.head];
        queue.head = (queue.head + 1) % QUEUE;
        queue.slot[(queue.head + queue.count - 1) % QUEUE] = *b;
        *b = out;
        got = true;
    } else {
        queue.slot[(queue.head + queue.count) % QUEUE] = *b;
        queue.count++;
    }
    pthread_mutex_unlock(&queue.lock);
    return got;
}

static unsigned long rounds = 20000;

static void *worker(void *arg) {
    uint64_t rng = 0x9E3779B97F4A7C15u * (uintptr_t)(1 + (uintptr_t)arg);
    struct block mine[8] = {{0}};
    for (unsigned long i = 0; i < rounds; i++) {
        struct block b = make(&rng);
        if (exchange(&b))
            destroy(&b, &rng);
        /* A few blocks of its own live for a while, freed by this thread. */
        int k = (int)(next(&rng) % 8);
        if (mine[k].p != NULL)
            destroy(&mine[k], &rng);
        mine[k] = make(&rng);
    }
    for (int k = 0; k < 8; k++)
        if (mine[k].p != NULL)
            destroy(&mine[k], &rng);
    return NULL;
}

static void *short_lived(void *arg) {
    uint64_t rng = 0xD1B54A32D192ED03u * (uintptr_t)(1 + (uintptr_t)arg);
    for (int i = 0; i < 64; i++) {
        struct block b = make(&rng);
        if (exchange(&b))
            destroy(&b, &rng);
    }
    return NULL;
}

static size_t read_stat(const char *name) {
    size_t v = 0, len = sizeof(v);
    if (quarry_ctl(name, &v, &len, NULL, 0) != 0)
        fail("quarry_ctl failed", name, 0);
    return v;
}

static void *observer(void *arg) {
    (void)arg;
    unsigned long n = 0;
    while (!atomic_load(&stop)) {
        size_t allocated = read_stat("stats.allocated"), active = read_stat("stats.active");
        (void)allocated;
        (void)active;
        if (++n % 16 == 0)
            quarry_purge();
        if (n % 16 == 8 && quarry_ctl("arena.4096.purge", NULL, NULL, NULL, 0) != 0)
            fail("arena.4096.purge failed", NULL, 0);
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1)
        rounds = strtoul(argv[1], NULL, 10);
    /* "safe" as the second argument: the run is meant to exercise
     * safe:true (QUARRY_CONF), so check that it is on. */
    if (argc > 2 && strcmp(argv[2], "safe") == 0) {
        bool safe = false;
        size_t len = sizeof(safe);
        if (quarry_ctl("opt.safe", &safe, &len, NULL, 0) != 0 || !safe)
            fail("opt.safe is not on", NULL, 0);
    }
    pthread_t workers[WORKERS], watcher, brief[SHORT_LIVED];
    if (pthread_create(&watcher, NULL, observer, NULL) != 0)
        fail("pthread_create failed", NULL, 0);
    for (uintptr_t i = 0; i < WORKERS; i++)
        if (pthread_create(&workers[i], NULL, worker, (void *)i) != 0)
            fail("pthread_create failed", NULL, i);
    /* Short-lived threads in small waves, while the workers run. */
    for (uintptr_t i = 0; i < SHORT_LIVED; i += 4) {
        for (uintptr_t j = i; j < i + 4; j++)
            if (pthread_create(&brief[j], NULL, short_lived, (void *)j) != 0)
                fail("pthread_create failed", NULL, j);
        for (uintptr_t j = i; j < i + 4; j++)
            pthread_join(brief[j], NULL);
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i], NULL);
    atomic_store(&stop, true);
    pthread_join(watcher, NULL);

    uint64_t rng = 7;
    for (size_t i = 0; i < queue.count; i++)
        destroy(&queue.slot[(queue.head + i) % QUEUE], &rng);
    /* Every other thread has exited (its cache flushed) and every block
     * is free: after this thread's flush nothing is allocated. */
    quarry_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    size_t allocated = read_stat("stats.allocated");
    printf("threads_mix: %d workers x %lu rounds, %d short-lived threads\n", WORKERS, rounds, SHORT_LIVED);
    if (atomic_load(&live) != 0)
        fail("blocks were not all freed", NULL, (size_t)atomic_load(&live));
    if (allocated != 0)
        fail("stats.allocated is not 0 once every block is freed", NULL, allocated);
    return 0;
}
