#include "vg.h"

#include "conf.h"

bool vg_active;

void vg_boot(void) {
#if QUARRY_CONFIG_VALGRIND
    vg_active = RUNNING_ON_VALGRIND && !opt_tcache;
#endif
}
