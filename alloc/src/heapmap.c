#include "heapmap.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "doctor.h"
#include "init.h"
#include "quarry.h"
#include "stats.h"

/* Geometry, in SVG user units: one unit per page across. */
#define MARGIN_LEFT 150
#define ROW_PAGES CHUNK_NPAGES
#define WIDTH (MARGIN_LEFT + ROW_PAGES + 20)
/* Rows shrink so that a 500 MB heap (about 125 chunks) stays one screen
 * high: at most this many units for all rows, each 2 to 12 units. */
#define ROWS_BUDGET 1500
#define ARENA_GAP 14

enum cell_kind { CELL_HEADER, CELL_SMALL, CELL_LARGE, CELL_DIRTY, CELL_CLEAN, CELL_MUZZY, CELL_PURGING, CELL_UNKNOWN };

static const char *const cell_names[] = {"header", "small", "large", "free-dirty", "free-clean", "free-muzzy",
                                         "purging", "unknown"};
static const char *const cell_colours[] = {"#555555", "", "#3b5b92", "#f39c12", "#eeeeee", "#e6d690",
                                           "#c0392b", "#ff00ff"};

/* One run of a chunk as read under the locks. */
struct cell_run {
    uint16_t first, npages;
    uint8_t kind, cls;
    uint16_t nfree;
};

struct chunk_picture {
    uintptr_t addr;
    unsigned nruns;
    struct cell_run runs[CHUNK_NPAGES];
};

static enum cell_kind kind_of(unsigned run_kind) {
    switch (run_kind) {
    case RUN_SMALL:
        return CELL_SMALL;
    case RUN_LARGE:
        return CELL_LARGE;
    case RUN_FREE_DIRTY:
        return CELL_DIRTY;
    case RUN_FREE_CLEAN:
        return CELL_CLEAN;
    case RUN_FREE_LAZY:
        return CELL_MUZZY;
    case RUN_PURGING:
        return CELL_PURGING;
    default:
        return CELL_UNKNOWN;
    }
}

/* Under the arena's locks: chunk c as runs. Every run's first page map
 * entry is exact (chunk.h), so walking from run to run by length covers
 * the chunk; an entry that does not start its run is drawn as one unknown
 * page rather than trusted. */
static void read_chunk(struct chunk *c, struct chunk_picture *pic) {
    pic->addr = (uintptr_t)c;
    pic->nruns = 0;
    pic->runs[pic->nruns++] = (struct cell_run){0, CHUNK_HEADER_PAGES, CELL_HEADER, 0, 0};
    for (size_t p = CHUNK_HEADER_PAGES; p < CHUNK_NPAGES;) {
        const struct run *r = c->map[p];
        struct cell_run *out = &pic->runs[pic->nruns++];
        if (r == NULL || r->base != chunk_page_addr(c, p) || r->npages == 0 || p + r->npages > CHUNK_NPAGES) {
            *out = (struct cell_run){(uint16_t)p, 1, CELL_UNKNOWN, 0, 0};
            p++;
            continue;
        }
        *out = (struct cell_run){(uint16_t)p, (uint16_t)r->npages, (uint8_t)kind_of(r->kind), 0, 0};
        if (r->kind == RUN_SMALL) {
            out->cls = r->cls;
            out->nfree = r->nfree;
        }
        p += r->npages;
    }
}

static void lock_all(struct arena *a) {
    for (unsigned c = 0; c < NSMALL; c++)
        lock_acquire(&a->bins[c].lock);
    lock_acquire(&a->lock);
}

static void unlock_all(struct arena *a) {
    lock_release(&a->lock);
    for (unsigned c = NSMALL; c-- > 0;)
        lock_release(&a->bins[c].lock);
}

/* Chunk k of arena a (in its list order) into pic; false when the arena
 * has fewer chunks by now. */
static bool read_chunk_at(struct arena *a, size_t k, struct chunk_picture *pic) {
    lock_all(a);
    struct chunk *c = a->chunks;
    for (size_t j = 0; c != NULL && j < k; j++)
        c = c->next;
    if (c != NULL)
        read_chunk(c, pic);
    unlock_all(a);
    return c != NULL;
}

static size_t arena_nchunks(struct arena *a) {
    lock_acquire(&a->lock);
    size_t n = a->nchunks;
    lock_release(&a->lock);
    return n;
}

/* ---- drawing ------------------------------------------------------------ */

static void out_hex(struct outbuf *o, uintptr_t v) {
    char tmp[2 + 2 * sizeof(v) + 1];
    size_t n = sizeof(tmp) - 1;
    tmp[n] = '\0';
    do {
        tmp[--n] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0);
    tmp[--n] = 'x';
    tmp[--n] = '0';
    out_str(o, tmp + n);
}

/* A small class's hue around the colour wheel; darker when fuller. */
static void out_small_fill(struct outbuf *o, unsigned cls, unsigned full_permille) {
    out_str(o, "hsl(");
    out_u64(o, (uint64_t)cls * 360 / NSMALL);
    out_str(o, ",65%,");
    out_u64(o, 85 - (uint64_t)full_permille * 50 / 1000);
    out_str(o, "%)");
}

static void draw_run(struct outbuf *o, const struct cell_run *r, unsigned row_h) {
    out_str(o, "<rect x=\"");
    out_u64(o, r->first);
    out_str(o, "\" width=\"");
    out_u64(o, r->npages);
    out_str(o, "\" height=\"");
    out_u64(o, row_h);
    out_str(o, "\" class=\"");
    out_str(o, cell_names[r->kind]);
    out_str(o, "\" fill=\"");
    unsigned nregs = r->kind == CELL_SMALL ? size_classes[r->cls].nregs : 0;
    if (r->kind == CELL_SMALL)
        out_small_fill(o, r->cls, nregs == 0 ? 0 : (unsigned)((nregs - r->nfree) * 1000u / nregs));
    else
        out_str(o, cell_colours[r->kind]);
    out_str(o, "\"><title>");
    out_str(o, cell_names[r->kind]);
    out_str(o, ", ");
    out_u64(o, r->npages);
    out_str(o, r->npages == 1 ? " page" : " pages");
    if (r->kind == CELL_SMALL) {
        out_str(o, ", class ");
        out_u64(o, r->cls);
        out_str(o, " (");
        out_u64(o, class_size(r->cls));
        out_str(o, " B): ");
        out_u64(o, nregs - r->nfree);
        out_str(o, " of ");
        out_u64(o, nregs);
        out_str(o, " regions used");
    }
    out_str(o, "</title></rect>\n");
}

static void draw_chunk(struct outbuf *o, const struct chunk_picture *pic, unsigned arena, size_t y, unsigned row_h) {
    out_str(o, "<g class=\"chunk\" data-arena=\"");
    out_u64(o, arena);
    out_str(o, "\" data-addr=\"");
    out_hex(o, pic->addr);
    out_str(o, "\" data-pages=\"");
    out_u64(o, ROW_PAGES);
    out_str(o, "\" transform=\"translate(");
    out_u64(o, MARGIN_LEFT);
    out_str(o, ",");
    out_u64(o, y);
    out_str(o, ")\">\n");
    for (unsigned k = 0; k < pic->nruns; k++)
        draw_run(o, &pic->runs[k], row_h);
    out_str(o, "</g>\n");
    if (row_h >= 7) {
        out_str(o, "<text x=\"");
        out_u64(o, MARGIN_LEFT - 4);
        out_str(o, "\" y=\"");
        out_u64(o, y + row_h - 1);
        out_str(o, "\" font-size=\"");
        out_u64(o, row_h);
        out_str(o, "\" text-anchor=\"end\">");
        out_hex(o, pic->addr);
        out_str(o, "</text>\n");
    }
}

static void text_at(struct outbuf *o, size_t x, size_t y, unsigned size, const char *cls) {
    out_str(o, "<text x=\"");
    out_u64(o, x);
    out_str(o, "\" y=\"");
    out_u64(o, y);
    out_str(o, "\" font-size=\"");
    out_u64(o, size);
    out_str(o, "\" class=\"");
    out_str(o, cls);
    out_str(o, "\">");
}

static void swatch(struct outbuf *o, size_t x, size_t y, const char *colour, unsigned cls, bool small) {
    out_str(o, "<rect x=\"");
    out_u64(o, x);
    out_str(o, "\" y=\"");
    out_u64(o, y);
    out_str(o, "\" width=\"10\" height=\"10\" stroke=\"#999\" stroke-width=\"0.5\" fill=\"");
    if (small)
        out_small_fill(o, cls, 700);
    else
        out_str(o, colour);
    out_str(o, "\"/>\n");
}

/* The legend: states, then the small classes' hues; returns the height. */
static size_t draw_legend(struct outbuf *o, size_t y) {
    text_at(o, 10, y + 10, 11, "legend");
    out_str(o, "pages:</text>\n");
    static const enum cell_kind shown[] = {CELL_HEADER, CELL_LARGE, CELL_DIRTY, CELL_CLEAN, CELL_MUZZY, CELL_PURGING};
    static const char *const labels[] = {"chunk header", "large run", "free, dirty (resident)",
                                         "free, purged (zero)", "free, MADV_FREE (muzzy)", "being purged"};
    for (unsigned k = 0; k < 6; k++) {
        size_t x = 60 + (size_t)k * 180;
        swatch(o, x, y, cell_colours[shown[k]], 0, false);
        text_at(o, x + 14, y + 9, 10, "legend");
        out_str(o, labels[k]);
        out_str(o, "</text>\n");
    }
    y += 18;
    text_at(o, 10, y + 10, 11, "legend");
    out_str(o, "small runs by class (bytes), darker = fuller:</text>\n");
    y += 14;
    for (unsigned c = 0; c < NSMALL; c++) {
        size_t x = 10 + (size_t)(c % 14) * 82, yy = y + (size_t)(c / 14) * 14;
        swatch(o, x, yy, NULL, c, true);
        text_at(o, x + 14, yy + 9, 10, "legend");
        out_u64(o, class_size(c));
        out_str(o, "</text>\n");
    }
    return 18 + 14 + 2 * 14 + 6;
}

/*
 * draw_lock guards only the static scratch below, which each drawing
 * fills from the start: no state outlives it. It stays outside the fork
 * order (lock.h) because it is held for the whole picture, file writes
 * included (megabytes for a large heap), and a fork, Redis's BGSAVE
 * among them, should not wait for that. A fork can therefore happen
 * while another thread draws; that thread is not in the child, so the
 * child re-makes the lock (heapmap_postfork_child) and can draw at once.
 * Only when the forking thread itself is the one drawing (a signal
 * handler's fork) is the lock left alone: the drawing goes on in the
 * child and releases it.
 */
static lock_t draw_lock = LOCK_INITIALIZER;
static _Thread_local bool drawing;

void heapmap_postfork_child(void) {
    if (!drawing)
        lock_init(&draw_lock);
}

struct layout {
    size_t nrows, rows_height, top;
    unsigned row_h, narena_groups;
    size_t counted[4096]; /* chunks per arena when counted (narenas <= 4096) */
};

size_t heapmap_write(void (*write_cb)(void *, const char *), void *cbopaque) {
    if (write_cb == NULL || narenas == 0 || arena_choose() == NULL)
        return 0;
    struct stats_totals t;
    stats_totals(&t);
    size_t rss = doctor_rss();
    /* Large: static, as one heap map at a time is drawn (draw_lock). */
    static struct layout lay;
    static struct chunk_picture pic;
    lock_acquire_unordered(&draw_lock);
    drawing = true;
    memset(&lay, 0, sizeof(lay));
    for (unsigned i = 0; i < narenas && i < 4096; i++) {
        struct arena *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (a == NULL)
            continue;
        lay.counted[i] = arena_nchunks(a);
        lay.nrows += lay.counted[i];
        if (lay.counted[i] != 0)
            lay.narena_groups++;
    }
    unsigned row_h = lay.nrows == 0 ? 12 : (unsigned)(ROWS_BUDGET / lay.nrows);
    row_h = row_h > 12 ? 12 : row_h < 2 ? 2 : row_h;
    unsigned pitch = row_h >= 4 ? row_h + 1 : row_h; /* a 1-unit gap between rows when there is room */
    size_t caption_h = 96, legend_h = 66;
    size_t rows_h = lay.nrows * pitch + (size_t)lay.narena_groups * ARENA_GAP;
    size_t height = caption_h + rows_h + 40 + legend_h;

    struct outbuf o;
    out_init(&o, write_cb, cbopaque);
    out_str(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"");
    out_u64(&o, WIDTH + WIDTH / 4);
    out_str(&o, "\" height=\"");
    out_u64(&o, height + height / 4);
    out_str(&o, "\" viewBox=\"0 0 ");
    out_u64(&o, WIDTH);
    out_str(&o, " ");
    out_u64(&o, height);
    out_str(&o, "\" font-family=\"monospace\" shape-rendering=\"crispEdges\">\n"
                "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");

    /* The caption: the global figures, and how to read the rows. */
    text_at(&o, 10, 18, 14, "caption");
    out_str(&o, "quarry heap map: allocated ");
    out_bytes(&o, t.allocated);
    out_str(&o, ", active ");
    out_bytes(&o, t.active);
    out_str(&o, ", resident ");
    out_bytes(&o, t.resident);
    out_str(&o, ", mapped ");
    out_bytes(&o, t.mapped);
    out_str(&o, "</text>\n");
    text_at(&o, 10, 36, 11, "caption");
    out_str(&o, "dirty ");
    out_bytes(&o, t.dirty);
    out_str(&o, ", muzzy ");
    out_bytes(&o, t.muzzy);
    out_str(&o, ", metadata ");
    out_bytes(&o, t.metadata);
    out_str(&o, ", retained ");
    out_bytes(&o, t.retained);
    out_str(&o, ", process RSS ");
    out_bytes(&o, rss);
    out_str(&o, "</text>\n");
    text_at(&o, 10, 52, 11, "caption");
    out_str(&o, "huge blocks: ");
    out_u64(&o, t.huge.count);
    out_str(&o, " holding ");
    out_bytes(&o, t.huge.allocated);
    out_str(&o, " (slack ");
    out_bytes(&o, t.huge.slack);
    out_str(&o, "); cached huge mappings: ");
    out_u64(&o, t.huge.ncached);
    out_str(&o, " holding ");
    out_bytes(&o, t.huge.cached);
    out_str(&o, "</text>\n");
    text_at(&o, 10, 68, 11, "caption");
    out_str(&o, "one row per 4 MiB chunk (");
    out_u64(&o, lay.nrows);
    out_str(&o, " chunks in ");
    out_u64(&o, lay.narena_groups);
    out_str(&o, " arenas), one cell per 4 KiB page, 1024 per row; rows scaled to ");
    out_u64(&o, row_h);
    out_str(&o, " units high to fit; each row read at its own instant</text>\n");

    size_t y = caption_h, drawn = 0;
    for (unsigned i = 0; i < narenas && i < 4096; i++) {
        struct arena *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (a == NULL || lay.counted[i] == 0)
            continue;
        out_str(&o, "<g class=\"arena\" data-arena=\"");
        out_u64(&o, i);
        out_str(&o, "\">\n");
        text_at(&o, 10, y + 10, 11, "arena");
        out_str(&o, "arena ");
        out_u64(&o, i);
        out_str(&o, "</text>\n");
        y += ARENA_GAP;
        for (size_t k = 0; k < lay.counted[i]; k++) {
            if (!read_chunk_at(a, k, &pic))
                break;
            draw_chunk(&o, &pic, i, y, row_h);
            y += pitch;
            drawn++;
        }
        out_str(&o, "</g>\n");
    }
    y = caption_h + rows_h + 20;
    draw_legend(&o, y);
    out_str(&o, "</svg>\n");
    out_flush(&o);
    drawing = false;
    lock_release_unordered(&draw_lock);
    return drawn;
}

int heapmap_to_file(const char *path) {
    int fd = out_open(path);
    if (fd < 0)
        return errno;
    heapmap_write(out_write_fd, &fd);
    return close(fd) == 0 ? 0 : errno;
}

int quarry_heapmap(const char *path) { return heapmap_to_file(path); }

__attribute__((destructor)) static void heapmap_at_exit(void) {
    if (opt_heapmap[0] != '\0' && narenas != 0)
        heapmap_to_file(opt_heapmap);
}
