/*
 * Definitions every quarry source file shares: build configuration as
 * constants, the geometry of pages and chunks, and small helpers.
 *
 * The object model, from the top down:
 *
 *   arena   one of narenas (4 x CPUs) independent heaps; a thread is bound
 *           to one. It owns chunks, a tree of free page runs and the bins.
 *   chunk   4 MiB of address space aligned to 4 MiB. Its first pages are the
 *           header: the owning arena and a page map with one word per page.
 *   run     a span of whole pages inside a chunk, described by a struct run
 *           kept outside the run (so regions start at the run's first byte).
 *           A run is free (clean or dirty), small (split into regions of one
 *           size class) or large (one allocation of whole pages).
 *   bin     per arena and small size class: the current run plus a tree of
 *           non-full runs, lowest address first.
 *   region  one small allocation: run base + index * class size.
 *   huge    an allocation above the largest large run: its own mapping,
 *           aligned to a chunk, found through the chunk registry.
 *
 *   chunk (4 MiB, 4 MiB aligned)
 *   +--------+--------+--------------+---------+----------------------+
 *   | header | small  | large run    | free    | small run  ...       |
 *   | + map  | run    | (n pages)    | (dirty) |                      |
 *   +--------+--------+--------------+---------+----------------------+
 *     map[page] -> struct run | flags      struct run lives in base memory
 */
#ifndef QUARRY_COMMON_H
#define QUARRY_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

static const bool config_debug = QUARRY_CONFIG_DEBUG;
static const bool config_valgrind = QUARRY_CONFIG_VALGRIND;

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#define NOINLINE __attribute__((noinline))
#define COLD __attribute__((cold, noinline))
#define NORETURN __attribute__((noreturn))
/* On the extern declaration of a variable a fast path reads: the compiler
 * then addresses it directly instead of through the GOT (-fvisibility
 * covers only definitions). */
#define HIDDEN __attribute__((visibility("hidden")))
/* For an alias: gcc's copy() gives it its target's attributes (nothrow,
 * malloc, alloc_size); clang has no such attribute and would warn. */
#if defined(__clang__)
#define COPY_ATTRIBUTES(target)
#else
#define COPY_ATTRIBUTES(target) copy(target),
#endif
#define CACHELINE 64
#define CACHE_ALIGNED __attribute__((aligned(CACHELINE)))

#define LG_PAGE 12
#define PAGE ((size_t)1 << LG_PAGE)
#define PAGE_MASK (PAGE - 1)
#define LG_CHUNK 22
#define CHUNK ((size_t)1 << LG_CHUNK)
#define CHUNK_MASK (CHUNK - 1)
#define CHUNK_NPAGES (CHUNK >> LG_PAGE)

/* The largest request we serve at all: beyond it, sizes overflow ptrdiff_t. */
#define SIZE_LIMIT ((size_t)PTRDIFF_MAX)

static ALWAYS_INLINE size_t page_ceil(size_t n) { return (n + PAGE_MASK) & ~PAGE_MASK; }
static ALWAYS_INLINE size_t chunk_ceil(size_t n) { return (n + CHUNK_MASK) & ~CHUNK_MASK; }
static ALWAYS_INLINE bool is_pow2(size_t n) { return n != 0 && (n & (n - 1)) == 0; }
static ALWAYS_INLINE uintptr_t align_up(uintptr_t n, size_t a) { return (n + a - 1) & ~(uintptr_t)(a - 1); }

#endif
