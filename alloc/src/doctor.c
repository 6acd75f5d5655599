/*
 * The memory doctor (doctor.h). It reads every arena the way stats.c does
 * (one arena at a time, its bin locks in class order and then its arena
 * lock), adds the huge layer, base metadata and retained chunks, and
 * computes the gap between allocated and resident from that one reading,
 * so that the parts it lists add up to the gap it states exactly.
 *
 * Thresholds, and why (docs/doctor.md has the same table):
 *   - a part of the gap is a finding when it is at least 4 MiB and at
 *     least a tenth of resident memory: smaller amounts are the fixed cost
 *     of any heap (a chunk header, base metadata, the purge floor of 1 MiB
 *     dirty per arena) and nothing an operator should act on;
 *   - resident / allocated up to 1.5 is healthy: lg_dirty_mult 2 lets an
 *     arena keep a quarter of its active pages dirty, and partly used runs
 *     of a churning heap add some more;
 *   - a size class is fragmented when its free regions are at least 1 MiB
 *     and a twentieth of resident memory: live blocks spread thinly over
 *     runs, which no purge can give back.
 */
#include "doctor.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "conf.h"
#include "init.h"
#include "purge.h"
#include "quarry.h"
#include "stats.h"
#include "tcache.h"

/* ---- output ------------------------------------------------------------ */

void out_init(struct outbuf *o, void (*write)(void *, const char *), void *opaque) {
    o->write = write;
    o->opaque = opaque;
    o->len = 0;
}

void out_flush(struct outbuf *o) {
    if (o->len == 0)
        return;
    o->buf[o->len] = '\0';
    o->write(o->opaque, o->buf);
    o->len = 0;
}

void out_str(struct outbuf *o, const char *s) {
    for (; *s != '\0'; s++) {
        if (o->len == sizeof(o->buf) - 1)
            out_flush(o);
        o->buf[o->len++] = *s;
    }
}

void out_u64(struct outbuf *o, uint64_t v) {
    char tmp[24];
    size_t n = sizeof(tmp) - 1;
    tmp[n] = '\0';
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    out_str(o, tmp + n);
}

void out_i64(struct outbuf *o, int64_t v) {
    if (v < 0) {
        out_str(o, "-");
        out_u64(o, (uint64_t)0 - (uint64_t)v);
    } else {
        out_u64(o, (uint64_t)v);
    }
}

void out_fixed(struct outbuf *o, uint64_t v, unsigned decimals) {
    uint64_t scale = 1;
    for (unsigned k = 0; k < decimals; k++)
        scale *= 10;
    out_u64(o, v / scale);
    if (decimals == 0)
        return;
    out_str(o, ".");
    uint64_t frac = v % scale;
    for (uint64_t s = scale / 10; s > 0; s /= 10) {
        char d[2] = {(char)('0' + frac / s % 10), '\0'};
        out_str(o, d);
    }
}

void out_bytes(struct outbuf *o, uint64_t bytes) {
    static const char *const units[] = {" B", " KiB", " MiB", " GiB", " TiB"};
    unsigned u = 0;
    uint64_t div = 1;
    while (u < 4 && bytes >= div * 1024)
        div *= 1024, u++;
    if (u == 0)
        out_u64(o, bytes);
    else
        out_fixed(o, (bytes * 10 + div / 2) / div, 1); /* one decimal, rounded */
    out_str(o, units[u]);
}

void out_col(struct outbuf *o, const char *s, int width) {
    size_t len = strlen(s), w = (size_t)(width < 0 ? -width : width);
    if (width < 0)
        for (size_t k = len; k < w; k++)
            out_str(o, " ");
    out_str(o, s);
    if (width > 0)
        for (size_t k = len; k < w; k++)
            out_str(o, " ");
}

void out_write_fd(void *opaque, const char *s) {
    int fd = *(const int *)opaque;
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

int out_open(const char *path) {
    if (path == NULL || *path == '\0') {
        errno = EINVAL;
        return -1;
    }
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

static void write_stderr(void *opaque, const char *s) {
    (void)opaque;
    int fd = STDERR_FILENO;
    out_write_fd(&fd, s);
}

/* A number into a small buffer, for the right-aligned columns. */
static const char *fmt_u64(char *buf, size_t size, uint64_t v) {
    size_t n = size - 1;
    buf[n] = '\0';
    do {
        buf[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && n > 0);
    return buf + n;
}

/* ---- RSS ---------------------------------------------------------------- */

size_t doctor_rss(void) {
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "size resident shared text lib data dt", in pages. */
    const char *s = buf;
    while (*s != '\0' && *s != ' ')
        s++;
    size_t pages = 0;
    for (s++; *s >= '0' && *s <= '9'; s++)
        pages = pages * 10 + (size_t)(*s - '0');
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- one reading of the heap ------------------------------------------ */

struct class_view {
    size_t curregs, nruns, spare_pages;
};

struct heap_view {
    struct class_view cls[NSMALL];
    size_t pactive, pdirty, pmuzzy, nchunks, large_allocated;
    size_t pdirty_over_bound; /* dirty pages beyond each arena's bound, summed */
    size_t pbound;            /* the arenas' bounds summed (SIZE_MAX: purging off) */
    unsigned arenas_used, nthreads;
    struct huge_stats huge;
    size_t base, retained_chunks;
    struct tcache_census tcache; /* every thread's cache (an estimate: they run on) */
    size_t own_tcache_bytes;     /* the calling thread's share */
    size_t allocated, active, resident, mapped, rss;
};

/* Under the locks stats.c takes, in the same order. */
static void read_arena(struct arena *a, struct heap_view *v) {
    for (unsigned c = 0; c < NSMALL; c++)
        lock_acquire(&a->bins[c].lock);
    lock_acquire(&a->lock);
    for (unsigned c = 0; c < NSMALL; c++) {
        const struct bin *b = &a->bins[c];
        v->cls[c].curregs += (size_t)(b->stats.nmalloc - b->stats.ndalloc);
        v->cls[c].nruns += b->stats.nruns;
        if (b->spare != NULL)
            v->cls[c].spare_pages += b->spare->npages;
    }
    v->pactive += a->nactive;
    v->pdirty += a->ndirty;
    v->pmuzzy += a->nlazy;
    v->nchunks += a->nchunks;
    v->large_allocated += a->stats.large_allocated;
    size_t bound = arena_dirty_bound(a);
    if (bound == SIZE_MAX)
        v->pbound = SIZE_MAX;
    else if (v->pbound != SIZE_MAX)
        v->pbound += bound;
    if (a->ndirty > bound)
        v->pdirty_over_bound += a->ndirty - bound;
    lock_release(&a->lock);
    for (unsigned c = NSMALL; c-- > 0;)
        lock_release(&a->bins[c].lock);
}

static size_t bin_bytes(unsigned bin) {
    return bin < NSMALL ? class_size(bin) : (size_t)(bin - NSMALL + 1) << LG_PAGE;
}

static void read_heap(struct heap_view *v) {
    memset(v, 0, sizeof(*v));
    for (unsigned i = 0; i < narenas; i++) {
        struct arena *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (a == NULL)
            continue;
        v->arenas_used++;
        v->nthreads += __atomic_load_n(&a->nthreads, __ATOMIC_RELAXED);
        read_arena(a, v);
    }
    v->huge = huge_get_stats();
    v->base = base_mapped();
    v->retained_chunks = chunk_nretained();
    tcache_census(&v->tcache);
    struct tcache *tc = thread_tcache;
    if (tcache_is_real(tc))
        for (unsigned b = 0; b < tc->nbins; b++)
            v->own_tcache_bytes += tcache_bin_count(&tc->stacks[b]) * bin_bytes(b);
    size_t small = 0;
    for (unsigned c = 0; c < NSMALL; c++)
        small += v->cls[c].curregs * class_size(c);
    size_t huge_mapped = v->huge.allocated + v->huge.slack + v->huge.cached;
    /* The formulas of stats_totals(), over this one reading. */
    v->allocated = small + v->large_allocated + v->huge.allocated;
    v->active = v->pactive * PAGE + v->huge.allocated;
    v->resident = (v->pactive + v->pdirty + v->pmuzzy) * PAGE + v->nchunks * CHUNK_HEADER_PAGES * PAGE + v->base +
                  huge_mapped + v->retained_chunks * PAGE;
    v->mapped = v->nchunks * CHUNK + v->base + huge_mapped + v->retained_chunks * PAGE;
    v->rss = doctor_rss();
}

/* ---- the gap -------------------------------------------------------------- */

enum gap_part {
    GAP_FREE_REGIONS,
    GAP_RUN_TAILS,
    GAP_SPARE_RUNS,
    GAP_OTHER_ACTIVE,
    GAP_DIRTY,
    GAP_MUZZY,
    GAP_HEADERS,
    GAP_HUGE_SLACK,
    GAP_HUGE_CACHED,
    GAP_METADATA,
    GAP_RETAINED,
    NGAP
};

static const char *const gap_names[NGAP] = {
    "free regions in partly used small runs",
    "small runs' tails (no region fits)",
    "bins' spare runs (empty, kept)",
    "other active pages",
    "dirty pages waiting for purge",
    "pages purged with MADV_FREE (muzzy)",
    "chunk headers (page maps)",
    "huge blocks' slack (mapped past size)",
    "cached huge mappings",
    "metadata (descriptors, caches, registry)",
    "retained chunks' kept page",
};

static void gap_parts(const struct heap_view *v, int64_t part[NGAP]) {
    size_t free_regions = 0, tails = 0, spare = 0, small_pages = 0;
    for (unsigned c = 0; c < NSMALL; c++) {
        const struct size_class *sc = &size_classes[c];
        const struct class_view *x = &v->cls[c];
        size_t regs = x->nruns * sc->nregs;
        free_regions += (regs > x->curregs ? regs - x->curregs : 0) * sc->size;
        tails += x->nruns * (((size_t)sc->run_pages << LG_PAGE) - (size_t)sc->nregs * sc->size);
        spare += x->spare_pages << LG_PAGE;
        small_pages += x->nruns * sc->run_pages + x->spare_pages;
    }
    part[GAP_FREE_REGIONS] = (int64_t)free_regions;
    part[GAP_RUN_TAILS] = (int64_t)tails;
    part[GAP_SPARE_RUNS] = (int64_t)spare;
    size_t small_allocated = v->allocated - v->large_allocated - v->huge.allocated;
    /* Whatever active pages neither small runs nor large blocks explain
     * (runs being purged with the arena lock dropped): 0 on a quiet heap,
     * and it keeps the sum exact when it is not. */
    part[GAP_OTHER_ACTIVE] = (int64_t)(v->pactive * PAGE) - (int64_t)v->large_allocated - (int64_t)small_allocated -
                             (int64_t)(free_regions + tails + spare);
    part[GAP_DIRTY] = (int64_t)(v->pdirty * PAGE);
    part[GAP_MUZZY] = (int64_t)(v->pmuzzy * PAGE);
    part[GAP_HEADERS] = (int64_t)(v->nchunks * CHUNK_HEADER_PAGES * PAGE);
    part[GAP_HUGE_SLACK] = (int64_t)v->huge.slack;
    part[GAP_HUGE_CACHED] = (int64_t)v->huge.cached;
    part[GAP_METADATA] = (int64_t)v->base;
    part[GAP_RETAINED] = (int64_t)(v->retained_chunks * PAGE);
}

/* ---- findings ------------------------------------------------------------ */

#define FINDING_FLOOR ((size_t)4 << 20)
#define CLASS_FLOOR ((size_t)1 << 20)
#define TCACHE_FLOOR ((size_t)2 << 20)

static bool significant(const struct heap_view *v, size_t bytes) {
    return bytes >= FINDING_FLOOR && bytes * 10 >= v->resident;
}

struct doctor {
    struct outbuf o;
    const struct heap_view *v;
    unsigned nfindings;
};

static void finding(struct doctor *d, const char *tag) {
    d->nfindings++;
    out_str(&d->o, "\n  ");
    out_u64(&d->o, d->nfindings);
    out_str(&d->o, ". [");
    out_str(&d->o, tag);
    out_str(&d->o, "] ");
}

/* Parts per thousand, as "12.3%". */
static void out_share(struct outbuf *o, uint64_t part, uint64_t whole) {
    uint64_t permille = whole == 0 ? 0 : (part * 1000 + whole / 2) / whole;
    out_fixed(o, permille, 1);
    out_str(o, "%");
}

static void out_ratio(struct outbuf *o, uint64_t num, uint64_t den) {
    if (den == 0) {
        out_str(o, "-");
        return;
    }
    out_fixed(o, (num * 100 + den / 2) / den, 2);
}

static size_t class_free_bytes(const struct class_view *x, unsigned c) {
    size_t regs = x->nruns * size_classes[c].nregs;
    return (regs > x->curregs ? regs - x->curregs : 0) * class_size(c);
}

/* Small classes by free-region bytes, largest first (at most n). */
static unsigned top_classes(const struct heap_view *v, unsigned *order, unsigned n) {
    unsigned k = 0;
    for (unsigned c = 0; c < NSMALL; c++) {
        size_t f = class_free_bytes(&v->cls[c], c);
        if (f == 0)
            continue;
        unsigned pos = k < n ? k++ : n;
        while (pos > 0 && class_free_bytes(&v->cls[order[pos - 1]], order[pos - 1]) < f) {
            if (pos < n)
                order[pos] = order[pos - 1];
            pos--;
        }
        if (pos < n)
            order[pos] = c;
    }
    return k;
}

static void diagnose_classes(struct doctor *d, const unsigned *order, unsigned n) {
    const struct heap_view *v = d->v;
    struct outbuf *o = &d->o;
    for (unsigned k = 0; k < n; k++) {
        unsigned c = order[k];
        const struct class_view *x = &v->cls[c];
        size_t f = class_free_bytes(x, c);
        if (f < CLASS_FLOOR || f * 20 < v->resident)
            continue;
        size_t regs = x->nruns * size_classes[c].nregs;
        finding(d, "fragmentation");
        out_str(o, "size class ");
        out_u64(o, c);
        out_str(o, " (");
        out_u64(o, class_size(c));
        out_str(o, " bytes) holds ");
        out_bytes(o, f);
        out_str(o, " of free regions: its ");
        out_u64(o, x->curregs);
        out_str(o, " live blocks are spread over ");
        out_u64(o, x->nruns);
        out_str(o, " runs, ");
        out_share(o, x->curregs, regs);
        out_str(o, " full.\n     The blocks are alive; quarry_purge() / MEMORY PURGE gives none of this back.\n"
                   "     Only moving them (copying live blocks into new ones) or a restart compacts it;\n"
                   "     new blocks of this size fill these holes first (lowest address first).");
        if (v->arenas_used > 1) {
            out_str(o, "\n     It is spread over ");
            out_u64(o, v->arenas_used);
            out_str(o, " arenas: fewer (narenas) pack each class into fewer runs.");
        }
        out_str(o, "\n");
    }
}

static void diagnose_dirty(struct doctor *d, size_t purge_now) {
    const struct heap_view *v = d->v;
    struct outbuf *o = &d->o;
    size_t dirty = v->pdirty * PAGE;
    size_t spare = 0;
    for (unsigned c = 0; c < NSMALL; c++)
        spare += v->cls[c].spare_pages * PAGE;
    if (!significant(v, dirty + spare))
        return;
    finding(d, "dirty pages");
    out_bytes(o, dirty);
    out_str(o, " of free pages still hold memory");
    if (spare != 0) {
        out_str(o, " (and ");
        out_bytes(o, spare);
        out_str(o, " in bins' spare runs)");
    }
    out_str(o, ".\n     quarry_purge() / MEMORY PURGE would return ");
    out_bytes(o, purge_now);
    out_str(o, " now.\n");
    if (opt_lg_dirty_mult < 0) {
        out_str(o, "     Purging is off (lg_dirty_mult:-1): set lg_dirty_mult:2 (the default) to keep at most a\n"
                   "     quarter of the active pages dirty.\n");
        return;
    }
    out_str(o, "     The bound (lg_dirty_mult:");
    out_i64(o, opt_lg_dirty_mult);
    out_str(o, ") allows ");
    out_bytes(o, v->pbound * PAGE);
    if (v->pdirty_over_bound != 0) {
        out_str(o, "; ");
        out_bytes(o, v->pdirty_over_bound * PAGE);
        out_str(o, " are over it, kept because the heap cycles (it refilled pages it had just purged)");
    }
    out_str(o, ".\n     To keep less: lg_dirty_mult:");
    out_i64(o, opt_lg_dirty_mult + 1);
    out_str(o, " halves the bound; decay_ms (now ");
    out_i64(o, opt_decay_ms);
    out_str(o, ") lower returns idle pages sooner;\n     background_thread:true purges without waiting for "
               "the next allocation.\n");
}

static void diagnose_huge(struct doctor *d) {
    const struct heap_view *v = d->v;
    struct outbuf *o = &d->o;
    if (significant(v, v->huge.cached)) {
        finding(d, "huge cache");
        out_u64(o, v->huge.ncached);
        out_str(o, " freed huge mappings (");
        out_bytes(o, v->huge.cached);
        out_str(o, ") are kept for reuse (each thread's last one, and a shared cache).\n"
                   "     quarry_purge() / MEMORY PURGE unmaps them now; left alone they go after decay_ms (");
        out_i64(o, opt_decay_ms);
        out_str(o, " ms) idle.\n");
    }
    if (significant(v, v->huge.slack)) {
        finding(d, "huge slack");
        out_bytes(o, v->huge.slack);
        out_str(o, " is mapped past the size of live huge blocks (a reused mapping, or a block shrunk\n"
                   "     in place, keeps up to twice its size).\n"
                   "     It is the room those blocks grow into in place; it leaves with them when they are freed\n"
                   "     (into the cache of huge mappings, which quarry_purge() empties).\n");
    }
}

static void diagnose_muzzy(struct doctor *d) {
    const struct heap_view *v = d->v;
    if (!significant(v, v->pmuzzy * PAGE))
        return;
    finding(d, "MADV_FREE");
    out_bytes(&d->o, v->pmuzzy * PAGE);
    out_str(&d->o, " was purged with MADV_FREE (purge:free): the kernel takes those pages only under memory\n"
                   "     pressure, so RSS still counts them. purge:dontneed makes RSS drop at each purge.\n");
}

static void diagnose_tcache(struct doctor *d) {
    const struct heap_view *v = d->v;
    struct outbuf *o = &d->o;
    size_t bytes = v->tcache.bytes;
    if (bytes < TCACHE_FLOOR || bytes * 20 < v->allocated)
        return;
    finding(d, "thread cache");
    out_bytes(o, bytes);
    out_str(o, " (");
    out_u64(o, v->tcache.blocks);
    out_str(o, " free blocks) sit in the caches of ");
    out_u64(o, v->tcache.nthreads);
    out_str(o, v->tcache.nthreads == 1 ? " thread" : " threads");
    out_str(o, " (this thread's: ");
    out_bytes(o, v->own_tcache_bytes);
    out_str(o, "), counted in allocated.\n"
               "     thread.tcache.flush (mallctl) gives a thread's blocks back to their runs, run on that thread;\n"
               "     each cache's idle-bin GC returns what its thread stops using, as the thread frees.\n"
               "     tcache_max:");
    out_u64(o, opt_tcache_max / 2 >= PAGE ? opt_tcache_max / 2 : PAGE);
    out_str(o, " (now ");
    out_u64(o, opt_tcache_max);
    out_str(o, ") caches fewer large blocks; tcache:false turns the caches off.\n");
}

static void diagnose_metadata(struct doctor *d) {
    const struct heap_view *v = d->v;
    struct outbuf *o = &d->o;
    size_t headers = v->nchunks * CHUNK_HEADER_PAGES * PAGE;
    size_t meta = v->base + headers;
    if (!significant(v, meta) || meta * 4 < v->resident)
        return;
    finding(d, "metadata");
    out_bytes(o, meta);
    out_str(o, " of metadata for ");
    out_u64(o, v->arenas_used);
    out_str(o, v->arenas_used == 1 ? " arena and " : " arenas and ");
    out_u64(o, v->nthreads);
    out_str(o, v->nthreads == 1 ? " thread: " : " threads: ");
    out_bytes(o, headers);
    out_str(o, " in the headers of ");
    out_u64(o, v->nchunks);
    out_str(o, " chunks,\n     ");
    out_bytes(o, v->base);
    out_str(o, " in base memory (run descriptors, thread caches, the chunk registry).\n");
    if (headers >= v->base && v->nchunks != 0) {
        /* A header is a fixed 20 KiB a chunk: it weighs only when chunks
         * are nearly empty, each pinned by a few live pages. */
        out_str(o, "     The chunks hold ");
        out_bytes(o, v->pactive * PAGE / v->nchunks);
        out_str(o, " of active pages each on average: a few live blocks keep each chunk mapped;\n"
                   "     freeing or moving them gives the chunk back.");
        if (v->arenas_used > 1)
            out_str(o, " Fewer arenas (narenas) pack blocks into fewer chunks.");
        out_str(o, "\n");
    } else {
        out_str(o, "     Fewer arenas (narenas) share chunks and descriptors; tcache:false drops the\n"
                   "     per-thread caches.\n");
    }
}

/* ---- the report ------------------------------------------------------------ */

static void headline(struct doctor *d) {
    const struct heap_view *v = d->v;
    struct outbuf *o = &d->o;
    static const char *const names[] = {"allocated", "active", "resident", "mapped", "RSS (process)"};
    static const char *const meaning[] = {
        "bytes the program holds, by usable size (thread caches included)",
        "pages in runs holding allocations, plus huge blocks",
        "pages quarry has touched and not purged, metadata included",
        "address space in use",
        "/proc/self/statm: quarry's resident plus the program's code, stacks and other mappings",
    };
    const size_t values[] = {v->allocated, v->active, v->resident, v->mapped, v->rss};
    char num[24];
    for (unsigned k = 0; k < 5; k++) {
        out_str(o, "  ");
        out_col(o, names[k], 14);
        out_col(o, fmt_u64(num, sizeof(num), values[k]), -14);
        out_str(o, "  ");
        out_bytes(o, values[k]);
        out_str(o, "  ");
        out_str(o, meaning[k]);
        out_str(o, "\n");
    }
    out_str(o, "  arenas in use: ");
    out_u64(o, v->arenas_used);
    out_str(o, ", threads bound: ");
    out_u64(o, v->nthreads);
    out_str(o, ", threads with a cache: ");
    out_u64(o, v->tcache.nthreads);
    out_str(o, ", chunks: ");
    out_u64(o, v->nchunks);
    out_str(o, ", huge blocks: ");
    out_u64(o, v->huge.count);
    out_str(o, ", retained address space: ");
    out_bytes(o, (uint64_t)v->retained_chunks * (CHUNK - PAGE));
    out_str(o, "\n\nRatios (healthy up to):\n  active / allocated   ");
    out_ratio(o, v->active, v->allocated);
    out_str(o, "  (1.20: free space inside runs; above, blocks are spread thinly)\n  resident / allocated ");
    out_ratio(o, v->resident, v->allocated);
    out_str(o, "  (1.50: lg_dirty_mult 2 keeps up to a quarter of active dirty, plus partly used runs)\n"
               "  RSS / resident       ");
    out_ratio(o, v->rss, v->resident);
    out_str(o, "  (the rest of RSS is the program's own, not the heap's)\n");
}

static void gap_table(struct doctor *d, const int64_t *part) {
    const struct heap_view *v = d->v;
    struct outbuf *o = &d->o;
    uint64_t gap = v->resident - v->allocated;
    char num[24];
    out_str(o, "\nWhere the gap between allocated and resident lies (");
    out_bytes(o, gap);
    out_str(o, "):\n");
    for (unsigned k = 0; k < NGAP; k++) {
        out_str(o, "  ");
        out_col(o, gap_names[k], 42);
        if (part[k] < 0) {
            out_str(o, "-");
            out_col(o, fmt_u64(num, sizeof(num), (uint64_t)-part[k]), -13);
        } else {
            out_col(o, fmt_u64(num, sizeof(num), (uint64_t)part[k]), -14);
        }
        out_str(o, " B  ");
        out_share(o, part[k] < 0 ? 0 : (uint64_t)part[k], gap);
        out_str(o, "\n");
    }
    out_str(o, "  ");
    out_col(o, "total", 42);
    out_col(o, fmt_u64(num, sizeof(num), gap), -14);
    out_str(o, " B  100.0%\n");
    out_str(o, "  (not in the gap: ");
    out_bytes(o, v->tcache.bytes);
    out_str(o, " of allocated are free blocks in the caches of ");
    out_u64(o, v->tcache.nthreads);
    out_str(o, v->tcache.nthreads == 1 ? " thread)\n" : " threads)\n");
}

static void class_table(struct doctor *d, const unsigned *order, unsigned n) {
    const struct heap_view *v = d->v;
    struct outbuf *o = &d->o;
    if (n == 0)
        return;
    char num[24];
    out_str(o, "\nSize classes with the most free space in their runs (full = live regions / regions):\n"
               "  class      size      runs          live    full    free bytes\n");
    for (unsigned k = 0; k < n; k++) {
        unsigned c = order[k];
        const struct class_view *x = &v->cls[c];
        out_str(o, "  ");
        out_col(o, fmt_u64(num, sizeof(num), c), -5);
        out_col(o, fmt_u64(num, sizeof(num), class_size(c)), -10);
        out_col(o, fmt_u64(num, sizeof(num), x->nruns), -10);
        out_col(o, fmt_u64(num, sizeof(num), x->curregs), -14);
        out_str(o, "  ");
        uint64_t regs = (uint64_t)x->nruns * size_classes[c].nregs;
        uint64_t permille = regs == 0 ? 0 : ((uint64_t)x->curregs * 1000 + regs / 2) / regs;
        if (permille < 1000)
            out_str(o, permille < 100 ? "  " : " ");
        out_fixed(o, permille, 1);
        out_str(o, "%");
        out_col(o, fmt_u64(num, sizeof(num), class_free_bytes(x, c)), -14);
        out_str(o, "\n");
    }
}

unsigned doctor_write(void (*write_cb)(void *, const char *), void *cbopaque) {
    struct doctor d;
    out_init(&d.o, write_cb != NULL ? write_cb : write_stderr, cbopaque);
    if (narenas == 0 || arena_choose() == NULL) {
        out_str(&d.o, "quarry memory doctor: the heap has not started: no issues\n");
        out_flush(&d.o);
        return 0;
    }
    struct heap_view v;
    read_heap(&v);
    d.v = &v;
    d.nfindings = 0;
    int64_t part[NGAP];
    gap_parts(&v, part);
    unsigned order[5];
    unsigned n = top_classes(&v, order, 5);
    size_t spare = 0;
    for (unsigned c = 0; c < NSMALL; c++)
        spare += v.cls[c].spare_pages * PAGE;
    size_t purge_now = v.pdirty * PAGE + spare + v.huge.cached;

    out_str(&d.o, "quarry memory doctor\n\n");
    headline(&d);
    gap_table(&d, part);
    class_table(&d, order, n);
    out_str(&d.o, "\nquarry_purge() / MEMORY PURGE would return ");
    out_bytes(&d.o, purge_now);
    out_str(&d.o, " now (dirty pages, spare runs, cached huge mappings).\n\nFindings:");
    diagnose_classes(&d, order, n);
    diagnose_dirty(&d, purge_now);
    diagnose_huge(&d);
    diagnose_muzzy(&d);
    diagnose_tcache(&d);
    diagnose_metadata(&d);
    uint64_t gap = v.resident - v.allocated;
    if (d.nfindings == 0 && gap >= 4 * FINDING_FLOOR && v.resident * 2 > v.allocated * 3) {
        unsigned top = 0;
        for (unsigned k = 1; k < NGAP; k++)
            if (part[k] > part[top])
                top = k;
        finding(&d, "spread");
        out_str(&d.o, "resident is more than 1.5 times allocated, with no single cause of 4 MiB and a tenth of\n"
                      "     resident, and no size class over its own threshold: the largest part is ");
        out_str(&d.o, gap_names[top]);
        out_str(&d.o, "\n     (");
        out_bytes(&d.o, (uint64_t)part[top]);
        out_str(&d.o, ", ");
        out_share(&d.o, (uint64_t)part[top], gap);
        out_str(&d.o, " of the gap). The table above shows every part; quarry_purge() returns what is dirty.\n");
    }
    if (d.nfindings == 0)
        out_str(&d.o, " no issues. Every part of the gap is under 4 MiB or under a tenth of resident memory,\n"
                      "  and no size class is fragmented.\n");
    out_flush(&d.o);
    return d.nfindings;
}

int doctor_to_file(const char *path) {
    int fd = out_open(path);
    if (fd < 0)
        return errno;
    doctor_write(out_write_fd, &fd);
    return close(fd) == 0 ? 0 : errno;
}

unsigned quarry_doctor(void (*write_cb)(void *, const char *), void *cbopaque) {
    return doctor_write(write_cb, cbopaque);
}

__attribute__((destructor)) static void doctor_at_exit(void) {
    if (opt_doctor && narenas != 0)
        doctor_write(NULL, NULL);
}
