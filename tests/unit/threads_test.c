/* Threads and fork: arena binding, frees from other threads, and a child
 * forked from a busy multi-threaded parent. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bin.h"
#include "init.h"
#include "lock.h"
#include "quarry.h"
#include "tcache.h"
#include "valgrind_shim.h"

static void *bind_and_report(void *arg) {
    void *p = quarry_malloc(16);
    quarry_free(p);
    *(struct arena **)arg = thread_arena;
    return NULL;
}

static pthread_barrier_t together;

static void *first_allocation_together(void *arg) {
    pthread_barrier_wait(&together);
    /* Every thread's first call into quarry, at the same moment: start-up
     * must happen once and bind each thread. */
    void *p[50];
    for (int i = 0; i < 50; i++)
        p[i] = quarry_malloc((size_t)(i + 1) * 24);
    for (int i = 0; i < 50; i++)
        quarry_free(p[i]);
    *(struct arena **)arg = thread_arena;
    return NULL;
}

Test(startup, threads_created_before_the_first_malloc_start_it_together) {
    enum { N = 8 };
    pthread_t t[N];
    struct arena *got[N];
    pthread_barrier_init(&together, NULL, N);
    for (int i = 0; i < N; i++)
        pthread_create(&t[i], NULL, first_allocation_together, &got[i]);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++)
        cr_assert_not_null(got[i]);
    cr_assert_geq(narenas, 4u);
}

static void *bind_and_wait(void *arg) {
    bind_and_report(arg);
    /* Stay alive until all are bound, so none inherits another's arena. */
    pthread_barrier_wait(&together);
    return NULL;
}

Test(threads, concurrent_threads_get_different_arenas) {
    enum { N = 4 };
    pthread_t t[N];
    struct arena *got[N];
    pthread_barrier_init(&together, NULL, N);
    for (int i = 0; i < N; i++)
        pthread_create(&t[i], NULL, bind_and_wait, &got[i]);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    cr_assert_geq(narenas, 4u, "4 arenas per CPU");
    for (int i = 0; i < N; i++)
        for (int j = 0; j < i; j++)
            cr_assert_neq(got[i], got[j], "threads %d and %d share an arena", i, j);
}

Test(threads, a_thread_is_bound_to_an_empty_arena_while_one_is_left) {
    void *p = quarry_malloc(8);
    struct arena *mine = thread_arena;
    struct arena *other = NULL;
    pthread_t t;
    pthread_create(&t, NULL, bind_and_report, &other);
    pthread_join(t, NULL);
    cr_assert_neq(other, mine, "second thread shares the first's arena while others are empty");
    /* After it exits its arena is free again and the next thread takes it. */
    struct arena *third = NULL;
    pthread_create(&t, NULL, bind_and_report, &third);
    pthread_join(t, NULL);
    cr_assert_eq(third, other);
    quarry_free(p);
}

static pthread_barrier_t both_bound;

/* Binds, waits until the other thread has bound too (so that each has an
 * arena of its own), then leaves `pages` pages of freed blocks behind. */
struct leave_behind {
    size_t pages;
    struct arena *arena;
};

static void *bind_then_leave_pages(void *arg) {
    struct leave_behind *job = arg;
    quarry_free(quarry_malloc(16));
    __atomic_store_n(&job->arena, thread_arena, __ATOMIC_RELEASE);
    pthread_barrier_wait(&both_bound);
    void *p[64];
    size_t n = job->pages / 4;
    for (size_t i = 0; i < n; i++)
        memset(p[i] = quarry_malloc(4 * PAGE), 1, 4 * PAGE);
    for (size_t i = 0; i < n; i++)
        quarry_free(p[i]);
    return NULL;
}

Test(threads, a_new_thread_takes_the_idle_arena_that_holds_the_most_pages) {
    quarry_free(quarry_malloc(8)); /* this thread keeps arena 0 */
    struct leave_behind cold = {0, NULL}, warm = {192, NULL};
    pthread_t t1, t2;
    pthread_barrier_init(&both_bound, NULL, 2);
    /* The cold one binds first: it takes the lower arena index, the one
     * a choice by index alone would give the next thread. */
    pthread_create(&t1, NULL, bind_then_leave_pages, &cold);
    while (__atomic_load_n(&cold.arena, __ATOMIC_ACQUIRE) == NULL)
        sched_yield();
    pthread_create(&t2, NULL, bind_then_leave_pages, &warm);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    cr_assert_neq(cold.arena, warm.arena);
    /* Both arenas have no thread now; the warm one holds the freed pages
     * (dirty, under the purge floor). */
    struct arena *next = NULL;
    pthread_t t3;
    pthread_create(&t3, NULL, bind_and_report, &next);
    pthread_join(t3, NULL);
    cr_assert_eq(next, warm.arena, "bound to arena %u, not to arena %u, which holds the exited thread's pages",
                 next->index, warm.arena->index);
}

static void *free_only_then_allocate(void *arg) {
    void **blocks = arg;
    for (int i = 0; i < 1000; i++)
        quarry_free(blocks[i]); /* through this thread's cache, with flushes */
    struct arena *after_frees = thread_arena;
    /* A class none of the freed blocks is of: a fill, which binds (one of
     * the cached classes would be served from the cache, arena or not). */
    quarry_free(quarry_malloc(3000));
    blocks[0] = after_frees;
    blocks[1] = thread_arena;
    return NULL;
}

Test(threads, a_thread_that_only_frees_takes_no_arena_until_it_allocates) {
    static void *blocks[1000];
    for (int i = 0; i < 1000; i++)
        blocks[i] = quarry_malloc(16 + (size_t)i % 200);
    pthread_t t;
    pthread_create(&t, NULL, free_only_then_allocate, blocks);
    pthread_join(t, NULL);
    cr_assert_null(blocks[0], "bound to an arena by frees alone");
    cr_assert_not_null(blocks[1], "bound at its first allocation");
    cr_assert_neq(blocks[1], thread_arena, "an arena of its own once it allocates");
}

#define XFER 20000
static void *xfer[XFER];
static atomic_int produced;

static void *producer(void *arg) {
    (void)arg;
    for (int i = 0; i < XFER; i++) {
        size_t size = 8 + (size_t)(i * 37) % 5000;
        xfer[i] = quarry_malloc(size);
        memset(xfer[i], i & 0xff, size);
        atomic_store_explicit(&produced, i + 1, memory_order_release);
    }
    return NULL;
}

Test(threads, blocks_freed_by_another_thread_go_back_to_their_arena) {
    pthread_t t;
    pthread_create(&t, NULL, producer, NULL);
    for (int i = 0; i < XFER; i++) {
        while (atomic_load_explicit(&produced, memory_order_acquire) <= i)
            ;
        unsigned char *p = xfer[i];
        cr_assert_eq(p[0], (unsigned char)(i & 0xff));
        quarry_free(p);
    }
    pthread_join(t, NULL);
    /* The producer's cache went back at its exit; the frees sit in this
     * thread's cache until it is flushed. Then the only pages still in use
     * anywhere are this thread's cache itself. */
    if (thread_tcache != &tcache_bypass)
        tcache_flush(thread_tcache);
    size_t active = 0;
    for (unsigned i = 0; i < narenas; i++) {
        struct arena *a = arenas[i];
        if (a == NULL)
            continue;
        size_t spare = bin_spare_pages(a);
        lock_acquire(&a->lock);
        active += a->nactive - spare;
        lock_release(&a->lock);
    }
    cr_assert_eq(active, 0, "%zu pages active, expected none (caches are metadata)", active);
}

static atomic_bool stop;

static void *churn(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *ring[64] = {0};
    while (!atomic_load(&stop)) {
        seed = seed * 1103515245 + 12345;
        unsigned slot = (seed >> 8) % 64;
        quarry_free(ring[slot]);
        ring[slot] = quarry_malloc((seed >> 16) % 20000);
    }
    for (int i = 0; i < 64; i++)
        quarry_free(ring[i]);
    return NULL;
}

static void *purge_churn(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        char *p = quarry_malloc(3 << 20); /* large: freed straight to the arena, purged */
        memset(p, 1, 3 << 20);
        quarry_free(p);
    }
    return NULL;
}

Test(fork, a_child_forked_during_purges_can_still_purge) {
    pthread_t t;
    pthread_create(&t, NULL, purge_churn, NULL);
    int rounds = RUNNING_ON_VALGRIND ? 10 : 100;
    for (int round = 0; round < rounds; round++) {
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            /* No purge may be left half-done in the child. */
            for (unsigned i = 0; i < narenas; i++)
                if (arenas[i] != NULL && arenas[i]->purging)
                    _exit(3);
            quarry_purge();
            _exit(0);
        }
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status 0x%x", round, status);
    }
    atomic_store(&stop, true);
    pthread_join(t, NULL);
}

Test(fork, child_of_a_busy_multithreaded_parent_can_allocate_and_free) {
    enum { N = 3 };
    pthread_t t[N];
    for (int i = 0; i < N; i++)
        pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
    char *before[100];
    for (int i = 0; i < 100; i++) {
        before[i] = quarry_malloc((size_t)i * 300 + 1);
        memset(before[i], i, (size_t)i * 300 + 1);
    }
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            for (int i = 0; i < 100; i++) {
                if (before[i][0] != (char)i)
                    _exit(2);
                quarry_free(before[i]);
            }
            void *p[1000];
            for (int i = 0; i < 1000; i++)
                p[i] = quarry_malloc((size_t)i * 97 % 70000);
            for (int i = 0; i < 1000; i++)
                quarry_free(p[i]);
            _exit(0);
        }
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status 0x%x", round, status);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 100; i++)
        quarry_free(before[i]);
}

/* lock.h's locks, contended: one holder at a time, and a holder that
 * sleeps inside makes the others sleep too (the lock is marked 2), and
 * they are woken, with errno as it was. The counter is bumped by a read, a yield and a write,
 * so that two holders at once would lose updates. */
static lock_t contended = LOCK_INITIALIZER;
static unsigned long contended_count;
static atomic_int holders;
static atomic_int seen_sleepers;

enum { LOCK_THREADS = 8, LOCK_ROUNDS = 4000 };

static void *bump_under_lock(void *arg) {
    (void)arg;
    for (int i = 0; i < LOCK_ROUNDS; i++) {
        errno = 4242; /* free() takes locks and must leave errno alone */
        lock_acquire(&contended);
        cr_assert_eq(atomic_fetch_add(&holders, 1), 0, "two holders at once");
        unsigned long v = contended_count;
        if (i % 64 == 0)
            sched_yield();
        if (i % 500 == 0) {
            usleep(2000);
            if (__atomic_load_n(&contended.state, __ATOMIC_RELAXED) == 2)
                atomic_store(&seen_sleepers, 1);
        }
        contended_count = v + 1;
        atomic_fetch_sub(&holders, 1);
        lock_release(&contended);
        cr_assert_eq(errno, 4242, "a contended lock changed errno");
    }
    return NULL;
}

Test(locks, a_contended_lock_admits_one_holder_and_wakes_its_sleepers) {
    pthread_t t[LOCK_THREADS];
    for (int i = 0; i < LOCK_THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, bump_under_lock, NULL), 0);
    for (int i = 0; i < LOCK_THREADS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(contended_count, (unsigned long)LOCK_THREADS * LOCK_ROUNDS);
    cr_assert_eq(contended.state, 0, "the lock is free at the end");
    cr_assert(atomic_load(&seen_sleepers), "no holder saw a sleeper: the futex path went untested");
}
