/*
 * The statistics as a report, text or JSON: quarry_stats_print (and
 * malloc_stats_print in the shared library, with jemalloc's option
 * letters), and the report opt_stats_print writes at exit.
 *
 * The report is built in a fixed buffer on the stack and handed to the
 * callback a piece at a time: nothing here allocates, so printing never
 * changes the heap it describes (the callback itself may allocate, as
 * Redis's does; each snapshot is taken before any of it is printed).
 */
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "init.h"
#include "quarry.h"
#include "reclaim.h"
#include "stats.h"
#include "tcache.h"

/* ---- output ------------------------------------------------------------ */

struct printer {
    void (*write)(void *, const char *);
    void *opaque;
    bool json;
    size_t len;
    char buf[4096];
};

static void write_stderr(void *opaque, const char *s) {
    (void)opaque;
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, s, len);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

static void flush(struct printer *p) {
    if (p->len == 0)
        return;
    p->buf[p->len] = '\0';
    p->write(p->opaque, p->buf);
    p->len = 0;
}

static void put(struct printer *p, const char *s) {
    for (; *s != '\0'; s++) {
        if (p->len == sizeof(p->buf) - 1)
            flush(p);
        p->buf[p->len++] = *s;
    }
}

static void put_u64(struct printer *p, uint64_t v) {
    char tmp[24];
    size_t n = sizeof(tmp) - 1;
    tmp[n] = '\0';
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(p, tmp + n);
}

static void put_i64(struct printer *p, int64_t v) {
    if (v < 0) {
        put(p, "-");
        put_u64(p, (uint64_t)0 - (uint64_t)v);
    } else {
        put_u64(p, (uint64_t)v);
    }
}

/* s right-aligned in width columns. */
static void put_col(struct printer *p, const char *s, size_t width) {
    for (size_t n = strlen(s); n < width; n++)
        put(p, " ");
    put(p, s);
}

static void put_col_u64(struct printer *p, uint64_t v, size_t width) {
    char tmp[24];
    size_t n = sizeof(tmp) - 1;
    tmp[n] = '\0';
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put_col(p, tmp + n, width);
}

/* num / den with three decimals ("0.875"); den 0 prints 0. */
static void put_ratio(struct printer *p, uint64_t num, uint64_t den, size_t width) {
    uint64_t milli = den == 0 ? 0 : num * 1000 / den;
    char tmp[32] = {0};
    size_t n = sizeof(tmp) - 1;
    for (int k = 0; k < 3; k++) {
        tmp[--n] = (char)('0' + milli % 10);
        milli /= 10;
    }
    tmp[--n] = '.';
    do {
        tmp[--n] = (char)('0' + milli % 10);
        milli /= 10;
    } while (milli != 0);
    put_col(p, tmp + n, width);
}

/* ---- JSON and text fields through one interface ------------------------ */

/* Each object or list remembers whether it has had a member, for commas. */
struct nest {
    bool first[8];
    unsigned depth;
};

static void json_sep(struct printer *p, struct nest *n) {
    if (!n->first[n->depth])
        put(p, ",");
    n->first[n->depth] = false;
    put(p, "\n");
    for (unsigned k = 0; k <= n->depth; k++)
        put(p, "  ");
}

static void json_key(struct printer *p, struct nest *n, const char *key) {
    json_sep(p, n);
    if (key != NULL) {
        put(p, "\"");
        put(p, key);
        put(p, "\": ");
    }
}

static void json_open(struct printer *p, struct nest *n, const char *key, const char *bracket) {
    json_key(p, n, key);
    put(p, bracket);
    n->first[++n->depth] = true;
}

static void json_close(struct printer *p, struct nest *n, const char *bracket) {
    n->depth--;
    put(p, "\n");
    for (unsigned k = 0; k <= n->depth; k++)
        put(p, "  ");
    put(p, bracket);
}

static void json_u64(struct printer *p, struct nest *n, const char *key, uint64_t v) {
    json_key(p, n, key);
    put_u64(p, v);
}

static void json_bool(struct printer *p, struct nest *n, const char *key, bool v) {
    json_key(p, n, key);
    put(p, v ? "true" : "false");
}

/* Only quarry's own fixed strings reach here: nothing to escape. */
static void json_str(struct printer *p, struct nest *n, const char *key, const char *v) {
    json_key(p, n, key);
    put(p, "\"");
    put(p, v);
    put(p, "\"");
}

/* "  name: value" lines of the text report. */
static void text_u64(struct printer *p, const char *name, uint64_t v) {
    put(p, "  ");
    put(p, name);
    put(p, ": ");
    put_u64(p, v);
    put(p, "\n");
}

/* ---- what to print ----------------------------------------------------- */

struct what {
    bool general, merged, arenas, bins, large;
};

/* jemalloc's letters, as far as quarry has the sections: g general, m
 * merged arenas, a each arena, b bins, l large classes. d (destroyed
 * arenas), x (mutexes), e (extents) and h (HPA) name sections quarry does
 * not have; J asks for JSON. */
static struct what parse_opts(const char *opts, bool *json) {
    struct what w = {true, true, true, true, true};
    *json = false;
    for (const char *c = opts; c != NULL && *c != '\0'; c++) {
        if (*c == 'J')
            *json = true;
        w.general &= *c != 'g';
        w.merged &= *c != 'm';
        w.arenas &= *c != 'a';
        w.bins &= *c != 'b';
        w.large &= *c != 'l';
    }
    return w;
}

static const struct {
    const char *name;
    bool value;
} config[] = {
    {"debug", QUARRY_CONFIG_DEBUG}, {"fill", true},   {"prof", false},
    {"stats", true},                {"valgrind", QUARRY_CONFIG_VALGRIND}, {"xmalloc", false},
};
#define NCONFIG (sizeof(config) / sizeof(config[0]))

/* An option's value as JSON or text (both print it the same way). */
static void put_option(struct printer *p, const struct conf_option *o) {
    switch (o->type) {
    case CONF_BOOL:
        put(p, *(bool *)o->value ? "true" : "false");
        break;
    case CONF_UNSIGNED:
        put_u64(p, *(unsigned *)o->value);
        break;
    case CONF_INT:
        put_i64(p, *(int *)o->value);
        break;
    case CONF_POW2_OR_ZERO:
        put_u64(p, *(size_t *)o->value);
        break;
    case CONF_CHOICE:
        put(p, "\"");
        put(p, o->choices[*(unsigned *)o->value]);
        put(p, "\"");
        break;
    case CONF_STRING:
        /* Paths: printed as given; a quote or backslash in one is the
         * user's to avoid (the JSON report would not parse). */
        put(p, "\"");
        put(p, (const char *)o->value);
        put(p, "\"");
        break;
    }
}

static void general_json(struct printer *p, struct nest *n) {
    json_str(p, n, "version", QUARRY_VERSION);
    json_open(p, n, "config", "{");
    for (unsigned k = 0; k < NCONFIG; k++)
        json_bool(p, n, config[k].name, config[k].value);
    json_close(p, n, "}");
    json_open(p, n, "opt", "{");
    for (unsigned k = 0; k < conf_noptions; k++) {
        json_key(p, n, conf_options[k].name);
        put_option(p, &conf_options[k]);
    }
    json_close(p, n, "}");
    json_open(p, n, "arenas", "{");
    json_u64(p, n, "narenas", narenas);
    json_u64(p, n, "page", PAGE);
    json_u64(p, n, "quantum", 16);
    json_u64(p, n, "tcache_max", tcache_max_size);
    json_u64(p, n, "nbins", NSMALL);
    json_u64(p, n, "nlextents", RUN_PAGES_MAX);
    json_open(p, n, "bin", "[");
    for (unsigned c = 0; c < NSMALL; c++) {
        json_open(p, n, NULL, "{");
        json_u64(p, n, "size", class_size(c));
        json_u64(p, n, "nregs", size_classes[c].nregs);
        json_u64(p, n, "slab_size", (uint64_t)size_classes[c].run_pages << LG_PAGE);
        json_close(p, n, "}");
    }
    json_close(p, n, "]");
    json_close(p, n, "}");
    json_bool(p, n, "background_thread", purge_background_enabled());
}

static void general_text(struct printer *p) {
    put(p, "Version: \"" QUARRY_VERSION "\"\nBuild-time configuration\n");
    for (unsigned k = 0; k < NCONFIG; k++) {
        put(p, "  config.");
        put(p, config[k].name);
        put(p, config[k].value ? ": true\n" : ": false\n");
    }
    put(p, "Options (QUARRY_CONF, or the program's quarry_conf)\n");
    for (unsigned k = 0; k < conf_noptions; k++) {
        put(p, "  opt.");
        put(p, conf_options[k].name);
        put(p, ": ");
        put_option(p, &conf_options[k]);
        put(p, "\n");
    }
    put(p, "Arenas: ");
    put_u64(p, narenas);
    put(p, "\nPage size: ");
    put_u64(p, PAGE);
    put(p, "\nSmall classes: ");
    put_u64(p, NSMALL);
    put(p, " (8 to 3584 bytes); large classes: ");
    put_u64(p, RUN_PAGES_MAX);
    put(p, " (1 to ");
    put_u64(p, RUN_PAGES_MAX);
    put(p, " pages); above that, huge\nThread caches hold blocks up to: ");
    put_u64(p, tcache_max_size);
    put(p, purge_background_enabled() ? "\nBackground purge thread: on\n" : "\nBackground purge thread: off\n");
}

static void totals_json(struct printer *p, struct nest *n, const struct stats_totals *t) {
    json_open(p, n, "stats", "{");
    json_u64(p, n, "allocated", t->allocated);
    json_u64(p, n, "active", t->active);
    json_u64(p, n, "metadata", t->metadata);
    json_u64(p, n, "resident", t->resident);
    json_u64(p, n, "mapped", t->mapped);
    json_u64(p, n, "retained", t->retained);
    json_u64(p, n, "dirty", t->dirty);
    json_u64(p, n, "muzzy", t->muzzy);
    json_open(p, n, "huge", "{");
    json_u64(p, n, "allocated", t->huge.allocated);
    json_u64(p, n, "count", t->huge.count);
    json_u64(p, n, "nmalloc", t->huge.nmalloc);
    json_u64(p, n, "ndalloc", t->huge.ndalloc);
    json_u64(p, n, "slack", t->huge.slack);
    json_u64(p, n, "cached", t->huge.cached);
    json_u64(p, n, "ncached", t->huge.ncached);
    json_u64(p, n, "nreused", t->huge.nreused);
    json_close(p, n, "}");
    json_close(p, n, "}");
}

static void totals_text(struct printer *p, const struct stats_totals *t) {
    put(p, "Totals (bytes)\n");
    text_u64(p, "allocated", t->allocated);
    text_u64(p, "active", t->active);
    text_u64(p, "metadata", t->metadata);
    text_u64(p, "resident", t->resident);
    text_u64(p, "mapped", t->mapped);
    text_u64(p, "retained", t->retained);
    text_u64(p, "dirty", t->dirty);
    text_u64(p, "muzzy", t->muzzy);
    put(p, "Huge blocks: ");
    put_u64(p, t->huge.count);
    put(p, " in use, ");
    put_u64(p, t->huge.allocated);
    put(p, " bytes (");
    put_u64(p, t->huge.slack);
    put(p, " more mapped past them); ");
    put_u64(p, t->huge.ncached);
    put(p, " freed mappings kept, ");
    put_u64(p, t->huge.cached);
    put(p, " bytes; nmalloc ");
    put_u64(p, t->huge.nmalloc);
    put(p, ", ndalloc ");
    put_u64(p, t->huge.ndalloc);
    put(p, ", reused ");
    put_u64(p, t->huge.nreused);
    put(p, "\n");
}

/* ---- one arena (or the merged view) ------------------------------------ */

static void arena_json(struct printer *p, struct nest *n, const struct what *w, unsigned i,
                       const struct arena_snapshot *s) {
    json_u64(p, n, "nthreads", s->nthreads);
    json_u64(p, n, "pactive", s->pactive);
    json_u64(p, n, "pdirty", s->pdirty);
    json_u64(p, n, "pmuzzy", s->pmuzzy);
    json_u64(p, n, "mapped", snap_mapped(s));
    json_u64(p, n, "resident", snap_resident(s));
    json_u64(p, n, "metadata", snap_headers(s));
    json_u64(p, n, "npurge", s->s.npurge);
    json_u64(p, n, "nmadvise", s->s.nmadvise);
    json_u64(p, n, "purged", s->s.purged);
    json_u64(p, n, "calloc_zeroed", s->s.calloc_zeroed);
    json_open(p, n, "small", "{");
    json_u64(p, n, "allocated", s->small_allocated);
    json_u64(p, n, "nmalloc", s->small_nmalloc);
    json_u64(p, n, "ndalloc", s->small_ndalloc);
    json_u64(p, n, "nfills", s->small_nfills);
    json_u64(p, n, "nflushes", s->small_nflushes);
    json_close(p, n, "}");
    json_open(p, n, "large", "{");
    json_u64(p, n, "allocated", s->s.large_allocated);
    json_u64(p, n, "nmalloc", s->large_nmalloc);
    json_u64(p, n, "ndalloc", s->large_ndalloc);
    json_u64(p, n, "curruns", s->large_curruns);
    json_close(p, n, "}");
    if (w->bins) {
        json_open(p, n, "bins", "[");
        for (unsigned c = 0; c < NSMALL; c++) {
            const struct bin_snapshot *b = &s->bins[c];
            json_open(p, n, NULL, "{");
            json_u64(p, n, "size", class_size(c));
            json_u64(p, n, "nmalloc", b->s.nmalloc);
            json_u64(p, n, "ndalloc", b->s.ndalloc);
            json_u64(p, n, "curregs", b->curregs);
            json_u64(p, n, "curruns", b->s.nruns);
            json_u64(p, n, "nfills", b->s.nfills);
            json_u64(p, n, "nflushes", b->s.nflushes);
            json_close(p, n, "}");
        }
        json_close(p, n, "]");
    }
    if (w->large) {
        /* Only classes ever used: 1019 per arena would drown the rest. */
        json_open(p, n, "lextents", "[");
        struct large_class_stats l[64];
        for (unsigned first = 0; first < RUN_PAGES_MAX; first += 64) {
            unsigned count = RUN_PAGES_MAX - first < 64 ? RUN_PAGES_MAX - first : 64;
            if (!stats_large(i, first, count, l))
                break;
            for (unsigned j = 0; j < count; j++) {
                if (l[j].nmalloc == 0)
                    continue;
                json_open(p, n, NULL, "{");
                json_u64(p, n, "size", (uint64_t)(first + j + 1) << LG_PAGE);
                json_u64(p, n, "nmalloc", l[j].nmalloc);
                json_u64(p, n, "ndalloc", l[j].ndalloc);
                json_u64(p, n, "curruns", l[j].curruns);
                json_close(p, n, "}");
            }
        }
        json_close(p, n, "]");
    }
}

/* One row of a table: its label, then numbers right-aligned in columns of
 * these widths (the header uses the same widths, so they line up). */
static const size_t class_widths[] = {10, 14, 13, 13, 13, 13};

static void class_header(struct printer *p) {
    static const char *const names[] = {"", "allocated", "nmalloc", "ndalloc", "nfills", "nflushes"};
    put(p, "  ");
    for (unsigned k = 0; k < 6; k++)
        put_col(p, names[k], class_widths[k]);
    put(p, "\n");
}

static void class_row(struct printer *p, const char *name, uint64_t allocated, uint64_t nmalloc, uint64_t ndalloc,
                      uint64_t nfills, uint64_t nflushes) {
    const uint64_t v[] = {allocated, nmalloc, ndalloc, nfills, nflushes};
    put(p, "  ");
    put(p, name);
    for (size_t n = strlen(name); n < class_widths[0]; n++)
        put(p, " ");
    for (unsigned k = 0; k < 5; k++)
        put_col_u64(p, v[k], class_widths[k + 1]);
    put(p, "\n");
}

enum { BIN_COLS = 12 };
static const size_t bin_widths[BIN_COLS] = {12, 4, 13, 13, 13, 10, 9, 5, 4, 7, 11, 11};

static void bins_text(struct printer *p, const struct arena_snapshot *s) {
    static const char *const names[BIN_COLS] = {"bins: size", "ind",     "allocated", "nmalloc",
                                                "ndalloc",    "curregs", "curruns",   "regs",
                                                "pgs",        "util",    "nfills",    "nflushes"};
    put(p, "  ");
    for (unsigned k = 0; k < BIN_COLS; k++)
        put_col(p, names[k], bin_widths[k]);
    put(p, "\n");
    for (unsigned c = 0; c < NSMALL; c++) {
        const struct bin_snapshot *b = &s->bins[c];
        if (b->s.nmalloc == 0)
            continue;
        const struct size_class *sc = &size_classes[c];
        const uint64_t v[] = {sc->size,   c,           (uint64_t)b->curregs * sc->size, b->s.nmalloc, b->s.ndalloc,
                              b->curregs, b->s.nruns,  sc->nregs,                       sc->run_pages};
        put(p, "  ");
        for (unsigned k = 0; k < 9; k++)
            put_col_u64(p, v[k], bin_widths[k]);
        /* Utilisation: regions held of those the bin's runs have room for. */
        put_ratio(p, b->curregs, (uint64_t)b->s.nruns * sc->nregs, bin_widths[9]);
        put_col_u64(p, b->s.nfills, bin_widths[10]);
        put_col_u64(p, b->s.nflushes, bin_widths[11]);
        put(p, "\n");
    }
}

enum { LARGE_COLS = 6 };
static const size_t large_widths[LARGE_COLS] = {13, 6, 13, 13, 13, 9};

static void large_text(struct printer *p, unsigned i) {
    static const char *const names[LARGE_COLS] = {"large: size", "ind", "allocated", "nmalloc", "ndalloc", "curruns"};
    put(p, "  ");
    for (unsigned k = 0; k < LARGE_COLS; k++)
        put_col(p, names[k], large_widths[k]);
    put(p, "\n");
    struct large_class_stats l[64];
    for (unsigned first = 0; first < RUN_PAGES_MAX; first += 64) {
        unsigned count = RUN_PAGES_MAX - first < 64 ? RUN_PAGES_MAX - first : 64;
        if (!stats_large(i, first, count, l))
            return;
        for (unsigned j = 0; j < count; j++) {
            if (l[j].nmalloc == 0)
                continue;
            uint64_t size = (uint64_t)(first + j + 1) << LG_PAGE;
            const uint64_t v[LARGE_COLS] = {size, first + j, l[j].curruns * size, l[j].nmalloc, l[j].ndalloc,
                                            l[j].curruns};
            put(p, "  ");
            for (unsigned k = 0; k < LARGE_COLS; k++)
                put_col_u64(p, v[k], large_widths[k]);
            put(p, "\n");
        }
    }
}

static void arena_text(struct printer *p, const struct what *w, unsigned i, const struct arena_snapshot *s) {
    text_u64(p, "assigned threads", s->nthreads);
    put(p, "  pages: ");
    put_u64(p, s->pactive);
    put(p, " active, ");
    put_u64(p, s->pdirty);
    put(p, " dirty, ");
    put_u64(p, s->pmuzzy);
    put(p, " muzzy (MADV_FREE'd); chunks: ");
    put_u64(p, s->nchunks);
    put(p, ", ");
    put_u64(p, snap_mapped(s));
    put(p, " bytes mapped, ");
    put_u64(p, snap_resident(s));
    put(p, " resident\n  purging: ");
    put_u64(p, s->s.npurge);
    put(p, " passes, ");
    put_u64(p, s->s.nmadvise);
    put(p, " madvise calls, ");
    put_u64(p, s->s.purged);
    put(p, " pages; large callocs from zeroed pages: ");
    put_u64(p, s->s.calloc_zeroed);
    put(p, "\n");
    class_header(p);
    class_row(p, "small:", s->small_allocated, s->small_nmalloc, s->small_ndalloc, s->small_nfills,
              s->small_nflushes);
    class_row(p, "large:", s->s.large_allocated, s->large_nmalloc, s->large_ndalloc, 0, 0);
    class_row(p, "total:", snap_allocated(s), s->small_nmalloc + s->large_nmalloc,
              s->small_ndalloc + s->large_ndalloc, s->small_nfills, s->small_nflushes);
    if (w->bins)
        bins_text(p, s);
    if (w->large)
        large_text(p, i);
}

static void arena_section(struct printer *p, struct nest *n, const struct what *w, unsigned i) {
    struct arena_snapshot s;
    if (!stats_arena(i, &s))
        return;
    if (p->json) {
        char key[16];
        size_t k = sizeof(key) - 1;
        key[k] = '\0';
        unsigned v = i;
        do {
            key[--k] = (char)('0' + v % 10);
            v /= 10;
        } while (v != 0);
        json_open(p, n, i == STATS_ARENAS_ALL ? "merged" : key + k, "{");
        arena_json(p, n, w, i, &s);
        json_close(p, n, "}");
        return;
    }
    if (i == STATS_ARENAS_ALL) {
        put(p, "Merged arenas (");
        put_u64(p, s.narenas);
        put(p, " in use)\n");
    } else {
        put(p, "arenas[");
        put_u64(p, i);
        put(p, "]\n");
    }
    arena_text(p, w, i, &s);
}

void quarry_stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts) {
    if (arena_choose() == NULL)
        return;
    struct printer p;
    p.write = write_cb != NULL ? write_cb : write_stderr;
    p.opaque = cbopaque;
    p.len = 0;
    struct what w = parse_opts(opts, &p.json);
    struct nest n = {.first = {true}, .depth = 0};
    struct stats_totals t;
    stats_totals(&t);
    if (p.json) {
        put(&p, "{\n  \"quarry\": {");
        n.depth = 1;
        n.first[1] = true;
        if (w.general)
            general_json(&p, &n);
        totals_json(&p, &n, &t);
        if (w.merged || w.arenas) {
            json_open(&p, &n, "stats.arenas", "{");
            if (w.merged)
                arena_section(&p, &n, &w, STATS_ARENAS_ALL);
            for (unsigned i = 0; w.arenas && i < narenas; i++)
                arena_section(&p, &n, &w, i);
            json_close(&p, &n, "}");
        }
        json_close(&p, &n, "}");
        put(&p, "\n}\n");
    } else {
        put(&p, "___ Begin quarry statistics ___\n");
        if (w.general)
            general_text(&p);
        totals_text(&p, &t);
        if (w.merged)
            arena_section(&p, &n, &w, STATS_ARENAS_ALL);
        for (unsigned i = 0; w.arenas && i < narenas; i++)
            arena_section(&p, &n, &w, i);
        put(&p, "___ End quarry statistics ___\n");
    }
    flush(&p);
}

__attribute__((destructor)) static void print_at_exit(void) {
    if (opt_stats_print && narenas != 0)
        quarry_stats_print(NULL, NULL, NULL);
}
