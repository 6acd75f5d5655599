// Workload 4: producer/consumer. Thread 0 allocates and pushes blocks into a
// bounded SPSC ring; thread 1 pops and frees them. Every free is therefore a
// cross-thread free, the case thread caches handle worst: the freeing
// thread's cache fills with blocks that belong to the other thread's arena.
#include <cstdlib>
#include <vector>

#include "common.h"
#include "spsc_ring.h"
#include "usage.h"
#include "workloads.h"

namespace qb {
namespace {

SpscRing g_ring;

const std::vector<size_t>& producer_sizes() {
  static const std::vector<size_t> sizes = mixed_small_sizes(4096, kSeedSizes);
  return sizes;
}

void prodcons(benchmark::State& st) {
  const std::vector<size_t>& sizes = producer_sizes();
  // The benchmark library holds every thread at a barrier until all reach
  // the loop, so this reset is ordered before either side touches the ring.
  if (st.thread_index() == 0) g_ring.reset();
  Backoff backoff;
  size_t i = 0;
  if (st.thread_index() == 0) {
    // Process-wide counts, taken on one thread; see usage.h.
    UsageProbe probe;
    probe.start();
    for (auto _ : st) {
      void* p = std::malloc(sizes[i++ & 4095]);
      use_block(p);
      backoff.reset();
      while (!g_ring.push(p)) backoff.pause();
    }
    // Both threads run the same iteration count, so counting on one side
    // only gives pairs per second for the whole benchmark.
    probe.finish(st, st.iterations());
    st.SetItemsProcessed(st.iterations());
  } else {
    for (auto _ : st) {
      void* p;
      backoff.reset();
      while (!g_ring.pop(p)) backoff.pause();
      std::free(p);
    }
  }
}

}  // namespace

void register_prodcons() {
  benchmark::RegisterBenchmark("prodcons/spsc", prodcons)
      ->Threads(2)
      ->UseRealTime();
}

}  // namespace qb
