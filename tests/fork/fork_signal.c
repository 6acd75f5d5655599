/*
 * fork_signal fork|malloc [seconds]: fork from a signal handler that
 * interrupted fork, or an allocation.
 *
 * A timer sends SIGUSR1 every 200 microseconds; the handler forks, and the
 * parent waits for that child. Meanwhile the main thread
 *   - fork: forks in a loop itself, so that the signal often lands inside
 *     fork, between the allocator's prepare handler and its parent
 *     handler: an allocator whose prepare handler takes a lock that the
 *     same thread already holds from the interrupted fork hangs there. The
 *     children of both forks use their heap (child_heap_work), which
 *     must be whole and unlocked;
 *   - malloc: allocates, reallocates and frees blocks of every kind in a
 *     loop, so that the signal lands inside the allocator, perhaps while it
 *     holds a lock or has one dropped in the middle of a purge. The
 *     handler's child exits at once: POSIX lets the child of a fork from
 *     a signal handler call only async-signal-safe functions, and the heap
 *     the interrupted call was changing is not one of them; what must hold
 *     is that the parent never hangs.
 * The process stays single-threaded (the timer signals without a thread):
 * that is the case in which glibc's own fork is meant to work from a
 * signal handler, so any hang is the allocator's.
 */
#include "fork_util.h"

#include <stdbool.h>
#include <malloc.h>
#include <stdio.h>
#include <sys/single_threaded.h>

static volatile sig_atomic_t in_fork;      /* the main thread is inside fork() */
static volatile sig_atomic_t child_works;  /* the handler's children use their heap */
static volatile unsigned long nsignal_forks, nnested;
static double last_handler_end;

/* The timer fires faster than a fork and its child can finish, which is
 * the point, but a handler that forked on every signal would starve the
 * main thread: it skips signals that come within QUIET seconds of the
 * end of its last fork. */
#define QUIET 0.0005

static void handler(int sig)
{
    (void)sig;
    int saved = errno;
    if (now_seconds() < last_handler_end + QUIET) {
        errno = saved;
        return;
    }
    if (in_fork)
        nnested++;
    pid_t pid = fork();
    if (pid < 0)
        fail("fork in the signal handler failed");
    if (pid == 0)
        _exit(child_works ? child_heap_work((unsigned)nsignal_forks) : 0);
    reap(pid, "the child of a fork in a signal handler");
    nsignal_forks++;
    last_handler_end = now_seconds();
    errno = saved;
}

static timer_t timer;

static void start_timer(long interval_us)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);

    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0)
        fail("timer_create failed");
    struct itimerspec its = {
        .it_interval = {0, interval_us * 1000},
        .it_value = {0, interval_us * 1000},
    };
    if (timer_settime(timer, 0, &its, NULL) != 0)
        fail("timer_settime failed");
}

static unsigned long fork_loop(double seconds)
{
    unsigned long n = 0;
    double end = now_seconds() + seconds;
    while (now_seconds() < end) {
        in_fork = 1;
        pid_t pid = fork();
        in_fork = 0;
        if (pid < 0)
            fail("fork failed");
        /* Most children exit at once: the more forks per second, the
         * more often the timer lands inside one. */
        if (pid == 0)
            _exit(n % 8 == 0 ? child_heap_work((unsigned)n) : 0);
        reap(pid, "a child of the main loop");
        n++;
    }
    return n;
}

static unsigned long malloc_loop(double seconds)
{
    enum { SLOTS = 64 };
    unsigned char *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    uint64_t state = 42;
    unsigned long n = 0;
    double end = now_seconds() + seconds;
    while (now_seconds() < end) {
        /* An explicit purge drops an arena's lock around its madvise
         * calls, with the runs it purges in no list: a window a fork must
         * not wait for when it interrupted it. Every other block of a
         * touched row is freed first, so that the purge has several
         * dirty runs and takes a while. */
        unsigned char *row[16];
        for (int j = 0; j < 16; j++) {
            row[j] = malloc(256 << 10);
            if (row[j] == NULL)
                fail("out of memory");
            for (size_t off = 0; off < (256 << 10); off += 4096)
                row[j][off] = 1;
        }
        for (int j = 0; j < 16; j += 2)
            free(row[j]);
        malloc_trim(0);
        for (int j = 1; j < 16; j += 2)
            free(row[j]);
        for (int k = 0; k < 256; k++, n++) {
            state = state * 6364136223846793005u + 1442695040888963407u;
            uint64_t r = state >> 33;
            int i = (int)(r % SLOTS);
            size_t want = r % 16 == 0 ? 4096 + (r >> 6) % 200000 : 1 + (r >> 6) % 3000;
            if (r % 256 == 1)
                want = (size_t)5 << 20;
            if (slot[i] != NULL && slot[i][size[i] - 1] != (unsigned char)i)
                fail("a block lost its contents");
            if (slot[i] == NULL || (r >> 40) % 3 == 0) {
                free(slot[i]);
                slot[i] = malloc(want);
            } else {
                slot[i] = realloc(slot[i], want);
            }
            if (slot[i] == NULL)
                fail("out of memory");
            size[i] = want;
            memset(slot[i], i, want < 64 ? want : 64);
            slot[i][want - 1] = (unsigned char)i;
        }
    }
    for (int i = 0; i < SLOTS; i++)
        free(slot[i]);
    return n;
}

int main(int argc, char **argv)
{
    fork_test_name = "fork_signal";
    bool forks = argc > 1 && strcmp(argv[1], "fork") == 0;
    if (argc < 2 || (!forks && strcmp(argv[1], "malloc") != 0))
        fail("usage: fork_signal fork|malloc [seconds]");
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    expect_quarry();
    if (!__libc_single_threaded)
        fail("the process is not single-threaded");
    watchdog_start((unsigned)seconds + 30);

    /* Bind this thread and start quarry before the first signal, so
     * that start-up itself is interrupted only by chance. */
    free(malloc(1));
    child_works = forks;
    start_timer(200);
    unsigned long n = forks ? fork_loop(seconds) : malloc_loop(seconds);
    /* Stop the forks in the handler before printf allocates: a child
     * forked from an interrupted malloc must not use the heap (the
     * handler's children in fork mode do, which is right only while the
     * main thread does nothing but fork). */
    child_works = 0;
    if (timer_delete(timer) != 0)
        fail("timer_delete failed");

    if (forks)
        printf("fork_signal fork: %lu forks in the loop, %lu in the handler (%lu of them "
               "interrupted a fork)\n",
               n, (unsigned long)nsignal_forks, (unsigned long)nnested);
    else
        printf("fork_signal malloc: %lu allocation calls in the loop, %lu forks in the handler\n", n,
               (unsigned long)nsignal_forks);
    if (n == 0 || nsignal_forks == 0)
        fail("a loop made no progress");
    watchdog_stop();
    return 0;
}
