/*
 * The stats.* control names: totals, huge blocks, and per arena (or all
 * arenas, index 4096) its pages, purging, small and large counters, bins
 * and large classes. Each read takes a fresh snapshot (stats.h); jemalloc
 * 5.3's names and types where the notion is the same, quarry's own beside
 * them (docs/stats.md).
 */
#include <errno.h>
#include <sys/types.h>

#include "conf.h"
#include "ctl.h"
#include "init.h"
#include "stats.h"

/* ---- totals and huge blocks -------------------------------------------- */

/* The totals as of the calling thread's last write of "epoch". jemalloc
 * reports every statistic as of the last epoch write, so that names read
 * one after the other (Redis reads resident, active and allocated) come
 * from one instant and agree; quarry does the same for the totals, per
 * thread, and a thread that never writes epoch reads them live. */
static _Thread_local bool epoch_taken;
static _Thread_local struct stats_totals epoch_totals;

void ctl_stats_epoch(void) {
    stats_totals(&epoch_totals);
    epoch_taken = true;
}

static void totals(struct stats_totals *t) {
    if (epoch_taken)
        *t = epoch_totals;
    else
        stats_totals(t);
}

static int h_total(const size_t *mib, struct ctl_req *req, intptr_t field) {
    (void)mib;
    if (ctl_writes(req))
        return EPERM;
    struct stats_totals t;
    totals(&t);
    return ctl_read_field(req, &t, field);
}

static int h_huge(const size_t *mib, struct ctl_req *req, intptr_t field) {
    (void)mib;
    if (ctl_writes(req))
        return EPERM;
    struct stats_totals t;
    totals(&t);
    return ctl_read_field(req, &t.huge, field);
}

#define TOTAL(name) CTL_LEAF(#name, h_total, CTL_FIELD(CTL_SIZE, struct stats_totals, name))
#define HUGE(name, type) CTL_LEAF(#name, h_huge, CTL_FIELD(type, struct huge_stats, name))

static const struct ctl_node huge_leaves[] = {
    HUGE(allocated, CTL_SIZE), HUGE(count, CTL_SIZE),  HUGE(nmalloc, CTL_U64), HUGE(ndalloc, CTL_U64),
    HUGE(slack, CTL_SIZE),     HUGE(cached, CTL_SIZE), HUGE(ncached, CTL_SIZE), HUGE(nreused, CTL_U64),
};

/* ---- one arena, or all ------------------------------------------------- */

/* Takes the snapshot mib[2] names: an arena, or all (4096 or narenas). */
static int arena_snapshot(const size_t *mib, struct ctl_req *req, struct arena_snapshot *s) {
    if (ctl_writes(req))
        return EPERM;
    unsigned i = ctl_arena_index(mib[2]);
    return stats_arena(i, s) ? 0 : ENOENT;
}

static bool stats_arena_ok(size_t i) { return ctl_arena_exists(i) || i == STATS_ARENAS_ALL || i == narenas; }

enum arena_leaf {
    AR_NTHREADS,
    AR_PACTIVE,
    AR_PDIRTY,
    AR_PMUZZY,
    AR_MAPPED,
    AR_RETAINED,
    AR_RESIDENT,
    AR_METADATA,
    AR_NPURGE,
    AR_NMADVISE,
    AR_PURGED,
    AR_MUZZY_ZERO,
    AR_CALLOC_ZEROED,
    AR_DIRTY_DECAY_MS,
    AR_MUZZY_DECAY_MS,
};

static int h_arena(const size_t *mib, struct ctl_req *req, intptr_t leaf) {
    struct arena_snapshot s;
    int err = arena_snapshot(mib, req, &s);
    if (err != 0)
        return err;
    ssize_t ms;
    switch ((enum arena_leaf)leaf) {
    case AR_NTHREADS:
        return ctl_read_unsigned(req, s.nthreads);
    case AR_PACTIVE:
        return ctl_read_size(req, s.pactive);
    case AR_PDIRTY:
        return ctl_read_size(req, s.pdirty);
    case AR_PMUZZY:
        return ctl_read_size(req, s.pmuzzy);
    case AR_MAPPED:
        return ctl_read_size(req, snap_mapped(&s));
    case AR_RETAINED:
        return ctl_read_size(req, 0); /* retained chunks belong to no arena: stats.retained */
    case AR_RESIDENT:
        return ctl_read_size(req, snap_resident(&s));
    case AR_METADATA:
        return ctl_read_size(req, snap_headers(&s));
    case AR_NPURGE:
        return ctl_read_u64(req, s.s.npurge);
    case AR_NMADVISE:
        return ctl_read_u64(req, s.s.nmadvise);
    case AR_PURGED:
        return ctl_read_u64(req, s.s.purged);
    case AR_MUZZY_ZERO:
        return ctl_read_u64(req, 0);
    case AR_CALLOC_ZEROED:
        return ctl_read_u64(req, s.s.calloc_zeroed);
    case AR_DIRTY_DECAY_MS:
    case AR_MUZZY_DECAY_MS:
        ms = leaf == AR_MUZZY_DECAY_MS ? 0 : __atomic_load_n(&opt_decay_ms, __ATOMIC_RELAXED);
        return ctl_read_only(req, &ms, sizeof(ms));
    }
    return ENOENT;
}

enum class_leaf { CL_ALLOCATED, CL_NMALLOC, CL_NDALLOC, CL_NFILLS, CL_NFLUSHES };

static int h_small(const size_t *mib, struct ctl_req *req, intptr_t leaf) {
    struct arena_snapshot s;
    int err = arena_snapshot(mib, req, &s);
    if (err != 0)
        return err;
    switch ((enum class_leaf)leaf) {
    case CL_ALLOCATED:
        return ctl_read_size(req, s.small_allocated);
    case CL_NMALLOC:
        return ctl_read_u64(req, s.small_nmalloc);
    case CL_NDALLOC:
        return ctl_read_u64(req, s.small_ndalloc);
    case CL_NFILLS:
        return ctl_read_u64(req, s.small_nfills);
    case CL_NFLUSHES:
        return ctl_read_u64(req, s.small_nflushes);
    }
    return ENOENT;
}

static int h_large(const size_t *mib, struct ctl_req *req, intptr_t leaf) {
    struct arena_snapshot s;
    int err = arena_snapshot(mib, req, &s);
    if (err != 0)
        return err;
    switch ((enum class_leaf)leaf) {
    case CL_ALLOCATED:
        return ctl_read_size(req, s.s.large_allocated);
    case CL_NMALLOC:
        return ctl_read_u64(req, s.large_nmalloc);
    case CL_NDALLOC:
        return ctl_read_u64(req, s.large_ndalloc);
    case CL_NFILLS:
    case CL_NFLUSHES:
        break;
    }
    return ENOENT;
}

/* ---- bins.<j> and lextents.<j> ----------------------------------------- */

enum bin_leaf { B_NMALLOC, B_NDALLOC, B_CURREGS, B_CURRUNS, B_NFILLS, B_NFLUSHES };

static int h_bin(const size_t *mib, struct ctl_req *req, intptr_t leaf) {
    struct arena_snapshot s;
    int err = arena_snapshot(mib, req, &s);
    if (err != 0)
        return err;
    const struct bin_snapshot *b = &s.bins[mib[4]];
    switch ((enum bin_leaf)leaf) {
    case B_NMALLOC:
        return ctl_read_u64(req, b->s.nmalloc);
    case B_NDALLOC:
        return ctl_read_u64(req, b->s.ndalloc);
    case B_CURREGS:
        return ctl_read_size(req, b->curregs);
    case B_CURRUNS:
        return ctl_read_size(req, b->s.nruns);
    case B_NFILLS:
        return ctl_read_u64(req, b->s.nfills);
    case B_NFLUSHES:
        return ctl_read_u64(req, b->s.nflushes);
    }
    return ENOENT;
}

enum lextent_leaf { L_NMALLOC, L_NDALLOC, L_CURRUNS };

static int h_lextent(const size_t *mib, struct ctl_req *req, intptr_t leaf) {
    if (ctl_writes(req))
        return EPERM;
    struct large_class_stats l;
    if (!stats_large(ctl_arena_index(mib[2]), (unsigned)mib[4], 1, &l))
        return ENOENT;
    switch ((enum lextent_leaf)leaf) {
    case L_NMALLOC:
        return ctl_read_u64(req, l.nmalloc);
    case L_NDALLOC:
        return ctl_read_u64(req, l.ndalloc);
    case L_CURRUNS:
        return ctl_read_size(req, l.curruns);
    }
    return ENOENT;
}

/* quarry counts requests as they reach a bin or the arena, not thread
 * cache hits: jemalloc's nrequests is nmalloc here. */
static const struct ctl_node bin_leaves[] = {
    CTL_LEAF("nmalloc", h_bin, B_NMALLOC),   CTL_LEAF("ndalloc", h_bin, B_NDALLOC),
    CTL_LEAF("nrequests", h_bin, B_NMALLOC), CTL_LEAF("curregs", h_bin, B_CURREGS),
    CTL_LEAF("curslabs", h_bin, B_CURRUNS),  CTL_LEAF("curruns", h_bin, B_CURRUNS),
    CTL_LEAF("nfills", h_bin, B_NFILLS),     CTL_LEAF("nflushes", h_bin, B_NFLUSHES),
};
static const struct ctl_node bin_j = CTL_NODE("", bin_leaves);

static const struct ctl_node lextent_leaves[] = {
    CTL_LEAF("nmalloc", h_lextent, L_NMALLOC),     CTL_LEAF("ndalloc", h_lextent, L_NDALLOC),
    CTL_LEAF("nrequests", h_lextent, L_NMALLOC),   CTL_LEAF("curlextents", h_lextent, L_CURRUNS),
    CTL_LEAF("curruns", h_lextent, L_CURRUNS),
};
static const struct ctl_node lextent_j = CTL_NODE("", lextent_leaves);

static const struct ctl_node small_leaves[] = {
    CTL_LEAF("allocated", h_small, CL_ALLOCATED), CTL_LEAF("nmalloc", h_small, CL_NMALLOC),
    CTL_LEAF("ndalloc", h_small, CL_NDALLOC),     CTL_LEAF("nrequests", h_small, CL_NMALLOC),
    CTL_LEAF("nfills", h_small, CL_NFILLS),       CTL_LEAF("nflushes", h_small, CL_NFLUSHES),
};

static const struct ctl_node large_leaves[] = {
    CTL_LEAF("allocated", h_large, CL_ALLOCATED),
    CTL_LEAF("nmalloc", h_large, CL_NMALLOC),
    CTL_LEAF("ndalloc", h_large, CL_NDALLOC),
    CTL_LEAF("nrequests", h_large, CL_NMALLOC),
};

static const struct ctl_node arena_leaves[] = {
    CTL_LEAF("nthreads", h_arena, AR_NTHREADS),
    CTL_LEAF("pactive", h_arena, AR_PACTIVE),
    CTL_LEAF("pdirty", h_arena, AR_PDIRTY),
    CTL_LEAF("pmuzzy", h_arena, AR_PMUZZY),
    CTL_LEAF("mapped", h_arena, AR_MAPPED),
    CTL_LEAF("retained", h_arena, AR_RETAINED),
    CTL_LEAF("resident", h_arena, AR_RESIDENT),
    CTL_LEAF("metadata", h_arena, AR_METADATA),
    CTL_LEAF("npurge", h_arena, AR_NPURGE),
    CTL_LEAF("nmadvise", h_arena, AR_NMADVISE),
    CTL_LEAF("purged", h_arena, AR_PURGED),
    CTL_LEAF("dirty_npurge", h_arena, AR_NPURGE),
    CTL_LEAF("dirty_nmadvise", h_arena, AR_NMADVISE),
    CTL_LEAF("dirty_purged", h_arena, AR_PURGED),
    CTL_LEAF("muzzy_npurge", h_arena, AR_MUZZY_ZERO),
    CTL_LEAF("muzzy_nmadvise", h_arena, AR_MUZZY_ZERO),
    CTL_LEAF("muzzy_purged", h_arena, AR_MUZZY_ZERO),
    CTL_LEAF("calloc_zeroed", h_arena, AR_CALLOC_ZEROED),
    CTL_LEAF("dirty_decay_ms", h_arena, AR_DIRTY_DECAY_MS),
    CTL_LEAF("muzzy_decay_ms", h_arena, AR_MUZZY_DECAY_MS),
    CTL_NODE("small", small_leaves),
    CTL_NODE("large", large_leaves),
    CTL_INDEXED("bins", bin_j, ctl_small_class),
    CTL_INDEXED("lextents", lextent_j, ctl_large_class),
};
static const struct ctl_node arena_i = CTL_NODE("", arena_leaves);

static const struct ctl_node stats_children[] = {
    TOTAL(allocated),
    TOTAL(active),
    TOTAL(metadata),
    TOTAL(resident),
    TOTAL(mapped),
    TOTAL(retained),
    TOTAL(dirty),
    TOTAL(muzzy),
    CTL_NODE("huge", huge_leaves),
    CTL_INDEXED("arenas", arena_i, stats_arena_ok),
};

const struct ctl_node ctl_stats_node = CTL_NODE("stats", stats_children);
