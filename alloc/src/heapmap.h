/*
 * The heap map: an SVG picture of every chunk, one row per chunk (grouped
 * by arena), one cell per page coloured by what the page holds. Written
 * with write(2) from fixed buffers, without allocating; each chunk is read
 * under its arena's locks (bins, then the arena) and drawn after they are
 * released, so a busy program sees each row at one instant, not the whole
 * picture. docs/doctor.md explains the colours.
 */
#ifndef QUARRY_HEAPMAP_H
#define QUARRY_HEAPMAP_H

#include "common.h"

/* The picture, to write_cb. Returns the number of chunk rows drawn. */
size_t heapmap_write(void (*write_cb)(void *, const char *), void *cbopaque);
/* The picture into a file: 0, or an errno value. */
int heapmap_to_file(const char *path);
/* In a forked child (fork.c): the drawing lock is usable again. */
void heapmap_postfork_child(void);

#endif
