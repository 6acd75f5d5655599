/* The memory doctor: "no issues" on a healthy heap, each finding on a heap
 * built to show it (other threads' caches included), the parts of the gap
 * adding up to the gap, nothing allocated from the heap it inspects, the
 * control names that write the diagnosis and the heap map to files, and a
 * forked child that can still draw and trace. Each Test runs in a process
 * of its own (Criterion forks), so option changes stay in their test. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "conf.h"
#include "doctor.h"
#include "heapmap.h"
#include "quarry.h"
#include "size_class.h"
#include "stats.h"
#include "tcache.h"
#include "trace.h"

static char text[1 << 16];
static size_t text_len;

static void collect(void *opaque, const char *s) {
    (void)opaque;
    size_t n = strlen(s);
    cr_assert_lt(text_len + n, sizeof(text), "the diagnosis is longer than the test's buffer");
    memcpy(text + text_len, s, n + 1);
    text_len += n;
}

static unsigned diagnose(void) {
    text_len = 0;
    text[0] = '\0';
    return quarry_doctor(collect, NULL);
}

static void flush(void) { cr_assert_eq(quarry_ctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0); }

static size_t ctl_size(const char *name) {
    uint64_t e = 1;
    quarry_ctl("epoch", NULL, NULL, &e, sizeof(e));
    size_t v = 0, len = sizeof(v);
    cr_assert_eq(quarry_ctl(name, &v, &len, NULL, 0), 0, "%s", name);
    return v;
}

static uint64_t ctl_u64(const char *name) {
    uint64_t v = 0;
    size_t len = sizeof(v);
    cr_assert_eq(quarry_ctl(name, &v, &len, NULL, 0), 0, "%s", name);
    return v;
}

#define NSMALLBLOCKS 400000
static void *blocks[NSMALLBLOCKS];

/* Frees three of every four of the n blocks: the live quarter stays spread
 * over every run they filled. */
static void free_three_in_four(void **b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (i % 4 != 0)
            quarry_free(b[i]);
}

Test(doctor, a_healthy_heap_has_no_issues) {
    for (int i = 0; i < 20000; i++)
        blocks[i] = quarry_malloc(64);
    void *big = quarry_malloc(200000);
    flush();
    unsigned n = diagnose();
    cr_assert_eq(n, 0, "findings on a healthy heap:\n%s", text);
    cr_assert_not_null(strstr(text, "no issues"), "%s", text);
    cr_assert_not_null(strstr(text, "resident / allocated"), "%s", text);
    for (int i = 0; i < 20000; i++)
        quarry_free(blocks[i]);
    quarry_free(big);
}

/* 400,000 blocks of 48 bytes, three of every four freed: the live ones are
 * spread over every run of the class at a quarter full. */
Test(doctor, fragmentation_names_the_size_class_and_the_cure) {
    for (int i = 0; i < NSMALLBLOCKS; i++)
        blocks[i] = quarry_malloc(48);
    free_three_in_four(blocks, NSMALLBLOCKS);
    flush();
    cr_assert_gt(diagnose(), 0, "%s", text);
    cr_assert_not_null(strstr(text, "[fragmentation] size class 3 (48 bytes)"), "%s", text);
    cr_assert_not_null(strstr(text, "Only moving them"), "%s", text);
    cr_assert_null(strstr(text, "[dirty pages]"), "%s", text);
}

/* Purging off, 40 MiB of large blocks freed: dirty pages, and how much a
 * purge would give back. */
Test(doctor, dirty_pages_say_what_a_purge_returns) {
    opt_lg_dirty_mult = -1;
    enum { N = 80 };
    static void *large[N];
    void *keep = quarry_malloc(100);
    for (int i = 0; i < N; i++)
        large[i] = quarry_malloc(512 << 10);
    for (int i = 0; i < N; i++)
        quarry_free(large[i]);
    flush();
    cr_assert_gt(diagnose(), 0, "%s", text);
    cr_assert_not_null(strstr(text, "[dirty pages]"), "%s", text);
    cr_assert_not_null(strstr(text, "Purging is off (lg_dirty_mult:-1)"), "%s", text);
    cr_assert_not_null(strstr(text, "MEMORY PURGE would return"), "%s", text);
    quarry_purge();
    cr_assert_eq(diagnose(), 0, "after a purge:\n%s", text);
    quarry_free(keep);
}

Test(doctor, a_cached_huge_mapping_is_a_finding) {
    void *keep = quarry_malloc(100);
    void *huge = quarry_malloc(24 << 20);
    memset(huge, 1, 24 << 20);
    quarry_free(huge);
    cr_assert_gt(diagnose(), 0, "%s", text);
    cr_assert_not_null(strstr(text, "[huge cache]"), "%s", text);
    quarry_free(keep);
}

/* A 24 MiB huge block shrunk to 13 MiB keeps its mapping (up to twice the
 * size is kept, so that it can grow back in place): 11 MiB of slack. */
Test(doctor, huge_slack_is_a_finding) {
    void *keep = quarry_malloc(100);
    char *huge = quarry_malloc(24 << 20);
    cr_assert_not_null(huge);
    char *shrunk = quarry_realloc(huge, 13 << 20);
    cr_assert_eq(shrunk, huge, "shrunk in place");
    cr_assert_eq(ctl_size("stats.huge.slack"), (size_t)11 << 20);
    cr_assert_gt(diagnose(), 0, "%s", text);
    cr_assert_not_null(strstr(text, "[huge slack] 11.0 MiB is mapped past the size of live huge blocks"), "%s", text);
    cr_assert_null(strstr(text, "[huge cache]"), "%s", text);
    quarry_free(shrunk); /* the mapping goes to the huge cache; a purge unmaps it */
    quarry_purge();
    cr_assert_eq(diagnose(), 0, "after the free and a purge:\n%s", text);
    quarry_free(keep);
}

/* Twenty blocks of each cached large class, freed: about 2.9 MiB of this
 * thread's cache. */
Test(doctor, a_full_thread_cache_is_a_finding) {
    enum { PER = 20 };
    static void *b[8][PER];
    for (int k = 0; k < 8; k++)
        for (int i = 0; i < PER; i++)
            b[k][i] = quarry_malloc((size_t)(k + 1) << 12);
    for (int k = 0; k < 8; k++)
        for (int i = 0; i < PER; i++)
            quarry_free(b[k][i]);
    cr_assert_gt(diagnose(), 0, "%s", text);
    cr_assert_not_null(strstr(text, "[thread cache]"), "%s", text);
    cr_assert_not_null(strstr(text, "thread.tcache.flush"), "%s", text);
    flush();
    cr_assert_eq(diagnose(), 0, "after a flush:\n%s", text);
}

/* Four threads cache five blocks of each cached large class (720 KiB a
 * thread, under the finding's floor alone) and wait; the main thread,
 * whose own cache is empty, must still see all of them: 160 blocks,
 * 2.8 MiB, in four threads' caches. */
enum { NCACHING = 4, PER_CLASS = 5 };
static pthread_barrier_t caches_full, may_exit;

static void *fill_a_cache(void *arg) {
    (void)arg;
    void *b[8][PER_CLASS];
    for (int k = 0; k < 8; k++)
        for (int i = 0; i < PER_CLASS; i++)
            b[k][i] = quarry_malloc((size_t)(k + 1) << 12);
    for (int k = 0; k < 8; k++)
        for (int i = 0; i < PER_CLASS; i++)
            quarry_free(b[k][i]);
    pthread_barrier_wait(&caches_full);
    pthread_barrier_wait(&may_exit);
    return NULL;
}

/* NCACHING threads fill their caches and wait until end_caching_threads(). */
static void start_caching_threads(pthread_t *t) {
    pthread_barrier_init(&caches_full, NULL, NCACHING + 1);
    pthread_barrier_init(&may_exit, NULL, NCACHING + 1);
    for (int i = 0; i < NCACHING; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, fill_a_cache, NULL), 0);
    pthread_barrier_wait(&caches_full);
}

static void end_caching_threads(pthread_t *t) {
    pthread_barrier_wait(&may_exit);
    for (int i = 0; i < NCACHING; i++)
        pthread_join(t[i], NULL);
}

Test(doctor, every_threads_cache_is_counted) {
    pthread_t t[NCACHING];
    start_caching_threads(t);
    unsigned n = diagnose();
    end_caching_threads(t);
    cr_assert_gt(n, 0, "%s", text);
    cr_assert_not_null(strstr(text, "[thread cache] 2.8 MiB (160 free blocks) sit in the caches of 4 threads"),
                       "%s", text);
    cr_assert_not_null(strstr(text, "threads with a cache: 4"), "%s", text);
    /* Their caches went with the threads (flushed, unlinked): nothing left. */
    cr_assert_eq(diagnose(), 0, "after the threads ended:\n%s", text);
    cr_assert_not_null(strstr(text, "threads with a cache: 0"), "%s", text);
}

/* purge:free, then an explicit purge of chunks that stay in use: their
 * free pages become MADV_FREE'd (muzzy) pages. */
Test(doctor, madv_free_pages_are_a_finding) {
    opt_purge = PURGE_FREE;
    enum { N = 96 };
    static void *large[N];
    for (int i = 0; i < N; i++)
        large[i] = quarry_malloc(448 << 10);
    for (int i = 0; i < N; i++)
        if (i % 8 != 0)
            quarry_free(large[i]);
    quarry_purge();
    size_t muzzy = ctl_size("stats.muzzy");
    if (muzzy == 0)
        cr_skip_test("this kernel refused MADV_FREE");
    cr_assert_gt(diagnose(), 0, "%s", text);
    cr_assert_not_null(strstr(text, "[MADV_FREE]"), "%s", text);
}

/* Sparse chunks: in each of 400 chunks one page stays in use and the rest
 * is freed and purged, so each chunk's 20 KiB header outweighs what it
 * holds: metadata is most of resident memory. Only address space is
 * taken (the large blocks are never written). */
Test(doctor, metadata_is_a_finding_when_it_outweighs_the_heap) {
    enum { NCHUNKS = 400 };
    static void *wide[NCHUNKS], *page[NCHUNKS];
    for (int i = 0; i < NCHUNKS; i++) {
        wide[i] = quarry_malloc(LARGE_MAX - PAGE);
        page[i] = quarry_malloc(PAGE);
        cr_assert(wide[i] != NULL && page[i] != NULL);
    }
    for (int i = 0; i < NCHUNKS; i++)
        quarry_free(wide[i]);
    quarry_purge();
    cr_assert_geq(ctl_size("stats.metadata") * 4, ctl_size("stats.resident"),
                  "the built heap should be mostly metadata");
    cr_assert_eq(diagnose(), 1, "%s", text);
    cr_assert_not_null(strstr(text, "[metadata]"), "%s", text);
    cr_assert_not_null(strstr(text, "in the headers of 400 chunks"), "%s", text);
    for (int i = 0; i < NCHUNKS; i++)
        quarry_free(page[i]);
}

/* Blocks of 25 size classes, three of every four freed: 18 MiB of free
 * regions, under 1 MiB in each class, so no class is fragmented enough to
 * name, yet resident is four times allocated: the spread finding, which
 * names the largest part of the gap. */
Test(doctor, a_gap_with_no_single_cause_is_spread) {
    static void *b[NSMALLBLOCKS];
    size_t n = 0;
    for (unsigned c = 1; c <= 25; c++) {
        size_t count = ((size_t)1 << 20) / class_size(c);
        for (size_t i = 0; i < count; i++) {
            cr_assert_lt(n, (size_t)NSMALLBLOCKS);
            b[n++] = quarry_malloc(class_size(c));
        }
    }
    free_three_in_four(b, n);
    flush();
    cr_assert_eq(diagnose(), 1, "%s", text);
    cr_assert_not_null(strstr(text, "[spread]"), "%s", text);
    cr_assert_not_null(strstr(text, "the largest part is free regions in partly used small runs"), "%s", text);
    cr_assert_null(strstr(text, "[fragmentation]"), "%s", text);
    for (size_t i = 0; i < n; i += 4)
        quarry_free(b[i]);
}

/* The parts of the gap, as printed, against the gap read through the
 * control names: the same to 1% (the diagnosis reads the heap once, the
 * names read it again). */
Test(doctor, the_parts_of_the_gap_add_up) {
    opt_lg_dirty_mult = -1;
    for (int i = 0; i < NSMALLBLOCKS; i++)
        blocks[i] = quarry_malloc(i % 3 == 0 ? 100 : 700);
    for (int i = 0; i < NSMALLBLOCKS; i += 2)
        quarry_free(blocks[i]);
    static void *large[30];
    for (int i = 0; i < 30; i++)
        large[i] = quarry_malloc((size_t)(i + 1) * 20000);
    for (int i = 0; i < 30; i += 3)
        quarry_free(large[i]);
    void *huge = quarry_malloc(9 << 20);
    void *gone = quarry_malloc(6 << 20);
    quarry_free(gone);
    flush();
    diagnose();
    const char *s = strstr(text, "Where the gap between allocated and resident lies");
    cr_assert_not_null(s, "%s", text);
    s = strchr(s, '\n') + 1;
    long long sum = 0, total = -1;
    unsigned nparts = 0;
    while (*s == ' ') {
        const char *eol = strchr(s, '\n');
        const char *b = strstr(s, " B  ");
        cr_assert(b != NULL && b < eol, "a gap line without bytes: %.*s", (int)(eol - s), s);
        const char *num = b;
        while (num > s && num[-1] != ' ')
            num--;
        long long v = atoll(num);
        if (strncmp(s, "  total", 7) == 0) {
            total = v;
            break;
        }
        sum += v;
        nparts++;
        s = eol + 1;
    }
    cr_assert_eq(nparts, 11);
    cr_assert_eq(sum, total, "the printed parts sum to %lld, the total says %lld", sum, total);
    long long gap = (long long)ctl_size("stats.resident") - (long long)ctl_size("stats.allocated");
    long long diff = sum > gap ? sum - gap : gap - sum;
    cr_assert_leq(diff * 100, gap, "parts %lld against the gap %lld by the control names", sum, gap);
    cr_assert_gt(sum, 20 << 20, "the built heap should have a gap of tens of MiB:\n%s", text);
    quarry_free(huge);
}

struct counters {
    uint64_t small, large, huge, thread;
    size_t metadata, allocated;
};

static void read_counters(struct counters *c) {
    uint64_t e = 1;
    quarry_ctl("epoch", NULL, NULL, &e, sizeof(e));
    c->small = ctl_u64("stats.arenas.4096.small.nmalloc");
    c->large = ctl_u64("stats.arenas.4096.large.nmalloc");
    c->huge = ctl_u64("stats.huge.nmalloc");
    c->thread = ctl_u64("thread.allocated");
    c->metadata = ctl_size("stats.metadata");
    c->allocated = ctl_size("stats.allocated");
}

/* Neither the diagnosis nor the heap map takes a block from the heap it
 * describes: every allocation counter and the metadata are unchanged. */
Test(doctor, nothing_is_allocated_from_the_inspected_heap) {
    for (int i = 0; i < 100000; i++)
        blocks[i] = quarry_malloc(16 + (size_t)(i % 50) * 16);
    for (int i = 0; i < 100000; i += 3)
        quarry_free(blocks[i]);
    flush();
    struct counters before, after;
    read_counters(&before);
    diagnose();
    quarry_doctor(collect, NULL);
    text_len = 0;
    char path[] = "/tmp/quarry-heapmap-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(quarry_heapmap(path), 0);
    unlink(path);
    read_counters(&after);
    cr_assert_eq(after.small, before.small);
    cr_assert_eq(after.large, before.large);
    cr_assert_eq(after.huge, before.huge);
    cr_assert_eq(after.thread, before.thread);
    cr_assert_eq(after.metadata, before.metadata);
    cr_assert_eq(after.allocated, before.allocated);
}

static bool file_starts_with(const char *path, const char *prefix) {
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char buf[256] = {0};
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    return n >= strlen(prefix) && strncmp(buf, prefix, strlen(prefix)) == 0;
}

/* As Redis's DEBUG MALLCTL-STR drives them: read as a const char * first,
 * then write the path by address. */
Test(doctor, the_control_names_write_the_files) {
    void *keep = quarry_malloc(1000);
    char doc[] = "/tmp/quarry-doctor-XXXXXX", map[] = "/tmp/quarry-map-XXXXXX";
    close(mkstemp(doc));
    close(mkstemp(map));
    const char *old = NULL, *path = doc;
    size_t len = sizeof(old);
    cr_assert_eq(quarry_ctl("quarry.doctor", &old, &len, NULL, 0), 0);
    cr_assert_str_eq(old, "");
    cr_assert_eq(quarry_ctl("quarry.doctor", NULL, NULL, &path, sizeof(path)), 0);
    cr_assert(file_starts_with(doc, "quarry memory doctor"));
    cr_assert_eq(quarry_ctl("quarry.doctor", &old, &len, NULL, 0), 0);
    cr_assert_str_eq(old, doc);
    path = map;
    cr_assert_eq(quarry_ctl("quarry.heapmap", &old, &len, NULL, 0), 0);
    cr_assert_eq(quarry_ctl("quarry.heapmap", NULL, NULL, &path, sizeof(path)), 0);
    cr_assert(file_starts_with(map, "<?xml"));
    path = "/nonexistent-dir/x.svg";
    cr_assert_eq(quarry_ctl("quarry.heapmap", NULL, NULL, &path, sizeof(path)), ENOENT);
    path = NULL;
    cr_assert_eq(quarry_ctl("quarry.doctor", NULL, NULL, &path, sizeof(path)), EINVAL);
    cr_assert_eq(quarry_ctl("quarry.doctor", NULL, NULL, &path, 3), EINVAL);
    unlink(doc);
    unlink(map);
    quarry_free(keep);
}

/* ---- fork ------------------------------------------------------------------ */

static _Atomic bool stop_drawing;

static void *draw_forever(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_drawing))
        quarry_heapmap("/dev/null");
    return NULL;
}

/* The child's exit status, or 128 + the signal that ended it. */
static int wait_child(pid_t pid) {
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* Another thread is drawing heap maps, nearly always holding the drawing
 * lock, when this thread forks: each child must still draw one (the
 * drawer did not come along). A child stuck on the lock dies of its
 * alarm. */
Test(doctor, a_child_forked_while_another_thread_draws_can_draw) {
    for (int i = 0; i < 20000; i++)
        blocks[i] = quarry_malloc(16 + (size_t)(i % 40) * 32);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, draw_forever, NULL), 0);
    for (int round = 0; round < 20; round++) {
        struct timespec pause = {0, 3000000};
        nanosleep(&pause, NULL);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            alarm(10);
            _exit(quarry_heapmap("/dev/null") == 0 ? 0 : 1);
        }
        int rc = wait_child(pid);
        cr_assert_eq(rc, 0, "child %d: %d (%d: killed by its alarm)", round, rc, 128 + SIGALRM);
    }
    atomic_store(&stop_drawing, true);
    pthread_join(t, NULL);
}

static off_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Four threads hold full caches when the main thread forks: the child,
 * which has only the main thread, counts only that thread's cache. */
Test(doctor, a_forked_child_counts_only_its_own_cache) {
    pthread_t t[NCACHING];
    start_caching_threads(t);
    quarry_free(quarry_malloc(64)); /* this thread's cache: a fill of 64-byte blocks */
    size_t own = 0;
    for (unsigned b = 0; b < thread_tcache->nbins; b++)
        own += tcache_bin_count(&thread_tcache->stacks[b]);
    cr_assert_gt(own, 0);
    struct tcache_census parent;
    tcache_census(&parent);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        alarm(10);
        struct tcache_census child;
        tcache_census(&child);
        _exit(child.nthreads == 1 && child.blocks == own && child.bytes == own * 64 ? 0 : 1);
    }
    int rc = wait_child(pid);
    end_caching_threads(t);
    cr_assert_eq(parent.nthreads, NCACHING + 1);
    cr_assert_eq(parent.blocks, NCACHING * 8 * PER_CLASS + own);
    cr_assert_eq(rc, 0, "the child's census: %d", rc);
}

/* The parent runs a trace; its thread is not in the child, which must be
 * able to start a trace of its own (into another file). */
Test(doctor, a_forked_child_can_start_its_own_trace) {
    char parent_file[] = "/tmp/quarry-trace-parent-XXXXXX", child_file[] = "/tmp/quarry-trace-child-XXXXXX";
    close(mkstemp(parent_file));
    close(mkstemp(child_file));
    void *keep = quarry_malloc(100);
    opt_stats_interval = 10;
    strcpy(opt_stats_file, parent_file);
    cr_assert(trace_start());
    /* Fork once the parent's thread is at work. */
    for (int i = 0; i < 500 && file_size(parent_file) <= 0; i++) {
        struct timespec pause = {0, 10000000};
        nanosleep(&pause, NULL);
    }
    cr_assert_gt(file_size(parent_file), 0, "the parent's trace wrote nothing in 5 s");
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        alarm(10);
        strcpy(opt_stats_file, child_file);
        if (!trace_start())
            _exit(2);
        for (int i = 0; i < 500 && file_size(child_file) <= 0; i++) {
            struct timespec pause = {0, 10000000};
            nanosleep(&pause, NULL);
        }
        _exit(file_size(child_file) > 0 ? 0 : 3);
    }
    int rc = wait_child(pid);
    unlink(parent_file);
    unlink(child_file);
    cr_assert_eq(rc, 0, "child: %d (2: trace_start failed, 3: no line in its file)", rc);
    quarry_free(keep);
}
