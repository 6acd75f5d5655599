/* A small run's free-region bitmap: bit set = region free. Lowest free
 * region first, so a run fills from its start. */
#ifndef QUARRY_BITMAP_H
#define QUARRY_BITMAP_H

#include "common.h"
#include "size_classes.h"

#define BITMAP_WORDS (RUN_MAX_REGIONS / 64)

typedef uint64_t bitmap_t[BITMAP_WORDS];

static inline void bitmap_init(bitmap_t bm, unsigned nbits) {
    for (unsigned w = 0; w < BITMAP_WORDS; w++) {
        unsigned lo = w * 64;
        uint64_t v = nbits >= lo + 64 ? ~(uint64_t)0 : nbits > lo ? ((uint64_t)1 << (nbits - lo)) - 1 : 0;
        __atomic_store_n(&bm[w], v, __ATOMIC_RELAXED);
    }
}

static inline bool bitmap_get(const bitmap_t bm, unsigned bit) {
    return (bm[bit >> 6] >> (bit & 63)) & 1;
}

/* For a reader that holds no lock: the word may change under it, but the
 * caller only trusts bits that no other thread may change. */
static inline bool bitmap_get_relaxed(const bitmap_t bm, unsigned bit) {
    return (__atomic_load_n(&bm[bit >> 6], __ATOMIC_RELAXED) >> (bit & 63)) & 1;
}

/* Writers hold the bin lock; their stores are relaxed atomics because
 * bitmap_get_relaxed() readers do not. */
static inline void bitmap_set(bitmap_t bm, unsigned bit) {
    __atomic_store_n(&bm[bit >> 6], bm[bit >> 6] | (uint64_t)1 << (bit & 63), __ATOMIC_RELAXED);
}

/* Clears and returns the lowest set bit; the caller knows one is set. */
static inline unsigned bitmap_take_first(bitmap_t bm) {
    unsigned w = 0;
    while (bm[w] == 0)
        w++;
    unsigned bit = (unsigned)__builtin_ctzll(bm[w]);
    bm[w] &= bm[w] - 1;
    return w * 64 + bit;
}

static inline unsigned bitmap_count(const bitmap_t bm) {
    unsigned n = 0;
    for (unsigned w = 0; w < BITMAP_WORDS; w++)
        n += (unsigned)__builtin_popcountll(bm[w]);
    return n;
}

#endif
