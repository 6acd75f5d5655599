/* The memory doctor: "no issues" on a healthy heap, each finding on a heap
 * built to show it, the parts of the gap adding up to the gap, nothing
 * allocated from the heap it inspects, and the control names that write
 * the diagnosis and the heap map to files. Each Test runs in a process of
 * its own (Criterion forks), so option changes stay in their test. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "doctor.h"
#include "heapmap.h"
#include "quarry.h"
#include "stats.h"

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
    for (int i = 0; i < NSMALLBLOCKS; i++)
        if (i % 4 != 0)
            quarry_free(blocks[i]);
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
