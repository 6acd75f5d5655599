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
 * cache's stacks, tcache.h, and the class facts): class <<
 * CLASS_OFFSET_SHIFT, kept ready in the size lookup and in each small
 * run's page entries (chunk.h) so that malloc and free reach their cache
 * bin without a shift. */
#define CLASS_OFFSET_SHIFT 5
extern const uint16_t size_to_class_offset_table[SMALL_MAX / 8 + 1];

/* size <= SMALL_MAX */
static ALWAYS_INLINE size_t size_to_class_offset(size_t size) {
    return size_to_class_offset_table[(size + 7) >> 3];
}

static ALWAYS_INLINE size_t class_size(unsigned cls) { return size_classes[cls].size; }

/* What the fast paths need of a class, found from the class offset that a
 * chunk's per-page entry holds (chunk.h), so that they never read a run's
 * descriptor: 32 bytes an entry, indexed by class offset (the table is
 * rtree.h's fast_tables.class_facts). The entry at CLASS_NONE_OFFSET has
 * no regions: the offset of every page that is not in a small run, whose
 * region test then always fails. */
struct class_facts {
    uint32_t inverse; /* of the size's odd part, modulo 2^32 */
    uint32_t nregs;
    uint32_t size;
    uint32_t shift; /* trailing zero bits of the size */
} __attribute__((aligned(32)));

#define CLASS_NONE_OFFSET (NSMALL << CLASS_OFFSET_SHIFT)

/* Fills the NSMALL + 1 entries of a class facts table. */
void class_facts_fill(struct class_facts *facts);

/* Division of an offset by a class size, exact or refused, in one
 * multiply. With size = odd << shift and inverse = odd^-1 (mod 2^64),
 * region_index() is a bijection of 64-bit values that takes k * size to
 * k. The multiples of size below n * size are therefore the only offsets
 * it maps below n: "offset starts one of n regions" is one compare of the
 * result with n, and the result is the region's index. Every other
 * offset, a negative one or one far beyond the run included, maps at or
 * above n. (32-bit arithmetic would save an instruction but not this:
 * a stale page-map entry can name a run in another chunk, and distances
 * that differ by a multiple of 2^32 would alias.) */
static inline uint64_t odd_inverse(uint64_t odd) {
    uint64_t x = odd; /* right in the low 3 bits: odd * odd == 1 (mod 8) */
    for (int i = 0; i < 5; i++)
        x *= 2 - odd * x; /* Newton's step doubles the right bits: 6 ... 96 */
    return x;
}

static ALWAYS_INLINE uint64_t region_index(uint64_t offset, uint64_t inverse, unsigned shift) {
    uint64_t q = offset * inverse;
    return (q >> shift) | (q << (-shift & 63)); /* rotate right */
}

/* The same in 32 bits, for offsets known to lie within one chunk (less
 * than 2^22 either way), which stay distinct modulo 2^32. The offset comes
 * in already multiplied by the 32-bit inverse, so that a caller can take
 * off a run's base as a product computed when the run was made (chunk.h). */
static ALWAYS_INLINE uint32_t region_index32(uint32_t product, unsigned shift) {
    return (product >> shift) | (product << (-shift & 31));
}

#endif
