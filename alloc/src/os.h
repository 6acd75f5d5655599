/* The operating system, behind one header: only os.c maps, unmaps, advises
 * or remaps memory. Every call returns NULL/false on failure, never aborts. */
#ifndef QUARRY_OS_H
#define QUARRY_OS_H

#include "common.h"

/* Fresh zeroed pages, anywhere. */
void *os_map(size_t size);
/* Fresh zeroed pages whose address is a multiple of align (a power of two
 * >= PAGE); size is a multiple of PAGE. */
void *os_map_aligned(size_t size, size_t align);
void os_unmap(void *addr, size_t size);
/* Makes a range inaccessible (a guard: touching it faults). */
void os_guard(void *addr, size_t size);
/* Gives the pages' memory back (MADV_DONTNEED): true when it did, and the
 * range now reads as zero; false when the kernel refused (locked pages,
 * mlockall), and the pages keep their contents. */
bool os_purge(void *addr, size_t size);
/* Lets the kernel take the pages back when it needs memory (MADV_FREE);
 * until then they keep their contents. false when the kernel refused. */
bool os_purge_lazy(void *addr, size_t size);
/* Transparent huge pages for the range: wanted (true) or not. */
void os_advise_hugepages(void *addr, size_t size, bool want);
/* Resize a mapping without moving it; false if the pages after it are taken. */
bool os_remap_in_place(void *addr, size_t old_size, size_t new_size);
/* Move a mapping's pages to dest (a range already reserved), no copying. */
bool os_remap_to(void *addr, size_t old_size, size_t new_size, void *dest);
/* Milliseconds of a monotonic clock (the coarse one: a vDSO read, no
 * system call), for the purge policy's ages and intervals. */
uint64_t os_now_ms(void);
/* CPUs this process may run on (its affinity mask), at least 1. One system
 * call, no allocation, no file reading. */
unsigned os_ncpus(void);

#endif
