/*
 * The debugging fills of opt_junk and opt_zero: allocations filled with
 * 0xa5 (or zeroed), freed blocks with 0x5a, so that reads of uninitialised
 * or freed memory show. Either option routes every allocation through the
 * slow paths (thread caches are bypassed), which is where these are called;
 * the fast paths never test them.
 */
#ifndef QUARRY_JUNK_H
#define QUARRY_JUNK_H

#include <string.h>

#include "conf.h"

#define JUNK_ALLOC 0xa5
#define JUNK_FREE 0x5a

static inline void junk_on_alloc(void *p, size_t usable) {
    if (unlikely(opt_zero))
        memset(p, 0, usable);
    else if (unlikely(opt_junk))
        memset(p, JUNK_ALLOC, usable);
}

static inline void junk_on_free(void *p, size_t usable) {
    if (unlikely(opt_junk))
        memset(p, JUNK_FREE, usable);
}

#endif
