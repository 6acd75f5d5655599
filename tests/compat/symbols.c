#include "symbols.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

const char *address_object(const void *addr) {
    Dl_info info;
    if (addr == NULL || !dladdr(addr, &info) || info.dli_fname == NULL)
        return "none";
    const char *slash = strrchr(info.dli_fname, '/');
    return slash != NULL ? slash + 1 : info.dli_fname;
}

const char *symbol_object(const char *name) { return address_object(dlsym(RTLD_DEFAULT, name)); }

int expect_quarry(const char *const *names, size_t n) {
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        const char *object = symbol_object(names[k]);
        if (strncmp(object, "libquarry.so", 12) != 0) {
            fprintf(stderr, "FAIL: %s binds to %s, not libquarry.so\n", names[k], object);
            bad++;
        }
    }
    return bad;
}
