#include "trace.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "doctor.h"
#include "init.h"
#include "stats.h"

/*
 * start_lock guards trace_fd and trace_running while a thread is started.
 * It stays outside the fork order (lock.h): it is held across open(2) and
 * pthread_create, which allocates and takes the C library's own locks, so
 * it cannot be one of the order's leaves. Nothing it guards has to be
 * consistent in a child: the trace thread never comes along, so the child
 * forgets the trace wholesale (trace_postfork_child: not running, the
 * parent's file closed, the lock re-made) and may start its own. Only when
 * the forking thread is itself inside trace_start (a signal handler's
 * fork) is everything left as it is: trace_start finishes in the child,
 * sets the state and releases the lock.
 */
static lock_t start_lock = LOCK_INITIALIZER;
static _Thread_local bool starting;
static int trace_fd = -1;
static bool trace_running;

static uint64_t clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void key(struct outbuf *o, const char *name) {
    out_str(o, ",\"");
    out_str(o, name);
    out_str(o, "\":");
}

/* One line: the totals, then each arena. A line longer than the buffer
 * goes out in more than one write(2); only this thread writes the file,
 * so the pieces stay together. */
static void trace_line(uint64_t t0) {
    struct stats_totals t;
    stats_totals(&t);
    struct outbuf o;
    out_init(&o, out_write_fd, &trace_fd);
    out_str(&o, "{\"t_ms\":");
    out_u64(&o, clock_ms(CLOCK_MONOTONIC) - t0);
    key(&o, "unix_ms");
    out_u64(&o, clock_ms(CLOCK_REALTIME));
    key(&o, "allocated");
    out_u64(&o, t.allocated);
    key(&o, "active");
    out_u64(&o, t.active);
    key(&o, "resident");
    out_u64(&o, t.resident);
    key(&o, "mapped");
    out_u64(&o, t.mapped);
    key(&o, "metadata");
    out_u64(&o, t.metadata);
    key(&o, "retained");
    out_u64(&o, t.retained);
    key(&o, "dirty");
    out_u64(&o, t.dirty);
    key(&o, "muzzy");
    out_u64(&o, t.muzzy);
    key(&o, "rss");
    out_u64(&o, doctor_rss());
    key(&o, "huge_allocated");
    out_u64(&o, t.huge.allocated);
    key(&o, "huge_cached");
    out_u64(&o, t.huge.cached);
    uint64_t nmalloc = t.huge.nmalloc, npurge = 0, nmadvise = 0, purged = 0;
    unsigned nthreads = 0;
    out_str(&o, ",\"arenas\":[");
    bool first = true;
    struct arena_snapshot s;
    for (unsigned i = 0; i < narenas; i++) {
        if (!stats_arena(i, &s))
            continue;
        nmalloc += s.small_nmalloc + s.large_nmalloc;
        npurge += s.s.npurge;
        nmadvise += s.s.nmadvise;
        purged += s.s.purged;
        nthreads += s.nthreads;
        out_str(&o, first ? "{\"i\":" : ",{\"i\":");
        first = false;
        out_u64(&o, i);
        key(&o, "nthreads");
        out_u64(&o, s.nthreads);
        key(&o, "pactive");
        out_u64(&o, s.pactive);
        key(&o, "pdirty");
        out_u64(&o, s.pdirty);
        key(&o, "pmuzzy");
        out_u64(&o, s.pmuzzy);
        key(&o, "npurge");
        out_u64(&o, s.s.npurge);
        key(&o, "nmadvise");
        out_u64(&o, s.s.nmadvise);
        key(&o, "purged");
        out_u64(&o, s.s.purged);
        out_str(&o, "}");
    }
    out_str(&o, "]");
    key(&o, "nmalloc");
    out_u64(&o, nmalloc);
    key(&o, "nthreads");
    out_u64(&o, nthreads);
    key(&o, "npurge");
    out_u64(&o, npurge);
    key(&o, "nmadvise");
    out_u64(&o, nmadvise);
    key(&o, "purged");
    out_u64(&o, purged);
    out_str(&o, "}\n");
    out_flush(&o);
}

/* Sleeps to absolute deadlines, so that the interval does not drift by
 * the time each line takes. */
static void *trace_main(void *arg) {
    (void)arg;
    uint64_t t0 = clock_ms(CLOCK_MONOTONIC);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        trace_line(t0);
        uint64_t ns = (uint64_t)next.tv_nsec + (uint64_t)opt_stats_interval * 1000000;
        next.tv_sec += (time_t)(ns / 1000000000);
        next.tv_nsec = (long)(ns % 1000000000);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0) {
        }
    }
    return NULL;
}

bool trace_start(void) {
    if (opt_stats_interval == 0 || opt_stats_file[0] == '\0')
        return false;
    lock_acquire_unordered(&start_lock);
    starting = true;
    if (!trace_running) {
        trace_fd = open(opt_stats_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        pthread_attr_t attr;
        pthread_t thread;
        /* pthread_create may allocate (its stack is mmap'd, but glibc can
         * malloc thread bookkeeping): no quarry lock is held here. */
        if (trace_fd >= 0 && pthread_attr_init(&attr) == 0) {
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            trace_running = pthread_create(&thread, &attr, trace_main, NULL) == 0;
            pthread_attr_destroy(&attr);
        }
        if (!trace_running && trace_fd >= 0) {
            close(trace_fd);
            trace_fd = -1;
        }
    }
    bool running = trace_running;
    starting = false;
    lock_release_unordered(&start_lock);
    return running;
}

void trace_postfork_child(void) {
    if (starting)
        return;
    lock_init(&start_lock);
    trace_running = false;
    if (trace_fd >= 0)
        close(trace_fd);
    trace_fd = -1;
}

extern char **environ;
extern const char *quarry_conf __attribute__((weak, visibility("default")));

/* At load time, only when some option string mentions the trace: quarry
 * then starts (reading its options) so that the thread can begin before
 * the program's first allocation; programs that do not ask start lazily
 * as always. */
__attribute__((constructor)) static void trace_at_load(void) {
    bool asked = &quarry_conf != NULL && quarry_conf != NULL && strstr(quarry_conf, "stats_interval") != NULL;
    for (char **e = environ; !asked && e != NULL && *e != NULL; e++)
        asked = strncmp(*e, "QUARRY_CONF=", 12) == 0 && strstr(*e, "stats_interval") != NULL;
    if (asked && arena_choose() != NULL)
        trace_start();
}
