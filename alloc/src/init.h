/* Start-up and arena choice. Start-up is lazy: the first allocation of
 * each thread finds thread_arena NULL and takes the slow path, which
 * initialises quarry once and binds the thread to an arena. */
#ifndef QUARRY_INIT_H
#define QUARRY_INIT_H

#include "arena.h"
#include "common.h"

extern unsigned narenas;
extern struct arena **arenas;
extern _Thread_local struct arena *thread_arena __attribute__((tls_model("initial-exec")));

/* Initialises quarry if needed and binds the calling thread to the arena
 * with the fewest threads. NULL when memory for the arena cannot be had. */
struct arena *arena_choose_slow(void);

/* Fork (fork.c): the start-up lock, then every arena's locks. */
void init_prefork(void);
void init_postfork_parent(void);
void init_postfork_child(void);

static ALWAYS_INLINE struct arena *arena_choose(void) {
    struct arena *a = thread_arena;
    if (unlikely(a == NULL))
        a = arena_choose_slow();
    return a;
}

#endif
