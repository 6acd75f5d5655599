#include "size_class.h"

const struct size_class size_classes[NSMALL] = {SIZE_CLASS_TABLE};
const uint8_t size_to_class_table[SMALL_MAX / 8 + 1] = {SIZE_TO_CLASS_TABLE};

_Static_assert(SMALL_MAX < PAGE, "small classes must be below a page");
