/* Small allocations: regions of one size class carved from small runs,
 * handed out lowest address first. */
#ifndef QUARRY_BIN_H
#define QUARRY_BIN_H

#include "arena.h"

/* A region of class cls from arena a; NULL when no run can be mapped. */
void *bin_malloc(struct arena *a, unsigned cls);
/* Frees region index idx of small run r (in an arena chunk owned by a).
 * Aborts through report_invalid_pointer(func, ptr) when the region is
 * already free. */
void bin_free(struct arena *a, struct run *r, uint32_t idx, const char *func, const void *ptr);

#endif
