/*
 * The allocator under test, behind one set of names.
 *
 * The stress program is compiled twice from the same sources:
 *  - with -DSTRESS_PREFIXED it calls quarry's prefixed API from libquarry.a
 *    directly, so libc's malloc stays in the process beside quarry;
 *  - without it, it calls the standard names and is run with
 *    LD_PRELOAD=libquarry.so, so every allocation in the process (ours,
 *    libc's, pthread's) goes through the interposed symbols.
 * The S_* macros are the only place that knows which of the two it is.
 */
#ifndef STRESS_API_H
#define STRESS_API_H

#include <stddef.h>

#ifdef STRESS_PREFIXED
#include "quarry.h"

#define S_MALLOC(n)             quarry_malloc(n)
#define S_CALLOC(c, n)          quarry_calloc((c), (n))
#define S_REALLOC(p, n)         quarry_realloc((p), (n))
#define S_REALLOCARRAY(p, c, n) quarry_reallocarray((p), (c), (n))
#define S_FREE(p)               quarry_free(p)
#define S_POSIX_MEMALIGN(r, a, n) quarry_posix_memalign((r), (a), (n))
#define S_ALIGNED_ALLOC(a, n)   quarry_aligned_alloc((a), (n))
#define S_MEMALIGN(a, n)        quarry_memalign((a), (n))
#define S_VALLOC(n)             quarry_valloc(n)
#define S_PVALLOC(n)            quarry_pvalloc(n)
#define S_USABLE(p)             quarry_malloc_usable_size(p)
/* Only the prefixed API has a sized free; the interposed build has no
 * standard name to reach it (glibc 2.36 predates free_sized). */
#define S_HAVE_FREE_SIZED 1
#define S_FREE_SIZED(p, n)      quarry_free_sized((p), (n))
#define S_FLAVOUR "static (quarry_* API)"

#else /* interposed through the standard names */
#include <malloc.h>
#include <stdlib.h>

#define S_MALLOC(n)             malloc(n)
#define S_CALLOC(c, n)          calloc((c), (n))
#define S_REALLOC(p, n)         realloc((p), (n))
#define S_REALLOCARRAY(p, c, n) reallocarray((p), (c), (n))
#define S_FREE(p)               free(p)
#define S_POSIX_MEMALIGN(r, a, n) posix_memalign((r), (a), (n))
#define S_ALIGNED_ALLOC(a, n)   aligned_alloc((a), (n))
#define S_MEMALIGN(a, n)        memalign((a), (n))
#define S_VALLOC(n)             valloc(n)
#define S_PVALLOC(n)            pvalloc(n)
#define S_USABLE(p)             malloc_usable_size(p)
#define S_HAVE_FREE_SIZED 0
#define S_FREE_SIZED(p, n)      free(p)
#define S_FLAVOUR "interposed (standard names)"
#endif

#endif /* STRESS_API_H */
