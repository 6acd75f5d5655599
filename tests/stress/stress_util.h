/*
 * Shared pieces of the stress program: failure reporting, a seeded random
 * generator, and "blocks" -- allocations whose every byte is a pattern
 * derived from the block's id, so that any corruption, lost realloc copy or
 * overlap with another block shows up as a mismatch at a known offset.
 */
#ifndef STRESS_UTIL_H
#define STRESS_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Print "stress: FAIL: ..." on stderr and exit(1) at once. Uses write(2)
 * on a stack buffer: the heap may be the thing that is broken, and other
 * threads are still running, so no exit handlers and no stdio locks. */
_Noreturn void fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* xorshift64*: small, fast and fully determined by the seed. */
typedef struct { uint64_t s; } rng_t;
void rng_seed(rng_t *r, uint64_t seed);
uint64_t rng_next(rng_t *r);
/* Uniform in [0, n); n > 0. */
uint64_t rng_below(rng_t *r, uint64_t n);
/* Uniform in [lo, hi]. */
size_t rng_range(rng_t *r, size_t lo, size_t hi);

/* How a block came to be; decides which checks and which free apply. */
typedef enum {
    HOW_MALLOC, HOW_CALLOC, HOW_ALIGNED_ALLOC, HOW_POSIX_MEMALIGN,
    HOW_MEMALIGN, HOW_VALLOC, HOW_PVALLOC, HOW_REALLOC_NULL,
    HOW_REALLOC, HOW_REALLOCARRAY,
} how_t;

typedef struct {
    unsigned char *p;   /* NULL: empty slot */
    size_t size;        /* bytes requested; all of them carry the pattern */
    uint64_t id;        /* pattern key, unique per run; printed in hex, the
                         * bits above 40 name the allocating thread */
    size_t align;       /* alignment promised by the call, 0 = malloc's */
    how_t how;
} block_t;

const char *how_name(how_t how);

/* Sizes: mostly small (1..4096, skewed to tiny), some up to 64 KiB, a few
 * large ones up to 256 KiB and rarely ones around 2 MiB. */
size_t pick_size(rng_t *r);

/* Allocate a fresh block with a randomly chosen entry point (malloc,
 * calloc, aligned_alloc, posix_memalign, memalign, valloc, pvalloc,
 * realloc(NULL)), check what the call promises (non-NULL, alignment,
 * zeroed memory for calloc, usable size >= request), then write the
 * pattern. `who` names the caller in failure messages. */
void block_alloc(block_t *b, rng_t *r, uint64_t id, const char *who);

/* Check every byte of the block against its pattern. */
void block_verify(const block_t *b, const char *who);

/* realloc (or reallocarray) to a new random size, growing or shrinking;
 * checks the surviving prefix and patterns the new tail. */
void block_resize(block_t *b, rng_t *r, const char *who);

/* Verify the whole block, then free it (sometimes through the sized free
 * where the API has one and the block's size is the one it asked for). */
void block_release(block_t *b, rng_t *r, const char *who);

/* Whole-heap check of a snapshot of every live block: each block's pattern
 * and alignment, usable size >= requested, and no two blocks' [p, p+usable)
 * ranges overlapping. Sorts `blocks` in place. */
void check_live_set(block_t *blocks, size_t n, const char *when);

#endif /* STRESS_UTIL_H */
