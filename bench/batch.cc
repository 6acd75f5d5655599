// Workload 2: allocate a batch of N mixed-size blocks, then free them all in
// a given order. Unlike the pair workload this keeps N blocks live at once,
// so it exercises run/slab refill on the way up and run release (and, for
// the random order, freeing into partially used runs) on the way down.
#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <vector>

#include "common.h"
#include "usage.h"
#include "workloads.h"

namespace qb {
namespace {

enum class Order { kLifo, kFifo, kRandom };

// The free order as a permutation of [0, N), built before timing starts.
std::vector<size_t> free_order(size_t n, Order order) {
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  switch (order) {
    case Order::kLifo:
      std::reverse(idx.begin(), idx.end());
      break;
    case Order::kFifo:
      break;
    case Order::kRandom: {
      // Fisher-Yates with our own RNG: std::shuffle's algorithm is not
      // specified, and the order must not depend on the standard library.
      Rng rng(kSeedOrder);
      for (size_t i = n; i > 1; --i) std::swap(idx[i - 1], idx[rng.below(i)]);
      break;
    }
  }
  return idx;
}

void batch(benchmark::State& st, size_t n, Order order) {
  const std::vector<size_t> sizes = mixed_small_sizes(n, kSeedSizes);
  const std::vector<size_t> order_idx = free_order(n, order);
  std::vector<void*> blocks(n);
  UsageProbe probe;
  probe.start();
  for (auto _ : st) {
    for (size_t i = 0; i < n; ++i) {
      void* p = std::malloc(sizes[i]);
      use_block(p);
      blocks[i] = p;
    }
    for (size_t i : order_idx) std::free(blocks[i]);
    benchmark::ClobberMemory();
  }
  // One item = one block allocated and freed.
  probe.finish(st, st.iterations() * static_cast<int64_t>(n));
  st.SetItemsProcessed(st.iterations() * static_cast<int64_t>(n));
}

}  // namespace

void register_batch() {
  struct Named {
    const char* name;
    Order order;
  };
  const Named orders[] = {
      {"lifo", Order::kLifo}, {"fifo", Order::kFifo}, {"random", Order::kRandom}};
  for (size_t n : {size_t{1000}, size_t{100000}})
    for (const Named& o : orders)
      benchmark::RegisterBenchmark(
          ("batch/" + std::string(o.name) + "/" + std::to_string(n)).c_str(),
          batch, n, o.order);
}

}  // namespace qb
