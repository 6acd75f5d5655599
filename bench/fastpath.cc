// Workload 1: the allocator's fast path. One malloc+free pair per iteration,
// one size per benchmark, so each size class boundary gets its own number and
// a regression in a single class cannot hide inside an average.
#include <cstdlib>
#include <new>

#include "common.h"
#include "usage.h"
#include "workloads.h"

namespace qb {
namespace {

// Small size class boundaries of a jemalloc-3 style allocator: quantum
// spaced up to 128, then four classes per doubling. Measuring exactly at the
// boundary is where an off-by-one in size-to-class lookup shows up.
constexpr size_t kSmallSizes[] = {8,    16,   32,   48,   64,   80,   96,
                                  112,  128,  160,  192,  224,  256,  320,
                                  384,  448,  512,  640,  768,  896,  1024,
                                  1280, 1536, 1792, 2048, 2560, 3072, 3584};

// Large (page-run) classes up to 32 KiB, then one step each into the
// larger regimes (64 KiB, 1 MiB, and 8 MiB which is "huge" for jemalloc-3 and
// above glibc's default mmap threshold).
constexpr size_t kLargeSizes[] = {4 << 10,  8 << 10,  12 << 10, 16 << 10,
                                  20 << 10, 24 << 10, 28 << 10, 32 << 10,
                                  64 << 10, 1 << 20,  8 << 20};

// C++ containers reach the allocator through operator new and (since C++14)
// sized operator delete; an allocator can make those cheaper or dearer than
// malloc/free, so a few sizes go through that path too.
constexpr size_t kNewSizes[] = {16, 64, 256, 1024, 4096};

void malloc_free_pair(benchmark::State& st, size_t size) {
  UsageProbe probe;
  probe.start();
  for (auto _ : st) {
    void* p = std::malloc(size);
    if (!p) {
      st.SkipWithError("malloc returned NULL");
      break;
    }
    use_block(p);
    std::free(p);
  }
  probe.finish(st, st.iterations());
  st.SetItemsProcessed(st.iterations());
}

void new_delete_pair(benchmark::State& st, size_t size) {
  UsageProbe probe;
  probe.start();
  for (auto _ : st) {
    void* p = ::operator new(size);
    use_block(p);
    ::operator delete(p, size);
  }
  probe.finish(st, st.iterations());
  st.SetItemsProcessed(st.iterations());
}

}  // namespace

void register_fastpath() {
  for (size_t s : kSmallSizes)
    benchmark::RegisterBenchmark(("pair/malloc/" + size_label(s)).c_str(),
                                 malloc_free_pair, s);
  for (size_t s : kLargeSizes)
    benchmark::RegisterBenchmark(("pair/malloc/" + size_label(s)).c_str(),
                                 malloc_free_pair, s);
  for (size_t s : kNewSizes)
    benchmark::RegisterBenchmark(("pair/new/" + size_label(s)).c_str(),
                                 new_delete_pair, s);
}

}  // namespace qb
