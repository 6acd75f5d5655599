/*
 * Blocks, patterns and the whole-heap check; see stress_util.h.
 */
#define _GNU_SOURCE
#include "stress_util.h"
#include "stress_api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Noreturn void fail(const char *fmt, ...)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "stress: FAIL: ");
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t ignored = write(2, buf, (size_t)n);
    (void)ignored;
    _exit(1);
}

void rng_seed(rng_t *r, uint64_t seed)
{
    /* splitmix64 of the seed: neighbouring seeds give unrelated streams,
     * and the state is never 0 (xorshift's fixed point). */
    uint64_t z = seed + 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    r->s = z ? z : 1;
}

uint64_t rng_next(rng_t *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Du;
}

uint64_t rng_below(rng_t *r, uint64_t n)
{
    return rng_next(r) % n;   /* bias is irrelevant for a stress mix */
}

size_t rng_range(rng_t *r, size_t lo, size_t hi)
{
    return lo + (size_t)rng_below(r, (uint64_t)(hi - lo) + 1);
}

const char *how_name(how_t how)
{
    static const char *const names[] = {
        "malloc", "calloc", "aligned_alloc", "posix_memalign", "memalign",
        "valloc", "pvalloc", "realloc(NULL)", "realloc", "reallocarray",
    };
    return names[how];
}

/* ---- patterns --------------------------------------------------------- */

/* The pattern is a function of (id, offset) only, so it can be checked
 * anywhere without storing a copy, and a byte that belongs to another
 * block (overlap) or to a stale copy (bad realloc) differs. Offsets are
 * taken in 8-byte words so checking a 2 MiB block stays cheap. */
static inline uint64_t pat_word(uint64_t id, size_t word)
{
    uint64_t x = id * 0x9E3779B97F4A7C15u + (uint64_t)word * 0xD6E8FEB86659FD93u;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9u;
    return x ^ (x >> 32);
}

static inline unsigned char pat_byte(uint64_t id, size_t off)
{
    return (unsigned char)(pat_word(id, off / 8) >> (8 * (off % 8)));
}

static void pat_fill(unsigned char *p, size_t from, size_t to, uint64_t id)
{
    size_t off = from;
    for (; off < to && off % 8; off++)
        p[off] = pat_byte(id, off);
    for (; off + 8 <= to; off += 8) {
        uint64_t w = pat_word(id, off / 8);
        memcpy(p + off, &w, 8);   /* little-endian: matches pat_byte */
    }
    for (; off < to; off++)
        p[off] = pat_byte(id, off);
}

/* Offset of the first byte in [from, to) that differs, or SIZE_MAX. */
static size_t pat_find_bad(const unsigned char *p, size_t from, size_t to,
                           uint64_t id)
{
    size_t off = from;
    for (; off < to && off % 8; off++)
        if (p[off] != pat_byte(id, off))
            return off;
    for (; off + 8 <= to; off += 8) {
        uint64_t w;
        memcpy(&w, p + off, 8);
        if (w != pat_word(id, off / 8))
            break;   /* locate the exact byte below */
    }
    for (; off < to; off++)
        if (p[off] != pat_byte(id, off))
            return off;
    return SIZE_MAX;
}

static void pat_check(const unsigned char *p, size_t from, size_t to,
                      uint64_t id, const block_t *b, const char *who,
                      const char *what)
{
    size_t bad = pat_find_bad(p, from, to, id);
    if (bad != SIZE_MAX)
        fail("%s: %s: block id=%llx (%s, %zu bytes) at %p: byte %zu is "
             "0x%02x, expected 0x%02x (corrupted, overlapping or lost "
             "in realloc)", who, what, (unsigned long long)id,
             how_name(b->how), b->size, (void *)b->p, bad, p[bad],
             pat_byte(id, bad));
}

/* ---- sizes and entry points --------------------------------------------- */

size_t pick_size(rng_t *r)
{
    uint64_t c = rng_below(r, 1000);
    if (c < 800) {
        /* log-uniform over 1..4096 so tiny classes get most of the
         * traffic, as in real programs */
        unsigned bits = (unsigned)rng_below(r, 13);
        return 1 + (size_t)rng_below(r, (uint64_t)1 << bits);
    }
    if (c < 960)
        return rng_range(r, 4097, 64 * 1024);
    if (c < 996)
        return rng_range(r, 64 * 1024 + 1, 256 * 1024);
    /* Straddle 2 MiB: a common chunk / huge-class boundary. */
    return rng_range(r, 2 * 1024 * 1024 - 64 * 1024, 2 * 1024 * 1024 + 16 * 1024);
}

static void check_fresh(const block_t *b, const char *who)
{
    if (b->p == NULL)
        fail("%s: %s(%zu, align %zu) returned NULL", who, how_name(b->how),
             b->size, b->align);
    if (b->align && (uintptr_t)b->p % b->align)
        fail("%s: %s(align %zu, %zu) returned misaligned %p", who,
             how_name(b->how), b->align, b->size, (void *)b->p);
    /* Every block must be at least suitably aligned for max_align_t
     * (16 on x86-64) once it is big enough to hold one. */
    if (b->size >= 16 && (uintptr_t)b->p % 16)
        fail("%s: %s(%zu) returned %p, not 16-byte aligned", who,
             how_name(b->how), b->size, (void *)b->p);
    size_t usable = S_USABLE(b->p);
    if (usable < b->size)
        fail("%s: %s(%zu) at %p: usable size %zu < requested", who,
             how_name(b->how), b->size, (void *)b->p, usable);
}

void block_alloc(block_t *b, rng_t *r, uint64_t id, const char *who)
{
    size_t size = pick_size(r);
    uint64_t c = rng_below(r, 100);
    void *p = NULL;

    b->id = id;
    b->align = 0;
    if (c < 58) {
        b->how = HOW_MALLOC;
        p = S_MALLOC(size);
    } else if (c < 72) {
        /* split the size into count * elem so calloc's multiplication
         * is exercised, not just calloc(1, n) */
        size_t elem = (size_t)1 << rng_below(r, 5);
        size_t count = (size + elem - 1) / elem;
        size = count * elem;
        b->how = HOW_CALLOC;
        p = S_CALLOC(count, elem);
        if (p) {
            b->p = p;
            b->size = size;
            check_fresh(b, who);
            for (size_t i = 0; i < size; i++)
                if (((unsigned char *)p)[i] != 0)
                    fail("%s: calloc(%zu, %zu) at %p: byte %zu is 0x%02x, "
                         "not zero", who, count, elem, p, i,
                         ((unsigned char *)p)[i]);
        }
    } else if (c < 80) {
        /* C11 asked for size to be a multiple of the alignment; keep to
         * that so this is valid under either reading of the standard. */
        b->align = (size_t)1 << rng_range(r, 4, 12);
        size = (size + b->align - 1) / b->align * b->align;
        b->how = HOW_ALIGNED_ALLOC;
        p = S_ALIGNED_ALLOC(b->align, size);
    } else if (c < 88) {
        /* Mostly modest alignments, now and then 64 KiB. */
        b->align = rng_below(r, 20) ? (size_t)1 << rng_range(r, 3, 13)
                                    : (size_t)64 * 1024;
        b->how = HOW_POSIX_MEMALIGN;
        int rc = S_POSIX_MEMALIGN(&p, b->align, size);
        if (rc != 0)
            fail("%s: posix_memalign(align %zu, %zu) failed: %s", who,
                 b->align, size, strerror(rc));
    } else if (c < 92) {
        b->align = (size_t)1 << rng_range(r, 4, 12);
        b->how = HOW_MEMALIGN;
        p = S_MEMALIGN(b->align, size);
    } else if (c < 94) {
        b->align = (size_t)sysconf(_SC_PAGESIZE);
        b->how = HOW_VALLOC;
        p = S_VALLOC(size);
    } else if (c < 95) {
        b->align = (size_t)sysconf(_SC_PAGESIZE);
        b->how = HOW_PVALLOC;
        p = S_PVALLOC(size);
    } else {
        b->how = HOW_REALLOC_NULL;
        p = S_REALLOC(NULL, size);
    }
    b->p = p;
    b->size = size;
    check_fresh(b, who);
    pat_fill(b->p, 0, size, id);
}

void block_verify(const block_t *b, const char *who)
{
    pat_check(b->p, 0, b->size, b->id, b, who, "verify");
}

void block_resize(block_t *b, rng_t *r, const char *who)
{
    size_t old = b->size;
    size_t size;
    switch (rng_below(r, 4)) {
    case 0:  size = old * 2 + 1; break;                  /* grow */
    case 1:  size = old / 2 + 1; break;                  /* shrink */
    case 2:  size = old + rng_range(r, 1, 64); break;    /* in-place grow? */
    default: size = pick_size(r); break;                 /* anything */
    }
    if (size > 4 * 1024 * 1024)
        size = pick_size(r);   /* keep doubling from running away */

    pat_check(b->p, 0, old, b->id, b, who, "before realloc");
    void *p;
    how_t how;
    if (size % 8 == 0 && rng_below(r, 4) == 0) {
        how = HOW_REALLOCARRAY;
        p = S_REALLOCARRAY(b->p, size / 8, 8);
    } else {
        how = HOW_REALLOC;
        p = S_REALLOC(b->p, size);
    }
    if (p == NULL)
        fail("%s: %s(%p, %zu) returned NULL (old size %zu)", who,
             how_name(how), (void *)b->p, size, old);
    b->p = p;
    b->size = size;
    b->how = how;
    b->align = 0;   /* realloc keeps only malloc's alignment */
    check_fresh(b, who);
    /* The first min(old, new) bytes must have moved with the block. */
    size_t keep = old < size ? old : size;
    pat_check(b->p, 0, keep, b->id, b, who, "after realloc");
    if (size > old)
        pat_fill(b->p, old, size, b->id);
}

void block_release(block_t *b, rng_t *r, const char *who)
{
    pat_check(b->p, 0, b->size, b->id, b, who, "before free");
    /* The sized free takes "the size it asked for"; only blocks from the
     * plain entry points have an unambiguous one (aligned ones were
     * asked for with an alignment the sized free cannot be told). */
    int sized_ok = b->how == HOW_MALLOC || b->how == HOW_CALLOC ||
                   b->how == HOW_REALLOC || b->how == HOW_REALLOC_NULL ||
                   b->how == HOW_REALLOCARRAY;
    if (S_HAVE_FREE_SIZED && sized_ok && rng_below(r, 3) == 0)
        S_FREE_SIZED(b->p, b->size);
    else
        S_FREE(b->p);
    b->p = NULL;
}

/* ---- whole-heap check ------------------------------------------------- */

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const block_t *)a)->p;
    uintptr_t y = (uintptr_t)((const block_t *)b)->p;
    return x < y ? -1 : x > y;
}

void check_live_set(block_t *blocks, size_t n, const char *when)
{
    for (size_t i = 0; i < n; i++) {
        const block_t *b = &blocks[i];
        block_verify(b, when);
        if (b->align && (uintptr_t)b->p % b->align)
            fail("%s: block id=%llx (%s) at %p lost its %zu alignment", when,
                 (unsigned long long)b->id, how_name(b->how), (void *)b->p,
                 b->align);
    }
    qsort(blocks, n, sizeof *blocks, by_address);
    uintptr_t prev_end = 0;
    const block_t *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        const block_t *b = &blocks[i];
        size_t usable = S_USABLE(b->p);
        if (usable < b->size)
            fail("%s: block id=%llx (%s) at %p: usable size %zu < requested "
                 "%zu", when, (unsigned long long)b->id, how_name(b->how),
                 (void *)b->p, usable, b->size);
        if (prev && (uintptr_t)b->p < prev_end)
            fail("%s: overlap: block id=%llx at %p (%zu bytes, usable up to "
                 "0x%llx) and block id=%llx at %p (%zu bytes)", when,
                 (unsigned long long)prev->id, (void *)prev->p, prev->size,
                 (unsigned long long)prev_end, (unsigned long long)b->id,
                 (void *)b->p, b->size);
        prev = b;
        prev_end = (uintptr_t)b->p + usable;
    }
}
