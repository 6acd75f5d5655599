/* Size classes: 28 small classes fixed by the specification, large classes
 * of whole pages, huge above the largest large run. The tables come from
 * alloc/gen_size_classes.py (size_classes.h in the build directory). */
#ifndef QUARRY_SIZE_CLASS_H
#define QUARRY_SIZE_CLASS_H

#include "common.h"
#include "size_classes.h"

struct size_class {
    uint32_t size;
    uint16_t run_pages;
    uint16_t nregs;
};

extern const struct size_class size_classes[NSMALL];
extern const uint8_t size_to_class_table[SMALL_MAX / 8 + 1];

/* size <= SMALL_MAX */
static ALWAYS_INLINE unsigned size_to_class(size_t size) {
    return size_to_class_table[(size + 7) >> 3];
}

/* A class's byte offset in per-class arrays of 32-byte entries (the thread
 * cache's stacks, tcache.h): class << CLASS_OFFSET_SHIFT, kept ready in
 * the size lookup and in each run so that malloc and free reach their
 * cache bin without a shift. */
#define CLASS_OFFSET_SHIFT 5
extern const uint16_t size_to_class_offset_table[SMALL_MAX / 8 + 1];

/* size <= SMALL_MAX */
static ALWAYS_INLINE size_t size_to_class_offset(size_t size) {
    return size_to_class_offset_table[(size + 7) >> 3];
}

static ALWAYS_INLINE size_t class_size(unsigned cls) { return size_classes[cls].size; }

/* Division of an offset by a class size, exact or refused, in one
 * multiply. With size = odd << shift and inverse = odd^-1 (mod 2^32),
 * region_index() is a bijection of 32-bit values that takes k * size to
 * k. The multiples of size below n * size are therefore the only offsets
 * it maps below n: "offset starts one of n regions" is one compare of the
 * result with n, and the result is the region's index. A pointer and the
 * run it is looked up in share a 4 MiB chunk, so their distance, even a
 * negative one, is one 32-bit value that no other distance shares. */
static inline uint32_t odd_inverse(uint32_t odd) {
    uint32_t x = odd; /* right in the low 3 bits: odd * odd == 1 (mod 8) */
    for (int i = 0; i < 4; i++)
        x *= 2 - odd * x; /* Newton's step doubles the right bits: 6 ... 48 */
    return x;
}

static ALWAYS_INLINE uint32_t region_index(uint32_t offset, uint32_t inverse, unsigned shift) {
    uint32_t q = offset * inverse;
    return (q >> shift) | (q << (-shift & 31)); /* rotate right */
}

#endif
