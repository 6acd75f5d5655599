/*
 * Shared by the fork tests: failure reports that never allocate (they are
 * called from signal handlers and from children whose heap is the thing
 * under test), the watchdog, the preload check, and the work a child does
 * to prove that its heap is usable.
 */
#ifndef FORK_UTIL_H
#define FORK_UTIL_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *fork_test_name = "fork test";

static void say(const char *s)
{
    ssize_t ignored = write(2, s, strlen(s));
    (void)ignored;
}

static void say_num(unsigned long v)
{
    char buf[24];
    int i = sizeof buf;
    do
        buf[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    ssize_t ignored = write(2, buf + i, sizeof buf - (size_t)i);
    (void)ignored;
}

static _Noreturn void fail(const char *why)
{
    say(fork_test_name);
    say(": FAIL: ");
    say(why);
    say("\n");
    _exit(1);
}

/* A deadlock shows as no exit at all; the watchdog turns it into a
 * failure with a reason, well before meson's own timeout. It is a process
 * of its own, not an alarm: a fork handler may hang with every signal
 * blocked, and a thread would make the process multi-threaded, which
 * fork_signal must not be. The watchdog dies with the test. */
static pid_t watchdog_pid;

static void watchdog_start(unsigned seconds)
{
    pid_t test = getpid();
    watchdog_pid = fork();
    if (watchdog_pid < 0)
        fail("fork for the watchdog failed");
    if (watchdog_pid > 0)
        return;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != test)
        _exit(0);
    sleep(seconds);
    say(fork_test_name);
    say(": FAIL: watchdog: still running after the time limit (deadlock?)\n");
    kill(test, SIGKILL);
    _exit(0);
}

static void watchdog_stop(void)
{
    kill(watchdog_pid, SIGKILL);
    while (waitpid(watchdog_pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* A test of glibc's malloc would pass and prove nothing; FORK_TEST_ANY_MALLOC
 * lets the programs be checked against another allocator on purpose. */
static void expect_quarry(void)
{
    if (getenv("FORK_TEST_ANY_MALLOC") != NULL)
        return;
    Dl_info info;
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    if (sym == NULL || !dladdr(sym, &info) || info.dli_fname == NULL ||
        strstr(info.dli_fname, "libquarry") == NULL)
        fail("malloc does not resolve into libquarry (was LD_PRELOAD set?)");
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In a child: allocate small, large and huge blocks, fill, check and free
 * them. A lock left held or a structure left half-updated by the fork
 * hangs here (the parent's watchdog catches it) or fails the check.
 * Returns the exit status for the child. */
static int child_heap_work(unsigned seed)
{
    static const size_t sizes[] = {8, 24, 100, 640, 3584, 5000, 40000, 300000, 5u << 20};
    enum { N = sizeof sizes / sizeof sizes[0] };
    unsigned char *blocks[N];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            size_t size = sizes[(i + seed) % N];
            blocks[i] = malloc(size);
            if (blocks[i] == NULL)
                return 3;
            /* The head and the last byte: touching every page of the
             * huge block would make each child cost milliseconds. */
            memset(blocks[i], (int)(i + 1), size < 65536 ? size : 65536);
            blocks[i][size - 1] = (unsigned char)(i + 1);
        }
        for (int i = 0; i < N; i++) {
            size_t size = sizes[(i + seed) % N];
            if (blocks[i][0] != (unsigned char)(i + 1) || blocks[i][size - 1] != (unsigned char)(i + 1))
                return 4;
            blocks[i] = realloc(blocks[i], size / 2 + 1);
            if (blocks[i] == NULL || blocks[i][0] != (unsigned char)(i + 1))
                return 5;
            free(blocks[i]);
        }
    }
    return 0;
}

/* Waits for a child of ours, retrying when a signal interrupts the wait;
 * fails unless it exited with status 0. */
static void reap(pid_t pid, const char *what)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail("waitpid failed");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        say(fork_test_name);
        say(": FAIL: ");
        say(what);
        say(WIFEXITED(status) ? " exited with status " : " killed by signal ");
        say_num(WIFEXITED(status) ? (unsigned long)WEXITSTATUS(status) : (unsigned long)WTERMSIG(status));
        say("\n");
        _exit(1);
    }
}

#endif
