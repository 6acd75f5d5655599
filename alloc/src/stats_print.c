/* The statistics as text, written with write(2) (no stdio, no allocation):
 * what opt_stats_print prints at exit. */
#include "conf.h"
#include "init.h"
#include "report.h"
#include "stats.h"

static void line_size(const char *name, size_t v) {
    struct msg m = {.len = 0};
    msg_str(&m, name);
    msg_dec(&m, v);
    msg_emit(&m);
}

void stats_print_text(void) {
    struct stats_totals t;
    stats_totals(&t);
    struct msg m = {.len = 0};
    msg_str(&m, "___ quarry statistics ___");
    msg_emit(&m);
    line_size("allocated: ", t.allocated);
    line_size("active:    ", t.active);
    line_size("metadata:  ", t.metadata);
    line_size("resident:  ", t.resident);
    line_size("mapped:    ", t.mapped);
    line_size("retained:  ", t.retained);
    line_size("dirty:     ", t.dirty);
    line_size("huge in use: ", t.huge.allocated);
    line_size("huge cached: ", t.huge.cached);
    struct arena_snapshot a;
    for (unsigned i = 0; i < narenas; i++) {
        if (!stats_arena(i, &a))
            continue;
        msg_str(&m, "arena ");
        msg_dec(&m, i);
        msg_str(&m, ": active pages ");
        msg_dec(&m, a.pactive);
        msg_str(&m, ", dirty pages ");
        msg_dec(&m, a.pdirty);
        msg_str(&m, ", chunks ");
        msg_dec(&m, a.nchunks);
        msg_str(&m, ", purges ");
        msg_dec(&m, a.s.npurge);
        msg_str(&m, " (");
        msg_dec(&m, a.s.purged);
        msg_str(&m, " pages)");
        msg_emit(&m);
        for (unsigned c = 0; c < NSMALL; c++) {
            const struct bin_snapshot *b = &a.bins[c];
            if (b->s.nmalloc == 0)
                continue;
            msg_str(&m, "  bin ");
            msg_dec(&m, class_size(c));
            msg_str(&m, ": regions ");
            msg_dec(&m, b->curregs);
            msg_str(&m, ", runs ");
            msg_dec(&m, b->s.nruns);
            msg_str(&m, ", fills ");
            msg_dec(&m, b->s.nfills);
            msg_str(&m, ", flushes ");
            msg_dec(&m, b->s.nflushes);
            msg_emit(&m);
        }
    }
}

__attribute__((destructor)) static void print_at_exit(void) {
    if (opt_stats_print && narenas != 0)
        stats_print_text();
}
