/*
 * fork_stdio [seconds]: fork while other threads hold stdio locks and
 * allocate under them.
 *
 * Three kinds of thread run at once for the given time (default 3 s):
 *   - the main thread forks over and over; each child uses its heap
 *     (child_heap_work) and exits, and the parent checks that it did;
 *   - a flusher calls fflush(NULL), which takes glibc's list of streams
 *     and then each stream's lock in turn;
 *   - readers read lines of very different lengths with getline from
 *     their own FILE: getline grows its buffer with realloc while it
 *     holds the FILE's lock, so each reader allocates under a stdio lock.
 * An allocator whose fork handler holds its locks while glibc's fork
 * waits for the list of streams deadlocks here: the forking thread holds
 * the allocator's locks and waits for the list, the flusher holds the
 * list and waits for a reader's FILE, and the reader holds the FILE and
 * waits for the allocator. The watchdog turns that into a failure.
 * Readers also check every line they read, so a heap damaged by a fork
 * in the parent shows as wrong contents.
 */
#include "fork_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

enum { READERS = 2, LINES = 600 };

static atomic_bool stop;
static atomic_ulong nflushes, nlines;

/* Line lengths: mostly small, some past a page, a few past the largest
 * small and large classes, so that getline's reallocs reach the bins, the
 * arena and the huge path, each behind different locks. */
static size_t line_length(uint64_t *state)
{
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    uint64_t r = *state >> 33;
    switch (r % 20) {
    case 0:
        return 40000 + r % 300000;
    case 1: case 2: case 3: case 4:
        return 4000 + r % 30000;
    default:
        return 1 + r % 600;
    }
}

/* Line i is line_length() copies of one letter, chosen by i. */
static FILE *make_input(uint64_t seed)
{
    FILE *f = tmpfile();
    if (f == NULL)
        fail("tmpfile failed");
    uint64_t state = seed;
    for (int i = 0; i < LINES; i++) {
        size_t n = line_length(&state);
        int c = 'a' + i % 26;
        for (size_t k = 0; k < n; k++)
            putc(c, f);
        putc('\n', f);
    }
    if (fflush(f) != 0)
        fail("writing the input failed");
    return f;
}

static void *reader(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    uint64_t seed = 1000 + id;
    FILE *f = make_input(seed);
    char *line = NULL;
    size_t cap = 0;
    while (!atomic_load(&stop)) {
        rewind(f);
        uint64_t state = seed;
        for (int i = 0; i < LINES; i++) {
            ssize_t got = getline(&line, &cap, f);
            size_t want = line_length(&state);
            if (got != (ssize_t)want + 1)
                fail("a line came back with the wrong length");
            if (line[0] != 'a' + i % 26 || line[want - 1] != 'a' + i % 26)
                fail("a line came back with the wrong contents");
            /* Give the buffer up now and then, so that getline starts
             * again from a fresh malloc and grows it once more. */
            if (i % 3 == 0) {
                free(line);
                line = NULL;
                cap = 0;
            }
            atomic_fetch_add(&nlines, 1);
        }
    }
    free(line);
    fclose(f);
    return NULL;
}

static void *flusher(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        fflush(NULL);
        atomic_fetch_add(&nflushes, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    fork_test_name = "fork_stdio";
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    expect_quarry();
    watchdog_start((unsigned)seconds + 30);

    pthread_t threads[READERS + 1];
    for (uintptr_t i = 0; i < READERS; i++)
        if (pthread_create(&threads[i], NULL, reader, (void *)i) != 0)
            fail("pthread_create failed");
    if (pthread_create(&threads[READERS], NULL, flusher, NULL) != 0)
        fail("pthread_create failed");

    unsigned long nforks = 0;
    double end = now_seconds() + seconds;
    while (now_seconds() < end) {
        pid_t pid = fork();
        if (pid < 0)
            fail("fork failed");
        if (pid == 0)
            _exit(child_heap_work((unsigned)nforks));
        reap(pid, "a child");
        nforks++;
    }
    atomic_store(&stop, true);
    for (int i = 0; i <= READERS; i++)
        pthread_join(threads[i], NULL);

    printf("fork_stdio: %lu forks, %lu fflush(NULL), %lu lines read\n", nforks,
           atomic_load(&nflushes), atomic_load(&nlines));
    if (nforks == 0 || atomic_load(&nflushes) == 0 || atomic_load(&nlines) == 0)
        fail("some thread made no progress");
    watchdog_stop();
    return 0;
}
