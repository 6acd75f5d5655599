/*
 * The control names other than statistics (ctl_stats.c): the version and
 * epoch, build configuration, options, arena geometry, per-arena actions,
 * per-thread figures and the background purge switch. jemalloc 5.3's
 * names and value types where quarry has the same notion, so that programs
 * built for jemalloc read sensible values; docs/stats.md lists each one.
 */
#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include "conf.h"
#include "ctl.h"
#include "doctor.h"
#include "heapmap.h"
#include "init.h"
#include "reclaim.h"
#include "report.h"
#include "tcache.h"

/* ---- constants --------------------------------------------------------- */

static int h_const_bool(const size_t *mib, struct ctl_req *req, intptr_t value) {
    (void)mib;
    return ctl_read_bool(req, value != 0);
}

static int h_const_str(const size_t *mib, struct ctl_req *req, intptr_t value) {
    (void)mib;
    return ctl_read_str(req, (const char *)value);
}

static int h_version(const size_t *mib, struct ctl_req *req, intptr_t arg) {
    (void)mib, (void)arg;
    return ctl_read_str(req, QUARRY_VERSION);
}

/* A write takes the calling thread's totals at this instant (ctl_stats.c)
 * and counts; a read returns the count. */
static int h_epoch(const size_t *mib, struct ctl_req *req, intptr_t arg) {
    (void)mib, (void)arg;
    static uint64_t epoch = 1;
    uint64_t v;
    int taken = ctl_take(req, &v, sizeof(v));
    if (taken < 0)
        return EINVAL;
    if (taken)
        ctl_stats_epoch();
    uint64_t now = taken ? __atomic_add_fetch(&epoch, 1, __ATOMIC_RELAXED) : __atomic_load_n(&epoch, __ATOMIC_RELAXED);
    return ctl_read(req, &now, sizeof(now));
}

static int h_background_thread(const size_t *mib, struct ctl_req *req, intptr_t arg) {
    (void)mib, (void)arg;
    bool v, old = purge_background_enabled();
    int taken = ctl_take(req, &v, sizeof(v));
    if (taken < 0)
        return EINVAL;
    if (taken) {
        int err = purge_background_set(v);
        if (err != 0)
            return err;
    }
    return ctl_read(req, &old, sizeof(old));
}

/* One thread purges for every arena. */
static int h_max_background_threads(const size_t *mib, struct ctl_req *req, intptr_t arg) {
    (void)mib, (void)arg;
    return ctl_read_size(req, 1);
}

/* ---- options ------------------------------------------------------------ */

/* jemalloc's names for notions quarry has under other names or not at all;
 * after the options of conf.c in MIB numbering. */
enum opt_alias { ALIAS_ABORT, ALIAS_DIRTY_DECAY_MS, ALIAS_MUZZY_DECAY_MS, ALIAS_PERCPU_ARENA, ALIAS_DSS, NALIASES };
static const char *const alias_names[NALIASES] = {"abort", "dirty_decay_ms", "muzzy_decay_ms", "percpu_arena", "dss"};

static bool opt_index_of(const char *name, size_t len, size_t *index) {
    const struct conf_option *o = conf_find(name, len);
    if (o != NULL) {
        *index = (size_t)(o - conf_options);
        return true;
    }
    for (size_t k = 0; k < NALIASES; k++)
        if (strncmp(alias_names[k], name, len) == 0 && alias_names[k][len] == '\0') {
            *index = conf_noptions + k;
            return true;
        }
    return false;
}

static bool opt_index_ok(size_t k) { return k < conf_noptions + NALIASES; }

static int read_option(const struct conf_option *o, struct ctl_req *req) {
    switch (o->type) {
    case CONF_BOOL:
        return ctl_read_only(req, o->value, sizeof(bool));
    case CONF_UNSIGNED:
        return ctl_read_only(req, o->value, sizeof(unsigned));
    case CONF_INT: {
        ssize_t v = *(int *)o->value;
        return ctl_read_only(req, &v, sizeof(v));
    }
    case CONF_POW2_OR_ZERO:
        return ctl_read_only(req, o->value, sizeof(size_t));
    case CONF_CHOICE:
        return ctl_read_str(req, o->choices[*(unsigned *)o->value]);
    case CONF_STRING:
        return ctl_read_str(req, (const char *)o->value);
    }
    return ENOENT;
}

static int h_opt(const size_t *mib, struct ctl_req *req, intptr_t arg) {
    (void)arg;
    size_t k = mib[1];
    if (k < conf_noptions)
        return read_option(&conf_options[k], req);
    ssize_t v;
    switch ((enum opt_alias)(k - conf_noptions)) {
    case ALIAS_ABORT:
        return ctl_read_bool(req, opt_abort_on_error);
    case ALIAS_DIRTY_DECAY_MS:
        v = __atomic_load_n(&opt_decay_ms, __ATOMIC_RELAXED);
        return ctl_read_only(req, &v, sizeof(v));
    case ALIAS_MUZZY_DECAY_MS:
        v = 0; /* MADV_FREE'd pages are left to the kernel, never purged again */
        return ctl_read_only(req, &v, sizeof(v));
    case ALIAS_PERCPU_ARENA:
        return ctl_read_str(req, "disabled");
    case ALIAS_DSS:
        return ctl_read_str(req, "disabled"); /* never sbrk */
    case NALIASES:
        break;
    }
    return ENOENT;
}

/* ---- arenas: geometry ------------------------------------------------- */

enum arenas_leaf { A_NARENAS, A_PAGE, A_QUANTUM, A_TCACHE_MAX, A_NBINS, A_NHBINS, A_NLEXTENTS, A_MUZZY_DECAY_MS };

static int h_arenas(const size_t *mib, struct ctl_req *req, intptr_t leaf) {
    (void)mib;
    switch ((enum arenas_leaf)leaf) {
    case A_NARENAS:
        return ctl_read_unsigned(req, narenas);
    case A_PAGE:
        return ctl_read_size(req, PAGE);
    case A_QUANTUM:
        return ctl_read_size(req, 16);
    case A_TCACHE_MAX:
        return ctl_read_size(req, tcache_max_size);
    case A_NBINS:
        return ctl_read_unsigned(req, NSMALL);
    case A_NHBINS:
        return ctl_read_unsigned(req, NSMALL + (unsigned)(opt_tcache_max >> LG_PAGE));
    case A_NLEXTENTS:
        return ctl_read_unsigned(req, RUN_PAGES_MAX);
    case A_MUZZY_DECAY_MS: {
        ssize_t v = 0;
        return ctl_read_only(req, &v, sizeof(v));
    }
    }
    return ENOENT;
}

/* The age limit of dirty pages, for every arena (quarry has no per-arena
 * setting): readable and writable, as jemalloc's default for new arenas. */
static int h_dirty_decay_ms(const size_t *mib, struct ctl_req *req, intptr_t arg) {
    (void)mib, (void)arg;
    ssize_t old = __atomic_load_n(&opt_decay_ms, __ATOMIC_RELAXED), v;
    int taken = ctl_take(req, &v, sizeof(v));
    if (taken < 0 || (taken && (v < -1 || v > 3600000)))
        return EINVAL;
    if (taken)
        __atomic_store_n(&opt_decay_ms, (int)v, __ATOMIC_RELAXED);
    return ctl_read(req, &old, sizeof(old));
}

enum bin_leaf { BIN_SIZE, BIN_NREGS, BIN_SLAB_SIZE, BIN_NSHARDS };

static int h_arenas_bin(const size_t *mib, struct ctl_req *req, intptr_t leaf) {
    const struct size_class *sc = &size_classes[mib[2]];
    uint32_t v32;
    switch ((enum bin_leaf)leaf) {
    case BIN_SIZE:
        return ctl_read_size(req, sc->size);
    case BIN_NREGS:
        v32 = sc->nregs;
        return ctl_read_only(req, &v32, sizeof(v32));
    case BIN_SLAB_SIZE:
        return ctl_read_size(req, (size_t)sc->run_pages << LG_PAGE);
    case BIN_NSHARDS:
        v32 = 1;
        return ctl_read_only(req, &v32, sizeof(v32));
    }
    return ENOENT;
}

static int h_arenas_lextent_size(const size_t *mib, struct ctl_req *req, intptr_t arg) {
    (void)arg;
    return ctl_read_size(req, (mib[2] + 1) << LG_PAGE);
}

static const struct ctl_node arenas_bin_leaves[] = {
    CTL_LEAF("size", h_arenas_bin, BIN_SIZE),
    CTL_LEAF("nregs", h_arenas_bin, BIN_NREGS),
    CTL_LEAF("slab_size", h_arenas_bin, BIN_SLAB_SIZE),
    CTL_LEAF("nshards", h_arenas_bin, BIN_NSHARDS),
};
static const struct ctl_node arenas_bin_j = CTL_NODE("", arenas_bin_leaves);
static const struct ctl_node arenas_lextent_leaves[] = {
    CTL_LEAF("size", h_arenas_lextent_size, 0),
};
static const struct ctl_node arenas_lextent_j = CTL_NODE("", arenas_lextent_leaves);

static const struct ctl_node arenas_children[] = {
    CTL_LEAF("narenas", h_arenas, A_NARENAS),
    CTL_LEAF("page", h_arenas, A_PAGE),
    CTL_LEAF("quantum", h_arenas, A_QUANTUM),
    CTL_LEAF("tcache_max", h_arenas, A_TCACHE_MAX),
    CTL_LEAF("nbins", h_arenas, A_NBINS),
    CTL_LEAF("nhbins", h_arenas, A_NHBINS),
    CTL_LEAF("nlextents", h_arenas, A_NLEXTENTS),
    CTL_LEAF("dirty_decay_ms", h_dirty_decay_ms, 0),
    CTL_LEAF("muzzy_decay_ms", h_arenas, A_MUZZY_DECAY_MS),
    CTL_INDEXED("bin", arenas_bin_j, ctl_small_class),
    CTL_INDEXED("lextent", arenas_lextent_j, ctl_large_class),
};

/* ---- arena.<i>: actions ------------------------------------------------- */

enum arena_action { ARENA_PURGE, ARENA_DECAY };

static int h_arena_action(const size_t *mib, struct ctl_req *req, intptr_t action) {
    int err = ctl_no_value(req);
    if (err != 0)
        return err;
    unsigned i = ctl_arena_index(mib[1]);
    if (action == ARENA_PURGE)
        tcache_flush(thread_tcache); /* its blocks would otherwise stay */
    /* An arena not made yet has nothing to give back. */
    if (i != ARENAS_ALL && !ctl_arena_exists(i))
        return 0;
    if (action == ARENA_PURGE)
        reclaim_purge(i);
    else
        reclaim_decay(i);
    return 0;
}

static int h_arena_initialized(const size_t *mib, struct ctl_req *req, intptr_t arg) {
    (void)arg;
    unsigned i = ctl_arena_index(mib[1]);
    return ctl_read_bool(req, i == ARENAS_ALL || ctl_arena_exists(i));
}

static int h_arena_decay_ms(const size_t *mib, struct ctl_req *req, intptr_t muzzy) {
    (void)mib;
    ssize_t v = muzzy ? 0 : __atomic_load_n(&opt_decay_ms, __ATOMIC_RELAXED);
    return ctl_read_only(req, &v, sizeof(v));
}

static const struct ctl_node arena_i_leaves[] = {
    CTL_LEAF("purge", h_arena_action, ARENA_PURGE),
    CTL_LEAF("decay", h_arena_action, ARENA_DECAY),
    CTL_LEAF("initialized", h_arena_initialized, 0),
    CTL_LEAF("dirty_decay_ms", h_arena_decay_ms, 0),
    CTL_LEAF("muzzy_decay_ms", h_arena_decay_ms, 1),
};
static const struct ctl_node arena_i = CTL_NODE("", arena_i_leaves);

/* ---- thread.* and tcache.* -------------------------------------------- */

enum thread_leaf { T_ALLOCATED, T_DEALLOCATED, T_ALLOCATEDP, T_DEALLOCATEDP, T_ARENA };

static int h_thread(const size_t *mib, struct ctl_req *req, intptr_t leaf) {
    (void)mib;
    uint64_t in, out, *p;
    switch ((enum thread_leaf)leaf) {
    case T_ALLOCATED:
    case T_DEALLOCATED:
        tcache_thread_bytes(&in, &out);
        return ctl_read_u64(req, leaf == T_ALLOCATED ? in : out);
    case T_ALLOCATEDP:
    case T_DEALLOCATEDP:
        p = leaf == T_ALLOCATEDP ? tcache_thread_allocatedp() : tcache_thread_deallocatedp();
        return ctl_read_only(req, &p, sizeof(p));
    case T_ARENA:
        return ctl_read_unsigned(req, thread_arena->index);
    }
    return ENOENT;
}

static int h_thread_tcache_flush(const size_t *mib, struct ctl_req *req, intptr_t arg) {
    (void)mib, (void)arg;
    int err = ctl_no_value(req);
    if (err == 0)
        tcache_flush(thread_tcache);
    return err;
}

/* Whether the calling thread caches (read-only: quarry decides per thread
 * at its first allocation, from the tcache option). */
static int h_thread_tcache_enabled(const size_t *mib, struct ctl_req *req, intptr_t arg) {
    (void)mib, (void)arg;
    return ctl_read_bool(req, opt_tcache && thread_tcache != &tcache_bypass);
}

static const struct ctl_node thread_tcache_leaves[] = {
    CTL_LEAF("flush", h_thread_tcache_flush, 0),
    CTL_LEAF("enabled", h_thread_tcache_enabled, 0),
};

static const struct ctl_node thread_children[] = {
    CTL_LEAF("allocated", h_thread, T_ALLOCATED),
    CTL_LEAF("deallocated", h_thread, T_DEALLOCATED),
    CTL_LEAF("allocatedp", h_thread, T_ALLOCATEDP),
    CTL_LEAF("deallocatedp", h_thread, T_DEALLOCATEDP),
    CTL_LEAF("arena", h_thread, T_ARENA),
    CTL_NODE("tcache", thread_tcache_leaves),
};

/* jemalloc's explicit caches: quarry has only each thread's own, so
 * tcache.create hands out an identifier that MALLOCX_TCACHE() accepts and
 * that means the calling thread's cache. */
enum tcache_leaf { TC_CREATE, TC_FLUSH, TC_DESTROY };

static int h_tcache(const size_t *mib, struct ctl_req *req, intptr_t leaf) {
    (void)mib;
    static unsigned next_id;
    if (leaf == TC_CREATE) {
        if (ctl_writes(req))
            return EPERM;
        unsigned id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED) % 4094;
        return ctl_read(req, &id, sizeof(id));
    }
    unsigned id;
    if (req->oldp != NULL || req->oldlenp != NULL)
        return EPERM;
    if (ctl_take(req, &id, sizeof(id)) != 1)
        return EINVAL;
    if (leaf == TC_FLUSH)
        tcache_flush(thread_tcache);
    return 0;
}

static const struct ctl_node tcache_children[] = {
    CTL_LEAF("create", h_tcache, TC_CREATE),
    CTL_LEAF("flush", h_tcache, TC_FLUSH),
    CTL_LEAF("destroy", h_tcache, TC_DESTROY),
};

/* ---- quarry.*: the doctor and the heap map ------------------------------ */

enum quarry_output { OUT_DOCTOR, OUT_HEAPMAP };

/* Written with a path (a const char *, as Redis's DEBUG MALLCTL-STR passes
 * it): the diagnosis or the picture goes to that file. Read: the last path
 * written (""), so that Redis's read-before-write finds a value. */
static int h_quarry_output(const size_t *mib, struct ctl_req *req, intptr_t which) {
    (void)mib;
    static char last[2][CONF_PATH_MAX];
    const char *path, *old = last[which];
    int taken = ctl_take(req, &path, sizeof(path));
    if (taken < 0 || (taken && (path == NULL || *path == '\0' || strlen(path) >= CONF_PATH_MAX)))
        return EINVAL;
    int err = ctl_read(req, &old, sizeof(old));
    if (err != 0 || !taken)
        return err;
    err = which == OUT_DOCTOR ? doctor_to_file(path) : heapmap_to_file(path);
    if (err == 0)
        memcpy(last[which], path, strlen(path) + 1);
    return err;
}

static const struct ctl_node quarry_children[] = {
    CTL_LEAF("doctor", h_quarry_output, OUT_DOCTOR),
    CTL_LEAF("heapmap", h_quarry_output, OUT_HEAPMAP),
};

/* ---- the root ---------------------------------------------------------- */

static const struct ctl_node config_children[] = {
    CTL_LEAF("cache_oblivious", h_const_bool, false),
    CTL_LEAF("debug", h_const_bool, QUARRY_CONFIG_DEBUG),
    CTL_LEAF("fill", h_const_bool, true),
    CTL_LEAF("lazy_lock", h_const_bool, false),
    CTL_LEAF("malloc_conf", h_const_str, ""),
    CTL_LEAF("opt_safety_checks", h_const_bool, true),
    CTL_LEAF("prof", h_const_bool, false),
    CTL_LEAF("prof_libgcc", h_const_bool, false),
    CTL_LEAF("prof_libunwind", h_const_bool, false),
    CTL_LEAF("stats", h_const_bool, true),
    CTL_LEAF("utrace", h_const_bool, false),
    CTL_LEAF("valgrind", h_const_bool, QUARRY_CONFIG_VALGRIND),
    CTL_LEAF("xmalloc", h_const_bool, false),
};

static const struct ctl_node opt_leaf = CTL_LEAF("", h_opt, 0);

static const struct ctl_node root_children[] = {
    CTL_LEAF("version", h_version, 0),
    CTL_LEAF("epoch", h_epoch, 0),
    CTL_LEAF("background_thread", h_background_thread, 0),
    CTL_LEAF("max_background_threads", h_max_background_threads, 0),
    CTL_NODE("config", config_children),
    {.name = "opt", .element = &opt_leaf, .index_ok = opt_index_ok, .index_of = opt_index_of},
    CTL_NODE("arenas", arenas_children),
    CTL_INDEXED("arena", arena_i, ctl_arena_or_all),
    CTL_NODE("thread", thread_children),
    CTL_NODE("tcache", tcache_children),
    {.name = "stats", .same_as = &ctl_stats_node},
    CTL_NODE("quarry", quarry_children),
};

const struct ctl_node ctl_root = CTL_NODE("", root_children);
