/*
 * The control namespace: quarry_ctl(name, oldp, oldlenp, newp, newlen) reads
 * and triggers by dotted name, with jemalloc's mallctl conventions (the
 * shared library also exports it as mallctl): 0 on success, ENOENT for an
 * unknown name, EINVAL for a wrong value size, EPERM for writing a read-only
 * name. docs/stats.md lists the names.
 */
#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include "conf.h"
#include "init.h"
#include "purge.h"
#include "quarry.h"
#include "reclaim.h"
#include "stats.h"
#include "tcache.h"

static int read_value(void *oldp, size_t *oldlenp, const void *value, size_t size) {
    if (oldp == NULL || oldlenp == NULL)
        return 0;
    if (*oldlenp != size) {
        size_t n = *oldlenp < size ? *oldlenp : size;
        memcpy(oldp, value, n);
        *oldlenp = n;
        return EINVAL;
    }
    memcpy(oldp, value, size);
    return 0;
}

static int read_size(void *oldp, size_t *oldlenp, size_t v) { return read_value(oldp, oldlenp, &v, sizeof(v)); }
static int read_u64(void *oldp, size_t *oldlenp, uint64_t v) { return read_value(oldp, oldlenp, &v, sizeof(v)); }

/* Matches "prefix<number>" at *name, advancing past it and a following '.'. */
static bool take_index(const char **name, const char *prefix, unsigned *out) {
    size_t len = strlen(prefix);
    if (strncmp(*name, prefix, len) != 0)
        return false;
    const char *s = *name + len;
    unsigned v = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (unsigned)(*s - '0');
        if (v > 1000000)
            return false;
        s++;
    }
    if (*s == '.')
        s++;
    else if (*s != '\0')
        return false;
    *name = s;
    *out = v;
    return true;
}

static int ctl_opt(const char *name, void *oldp, size_t *oldlenp) {
    const struct conf_option *o = conf_find(name, strlen(name));
    if (o == NULL)
        return ENOENT;
    switch (o->type) {
    case CONF_BOOL:
        return read_value(oldp, oldlenp, o->value, sizeof(bool));
    case CONF_UNSIGNED:
        return read_value(oldp, oldlenp, o->value, sizeof(unsigned));
    case CONF_INT: {
        ssize_t v = *(int *)o->value;
        return read_value(oldp, oldlenp, &v, sizeof(v));
    }
    case CONF_POW2_OR_ZERO:
        return read_value(oldp, oldlenp, o->value, sizeof(size_t));
    case CONF_CHOICE: {
        const char *v = o->choices[*(unsigned *)o->value];
        return read_value(oldp, oldlenp, &v, sizeof(v));
    }
    }
    return ENOENT;
}

static int ctl_arena_stats(unsigned i, const char *name, void *oldp, size_t *oldlenp) {
    struct arena_snapshot snap;
    if (!stats_arena(i, &snap))
        return ENOENT;
    unsigned j;
    if (take_index(&name, "bins.", &j)) {
        if (j >= NSMALL)
            return ENOENT;
        const struct bin_snapshot *b = &snap.bins[j];
        if (strcmp(name, "curregs") == 0)
            return read_size(oldp, oldlenp, b->curregs);
        if (strcmp(name, "curruns") == 0)
            return read_size(oldp, oldlenp, b->s.nruns);
        if (strcmp(name, "nfills") == 0)
            return read_u64(oldp, oldlenp, b->s.nfills);
        if (strcmp(name, "nflushes") == 0)
            return read_u64(oldp, oldlenp, b->s.nflushes);
        if (strcmp(name, "nmalloc") == 0)
            return read_u64(oldp, oldlenp, b->s.nmalloc);
        if (strcmp(name, "ndalloc") == 0)
            return read_u64(oldp, oldlenp, b->s.ndalloc);
        return ENOENT;
    }
    if (strcmp(name, "pactive") == 0)
        return read_size(oldp, oldlenp, snap.pactive);
    if (strcmp(name, "pdirty") == 0)
        return read_size(oldp, oldlenp, snap.pdirty);
    if (strcmp(name, "npurge") == 0)
        return read_u64(oldp, oldlenp, snap.s.npurge);
    if (strcmp(name, "nmadvise") == 0)
        return read_u64(oldp, oldlenp, snap.s.nmadvise);
    if (strcmp(name, "purged") == 0)
        return read_u64(oldp, oldlenp, snap.s.purged);
    if (strcmp(name, "calloc_zeroed") == 0)
        return read_u64(oldp, oldlenp, snap.s.calloc_zeroed);
    return ENOENT;
}

static int ctl_stats(const char *name, void *oldp, size_t *oldlenp) {
    unsigned i;
    if (take_index(&name, "arenas.", &i))
        return ctl_arena_stats(i, name, oldp, oldlenp);
    struct stats_totals t;
    stats_totals(&t);
    static const struct {
        const char *name;
        size_t offset;
    } totals[] = {
        {"allocated", offsetof(struct stats_totals, allocated)},
        {"active", offsetof(struct stats_totals, active)},
        {"metadata", offsetof(struct stats_totals, metadata)},
        {"resident", offsetof(struct stats_totals, resident)},
        {"mapped", offsetof(struct stats_totals, mapped)},
        {"retained", offsetof(struct stats_totals, retained)},
        {"dirty", offsetof(struct stats_totals, dirty)},
    };
    for (size_t k = 0; k < sizeof(totals) / sizeof(totals[0]); k++)
        if (strcmp(name, totals[k].name) == 0)
            return read_size(oldp, oldlenp, *(size_t *)((char *)&t + totals[k].offset));
    return ENOENT;
}

int quarry_ctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    if (name == NULL || arena_choose() == NULL)
        return name == NULL ? EINVAL : EAGAIN;
    bool writes = newp != NULL || newlen != 0;
    unsigned i;
    if (strncmp(name, "opt.", 4) == 0)
        return writes ? EPERM : ctl_opt(name + 4, oldp, oldlenp);
    if (strncmp(name, "stats.", 6) == 0)
        return writes ? EPERM : ctl_stats(name + 6, oldp, oldlenp);
    if (strcmp(name, "version") == 0) {
        static const char *version = QUARRY_VERSION;
        return writes ? EPERM : read_value(oldp, oldlenp, &version, sizeof(version));
    }
    if (strcmp(name, "epoch") == 0) {
        /* Statistics are gathered at each read; the epoch only counts. */
        static uint64_t epoch = 1;
        uint64_t now = writes ? __atomic_add_fetch(&epoch, 1, __ATOMIC_RELAXED)
                              : __atomic_load_n(&epoch, __ATOMIC_RELAXED);
        return read_u64(oldp, oldlenp, now);
    }
    if (strcmp(name, "arenas.narenas") == 0)
        return writes ? EPERM : read_value(oldp, oldlenp, &narenas, sizeof(narenas));
    if (strcmp(name, "thread.tcache.flush") == 0) {
        if (oldp != NULL || writes)
            return EINVAL;
        tcache_flush(thread_tcache);
        return 0;
    }
    const char *rest = name;
    if (take_index(&rest, "arena.", &i) && strcmp(rest, "purge") == 0) {
        if (oldp != NULL || writes)
            return EINVAL;
        /* "All arenas" is 4096, or narenas in jemalloc's older spelling
         * (which Redis's MEMORY PURGE uses). */
        if (i == narenas)
            i = ARENAS_ALL;
        if (i != ARENAS_ALL && (i > narenas || __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE) == NULL))
            return i < narenas ? 0 : ENOENT; /* an arena not made yet has nothing to purge */
        reclaim_purge(i);
        return 0;
    }
    rest = name;
    if (take_index(&rest, "arenas.bin.", &i) && strcmp(rest, "size") == 0) {
        if (i >= NSMALL)
            return ENOENT;
        return writes ? EPERM : read_size(oldp, oldlenp, class_size(i));
    }
    return ENOENT;
}
