#include "size_class.h"

const struct size_class size_classes[NSMALL] = {SIZE_CLASS_TABLE};
#define CLASS(c) (c)
#define CLASS_OFFSET(c) ((c) << CLASS_OFFSET_SHIFT)
const uint8_t size_to_class_table[SMALL_MAX / 8 + 1] = {SIZE_TO_CLASS_TABLE(CLASS)};
const uint16_t size_to_class_offset_table[SMALL_MAX / 8 + 1] = {SIZE_TO_CLASS_TABLE(CLASS_OFFSET)};

_Static_assert(SMALL_MAX < PAGE, "small classes must be below a page");

_Static_assert(sizeof(struct class_facts) == 1 << CLASS_OFFSET_SHIFT, "class facts are indexed by class offset");

void class_facts_fill(struct class_facts *facts) {
    for (unsigned c = 0; c < NSMALL; c++) {
        uint32_t size = size_classes[c].size;
        uint32_t shift = (uint32_t)__builtin_ctz(size);
        facts[c] = (struct class_facts){(uint32_t)odd_inverse(size >> shift), size_classes[c].nregs, size, shift};
    }
    facts[NSMALL] = (struct class_facts){0, 0, 0, 0};
}
