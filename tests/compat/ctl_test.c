/* The control namespace: every name the tree holds is in this file's table
 * with its type and in docs/stats.md, reads with its size, refuses other
 * sizes, writes and unknown names as jemalloc does, and no name, length or
 * MIB a caller can pass crashes it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "chunk.h"
#include "conf.h"
#include "ctl.h"
#include "init.h"
#include "quarry.h"
#include "size_class.h"

enum access { RO, RW, ACTION, WRITE_ONLY };

struct name_type {
    const char *name; /* indices written <i> (arena) and <j> (class) */
    size_t size;
    enum access access;
};

#define B sizeof(bool)
#define U sizeof(unsigned)
#define U32 sizeof(uint32_t)
#define SZ sizeof(size_t)
#define SS sizeof(ssize_t)
#define U64 sizeof(uint64_t)
#define STR sizeof(const char *)
#define PTR sizeof(void *)

static const struct name_type names[] = {
    {"version", STR, RO},
    {"epoch", U64, RW},
    {"background_thread", B, RW},
    {"max_background_threads", SZ, RO},
    {"config.cache_oblivious", B, RO},
    {"config.debug", B, RO},
    {"config.fill", B, RO},
    {"config.lazy_lock", B, RO},
    {"config.malloc_conf", STR, RO},
    {"config.opt_safety_checks", B, RO},
    {"config.prof", B, RO},
    {"config.prof_libgcc", B, RO},
    {"config.prof_libunwind", B, RO},
    {"config.stats", B, RO},
    {"config.utrace", B, RO},
    {"config.valgrind", B, RO},
    {"config.xmalloc", B, RO},
    {"opt.narenas", U, RO},
    {"opt.lg_dirty_mult", SS, RO},
    {"opt.purge", STR, RO},
    {"opt.tcache", B, RO},
    {"opt.tcache_max", SZ, RO},
    {"opt.retain", B, RO},
    {"opt.thp", STR, RO},
    {"opt.junk", B, RO},
    {"opt.zero", B, RO},
    {"opt.safe", B, RO},
    {"opt.abort_on_error", B, RO},
    {"opt.stats_print", B, RO},
    {"opt.decay_ms", SS, RO},
    {"opt.background_thread", B, RO},
    {"opt.doctor", B, RO},
    {"opt.heapmap", STR, RO},
    {"opt.stats_interval", U, RO},
    {"opt.stats_file", STR, RO},
    {"opt.abort", B, RO},
    {"opt.dirty_decay_ms", SS, RO},
    {"opt.muzzy_decay_ms", SS, RO},
    {"opt.percpu_arena", STR, RO},
    {"opt.dss", STR, RO},
    {"arenas.narenas", U, RO},
    {"arenas.page", SZ, RO},
    {"arenas.quantum", SZ, RO},
    {"arenas.tcache_max", SZ, RO},
    {"arenas.nbins", U, RO},
    {"arenas.nhbins", U, RO},
    {"arenas.nlextents", U, RO},
    {"arenas.dirty_decay_ms", SS, RW},
    {"arenas.muzzy_decay_ms", SS, RO},
    {"arenas.bin.<j>.size", SZ, RO},
    {"arenas.bin.<j>.nregs", U32, RO},
    {"arenas.bin.<j>.slab_size", SZ, RO},
    {"arenas.bin.<j>.nshards", U32, RO},
    {"arenas.lextent.<j>.size", SZ, RO},
    {"arena.<i>.purge", 0, ACTION},
    {"arena.<i>.decay", 0, ACTION},
    {"arena.<i>.initialized", B, RO},
    {"arena.<i>.dirty_decay_ms", SS, RO},
    {"arena.<i>.muzzy_decay_ms", SS, RO},
    {"thread.allocated", U64, RO},
    {"thread.deallocated", U64, RO},
    {"thread.allocatedp", PTR, RO},
    {"thread.deallocatedp", PTR, RO},
    {"thread.arena", U, RO},
    {"thread.tcache.flush", 0, ACTION},
    {"thread.tcache.enabled", B, RO},
    {"tcache.create", U, RO},
    {"tcache.flush", U, WRITE_ONLY},
    {"tcache.destroy", U, WRITE_ONLY},
    {"stats.allocated", SZ, RO},
    {"stats.active", SZ, RO},
    {"stats.metadata", SZ, RO},
    {"stats.resident", SZ, RO},
    {"stats.mapped", SZ, RO},
    {"stats.retained", SZ, RO},
    {"stats.dirty", SZ, RO},
    {"stats.muzzy", SZ, RO},
    {"stats.huge.allocated", SZ, RO},
    {"stats.huge.count", SZ, RO},
    {"stats.huge.nmalloc", U64, RO},
    {"stats.huge.ndalloc", U64, RO},
    {"stats.huge.slack", SZ, RO},
    {"stats.huge.cached", SZ, RO},
    {"stats.huge.ncached", SZ, RO},
    {"stats.huge.nreused", U64, RO},
    {"stats.arenas.<i>.nthreads", U, RO},
    {"stats.arenas.<i>.pactive", SZ, RO},
    {"stats.arenas.<i>.pdirty", SZ, RO},
    {"stats.arenas.<i>.pmuzzy", SZ, RO},
    {"stats.arenas.<i>.mapped", SZ, RO},
    {"stats.arenas.<i>.retained", SZ, RO},
    {"stats.arenas.<i>.resident", SZ, RO},
    {"stats.arenas.<i>.metadata", SZ, RO},
    {"stats.arenas.<i>.npurge", U64, RO},
    {"stats.arenas.<i>.nmadvise", U64, RO},
    {"stats.arenas.<i>.purged", U64, RO},
    {"stats.arenas.<i>.dirty_npurge", U64, RO},
    {"stats.arenas.<i>.dirty_nmadvise", U64, RO},
    {"stats.arenas.<i>.dirty_purged", U64, RO},
    {"stats.arenas.<i>.muzzy_npurge", U64, RO},
    {"stats.arenas.<i>.muzzy_nmadvise", U64, RO},
    {"stats.arenas.<i>.muzzy_purged", U64, RO},
    {"stats.arenas.<i>.calloc_zeroed", U64, RO},
    {"stats.arenas.<i>.dirty_decay_ms", SS, RO},
    {"stats.arenas.<i>.muzzy_decay_ms", SS, RO},
    {"stats.arenas.<i>.small.allocated", SZ, RO},
    {"stats.arenas.<i>.small.nmalloc", U64, RO},
    {"stats.arenas.<i>.small.ndalloc", U64, RO},
    {"stats.arenas.<i>.small.nrequests", U64, RO},
    {"stats.arenas.<i>.small.nfills", U64, RO},
    {"stats.arenas.<i>.small.nflushes", U64, RO},
    {"stats.arenas.<i>.large.allocated", SZ, RO},
    {"stats.arenas.<i>.large.nmalloc", U64, RO},
    {"stats.arenas.<i>.large.ndalloc", U64, RO},
    {"stats.arenas.<i>.large.nrequests", U64, RO},
    {"stats.arenas.<i>.bins.<j>.nmalloc", U64, RO},
    {"stats.arenas.<i>.bins.<j>.ndalloc", U64, RO},
    {"stats.arenas.<i>.bins.<j>.nrequests", U64, RO},
    {"stats.arenas.<i>.bins.<j>.curregs", SZ, RO},
    {"stats.arenas.<i>.bins.<j>.curslabs", SZ, RO},
    {"stats.arenas.<i>.bins.<j>.curruns", SZ, RO},
    {"stats.arenas.<i>.bins.<j>.nfills", U64, RO},
    {"stats.arenas.<i>.bins.<j>.nflushes", U64, RO},
    {"stats.arenas.<i>.lextents.<j>.nmalloc", U64, RO},
    {"stats.arenas.<i>.lextents.<j>.ndalloc", U64, RO},
    {"stats.arenas.<i>.lextents.<j>.nrequests", U64, RO},
    {"stats.arenas.<i>.lextents.<j>.curlextents", SZ, RO},
    {"stats.arenas.<i>.lextents.<j>.curruns", SZ, RO},
    {"quarry.doctor", STR, RW},
    {"quarry.heapmap", STR, RW},
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

/* The pattern with <i> and <j> replaced. */
static void instantiate(const char *pattern, const char *i, const char *j, char *out, size_t size) {
    size_t n = 0;
    for (const char *s = pattern; *s != '\0' && n + 24 < size;) {
        if (strncmp(s, "<i>", 3) == 0 || strncmp(s, "<j>", 3) == 0) {
            const char *v = s[1] == 'i' ? i : j;
            n += (size_t)snprintf(out + n, size - n, "%s", v);
            s += 3;
        } else {
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
}

static const struct name_type *find(const char *pattern) {
    for (size_t k = 0; k < NNAMES; k++)
        if (strcmp(names[k].name, pattern) == 0)
            return &names[k];
    return NULL;
}

/* ---- the tree holds exactly the table's names, all documented ------------ */

static const char *const opt_aliases[] = {"abort", "dirty_decay_ms", "muzzy_decay_ms", "percpu_arena", "dss"};

static char *docs;

static void load_docs(void) {
    const char *path = getenv("QUARRY_STATS_MD");
    cr_assert_not_null(path, "QUARRY_STATS_MD names docs/stats.md");
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    static char buf[1 << 18];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    docs = buf;
}

static unsigned nseen;

static void check_leaf(const char *pattern) {
    cr_assert_not_null(find(pattern), "the tree has %s, which this test's table lacks", pattern);
    char quoted[256];
    snprintf(quoted, sizeof(quoted), "`%s`", pattern);
    cr_assert_not_null(strstr(docs, quoted), "docs/stats.md does not document %s", quoted);
    nseen++;
}

static void walk(const struct ctl_node *node, const char *prefix, const char *parent) {
    char name[256];
    if (node->same_as != NULL)
        node = node->same_as;
    if (node->handler != NULL) {
        check_leaf(prefix);
        return;
    }
    if (node->children != NULL) {
        for (size_t k = 0; k < node->nchildren; k++) {
            snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", node->children[k].name);
            walk(&node->children[k], name, node->children[k].name);
        }
        return;
    }
    cr_assert_not_null(node->element, "%s: a node with neither children nor element", prefix);
    if (node->index_of != NULL) { /* the options, named */
        for (unsigned k = 0; k < conf_noptions; k++) {
            snprintf(name, sizeof(name), "%s.%s", prefix, conf_options[k].name);
            check_leaf(name);
        }
        for (unsigned k = 0; k < sizeof(opt_aliases) / sizeof(opt_aliases[0]); k++) {
            snprintf(name, sizeof(name), "%s.%s", prefix, opt_aliases[k]);
            check_leaf(name);
        }
        return;
    }
    bool arena = strcmp(parent, "arena") == 0 || strcmp(parent, "arenas") == 0;
    snprintf(name, sizeof(name), "%s.%s", prefix, arena ? "<i>" : "<j>");
    walk(node->element, name, "");
}

Test(ctl, every_name_of_the_tree_is_typed_here_and_documented) {
    load_docs();
    walk(&ctl_root, "", "");
    cr_assert_eq(nseen, NNAMES, "the tree has %u names, the table %zu", nseen, NNAMES);
}

/* ---- each name: its size, and nothing else -------------------------------- */

Test(ctl, every_name_reads_with_its_size_and_refuses_other_sizes) {
    void *keep = quarry_malloc(100); /* arena of this thread exists */
    char i[16], name[256];
    snprintf(i, sizeof(i), "%u", thread_arena->index);
    const char *arena_indices[] = {i, "4096"};
    char last_lextent[16];
    snprintf(last_lextent, sizeof(last_lextent), "%u", (unsigned)(RUN_PAGES_MAX - 1));
    for (size_t k = 0; k < NNAMES; k++) {
        const struct name_type *t = &names[k];
        for (unsigned a = 0; a < 2; a++) {
            for (unsigned jj = 0; jj < 2; jj++) {
                const char *j = strstr(t->name, "lextent") ? (jj ? last_lextent : "0") : (jj ? "27" : "0");
                instantiate(t->name, arena_indices[a], j, name, sizeof(name));
                unsigned char buf[64];
                size_t len = t->size;
                switch (t->access) {
                case ACTION:
                    cr_assert_eq(quarry_ctl(name, NULL, NULL, NULL, 0), 0, "%s", name);
                    len = 8;
                    cr_assert_eq(quarry_ctl(name, buf, &len, NULL, 0), EPERM, "%s with a value", name);
                    cr_assert_eq(quarry_ctl(name, NULL, NULL, buf, 8), EPERM, "%s with a value", name);
                    break;
                case WRITE_ONLY: {
                    unsigned id = 0;
                    cr_assert_eq(quarry_ctl(name, NULL, NULL, &id, sizeof(id)), 0, "%s", name);
                    cr_assert_eq(quarry_ctl(name, NULL, NULL, &id, 1), EINVAL, "%s: short value", name);
                    cr_assert_eq(quarry_ctl(name, buf, &len, &id, sizeof(id)), EPERM, "%s: read", name);
                    break;
                }
                case RO:
                case RW:
                    memset(buf, 0xee, sizeof(buf));
                    cr_assert_eq(quarry_ctl(name, buf, &len, NULL, 0), 0, "%s", name);
                    cr_assert_eq(len, t->size, "%s: length changed", name);
                    for (size_t b = t->size; b < sizeof(buf); b++)
                        cr_assert_eq(buf[b], 0xee, "%s wrote past its %zu bytes", name, t->size);
                    len = t->size + 1;
                    cr_assert_eq(quarry_ctl(name, buf, &len, NULL, 0), EINVAL, "%s: long", name);
                    cr_assert_eq(len, t->size + 1, "%s: *oldlenp left alone", name);
                    len = t->size - 1;
                    memset(buf, 0xee, sizeof(buf));
                    cr_assert_eq(quarry_ctl(name, buf, &len, NULL, 0), EINVAL, "%s: short", name);
                    cr_assert_eq(buf[t->size - 1], 0xee, "%s: a short read copies only what fits", name);
                    /* No oldlenp: nothing is read, and nothing fails. */
                    if (t->access == RO) {
                        cr_assert_eq(quarry_ctl(name, buf, NULL, NULL, 0), 0, "%s", name);
                        len = t->size;
                        cr_assert_eq(quarry_ctl(name, buf, &len, buf, t->size), EPERM, "%s is read-only", name);
                    }
                    break;
                }
                if (strstr(t->name, "<j>") == NULL)
                    break;
            }
            if (strstr(t->name, "<i>") == NULL)
                break;
        }
    }
    quarry_free(keep);
}

Test(ctl, unknown_names_and_indices_are_enoent) {
    void *keep = quarry_malloc(1);
    static const char *const bad[] = {
        "", ".", "..", "stats", "stats.", ".stats", "stats..allocated", "stats.allocated.",
        "stats.allocated.x", "Stats.allocated", "stats.allocatedx", "stats.arenas", "stats.arenas.",
        "stats.arenas.x.pactive", "stats.arenas.4097.pactive", "stats.arenas.-1.pactive",
        "stats.arenas.0x0.pactive", "stats.arenas.99999999999999999999999999.pactive",
        "stats.arenas.0.bins.28.nmalloc", "arenas.bin.28.size", "arena.4097.purge", "arena.99999.purge", "arena..purge", "opt",
        "opt.", "opt.nonsense", "opt.narenasx", "config.nonsense", "thread.tcache", "no.such.name",
        "arenas.bin.0", "arenas.bin.0.size.more", "version.x",
    };
    size_t v[8], len = sizeof(size_t);
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
        cr_assert_eq(quarry_ctl(bad[k], v, &len, NULL, 0), ENOENT, "\"%s\"", bad[k]);
    char past_last[64]; /* one large class past the last */
    snprintf(past_last, sizeof(past_last), "arenas.lextent.%u.size", (unsigned)RUN_PAGES_MAX);
    cr_assert_eq(quarry_ctl(past_last, v, &len, NULL, 0), ENOENT, "%s", past_last);
    snprintf(past_last, sizeof(past_last), "stats.arenas.0.lextents.%u.nmalloc", (unsigned)RUN_PAGES_MAX);
    cr_assert_eq(quarry_ctl(past_last, v, &len, NULL, 0), ENOENT, "%s", past_last);
    static char longname[10000];
    memset(longname, 'a', sizeof(longname) - 1);
    cr_assert_eq(quarry_ctl(longname, v, &len, NULL, 0), ENOENT);
    cr_assert_eq(quarry_ctl(NULL, v, &len, NULL, 0), EINVAL);
    quarry_free(keep);
}

/* Random names built from real components, digits and junk, random sizes
 * both ways: every answer is one of the four, nothing crashes. */
Test(ctl, no_name_or_length_crashes) {
    static const char *const parts[] = {"stats", "arenas", "arena", "bins", "lextents", "bin", "lextent",
                                        "opt", "thread", "tcache", "config", "epoch", "allocated", "size",
                                        "pactive", "nmalloc", "purge", "decay", "huge", "small", "large",
                                        "0", "1", "27", "1020", "4096", "4097", "", "x", "..", "%s"};
    void *keep = quarry_malloc(1);
    srand(12345);
    static unsigned char old[1 << 16];
    unsigned char newv[64] = {0};
    for (int iter = 0; iter < 200000; iter++) {
        char name[200] = "";
        int n = 1 + rand() % 7;
        for (int k = 0; k < n; k++) {
            if (k > 0)
                strcat(name, ".");
            strcat(name, parts[rand() % (sizeof(parts) / sizeof(parts[0]))]);
        }
        size_t len = (size_t[]){0, 1, 2, 4, 7, 8, 9, 16, sizeof(old)}[rand() % 9];
        /* Writes only to names that cannot change the heap's behaviour
         * for the rest of the test (no option, no decay time). */
        bool write = rand() % 4 == 0 && strstr(name, "decay_ms") == NULL && strstr(name, "background") == NULL;
        int err = quarry_ctl(name, rand() % 5 ? old : NULL, rand() % 5 ? &len : NULL, write ? newv : NULL,
                             write ? (size_t[]){0, 1, 4, 8}[rand() % 4] : 0);
        cr_assert(err == 0 || err == ENOENT || err == EINVAL || err == EPERM, "%s: %d", name, err);
    }
    quarry_free(keep);
}

/* ---- MIBs ------------------------------------------------------------- */

Test(ctl, a_mib_reads_what_the_name_reads) {
    void *keep = quarry_malloc(48);
    size_t mib[8], miblen = 8;
    cr_assert_eq(quarry_ctlnametomib("stats.arenas.0.bins.0.nmalloc", mib, &miblen), 0);
    cr_assert_eq(miblen, 6);
    for (unsigned i = 0; i < narenas; i++) {
        if (arenas[i] == NULL)
            continue;
        for (unsigned j = 0; j < NSMALL; j++) {
            mib[2] = i;
            mib[4] = j;
            uint64_t by_mib, by_name;
            size_t len = sizeof(uint64_t);
            cr_assert_eq(quarry_ctlbymib(mib, miblen, &by_mib, &len, NULL, 0), 0);
            char name[96];
            snprintf(name, sizeof(name), "stats.arenas.%u.bins.%u.nmalloc", i, j);
            cr_assert_eq(quarry_ctl(name, &by_name, &len, NULL, 0), 0);
            cr_assert_eq(by_mib, by_name, "%s", name);
        }
    }
    mib[4] = NSMALL;
    uint64_t v;
    size_t len = sizeof(v);
    cr_assert_eq(quarry_ctlbymib(mib, miblen, &v, &len, NULL, 0), ENOENT, "class out of range");
    mib[4] = 0;
    mib[2] = 4097;
    cr_assert_eq(quarry_ctlbymib(mib, miblen, &v, &len, NULL, 0), ENOENT, "arena out of range");
    mib[2] = 4096;
    cr_assert_eq(quarry_ctlbymib(mib, miblen, &v, &len, NULL, 0), 0, "all arenas");
    mib[5] = 1000;
    cr_assert_eq(quarry_ctlbymib(mib, miblen, &v, &len, NULL, 0), ENOENT, "leaf out of range");
    cr_assert_eq(quarry_ctlbymib(mib, 5, &v, &len, NULL, 0), ENOENT, "an inner node");
    cr_assert_eq(quarry_ctlbymib(mib, 0, &v, &len, NULL, 0), ENOENT);
    cr_assert_eq(quarry_ctlbymib(mib, 100, &v, &len, NULL, 0), ENOENT);

    /* jemalloc's manual's example: the sizes of every small class. */
    miblen = 4;
    cr_assert_eq(quarry_ctlnametomib("arenas.bin.0.size", mib, &miblen), 0);
    cr_assert_eq(miblen, 4);
    for (unsigned j = 0; j < NSMALL; j++) {
        mib[2] = j;
        size_t size;
        len = sizeof(size);
        cr_assert_eq(quarry_ctlbymib(mib, miblen, &size, &len, NULL, 0), 0);
        cr_assert_eq(size, class_size(j));
    }
    /* A partial MIB: the first components only. */
    size_t part[2], partlen = 2;
    cr_assert_eq(quarry_ctlnametomib("arenas.bin.0.size", part, &partlen), 0);
    cr_assert_eq(partlen, 2);
    cr_assert(part[0] == mib[0] && part[1] == mib[1]);
    /* Options by MIB. */
    miblen = 8;
    cr_assert_eq(quarry_ctlnametomib("opt.lg_dirty_mult", mib, &miblen), 0);
    cr_assert_eq(miblen, 2);
    ssize_t lg;
    len = sizeof(lg);
    cr_assert_eq(quarry_ctlbymib(mib, miblen, &lg, &len, NULL, 0), 0);
    cr_assert_eq(lg, opt_lg_dirty_mult);
    miblen = 8;
    cr_assert_eq(quarry_ctlnametomib("no.such", mib, &miblen), ENOENT);
    cr_assert_eq(quarry_ctlnametomib("stats", mib, NULL), EINVAL);
    quarry_free(keep);
}

Test(ctl, random_mibs_never_crash) {
    void *keep = quarry_malloc(1);
    srand(777);
    static unsigned char old[256];
    for (int iter = 0; iter < 200000; iter++) {
        size_t mib[10];
        size_t miblen = (size_t)(rand() % 10);
        for (size_t k = 0; k < miblen; k++)
            mib[k] = rand() % 3 == 0 ? (size_t)rand() : (size_t)(rand() % 12);
        size_t len = (size_t)(rand() % 10);
        int err = quarry_ctlbymib(mib, miblen, old, &len, NULL, 0);
        cr_assert(err == 0 || err == ENOENT || err == EINVAL || err == EPERM, "%d", err);
    }
    quarry_free(keep);
}

/* ---- values ------------------------------------------------------------ */

static uint64_t ctl_u64(const char *name) {
    uint64_t v = 0;
    size_t len = sizeof(v);
    cr_assert_eq(quarry_ctl(name, &v, &len, NULL, 0), 0, "%s", name);
    return v;
}

static size_t ctl_size(const char *name) {
    size_t v = 0;
    size_t len = sizeof(v);
    cr_assert_eq(quarry_ctl(name, &v, &len, NULL, 0), 0, "%s", name);
    return v;
}

Test(ctl, values_make_sense) {
    void *keep = quarry_malloc(1);
    const char *s;
    size_t len = sizeof(s);
    cr_assert_eq(quarry_ctl("version", &s, &len, NULL, 0), 0);
    cr_assert_str_eq(s, QUARRY_VERSION);
    cr_assert_eq(quarry_ctl("opt.purge", &s, &len, NULL, 0), 0);
    cr_assert_str_eq(s, "dontneed");
    cr_assert_eq(ctl_size("arenas.page"), 4096);
    cr_assert_eq(ctl_size("arenas.lextent.0.size"), 4096);
    cr_assert_eq(ctl_size("arenas.lextent.1018.size"), 1019 * 4096);
    cr_assert_eq(ctl_size("arenas.bin.3.slab_size"), (size_t)size_classes[3].run_pages * 4096);
    unsigned u;
    len = sizeof(u);
    cr_assert_eq(quarry_ctl("arenas.nbins", &u, &len, NULL, 0), 0);
    cr_assert_eq(u, 28);
    cr_assert_eq(quarry_ctl("arenas.nlextents", &u, &len, NULL, 0), 0);
    cr_assert_eq(u, 1019);
    cr_assert_eq(quarry_ctl("thread.arena", &u, &len, NULL, 0), 0);
    cr_assert_eq(u, thread_arena->index);
    bool b;
    len = sizeof(b);
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.initialized", thread_arena->index);
    cr_assert_eq(quarry_ctl(name, &b, &len, NULL, 0), 0);
    cr_assert(b);
    cr_assert_eq(quarry_ctl("config.prof", &b, &len, NULL, 0), 0);
    cr_assert(!b);
    /* The merged arenas under both spellings. */
    snprintf(name, sizeof(name), "stats.arenas.%u.pactive", narenas);
    cr_assert_eq(ctl_size(name), ctl_size("stats.arenas.4096.pactive"));
    quarry_free(keep);
}

Test(ctl, epoch_fixes_the_totals_until_the_next_write) {
    void *keep = quarry_malloc(1);
    uint64_t e1 = ctl_u64("epoch"), e2;
    size_t len = sizeof(e2);
    cr_assert_eq(quarry_ctl("epoch", &e2, &len, &e1, sizeof(e1)), 0);
    cr_assert_eq(e2, e1 + 1, "a write counts and returns the new epoch");
    size_t before = ctl_size("stats.allocated");
    void *big = quarry_malloc(1 << 20);
    cr_assert_eq(ctl_size("stats.allocated"), before, "as of the epoch");
    cr_assert_eq(quarry_ctl("epoch", NULL, NULL, &e1, sizeof(e1)), 0);
    cr_assert_geq(ctl_size("stats.allocated"), before + (1 << 20));
    cr_assert_eq(quarry_ctl("epoch", NULL, NULL, &e1, 4), EINVAL);
    quarry_free(big);
    quarry_free(keep);
}

Test(ctl, background_thread_and_decay_time_can_be_set) {
    void *keep = quarry_malloc(1);
    bool on = true, old;
    size_t len = sizeof(old);
    cr_assert_eq(quarry_ctl("background_thread", &old, &len, &on, sizeof(on)), 0);
    cr_assert(!old);
    cr_assert_eq(quarry_ctl("background_thread", &old, &len, NULL, 0), 0);
    cr_assert(old);
    on = false;
    cr_assert_eq(quarry_ctl("background_thread", NULL, NULL, &on, sizeof(on)), 0);
    cr_assert_eq(quarry_ctl("background_thread", &old, &len, NULL, 0), 0);
    cr_assert(!old);
    cr_assert_eq(quarry_ctl("background_thread", NULL, NULL, &on, 4), EINVAL);

    ssize_t ms = 1234, before;
    len = sizeof(before);
    cr_assert_eq(quarry_ctl("arenas.dirty_decay_ms", &before, &len, &ms, sizeof(ms)), 0);
    cr_assert_eq(before, 10000);
    cr_assert_eq(opt_decay_ms, 1234);
    cr_assert_eq(quarry_ctl("opt.dirty_decay_ms", &before, &len, NULL, 0), 0);
    cr_assert_eq(before, 1234);
    ms = -2;
    cr_assert_eq(quarry_ctl("arenas.dirty_decay_ms", NULL, NULL, &ms, sizeof(ms)), EINVAL);
    quarry_free(keep);
}

Test(ctl, thread_byte_counters) {
    uint64_t *ap, *dp;
    size_t len = sizeof(ap);
    cr_assert_eq(quarry_ctl("thread.allocatedp", &ap, &len, NULL, 0), 0);
    cr_assert_eq(quarry_ctl("thread.deallocatedp", &dp, &len, NULL, 0), 0);
    uint64_t a0 = ctl_u64("thread.allocated"), d0 = ctl_u64("thread.deallocated");
    void *p = quarry_malloc(100), *q = quarry_malloc(50000), *r = quarry_malloc(9 << 20);
    cr_assert_eq(ctl_u64("thread.allocated") - a0, 112 + 53248 + (9 << 20));
    quarry_free(p);
    quarry_free(q);
    quarry_free(r);
    cr_assert_eq(ctl_u64("thread.deallocated") - d0, 112 + 53248 + (9 << 20));
    cr_assert_eq(*ap, ctl_u64("thread.allocated"), "the published copy follows");
    cr_assert_eq(*dp, ctl_u64("thread.deallocated"));
    uint64_t *again;
    cr_assert_eq(quarry_ctl("thread.allocatedp", &again, &len, NULL, 0), 0);
    cr_assert_eq(again, ap, "the same pointer every time");
}

Test(ctl, tcache_identifiers) {
    void *keep = quarry_malloc(1);
    unsigned id;
    size_t len = sizeof(id);
    cr_assert_eq(quarry_ctl("tcache.create", &id, &len, NULL, 0), 0);
    void *p = quarry_mallocx(64, QUARRY_MALLOCX_TCACHE(id));
    cr_assert_not_null(p);
    quarry_dallocx(p, QUARRY_MALLOCX_TCACHE(id));
    cr_assert_eq(quarry_ctl("tcache.flush", NULL, NULL, &id, sizeof(id)), 0);
    cr_assert_eq(quarry_ctl("tcache.destroy", NULL, NULL, &id, sizeof(id)), 0);
    quarry_free(keep);
}
