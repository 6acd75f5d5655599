/* A fragmented heap, drawn and diagnosed: small blocks of several classes
 * with most of them freed, large blocks with holes, a huge block, dirty
 * pages. Writes the heap map to argv[1] and the diagnosis to argv[2] (or
 * stdout), and prints "chunks N" (the chunks quarry has) on stdout for
 * heapmap_check.py. Linked with the internal library to read the count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"
#include "quarry.h"
#include "stats.h"

static void to_stdout(void *opaque, const char *s) {
    (void)opaque;
    fputs(s, stdout);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fragmented <map.svg> [doctor.txt]\n");
        return 2;
    }
    enum { N = 300000 };
    static void *small[N];
    unsigned seed = 42;
    static const size_t sizes[] = {24, 48, 96, 160, 320, 640, 1280, 3072};
    for (int i = 0; i < N; i++)
        small[i] = quarry_malloc(sizes[i % 8]);
    for (int i = 0; i < N; i++)
        if (rand_r(&seed) % 10 < 7) {
            quarry_free(small[i]);
            small[i] = NULL;
        }
    static void *large[200];
    for (int i = 0; i < 200; i++)
        large[i] = quarry_malloc((size_t)(1 + rand_r(&seed) % 40) << 12);
    for (int i = 0; i < 200; i += 2)
        quarry_free(large[i]);
    void *huge = quarry_malloc(10 << 20);
    quarry_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    if (quarry_heapmap(argv[1]) != 0) {
        perror(argv[1]);
        return 1;
    }
    struct arena_snapshot all;
    stats_arena(STATS_ARENAS_ALL, &all);
    if (argc > 2) {
        if (doctor_to_file(argv[2]) != 0) {
            perror(argv[2]);
            return 1;
        }
    } else {
        quarry_doctor(to_stdout, NULL);
    }
    printf("chunks %zu\n", all.nchunks);
    quarry_free(huge);
    return 0;
}
