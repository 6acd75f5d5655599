/* The only file that talks to the kernel about memory. */
#include "os.h"

#include <sched.h>
#include <sys/mman.h>
#include <time.h>

void *os_map(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *os_map_aligned(size_t size, size_t align) {
    /* Try the plain size first: the kernel often hands out addresses that
     * follow the previous mapping, which is then aligned already. */
    void *p = os_map(size);
    if (p == NULL || ((uintptr_t)p & (align - 1)) == 0)
        return p;
    os_unmap(p, size);
    /* Over-map by align and cut off both ends. */
    size_t span = size + align - PAGE;
    if (span < size)
        return NULL;
    char *raw = os_map(span);
    if (raw == NULL)
        return NULL;
    char *aligned = (char *)align_up((uintptr_t)raw, align);
    size_t lead = (size_t)(aligned - raw);
    size_t trail = span - lead - size;
    if (lead != 0)
        os_unmap(raw, lead);
    if (trail != 0)
        os_unmap(aligned + size, trail);
    return aligned;
}

void os_unmap(void *addr, size_t size) { munmap(addr, size); }

void os_guard(void *addr, size_t size) { mprotect(addr, size, PROT_NONE); }

bool os_purge(void *addr, size_t size) { return madvise(addr, size, MADV_DONTNEED) == 0; }

bool os_purge_lazy(void *addr, size_t size) { return madvise(addr, size, MADV_FREE) == 0; }

void os_advise_hugepages(void *addr, size_t size, bool want) {
    madvise(addr, size, want ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

bool os_remap_in_place(void *addr, size_t old_size, size_t new_size) {
    return mremap(addr, old_size, new_size, 0) != MAP_FAILED;
}

bool os_remap_to(void *addr, size_t old_size, size_t new_size, void *dest) {
    return mremap(addr, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dest) != MAP_FAILED;
}

unsigned os_ncpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? (unsigned)n : 1;
}

uint64_t os_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
