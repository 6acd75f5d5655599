/* One memory bug per mode, in a program that embeds quarry (libquarry.a,
 * the prefixed API): run under valgrind memcheck, each must be reported
 * (run_memcheck.sh checks the report). Mode "clean" has no bug and must
 * get a clean report. */
#include <stdio.h>
#include <string.h>

#include "quarry.h"

static volatile char sink;

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "clean";
    char *p = quarry_malloc(48);
    memset(p, 1, 48);
    if (strcmp(mode, "use-after-free") == 0) {
        quarry_free(p);
        sink = p[8];
        return 0;
    }
    if (strcmp(mode, "double-free") == 0) {
        quarry_free(p);
        quarry_free(p);
        return 0;
    }
    if (strcmp(mode, "overflow") == 0) {
        /* 48 is a class size: the byte after the block is the next
         * region's, which no block holds. */
        p[48] = 1;
    } else if (strcmp(mode, "uninitialised") == 0) {
        char *q = quarry_malloc(64);
        if (q[5] == 7)
            puts("seven");
        quarry_free(q);
    } else if (strcmp(mode, "leak") == 0) {
        char *q = quarry_malloc(300);
        q[0] = 1;
        q = NULL;
    } else if (strcmp(mode, "large-use-after-free") == 0) {
        char *q = quarry_malloc(100000);
        q[0] = 1;
        quarry_free(q);
        sink = q[4096];
    } else if (strcmp(mode, "huge-use-after-free") == 0) {
        char *q = quarry_malloc(8 << 20);
        q[0] = 1;
        quarry_free(q);
        sink = q[0];
    } else if (strcmp(mode, "usable") == 0) {
        /* No bug: the size of blocks whose contents were never written,
         * small and large, and a resize within a class (quarry's liveness
         * tests read a block's first word, which memcheck must not see as
         * a use of an uninitialised value). */
        char *small = quarry_malloc(100), *large = quarry_malloc(20000);
        if (quarry_malloc_usable_size(small) < 100 || quarry_malloc_usable_size(large) < 20000)
            return 5;
        small = quarry_realloc(small, 104);
        if (small == NULL || quarry_malloc_usable_size(small) < 104)
            return 6;
        quarry_free(small);
        quarry_free(large);
    } else if (strcmp(mode, "realloc") == 0) {
        /* No bug: contents kept through growth, in place or moved. */
        char *q = quarry_malloc(5000);
        memset(q, 2, 5000);
        q = quarry_realloc(q, 9000);
        for (int i = 0; i < 5000; i++)
            if (q[i] != 2)
                return 3;
        q = quarry_realloc(q, 6 << 20);
        q = quarry_realloc(q, 12 << 20);
        if (q[4999] != 2)
            return 4;
        quarry_free(q);
    }
    quarry_free(p);
    return 0;
}
