#include "size_class.h"

const struct size_class size_classes[NSMALL] = {SIZE_CLASS_TABLE};
#define CLASS(c) (c)
#define CLASS_OFFSET(c) ((c) << CLASS_OFFSET_SHIFT)
const uint8_t size_to_class_table[SMALL_MAX / 8 + 1] = {SIZE_TO_CLASS_TABLE(CLASS)};
const uint16_t size_to_class_offset_table[SMALL_MAX / 8 + 1] = {SIZE_TO_CLASS_TABLE(CLASS_OFFSET)};

_Static_assert(SMALL_MAX < PAGE, "small classes must be below a page");
