// A deterministic, fixed-length run of COUNT malloc+free pairs of SIZE bytes,
// for counting instructions under callgrind rather than timing them.
//
// Timings on a shared 2-core machine drift by several percent; instruction
// counts do not. The runner executes this mode twice, with COUNT = K and 2K,
// collecting only inside quarry_bench_pairs, and divides the difference by
// K: whatever happens once (lazy initialisation of the allocator, of the
// thread cache, the first refill, dynamic symbol resolution) appears in both
// runs and cancels, leaving the steady-state cost of one pair.
#include "pairs_mode.h"

#include <cstdio>
#include <cstdlib>

#include "common.h"

extern "C" __attribute__((noinline)) void quarry_bench_pairs(
    unsigned long size, unsigned long count) {
  for (unsigned long i = 0; i < count; ++i) {
    void* p = std::malloc(size);
    qb::use_block(p);
    std::free(p);
  }
}

namespace qb {

int run_pairs_mode(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s --pairs SIZE COUNT\n", argv[0]);
    return 2;
  }
  char* end = nullptr;
  unsigned long size = std::strtoul(argv[2], &end, 10);
  if (*end != '\0' || size == 0) {
    std::fprintf(stderr, "bad SIZE: %s\n", argv[2]);
    return 2;
  }
  unsigned long count = std::strtoul(argv[3], &end, 10);
  if (*end != '\0') {
    std::fprintf(stderr, "bad COUNT: %s\n", argv[3]);
    return 2;
  }
  quarry_bench_pairs(size, count);
  return 0;
}

}  // namespace qb
