#include "size_class.h"

const struct size_class size_classes[NSMALL] = {SIZE_CLASS_TABLE};
const struct class_facts class_facts[NSMALL + 1] = {CLASS_FACTS_TABLE};
_Static_assert(sizeof(struct class_facts) == 1 << CLASS_OFFSET_SHIFT, "class_facts is indexed by class offset");
#define CLASS(c) (c)
#define CLASS_OFFSET(c) ((c) << CLASS_OFFSET_SHIFT)
const uint8_t size_to_class_table[SMALL_MAX / 8 + 1] = {SIZE_TO_CLASS_TABLE(CLASS)};
const uint16_t size_to_class_offset_table[SMALL_MAX / 8 + 1] = {SIZE_TO_CLASS_TABLE(CLASS_OFFSET)};

_Static_assert(SMALL_MAX < PAGE, "small classes must be below a page");
