// Workload 9: repeated huge blocks. malloc a random 5-25 MiB block, touch
// every page, free it, again and again. The page faults dominate: an
// allocator that unmaps on free (or purges eagerly) faults every page in
// again each time, one that keeps the memory mapped (glibc raises its mmap
// threshold after the first free and reuses the heap top) does not. This is
// a known weak spot of mmap-per-huge-allocation designs, kept visible on
// purpose.
#include <cstdlib>

#include "common.h"
#include "usage.h"
#include "workloads.h"

namespace qb {
namespace {

// Each iteration walks the same fixed list of sizes, so the work per
// iteration (and thus time per block) does not depend on how many
// iterations the benchmark library happens to choose.
constexpr size_t kBlocksPerIteration = 8;

void huge_touch(benchmark::State& st) {
  Rng rng(kSeedHuge);
  size_t sizes[kBlocksPerIteration];
  int64_t bytes_per_iteration = 0;
  for (size_t& s : sizes) {
    s = rng.between(size_t{5} << 20, size_t{25} << 20);
    bytes_per_iteration += static_cast<int64_t>(s);
  }
  UsageProbe probe;
  probe.start();
  for (auto _ : st) {
    for (size_t size : sizes) {
      void* p = std::malloc(size);
      if (!p) {
        st.SkipWithError("malloc returned NULL");
        return;
      }
      touch_pages(p, size);
      std::free(p);
    }
  }
  // One item = one huge block allocated, fully touched and freed.
  probe.finish(st, st.iterations() * static_cast<int64_t>(kBlocksPerIteration));
  st.SetItemsProcessed(st.iterations() *
                       static_cast<int64_t>(kBlocksPerIteration));
  st.SetBytesProcessed(st.iterations() * bytes_per_iteration);
}

}  // namespace

void register_huge() {
  benchmark::RegisterBenchmark("huge/touch/5-25M", huge_touch)
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace qb
