/* Run with LD_PRELOAD=libquarry.so under memcheck: says whose malloc it
 * got (quarry's 100-byte request has 112 usable bytes, memcheck's 100),
 * then reads a block after freeing it. */
#pragma GCC diagnostic ignored "-Wuse-after-free" /* the point of the test */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

static volatile char sink;

int main(void) {
    char *p = malloc(100);
    printf("usable %zu\n", malloc_usable_size(p));
    fflush(stdout);
    p[0] = 1;
    free(p);
    sink = p[10];
    return 0;
}
