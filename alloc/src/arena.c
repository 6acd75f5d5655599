#include "arena.h"

#include <sched.h>

#include "base.h"
#include "conf.h"
#include "os.h"
#include "report.h"
#include "vg.h"

#define DESC_BATCH 64

struct arena *arena_new(unsigned index) {
    struct arena *a = base_alloc(sizeof(*a));
    if (a == NULL)
        return NULL;
    a->large = base_alloc(RUN_PAGES_MAX * sizeof(*a->large));
    if (a->large == NULL)
        return NULL;
    lock_init(&a->lock);
    a->index = index;
    for (unsigned i = 0; i < NSMALL; i++)
        lock_init(&a->bins[i].lock);
    return a;
}

bool arena_desc_reserve(struct arena *a, unsigned n) {
    if (a->npool >= n)
        return true;
    struct run *batch = base_alloc(DESC_BATCH * sizeof(struct run));
    if (batch == NULL)
        return false;
    vg_metadata(batch, DESC_BATCH * sizeof(struct run));
    for (unsigned i = 0; i < DESC_BATCH; i++) {
        batch[i].link = a->pool;
        a->pool = &batch[i];
    }
    a->npool += DESC_BATCH;
    return true;
}

static struct run *desc_get(struct arena *a) {
    struct run *r = a->pool;
    qassert(r != NULL);
    a->pool = r->link;
    a->npool--;
    return r;
}

static void desc_put(struct arena *a, struct run *r) {
    r->kind = RUN_UNUSED;
    r->small_nregs = 0;
    r->link = a->pool;
    a->pool = r;
    a->npool++;
}

static void map_set_ends(struct run *r) {
    struct chunk *c = chunk_of(r->base);
    size_t first = chunk_page(c, r->base);
    c->map[first] = r;
    c->map[first + r->npages - 1] = r;
}

static void lru_append(struct arena *a, struct run *r) {
    r->lru_next = NULL;
    r->lru_prev = a->dirty_newest;
    if (a->dirty_newest != NULL)
        a->dirty_newest->lru_next = r;
    else
        a->dirty_oldest = r;
    a->dirty_newest = r;
}

static void lru_remove(struct arena *a, struct run *r) {
    if (r->lru_prev != NULL)
        r->lru_prev->lru_next = r->lru_next;
    else
        a->dirty_oldest = r->lru_next;
    if (r->lru_next != NULL)
        r->lru_next->lru_prev = r->lru_prev;
    else
        a->dirty_newest = r->lru_prev;
}

/* A dirty run joins the age list at its young end, whatever its
 * dirty_since: split remainders keep their age but not their place, so
 * the list is oldest first only roughly (purge.c allows for that). */
static struct tree *avail_tree(struct arena *a, const struct run *r) {
    return r->kind == RUN_FREE_CLEAN ? &a->avail_clean : &a->avail_used;
}

static void avail_insert(struct arena *a, struct run *r) {
    tree_insert(avail_tree(a, r), &r->node, free_run_key(r));
    map_set_ends(r);
    if (r->kind == RUN_FREE_DIRTY) {
        a->ndirty += r->npages;
        chunk_of(r->base)->ndirty_pages += r->npages;
        lru_append(a, r);
    } else if (r->kind == RUN_FREE_LAZY) {
        a->nlazy += r->npages;
    }
}

void arena_avail_remove(struct arena *a, struct run *r) {
    tree_remove(avail_tree(a, r), &r->node);
    if (r->kind == RUN_FREE_DIRTY) {
        a->ndirty -= r->npages;
        chunk_of(r->base)->ndirty_pages -= r->npages;
        lru_remove(a, r);
    } else if (r->kind == RUN_FREE_LAZY) {
        a->nlazy -= r->npages;
    }
}

static void chunk_list_push(struct chunk **head, struct chunk *c) {
    c->prev = NULL;
    c->next = *head;
    if (*head != NULL)
        (*head)->prev = c;
    *head = c;
}

static void chunk_list_remove(struct chunk **head, struct chunk *c) {
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
}

/* A chunk for the arena, retained or fresh: one free run over all its
 * pages, clean or (after MADV_FREE) lazily purged. */
static bool arena_add_chunk(struct arena *a) {
    if (!arena_desc_reserve(a, 1))
        return false;
    bool lazy;
    struct chunk *c = chunk_alloc(a, &lazy);
    if (c == NULL)
        return false;
    chunk_list_push(&a->chunks, c);
    a->nchunks++;
    struct run *r = desc_get(a);
    r->base = chunk_page_addr(c, CHUNK_HEADER_PAGES);
    r->npages = RUN_PAGES_MAX;
    r->kind = lazy ? RUN_FREE_LAZY : RUN_FREE_CLEAN;
    avail_insert(a, r);
    return true;
}

/* A wholly free chunk beyond the spare: drop its runs and let it go. */
static void arena_retire_chunk(struct arena *a, struct chunk *c) {
    for (size_t page = CHUNK_HEADER_PAGES; page < CHUNK_NPAGES;) {
        struct run *r = c->map[page];
        qassert(run_kind_is_free(r->kind));
        page += r->npages;
        arena_avail_remove(a, r);
        desc_put(a, r);
    }
    chunk_list_remove(&a->chunks, c);
    a->nchunks--;
    if (opt_retain)
        a->stats.nmadvise++; /* chunk_dealloc purges it */
    chunk_dealloc(c);
}

/* The peaks the purge policy reads (purge.c): the highest nactive of the
 * decay window, and since the last bound-driven pass. */
static void note_peak(struct arena *a) {
    if (a->nactive > a->peak_cur)
        a->peak_cur = a->nactive;
    if (a->nactive > a->purge.regrown)
        a->purge.regrown = a->nactive;
}

struct run *arena_run_alloc(struct arena *a, size_t npages, size_t align_pages, enum run_kind kind,
                            unsigned cls, bool *zeroed) {
    size_t need = npages + align_pages - 1;
    /* A new chunk's run takes one descriptor, the lead and trail of the
     * split two more. */
    if (need > RUN_PAGES_MAX || !arena_desc_reserve(a, 3))
        return NULL;
    /* Best fit among resident free pages first, then among clean ones:
     * a workload that frees and refills then reuses the pages it just
     * freed, and the clean ones stay unfaulted (and purging has nothing
     * to undo). */
    uint64_t key = (uint64_t)need << FREE_RUN_KEY_SHIFT;
    struct tree_node *n = tree_lower_bound(&a->avail_used, key);
    if (n == NULL)
        n = tree_lower_bound(&a->avail_clean, key);
    if (n == NULL) {
        if (!arena_add_chunk(a))
            return NULL;
        n = tree_lower_bound(&a->avail_clean, key);
        if (n == NULL)
            n = tree_lower_bound(&a->avail_used, key); /* a retained chunk purged lazily */
    }
    struct run *r = (struct run *)n;
    arena_avail_remove(a, r);
    uint8_t free_kind = r->kind;
    struct chunk *c = chunk_of(r->base);

    char *start = (char *)align_up((uintptr_t)r->base, align_pages << LG_PAGE);
    size_t lead = (size_t)(start - r->base) >> LG_PAGE;
    size_t trail = r->npages - lead - npages;
    if (lead != 0) {
        struct run *l = desc_get(a);
        l->base = r->base;
        l->npages = (uint16_t)lead;
        l->kind = free_kind;
        l->dirty_since = r->dirty_since;
        avail_insert(a, l);
    }
    if (trail != 0) {
        struct run *t = desc_get(a);
        t->base = start + (npages << LG_PAGE);
        t->npages = (uint16_t)trail;
        t->kind = free_kind;
        t->dirty_since = r->dirty_since;
        avail_insert(a, t);
    }
    r->base = start;
    r->npages = (uint16_t)npages;
    r->kind = kind;
    r->cls = (uint8_t)cls;
    if (kind == RUN_SMALL) {
        size_t first = chunk_page(c, start);
        for (size_t i = 0; i < npages; i++)
            c->map[first + i] = r;
        chunk_set_page_classes(start, npages, cls);
    } else {
        map_set_ends(r);
    }
    if (c->nalloc_pages == 0 && a->spare == c)
        a->spare = NULL;
    c->nalloc_pages += npages;
    a->nactive += npages;
    note_peak(a);
    *zeroed = free_kind == RUN_FREE_CLEAN;
    arena_check(a);
    return r;
}

/* When two dirty runs merge, the pages' mean dirty time: a large old run
 * that absorbs a small fresh one stays old enough for the age step (were
 * it made as young as its youngest part, a region that keeps getting
 * neighbours freed would never age), and a small old run absorbed by a
 * large fresh one stays young. */
static uint64_t merged_age(const struct run *x, const struct run *y) {
    uint64_t total = (uint64_t)x->npages + y->npages;
    return (x->dirty_since * x->npages + y->dirty_since * y->npages) / total;
}

void arena_run_insert_free(struct arena *a, struct run *r, enum run_kind kind) {
    struct chunk *c = chunk_of(r->base);
    size_t first = chunk_page(c, r->base);
    size_t end = first + r->npages;
    if (r->kind == RUN_SMALL)
        chunk_set_page_classes(r->base, r->npages, NSMALL);
    r->kind = kind;
    r->small_nregs = 0; /* a small run's, until now */
    /* Merge only with neighbours of the same kind: clean pages must keep
     * reading as zero, and dirty ones must stay counted as dirty. */
    struct run *left = c->map[first - 1]; /* the header's pages map to run_none */
    if (left->kind == kind && left->base + ((size_t)left->npages << LG_PAGE) == r->base) {
        arena_avail_remove(a, left);
        left->dirty_since = merged_age(left, r);
        left->npages += r->npages;
        desc_put(a, r);
        r = left;
    }
    if (end < CHUNK_NPAGES) {
        struct run *right = c->map[end];
        if (right->kind == kind && right->base == r->base + ((size_t)r->npages << LG_PAGE)) {
            arena_avail_remove(a, right);
            r->dirty_since = merged_age(r, right);
            r->npages += right->npages;
            desc_put(a, right);
        }
    }
    avail_insert(a, r);
    /* A wholly free chunk stays while it holds dirty pages: they are the
     * purge policy's to give back or keep for reuse, and retiring the
     * chunk would purge them behind its back. With purging off
     * (lg_dirty_mult -1) nothing goes back, whole chunks included. */
    if (c->nalloc_pages == 0) {
        if (a->spare == NULL)
            a->spare = c;
        else if (a->spare != c && opt_lg_dirty_mult >= 0 && c->ndirty_pages == 0)
            arena_retire_chunk(a, c);
    }
    arena_check(a);
}

void arena_release_spare(struct arena *a) {
    struct chunk *c = a->spare;
    if (c == NULL || c->nalloc_pages != 0 || c->ndirty_pages != 0 || opt_lg_dirty_mult < 0)
        return;
    a->spare = NULL;
    arena_retire_chunk(a, c);
}

void arena_run_dalloc(struct arena *a, struct run *r) {
    struct chunk *c = chunk_of(r->base);
    c->nalloc_pages -= r->npages;
    a->nactive -= r->npages;
    r->dirty_since = os_now_ms();
    arena_run_insert_free(a, r, RUN_FREE_DIRTY);
}

struct run *arena_run_split_tail(struct arena *a, struct run *r, size_t npages) {
    struct run *tail = desc_get(a);
    tail->kind = r->kind;
    tail->cls = r->cls;
    r->npages -= (uint16_t)npages;
    tail->base = r->base + ((size_t)r->npages << LG_PAGE);
    tail->npages = (uint16_t)npages;
    map_set_ends(r);
    map_set_ends(tail);
    arena_check(a);
    return tail;
}

bool arena_run_grow(struct arena *a, struct run *r, size_t npages) {
    struct chunk *c = chunk_of(r->base);
    size_t end = chunk_page(c, r->base) + r->npages;
    size_t extra = npages - r->npages;
    if (end >= CHUNK_NPAGES)
        return false;
    struct run *next = c->map[end];
    if (!run_kind_is_free(next->kind) || next->base != r->base + ((size_t)r->npages << LG_PAGE) ||
        next->npages < extra)
        return false;
    arena_avail_remove(a, next);
    if (next->npages > extra) {
        next->base += extra << LG_PAGE;
        next->npages -= (uint16_t)extra;
        avail_insert(a, next);
    } else {
        desc_put(a, next);
    }
    r->npages = (uint16_t)npages;
    map_set_ends(r);
    c->nalloc_pages += extra;
    a->nactive += extra;
    note_peak(a);
    arena_check(a);
    return true;
}

void arena_check(struct arena *a) {
    if (!config_debug)
        return;
    size_t active = 0, dirty = 0, lazy = 0, lru = 0, pooled = 0;
    for (struct run *r = a->pool; r != NULL; r = r->link)
        pooled++;
    if (pooled != a->npool)
        report_fatal("arena check: the descriptor pool's count is wrong");
    for (struct run *r = a->dirty_oldest; r != NULL; r = r->lru_next) {
        if (r->kind != RUN_FREE_DIRTY)
            report_fatal("arena check: a run on the age list is not dirty");
        lru += r->npages;
    }
    for (struct chunk *c = a->chunks; c != NULL; c = c->next) {
        size_t c_alloc = 0, c_dirty = 0;
        for (size_t page = CHUNK_HEADER_PAGES; page < CHUNK_NPAGES;) {
            struct run *r = c->map[page];
            if (r->base != chunk_page_addr(c, page) || r->npages == 0 || page + r->npages > CHUNK_NPAGES ||
                c->map[page + r->npages - 1] != r)
                report_fatal("arena check: the page map does not tile the chunk with runs");
            size_t want_off = r->kind == RUN_SMALL ? (size_t)r->cls << CLASS_OFFSET_SHIFT : CLASS_NONE_OFFSET;
            for (size_t i = page; i < page + r->npages; i++)
                if (c->classes[i].cls_offset != want_off ||
                    (r->kind == RUN_SMALL &&
                     c->classes[i].base_product != (uint32_t)(uintptr_t)r->base * class_facts_at(want_off)->inverse))
                    report_fatal("arena check: a page's class entry disagrees with its run");
            if (r->kind == RUN_FREE_DIRTY)
                c_dirty += r->npages;
            else if (r->kind == RUN_FREE_LAZY)
                lazy += r->npages;
            else if (!run_kind_is_free(r->kind))
                c_alloc += r->npages;
            page += r->npages;
        }
        if (c_alloc != c->nalloc_pages || c_dirty != c->ndirty_pages)
            report_fatal("arena check: a chunk's counts disagree with its runs");
        active += c_alloc;
        dirty += c_dirty;
    }
    /* Runs being purged count as allocated in their chunk, not in nactive. */
    if ((!a->purging && active != a->nactive) || dirty != a->ndirty || lazy != a->nlazy || lru != a->ndirty)
        report_fatal("arena check: the arena's counts disagree with its chunks");
}

void arena_prefork(struct arena *a) {
    for (unsigned i = 0; i < NSMALL; i++)
        lock_acquire(&a->bins[i].lock);
    lock_acquire(&a->lock);
    /* A purge in flight holds runs out of the free tree with the lock
     * dropped; a child forked now could never put them back. Let it end
     * (it needs only this lock and ones after it). */
    while (a->purging) {
        lock_release(&a->lock);
        sched_yield();
        lock_acquire(&a->lock);
    }
}

void arena_postfork_parent(struct arena *a) {
    lock_release(&a->lock);
    for (unsigned i = NSMALL; i-- > 0;)
        lock_release(&a->bins[i].lock);
}

void arena_postfork_child(struct arena *a) {
    lock_init(&a->lock);
    for (unsigned i = 0; i < NSMALL; i++)
        lock_init(&a->bins[i].lock);
}
