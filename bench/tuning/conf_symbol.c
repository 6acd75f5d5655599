/*
 * The quarry_conf symbol: checks that a program's own
 *   const char *quarry_conf = "...";
 * reaches quarry, and that QUARRY_CONF in the environment overrides it.
 * Prints the options quarry ended up with (opt.lg_dirty_mult, opt.purge,
 * opt.retain) as read back through quarry_ctl.
 *
 * Under LD_PRELOAD the symbol must be in the executable's dynamic symbol
 * table, or the preloaded library cannot see it:
 *   gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -rdynamic \
 *       -o /tmp/conf_symbol bench/tuning/conf_symbol.c -ldl -lm
 *   (or -Wl,--export-dynamic-symbol=quarry_conf)
 *   LD_PRELOAD=libquarry.so /tmp/conf_symbol       -> lg_dirty_mult 5, purge free
 *   QUARRY_CONF=lg_dirty_mult:1 LD_PRELOAD=...      -> lg_dirty_mult 1, purge free
 * Built without -rdynamic, quarry does not see it and keeps its defaults.
 */
#include <sys/types.h>

#include "tuning.h"

const char *quarry_conf = "lg_dirty_mult:5,purge:free";

int main(void) {
    int (*ctl)(const char *, void *, size_t *, void *, size_t) = (int (*)(const char *, void *, size_t *, void *,
                                                                             size_t))dlsym(RTLD_DEFAULT, "quarry_ctl");
    if (ctl == NULL) {
        printf("quarry is not loaded\n");
        return 1;
    }
    free(malloc(1));
    ssize_t lg = 0;
    const char *purge = "?";
    _Bool retain = 0;
    size_t len = sizeof(lg);
    ctl("opt.lg_dirty_mult", &lg, &len, NULL, 0);
    len = sizeof(purge);
    ctl("opt.purge", &purge, &len, NULL, 0);
    len = sizeof(retain);
    ctl("opt.retain", &retain, &len, NULL, 0);
    printf("opt.lg_dirty_mult=%zd opt.purge=%s opt.retain=%s\n", lg, purge, retain ? "true" : "false");
    return 0;
}
