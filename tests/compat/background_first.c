/* Run with LD_PRELOAD=libquarry.so: a new thread whose very first call
 * into the allocator turns the background purge thread on through mallctl
 * (as Redis does at start-up). Creating that thread allocates (its TLS),
 * from a thread that has no cache yet: this must neither deadlock nor fail.
 * A watchdog turns a hang into a failure. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static void *turn_on_first(void *arg) {
    mallctl_fn ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    bool on = true;
    *(int *)arg = ctl == NULL ? -1 : ctl("background_thread", NULL, NULL, &on, sizeof(on));
    return NULL;
}

int main(void) {
    alarm(20);
    int result = -2;
    pthread_t t;
    if (pthread_create(&t, NULL, turn_on_first, &result) != 0)
        return 2;
    pthread_join(t, NULL);
    if (result != 0) {
        fprintf(stderr, "mallctl(background_thread, true) = %d\n", result);
        return 1;
    }
    mallctl_fn ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    bool on = false;
    size_t len = sizeof(on);
    if (ctl("background_thread", &on, &len, NULL, 0) != 0 || !on) {
        fprintf(stderr, "background_thread reads %d\n", on);
        return 1;
    }
    free(malloc(100));
    return 0;
}
