/*
 * Memory held by thread caches is bounded: 10 rounds of 1000 threads that
 * each allocate (small and large blocks, some kept, some freed, some handed
 * to the main thread) and exit. Prints the RSS after each round; a cache
 * that outlived its thread, or a leaked arena binding, shows as growth
 * from round to round.
 *
 * Usage: thread_churn [rounds] [threads per round]   (defaults 10 1000)
 * Output: one line per round "round=N rss_mib=X", then
 *         "ratio_round10_over_round2=R".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tuning.h"

#define HANDED 8

struct job {
    unsigned seed;
    void *handed[HANDED]; /* blocks the main thread frees */
};

static void *worker(void *arg) {
    struct job *job = arg;
    unsigned s = job->seed;
    void *live[64] = {0};
    for (int i = 0; i < 2000; i++) {
        s = s * 1103515245u + 12345u;
        unsigned slot = (s >> 8) % 64;
        free(live[slot]);
        size_t size = (s >> 16) % 8 == 0 ? 4096 + (s >> 4) % 28672 : 8 + (s >> 12) % 1024;
        live[slot] = malloc(size);
        memset(live[slot], (int)i, size < 64 ? size : 64);
    }
    for (int i = 0; i < HANDED; i++) {
        job->handed[i] = live[i];
        live[i] = NULL;
    }
    for (int i = 0; i < 64; i++)
        free(live[i]);
    return NULL;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 10;
    int threads = argc > 2 ? atoi(argv[2]) : 1000;
    double rss[64];
    struct job *jobs = calloc((size_t)threads, sizeof(*jobs));
    for (int r = 0; r < rounds && r < 64; r++) {
        /* Two at a time, as a server's short-lived workers would. */
        for (int t = 0; t < threads; t += 2) {
            pthread_t tid[2];
            int n = t + 1 < threads ? 2 : 1;
            for (int k = 0; k < n; k++) {
                jobs[t + k].seed = (unsigned)(r * threads + t + k + 1);
                pthread_create(&tid[k], NULL, worker, &jobs[t + k]);
            }
            for (int k = 0; k < n; k++)
                pthread_join(tid[k], NULL);
            for (int k = 0; k < n; k++)
                for (int i = 0; i < HANDED; i++)
                    free(jobs[t + k].handed[i]);
        }
        rss[r] = rss_bytes() / 1048576.0;
        printf("round=%d rss_mib=%.2f\n", r + 1, rss[r]);
    }
    if (rounds >= 10)
        printf("ratio_round10_over_round2=%.3f\n", rss[9] / rss[1]);
    free(jobs);
    return 0;
}
