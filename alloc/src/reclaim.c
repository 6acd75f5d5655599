#include "reclaim.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "bin.h"
#include "chunk.h"
#include "conf.h"
#include "huge.h"
#include "init.h"
#include "purge.h"

/* Each arena in turn under its lock; returns pages purged. */
static size_t purge_arenas(unsigned which, bool decayed_only) {
    size_t pages = 0;
    for (unsigned i = 0; i < narenas; i++) {
        if (which != ARENAS_ALL && i != which)
            continue;
        struct arena *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (a == NULL)
            continue;
        if (!decayed_only)
            bin_release_spares(a);
        lock_acquire(&a->lock);
        uint64_t before = a->stats.purged;
        if (decayed_only) {
            purge_decayed(a);
        } else {
            purge_all(a);
            arena_release_spare(a);
        }
        pages += (size_t)(a->stats.purged - before);
        lock_release(&a->lock);
    }
    return pages;
}

size_t reclaim_purge(unsigned which) {
    size_t bytes = purge_arenas(which, false) << LG_PAGE;
    if (which == ARENAS_ALL)
        bytes += huge_purge();
    return bytes;
}

size_t reclaim_decay(unsigned which) {
    size_t bytes = purge_arenas(which, true) << LG_PAGE;
    if (which == ARENAS_ALL)
        bytes += huge_release_idle();
    return bytes;
}

void reclaim_age_step(void) {
    static unsigned next_arena;
    if (opt_decay_ms < 0 || __atomic_load_n(&purge_by_background, __ATOMIC_RELAXED))
        return;
    huge_age_step();
    unsigned i = __atomic_fetch_add(&next_arena, 1, __ATOMIC_RELAXED) % narenas;
    struct arena *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
    if (a == NULL || !lock_try_acquire(&a->lock))
        return;
    purge_tick(a);
    lock_release(&a->lock);
}

bool reclaim_for_retry(void) {
    size_t bytes = reclaim_purge(ARENAS_ALL);
    return chunk_release_retained() + bytes != 0;
}

/* ---- the background thread ------------------------------------------ */

static pthread_mutex_t bg_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bg_wake;
static bool bg_cond_ready;
static bool bg_wanted;  /* under bg_mutex */
static bool bg_running; /* under bg_mutex: a thread exists */
static bool bg_starting; /* under bg_mutex: a thread is being made */
static bool bg_read_option;

static uint64_t interval_ms(void) {
    uint64_t ms = opt_decay_ms > 0 ? (uint64_t)opt_decay_ms >> 3 : 1000;
    return ms < 10 ? 10 : ms > 1000 ? 1000 : ms;
}

static void *background_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&bg_mutex);
    while (bg_wanted) {
        pthread_mutex_unlock(&bg_mutex);
        reclaim_decay(ARENAS_ALL);
        pthread_mutex_lock(&bg_mutex);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + interval_ms() * 1000000;
        until.tv_sec += (time_t)(ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        if (bg_wanted)
            pthread_cond_timedwait(&bg_wake, &bg_mutex, &until);
    }
    bg_running = false;
    pthread_mutex_unlock(&bg_mutex);
    return NULL;
}

/* Under bg_mutex. */
static void cond_init(void) {
    if (bg_cond_ready)
        return;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&bg_wake, &attr);
    pthread_condattr_destroy(&attr);
    bg_cond_ready = true;
}

/* Starts a thread if one is wanted and none runs or is starting. Called
 * without bg_mutex: pthread_create allocates (the new thread's TLS), and
 * that allocation may itself come back here. */
static int start(void) {
    pthread_mutex_lock(&bg_mutex);
    if (bg_wanted && bg_running) /* turned off and on before it ended */
        __atomic_store_n(&purge_by_background, true, __ATOMIC_RELAXED);
    if (!bg_wanted || bg_running || bg_starting) {
        pthread_mutex_unlock(&bg_mutex);
        return 0;
    }
    bg_starting = true;
    cond_init();
    pthread_mutex_unlock(&bg_mutex);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int err = pthread_create(&thread, &attr, background_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&bg_mutex);
    bg_starting = false;
    if (err == 0) {
        bg_running = true;
        __atomic_store_n(&purge_by_background, true, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&bg_mutex);
    return err == 0 ? 0 : EAGAIN;
}

void reclaim_background_poll(void) {
    if (!__atomic_load_n(&bg_read_option, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&bg_mutex);
        if (!bg_read_option) {
            bg_wanted = opt_background_thread;
            __atomic_store_n(&bg_read_option, true, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&bg_mutex);
    }
    if (__atomic_load_n(&bg_wanted, __ATOMIC_RELAXED) && !__atomic_load_n(&bg_running, __ATOMIC_RELAXED) &&
        !__atomic_load_n(&bg_starting, __ATOMIC_RELAXED))
        start();
}

bool purge_background_enabled(void) {
    reclaim_background_poll();
    return __atomic_load_n(&bg_wanted, __ATOMIC_RELAXED);
}

int purge_background_set(bool enable) {
    reclaim_background_poll();
    pthread_mutex_lock(&bg_mutex);
    bg_wanted = enable;
    if (!enable) {
        /* The thread ends at once (woken); the slow paths take the age
         * steps over from now. */
        __atomic_store_n(&purge_by_background, false, __ATOMIC_RELAXED);
        if (bg_running)
            pthread_cond_signal(&bg_wake);
    }
    pthread_mutex_unlock(&bg_mutex);
    if (!enable)
        return 0;
    int err = start();
    if (err != 0) {
        pthread_mutex_lock(&bg_mutex);
        bg_wanted = false;
        pthread_mutex_unlock(&bg_mutex);
    }
    return err;
}

void reclaim_postfork_child(void) {
    pthread_mutex_init(&bg_mutex, NULL);
    bg_cond_ready = false;
    bg_running = false;
    bg_starting = false;
    __atomic_store_n(&purge_by_background, false, __ATOMIC_RELAXED);
}
