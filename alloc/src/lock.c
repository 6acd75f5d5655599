/*
 * The contended halves of lock.h's locks: a futex-backed mutex of three
 * states (free, held, held with possible sleepers). A taker that finds the
 * lock held spins a little first: a fill or a flush holds a bin lock for
 * about a microsecond, less than a sleep and a wake-up cost the two threads.
 */
#include "lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Attempts before sleeping; each waits with a pause, about 100 in all
 * (glibc's adaptive mutexes spin up to 100 attempts too). */
#define LOCK_SPINS 100

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

void lock_wait(lock_t *l) {
    for (unsigned i = 0; i < LOCK_SPINS; i++) {
        uint32_t state = __atomic_load_n(&l->state, __ATOMIC_RELAXED);
        if (state == 0) {
            if (__atomic_compare_exchange_n(&l->state, &state, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return;
        } else if (state == 2) {
            break; /* others sleep on it already: join them */
        }
        cpu_relax();
    }
    /* Marked 2 from here on, so that the holder's release wakes a
     * sleeper; a thread that gets the lock this way keeps it marked,
     * which costs at most one needless wake-up. */
    int saved = errno; /* a wait that finds the word changed sets EAGAIN */
    while (__atomic_exchange_n(&l->state, 2, __ATOMIC_ACQUIRE) != 0)
        syscall(SYS_futex, &l->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    errno = saved;
}

/* errno kept: free() must leave it as it was, and the calls that succeed
 * should too. */
void lock_wake(lock_t *l) {
    int saved = errno;
    syscall(SYS_futex, &l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}
