/*
 * Huge blocks freed by threads that then go idle: what stays resident, what
 * an explicit purge (or nothing at all) gives back, and what is left after
 * the threads exit. The scenario of issue 10.
 *
 * NTHREADS threads (default 8) each malloc(SIZE) (default 30 MiB), write
 * every page, free the block and wait at a barrier, idle. The main thread
 * then reads RSS ("idle"), sleeps WAIT_MS (default 0) and reads it again
 * ("waited": with a decay policy, what the allocator released without being
 * asked), then gives memory back as MODE says and reads RSS ("purged"), then
 * lets the threads exit, joins them and reads RSS ("exited").
 *
 * MODE: explicit  the allocator's own purge call (tuning.h: quarry_purge(),
 *                 mallctl("arena.4096.purge"), mi_collect(true),
 *                 MallocExtension_ReleaseFreeMemory(), malloc_trim(0))
 *       trim      malloc_trim(0), whatever the allocator (glibc's own when
 *                 the preloaded allocator does not export one); its return
 *                 value is printed
 *       none      nothing: "purged" is just a second reading
 *
 * Last, in a fresh thread: malloc(SIZE), touch, free, then malloc(5 MiB)
 * and print its malloc_usable_size (a reused cached mapping handed out
 * whole shows up here as SIZE).
 *
 * Prints one line: alloc=... mode=... rss_base rss_idle rss_waited
 * rss_purged rss_exited (MiB), the purge call's name and result, the 5 MiB
 * block's usable size, and for quarry stats.huge.cached at each step.
 *
 * Usage: [QUARRY_CONF=...] LD_PRELOAD=<allocator.so> ./huge_idle_threads
 *            [MODE] [WAIT_MS] [NTHREADS] [SIZE_MIB]
 * Build: meson builds it into build/bench/tuning/, or
 *        gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -fno-builtin \
 *            -o /tmp/huge_idle_threads bench/tuning/huge_idle_threads.c -ldl -lm -pthread
 */
#include "tuning.h"

#include <malloc.h>
#include <pthread.h>

static size_t block_size;
static pthread_barrier_t freed, go_exit;

static void *idle_worker(void *arg) {
    (void)arg;
    void *p = malloc(block_size);
    if (p == NULL) {
        fprintf(stderr, "huge_idle_threads: malloc(%zu) failed\n", block_size);
        exit(1);
    }
    touch_pages(p, block_size);
    free(p);
    pthread_barrier_wait(&freed);  /* freed; now idle */
    pthread_barrier_wait(&go_exit);
    return NULL;
}

static size_t usable_5m;

static void *reuse_worker(void *arg) {
    (void)arg;
    void *p = malloc(block_size);
    if (p == NULL)
        exit(1);
    touch_pages(p, block_size);
    free(p);
    void *q = malloc(5 << 20);
    if (q == NULL)
        exit(1);
    usable_5m = malloc_usable_size(q);
    free(q);
    return NULL;
}

static double huge_cached_mib(void) { return mib((size_t)quarry_stat("stats.huge.cached")); }

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "explicit";
    long wait_ms = argc > 2 ? strtol(argv[2], NULL, 0) : 0;
    int nthreads = argc > 3 ? atoi(argv[3]) : 8;
    block_size = (argc > 4 ? strtoul(argv[4], NULL, 0) : 30) << 20;
    if (nthreads < 1 || nthreads > 1024 ||
        (strcmp(mode, "explicit") != 0 && strcmp(mode, "trim") != 0 && strcmp(mode, "none") != 0)) {
        fprintf(stderr, "usage: %s [explicit|trim|none] [WAIT_MS] [NTHREADS] [SIZE_MIB]\n", argv[0]);
        return 2;
    }
    free(malloc(1));
    const char *alloc = allocator_name();
    int is_quarry = strcmp(alloc, "quarry") == 0;
    size_t rss_base = rss_bytes();

    pthread_t *tids = calloc((size_t)nthreads, sizeof(pthread_t));
    pthread_barrier_init(&freed, NULL, (unsigned)nthreads + 1);
    pthread_barrier_init(&go_exit, NULL, (unsigned)nthreads + 1);
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&tids[i], NULL, idle_worker, NULL) != 0)
            return 1;
    pthread_barrier_wait(&freed);
    size_t rss_idle = rss_bytes();
    double cached_idle = huge_cached_mib();

    if (wait_ms > 0) {
        struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
    size_t rss_waited = rss_bytes();
    double cached_waited = huge_cached_mib();

    const char *call = "none";
    int trim_ret = -1;
    if (strcmp(mode, "explicit") == 0) {
        call = explicit_purge();
    } else if (strcmp(mode, "trim") == 0) {
        call = "malloc_trim(0)";
        trim_ret = malloc_trim(0);
    }
    size_t rss_purged = rss_bytes();
    double cached_purged = huge_cached_mib();

    pthread_barrier_wait(&go_exit);
    for (int i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);
    size_t rss_exited = rss_bytes();
    double cached_exited = huge_cached_mib();

    pthread_t t;
    if (pthread_create(&t, NULL, reuse_worker, NULL) != 0)
        return 1;
    pthread_join(t, NULL);

    printf("alloc=%s mode=%s wait_ms=%ld threads=%d size_mib=%zu rss_base=%.1f rss_idle=%.1f rss_waited=%.1f "
           "rss_purged=%.1f rss_exited=%.1f call=%s",
           alloc, mode, wait_ms, nthreads, block_size >> 20, mib(rss_base), mib(rss_idle), mib(rss_waited),
           mib(rss_purged), mib(rss_exited), call);
    if (trim_ret >= 0)
        printf(" trim_ret=%d", trim_ret);
    printf(" usable_5m=%zu", usable_5m);
    if (is_quarry)
        printf(" cached_idle=%.1f cached_waited=%.1f cached_purged=%.1f cached_exited=%.1f", cached_idle,
               cached_waited, cached_purged, cached_exited);
    printf("\n");
    free(tids);
    return 0;
}
