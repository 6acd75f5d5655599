#include "chunk.h"

#include "os.h"
#include "rtree.h"

struct run run_none;

struct chunk *chunk_alloc(struct arena *a) {
    struct chunk *c = os_map_aligned(CHUNK, CHUNK);
    if (c == NULL)
        return NULL;
    if (!rtree_set((uintptr_t)c, RTREE_ARENA_CHUNK)) {
        os_unmap(c, CHUNK);
        return NULL;
    }
    c->arena = a;
    for (size_t i = 0; i < CHUNK_NPAGES; i++)
        c->map[i] = &run_none;
    return c;
}

void chunk_dealloc(struct chunk *c) {
    rtree_set((uintptr_t)c, NULL);
    os_unmap(c, CHUNK);
}
