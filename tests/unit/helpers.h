/* Shared by the unit tests: running a piece of code in a child process and
 * checking that it died the way quarry promises. */
#ifndef QUARRY_TEST_HELPERS_H
#define QUARRY_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct child_result {
    int status;
    char err[1024]; /* what the child wrote to stderr */
};

/* Runs fn(arg) in a forked child whose stderr is captured. */
static inline struct child_result run_in_child(void (*fn)(void *), void *arg) {
    struct child_result res;
    memset(&res, 0, sizeof(res));
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    char discard[256];
    /* Read to the end, keeping what fits, so the child never blocks. */
    while ((n = len < sizeof(res.err) - 1 ? read(fds[0], res.err + len, sizeof(res.err) - 1 - len)
                                          : read(fds[0], discard, sizeof(discard))) > 0)
        if (len < sizeof(res.err) - 1)
            len += (size_t)n;
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &res.status, 0), pid);
    return res;
}

/* The child must die of SIGABRT after printing exactly one line that starts
 * with `prefix`. */
static inline void assert_aborts_with(void (*fn)(void *), void *arg, const char *prefix) {
    struct child_result res = run_in_child(fn, arg);
    cr_assert(WIFSIGNALED(res.status) && WTERMSIG(res.status) == SIGABRT,
              "expected SIGABRT, got status 0x%x (stderr: %s)", res.status, res.err);
    cr_assert(strncmp(res.err, prefix, strlen(prefix)) == 0, "stderr was \"%s\", expected it to start with \"%s\"",
              res.err, prefix);
    char *nl = strchr(res.err, '\n');
    cr_assert(nl != NULL && nl[1] == '\0', "expected exactly one line on stderr, got \"%s\"", res.err);
}

#endif
