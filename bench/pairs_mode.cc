// Deterministic, fixed-length loops for counting instructions under
// callgrind rather than timing them: `--pairs SIZE COUNT` runs COUNT
// malloc+free pairs of SIZE bytes, `--pairs LOOP COUNT` one of the named
// loops below, each COUNT iterations.
//
// Timings on a shared 2-core machine drift by several percent; instruction
// counts do not. The runner executes a loop twice, with COUNT = K and 2K,
// collecting only inside quarry_bench_pairs, and divides the difference by
// K: whatever happens once (lazy initialisation of the allocator, of the
// thread cache, the first refill, filling the ring, dynamic symbol
// resolution) appears in both runs and cancels, leaving the steady-state
// cost of one iteration.
#include "pairs_mode.h"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common.h"

namespace {

enum Loop {
  kPair,           // malloc(size) + free
  kRing,           // a ring of 1000 live blocks of 8..512 B: free one, malloc another
  kUsable,         // malloc_usable_size of one live 100-byte block
  kRedisCycle,     // usable size + free of the old block, malloc + usable size of a new one
  kReallocWithin,  // realloc between 100 and 110 bytes (one class)
  kReallocAcross,  // realloc between 100 and 200 bytes (two classes)
  kCalloc,         // calloc(1, 64) + free
  kLargeRing,      // a ring of 1000 live blocks of 4..64 KiB: free one, malloc another
};

struct Named {
  const char* name;
  Loop loop;
};

constexpr Named kLoops[] = {
    {"ring", kRing},
    {"usable", kUsable},
    {"redis-cycle", kRedisCycle},
    {"realloc-within", kReallocWithin},
    {"realloc-across", kReallocAcross},
    {"calloc-64", kCalloc},
    {"large-ring", kLargeRing},
};

constexpr unsigned kRingSlots = 1000;
void* g_ring[kRingSlots];

// The ring's sizes: a fixed multiplicative sequence over 8..512 bytes, so
// that every allocator sees the same requests.
inline size_t ring_size(unsigned long i) { return 8 + (i * 2654435761ul >> 7) % 505; }

// The large ring's: the same sequence over 4..64 KiB, page-run sizes,
// half of them above the 32 KiB that thread caches commonly keep, so
// that the loop goes through the allocator's page-run paths.
void* g_large_ring[kRingSlots];
inline size_t large_ring_size(unsigned long i) { return 4096 + (i * 2654435761ul >> 7) % 61441; }

// The ring loops: free the oldest block, allocate one of the next size in
// its slot. The ring and the size function are template arguments so that
// each loop compiles to the same code as if it were written out (callgrind
// counts the loop's own instructions too).
template <void* (&ring)[kRingSlots], size_t (*SizeOf)(unsigned long)>
inline void replace_in_ring(unsigned long count) {
  for (unsigned long i = 0; i < count; ++i) {
    unsigned slot = i % kRingSlots;
    std::free(ring[slot]);
    ring[slot] = std::malloc(SizeOf(i + kRingSlots));
    qb::use_block(ring[slot]);
  }
}

}  // namespace

extern "C" __attribute__((noinline)) void quarry_bench_pairs(unsigned long kind, unsigned long size,
                                                             unsigned long count) {
  switch (static_cast<Loop>(kind)) {
    case kPair:
      for (unsigned long i = 0; i < count; ++i) {
        void* p = std::malloc(size);
        qb::use_block(p);
        std::free(p);
      }
      break;
    case kRing:
      replace_in_ring<g_ring, ring_size>(count);
      break;
    case kUsable: {
      size_t total = 0;
      void* p = g_ring[0];
      for (unsigned long i = 0; i < count; ++i) {
        total += malloc_usable_size(p);
        qb::use_block(p);
      }
      benchmark::DoNotOptimize(total);
      break;
    }
    case kRedisCycle: {
      void* old = g_ring[0];
      for (unsigned long i = 0; i < count; ++i) {
        size_t a = malloc_usable_size(old);
        std::free(old);
        void* p = std::malloc(100 + (i & 63));
        size_t b = malloc_usable_size(p);
        benchmark::DoNotOptimize(a);
        benchmark::DoNotOptimize(b);
        old = p;
      }
      g_ring[0] = old;
      break;
    }
    case kReallocWithin:
    case kReallocAcross: {
      size_t other = kind == kReallocWithin ? 110 : 200;
      void* p = g_ring[0];
      for (unsigned long i = 0; i < count; ++i) {
        p = std::realloc(p, (i & 1) ? 100 : other);
        qb::use_block(p);
      }
      g_ring[0] = p;
      break;
    }
    case kCalloc:
      for (unsigned long i = 0; i < count; ++i) {
        void* p = std::calloc(1, 64);
        qb::use_block(p);
        std::free(p);
      }
      break;
    case kLargeRing:
      replace_in_ring<g_large_ring, large_ring_size>(count);
      break;
  }
}

namespace qb {

int run_pairs_mode(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s --pairs SIZE|LOOP COUNT\n", argv[0]);
    return 2;
  }
  char* end = nullptr;
  unsigned long count = std::strtoul(argv[3], &end, 10);
  if (*end != '\0') {
    std::fprintf(stderr, "bad COUNT: %s\n", argv[3]);
    return 2;
  }
  for (const Named& n : kLoops) {
    if (std::strcmp(argv[2], n.name) != 0) continue;
    // Set up outside the counted function: a full ring (whose last block,
    // slot 0, the single-block loops reuse as their live 100-byte block).
    for (unsigned i = 0; i < kRingSlots; ++i) g_ring[i] = std::malloc(ring_size(i));
    std::free(g_ring[0]);
    g_ring[0] = std::malloc(100);
    if (n.loop == kLargeRing)
      for (unsigned i = 0; i < kRingSlots; ++i) g_large_ring[i] = std::malloc(large_ring_size(i));
    quarry_bench_pairs(n.loop, 0, count);
    return 0;
  }
  unsigned long size = std::strtoul(argv[2], &end, 10);
  if (*end != '\0' || size == 0) {
    std::fprintf(stderr, "bad SIZE or LOOP: %s\n", argv[2]);
    return 2;
  }
  quarry_bench_pairs(kPair, size, count);
  return 0;
}

}  // namespace qb
