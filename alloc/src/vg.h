/*
 * Valgrind client requests, so that memcheck sees quarry's blocks when a
 * program that embeds quarry (libquarry.a) runs under it: every block
 * handed out is announced as a heap block of its usable size (undefined
 * unless zeroed), every free retires it (no access), fresh chunks start
 * with no access, and in-place resizes say so. Then memcheck reports
 * reads and writes after free, overflows past a block's usable size into
 * memory no block holds, reads of uninitialised bytes and leaks.
 *
 * The requests are made only while vg_active: running under valgrind with
 * the thread cache off (the default there, init.c), since cached blocks
 * never pass the slow paths where these calls sit. Each request costs a
 * few instructions when not under valgrind, and these paths are slow
 * paths; without valgrind's headers (meson option valgrind) they vanish.
 */
#ifndef QUARRY_VG_H
#define QUARRY_VG_H

#include "common.h"

#if QUARRY_CONFIG_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

extern bool vg_active;

/* At start-up, after the options: decides vg_active. */
void vg_boot(void);

static inline void vg_alloc(const void *p, size_t usable, bool zeroed) {
#if QUARRY_CONFIG_VALGRIND
    if (unlikely(vg_active))
        VALGRIND_MALLOCLIKE_BLOCK(p, usable, 0, zeroed);
#else
    (void)p, (void)usable, (void)zeroed;
#endif
}

static inline void vg_free(const void *p) {
#if QUARRY_CONFIG_VALGRIND
    if (unlikely(vg_active))
        VALGRIND_FREELIKE_BLOCK(p, 0);
#else
    (void)p;
#endif
}

static inline void vg_resize(const void *p, size_t old_usable, size_t new_usable) {
#if QUARRY_CONFIG_VALGRIND
    if (unlikely(vg_active))
        VALGRIND_RESIZEINPLACE_BLOCK(p, old_usable, new_usable, 0);
#else
    (void)p, (void)old_usable, (void)new_usable;
#endif
}

/* Metadata that points at blocks (run descriptors at their first region,
 * huge records at their block), which memcheck must not scan for pointers
 * when it looks for leaks, nor check quarry's own accesses to: no access,
 * with addressing errors in it not reported (loads from it then count as
 * defined). Never for memory that holds a lock: the kernel would be handed
 * an address memcheck calls unaddressable. */
static inline void vg_metadata(const void *p, size_t size) {
#if QUARRY_CONFIG_VALGRIND
    if (unlikely(vg_active)) {
        VALGRIND_MAKE_MEM_NOACCESS(p, size);
        VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, size);
    }
#else
    (void)p, (void)size;
#endif
}

/* Memory no block holds: any access is an error. */
static inline void vg_no_access(const void *p, size_t size) {
#if QUARRY_CONFIG_VALGRIND
    if (unlikely(vg_active))
        VALGRIND_MAKE_MEM_NOACCESS(p, size);
#else
    (void)p, (void)size;
#endif
}

#endif
