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

#endif
