// Workload 3: realloc growth. Doubling is what a well-behaved vector does;
// growing 16 bytes at a time is what naive string builders do, and it shows
// whether the allocator can grow in place (or at least within a size class)
// instead of copying on every call.
#include <cstdlib>

#include "common.h"
#include "usage.h"
#include "workloads.h"

namespace qb {
namespace {

constexpr size_t kTarget = 1 << 20;

void realloc_grow(benchmark::State& st, bool doubling) {
  int64_t reallocs = 0;
  UsageProbe probe;
  probe.start();
  for (auto _ : st) {
    size_t size = 16;
    char* p = static_cast<char*>(std::malloc(size));
    use_block(p);
    while (size < kTarget) {
      size = doubling ? size * 2 : size + 16;
      char* q = static_cast<char*>(std::realloc(p, size));
      if (!q) {
        st.SkipWithError("realloc returned NULL");
        std::free(p);
        return;
      }
      p = q;
      // Write the new last byte, like an append would; writing every new
      // byte would turn this into a memset benchmark.
      p[size - 1] = 1;
      benchmark::DoNotOptimize(p);
      ++reallocs;
    }
    std::free(p);
    benchmark::ClobberMemory();
  }
  // One item = one realloc call.
  probe.finish(st, reallocs);
  st.SetItemsProcessed(reallocs);
}

}  // namespace

void register_realloc() {
  benchmark::RegisterBenchmark("realloc/double/1M", realloc_grow, true);
  benchmark::RegisterBenchmark("realloc/step16/1M", realloc_grow, false);
}

}  // namespace qb
