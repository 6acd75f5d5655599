/* A plain program for the trace and at-exit tests, run with
 * LD_PRELOAD=libquarry.so: it grows a heap, goes quiet for a while (the
 * trace must show no allocation then), frees most of it and exits. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int main(int argc, char **argv) {
    long quiet_ms = argc > 1 ? atol(argv[1]) : 600;
    enum { N = 200000 };
    static void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(32 + (size_t)(i % 7) * 48);
        memset(blocks[i], 1, 32);
    }
    sleep_ms(quiet_ms);
    for (int i = 0; i < N; i++)
        if (i % 5 != 0)
            free(blocks[i]);
    sleep_ms(200);
    return 0;
}
