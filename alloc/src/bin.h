/* Small allocations: regions of one size class carved from small runs,
 * handed out lowest address first. A bin keeps one emptied run as a spare,
 * so that a program whose use of a class rises and falls does not give a
 * run back to the arena and carve a new one on every swing. */
#ifndef QUARRY_BIN_H
#define QUARRY_BIN_H

#include "arena.h"

/* A region of class cls from arena a; NULL when no run can be mapped. */
void *bin_malloc(struct arena *a, unsigned cls);
/* Up to n regions of class cls from arena a under one lock acquisition,
 * stored downwards from dst[n - 1] in ascending address order (the lowest
 * at dst[n - 1], as a stack's top wants it); returns how many, got, which
 * then sit in dst[n - got .. n - 1] (0: no memory). */
unsigned bin_fill(struct arena *a, unsigned cls, void **dst, unsigned n);
/* Frees n regions of class cls, which may belong to different arenas:
 * each owning bin is locked once. Aborts with "free(): invalid pointer"
 * on a region that is already free or is not a region of class cls.
 * Reorders items. */
void bin_free_batch(unsigned cls, void **items, unsigned n);
/* Gives every bin's spare run of arena a back to the arena (an explicit
 * purge); returns how many. Takes the bin locks, then a->lock. */
unsigned bin_release_spares(struct arena *a);
/* Pages of arena a held by bins' spare runs (active, holding nothing). */
size_t bin_spare_pages(struct arena *a);

#endif
