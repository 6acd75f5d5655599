/*
 * glibc's introspection and tuning calls, answered from quarry's heap:
 * mallinfo2, mallinfo, malloc_stats, malloc_info, mallopt, and memalign
 * with glibc's rounding of alignments. Only the shared library has them:
 * interpose.c includes this file, so that each standard name is defined
 * here (or aliased there) and nothing of it reaches libquarry.a, whose
 * users keep their libc's malloc and its own introspection.
 *
 * docs/stats.md has the table of what each field and parameter means.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>

#include "conf.h"
#include "init.h"
#include "report.h"
#include "stats.h"

#define EXPORT __attribute__((visibility("default")))

/* Android bionic's mallopt numbers (also in quarry.h). */
#define M_DECAY_TIME_BIONIC (-100)
#define M_PURGE_BIONIC (-101)
#define M_PURGE_ALL_BIONIC (-104)

static struct mallinfo2 compat_mallinfo2(void) {
    struct stats_totals t;
    stats_totals(&t);
    struct mallinfo2 mi = {0};
    mi.arena = t.mapped;
    mi.hblks = t.huge.count;
    mi.hblkhd = t.huge.allocated;
    mi.uordblks = t.allocated;
    /* Free memory quarry holds: the unused part of active pages, and
     * dirty pages (free, still resident). */
    mi.fordblks = t.active - t.allocated + t.dirty;
    mi.keepcost = t.dirty;
    return mi;
}

EXPORT struct mallinfo2 mallinfo2(void) { return compat_mallinfo2(); }

static int saturate(size_t v) { return v > INT_MAX ? INT_MAX : (int)v; }

/* The old interface's int fields stop at INT_MAX rather than wrapping, so
 * that a heap above 2 GiB reads as "at least that much". */
EXPORT struct mallinfo mallinfo(void) {
    struct mallinfo2 mi2 = compat_mallinfo2();
    struct mallinfo mi = {0};
    mi.arena = saturate(mi2.arena);
    mi.ordblks = saturate(mi2.ordblks);
    mi.smblks = saturate(mi2.smblks);
    mi.hblks = saturate(mi2.hblks);
    mi.hblkhd = saturate(mi2.hblkhd);
    mi.usmblks = saturate(mi2.usmblks);
    mi.fsmblks = saturate(mi2.fsmblks);
    mi.uordblks = saturate(mi2.uordblks);
    mi.fordblks = saturate(mi2.fordblks);
    mi.keepcost = saturate(mi2.keepcost);
    return mi;
}

struct mallinfo __libc_mallinfo(void) __attribute__((alias("mallinfo"), visibility("default")));

/* "<label> = <value, right-aligned in 10 columns>", one line on stderr. */
static void stats_line(const char *label, size_t v) {
    struct msg m = {.len = 0};
    msg_str(&m, label);
    msg_str(&m, " = ");
    size_t digits = 1;
    for (size_t x = v; x >= 10; x /= 10)
        digits++;
    for (; digits < 10; digits++)
        msg_str(&m, " ");
    msg_dec(&m, v);
    msg_emit(&m);
}

/* glibc's layout (per arena, then the total) with quarry's figures; the
 * huge lines are quarry's own (glibc prints its mmap maxima there). */
EXPORT void malloc_stats(void) {
    struct arena_snapshot s;
    for (unsigned i = 0; i < narenas; i++) {
        if (!stats_arena(i, &s))
            continue;
        struct msg m = {.len = 0};
        msg_str(&m, "Arena ");
        msg_dec(&m, i);
        msg_str(&m, ":");
        msg_emit(&m);
        stats_line("system bytes    ", snap_mapped(&s));
        stats_line("in use bytes    ", snap_allocated(&s));
    }
    struct stats_totals t;
    stats_totals(&t);
    struct msg m = {.len = 0};
    msg_str(&m, "Total (incl. huge blocks):");
    msg_emit(&m);
    stats_line("system bytes    ", t.mapped);
    stats_line("in use bytes    ", t.allocated);
    stats_line("resident bytes  ", t.resident);
    stats_line("huge blocks     ", t.huge.count);
    stats_line("huge bytes      ", t.huge.allocated);
}

/* ---- malloc_info: XML ---------------------------------------------------- */

static void xml_total(struct msg *m, const char *type, size_t count, size_t size) {
    msg_str(m, "<total type=\"");
    msg_str(m, type);
    msg_str(m, "\" count=\"");
    msg_dec(m, count);
    msg_str(m, "\" size=\"");
    msg_dec(m, size);
    msg_str(m, "\"/>\n");
}

static void xml_system(struct msg *m, size_t mapped) {
    static const char *const lines[] = {"<system type=\"current\" size=\"", "<system type=\"max\" size=\"",
                                        "<aspace type=\"total\" size=\"", "<aspace type=\"mprotect\" size=\""};
    for (unsigned k = 0; k < 4; k++) {
        msg_str(m, lines[k]);
        msg_dec(m, mapped);
        msg_str(m, "\"/>\n");
    }
}

static void xml_out(FILE *fp, struct msg *m) {
    fwrite(m->buf, 1, m->len, fp);
    m->len = 0;
}

/* glibc's elements: for each arena, its free small regions by class
 * (<size>), free bytes (type "rest": free regions and dirty pages) and
 * mapped bytes; then the totals, huge blocks as type "mmap". quarry keeps
 * no maxima: "max" repeats the current figure. */
EXPORT int malloc_info(int options, FILE *fp) {
    if (options != 0) {
        errno = EINVAL;
        return EINVAL;
    }
    struct msg m = {.len = 0};
    msg_str(&m, "<malloc version=\"1\">\n");
    xml_out(fp, &m);
    size_t all_count = 0, all_free = 0;
    struct arena_snapshot s;
    for (unsigned i = 0; i < narenas; i++) {
        if (!stats_arena(i, &s))
            continue;
        msg_str(&m, "<heap nr=\"");
        msg_dec(&m, i);
        msg_str(&m, "\">\n<sizes>\n");
        xml_out(fp, &m);
        size_t count = 0, bytes = 0;
        for (unsigned c = 0; c < NSMALL; c++) {
            size_t regions = s.bins[c].s.nruns * size_classes[c].nregs;
            size_t free = regions > s.bins[c].curregs ? regions - s.bins[c].curregs : 0;
            if (free == 0)
                continue;
            msg_str(&m, "  <size from=\"");
            msg_dec(&m, class_size(c));
            msg_str(&m, "\" to=\"");
            msg_dec(&m, class_size(c));
            msg_str(&m, "\" total=\"");
            msg_dec(&m, free * class_size(c));
            msg_str(&m, "\" count=\"");
            msg_dec(&m, free);
            msg_str(&m, "\"/>\n");
            xml_out(fp, &m);
            count += free;
            bytes += free * class_size(c);
        }
        msg_str(&m, "</sizes>\n");
        xml_total(&m, "fast", 0, 0);
        xml_total(&m, "rest", count + (s.pdirty != 0), bytes + s.pdirty * PAGE);
        xml_out(fp, &m);
        xml_system(&m, snap_mapped(&s));
        msg_str(&m, "</heap>\n");
        xml_out(fp, &m);
        all_count += count + (s.pdirty != 0);
        all_free += bytes + s.pdirty * PAGE;
    }
    struct stats_totals t;
    stats_totals(&t);
    xml_total(&m, "fast", 0, 0);
    xml_total(&m, "rest", all_count, all_free);
    xml_total(&m, "mmap", t.huge.count, t.huge.allocated);
    xml_out(fp, &m);
    xml_system(&m, t.mapped);
    msg_str(&m, "</malloc>\n");
    xml_out(fp, &m);
    return 0;
}

/* ---- mallopt ---------------------------------------------------------- */

/* lg_dirty_mult as it was before M_TRIM_THRESHOLD turned purging off. */
static int lg_dirty_mult_saved = -2;

/* 1 when the parameter means something to quarry and took effect, 0 (and
 * nothing changed) otherwise, as glibc answers. */
EXPORT int mallopt(int param, int value) {
    switch (param) {
    case M_ARENA_MAX:
        /* The arena table is sized once, at the first allocation. */
        if (value < 1 || value > 4096 || __atomic_load_n(&narenas, __ATOMIC_ACQUIRE) != 0)
            return 0;
        opt_narenas = (unsigned)value;
        return 1;
    case M_TRIM_THRESHOLD:
        /* -1: never give memory back on frees (lg_dirty_mult -1). Any
         * other value: give it back by the lg_dirty_mult bound again;
         * quarry's bound is a share of the active pages, so the byte count
         * itself has no counterpart. */
        if (value < 0) {
            int old = __atomic_exchange_n(&opt_lg_dirty_mult, -1, __ATOMIC_RELAXED);
            if (old >= 0)
                lg_dirty_mult_saved = old;
        } else if (__atomic_load_n(&opt_lg_dirty_mult, __ATOMIC_RELAXED) < 0) {
            __atomic_store_n(&opt_lg_dirty_mult, lg_dirty_mult_saved >= 0 ? lg_dirty_mult_saved : 2,
                             __ATOMIC_RELAXED);
        }
        return 1;
    case M_DECAY_TIME_BIONIC:
        if (value < -1 || value > 3600000)
            return 0;
        __atomic_store_n(&opt_decay_ms, value, __ATOMIC_RELAXED);
        return 1;
    case M_PURGE_BIONIC:
    case M_PURGE_ALL_BIONIC:
        quarry_purge();
        return 1;
    default:
        return 0;
    }
}

int __libc_mallopt(int param, int value) __attribute__((alias("mallopt"), COPY_ATTRIBUTES(mallopt) visibility("default")));


