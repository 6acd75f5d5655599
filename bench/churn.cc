// Workload 5: independent churn. Each thread owns a ring of live blocks and
// repeatedly replaces a random one with a block of a random size. There is
// no sharing at all, so ideal scaling is linear in cores; anything less is
// contention inside the allocator (shared arenas, locks, false sharing).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "common.h"
#include "threads.h"
#include "usage.h"
#include "workloads.h"

namespace qb {
namespace {

constexpr size_t kLiveBlocks = 1024;  // per thread
constexpr size_t kScript = 8192;      // precomputed (slot, size) steps

struct Step {
  uint16_t slot;
  uint16_t size;
};

void churn(benchmark::State& st) {
  // Per-thread script from a per-thread seed: threads do different work
  // but the same work under every allocator. Built before timing starts.
  Rng rng(kSeedThreads + static_cast<uint64_t>(st.thread_index()));
  std::vector<Step> script(kScript);
  for (Step& s : script) {
    s.slot = static_cast<uint16_t>(rng.below(kLiveBlocks));
    s.size = static_cast<uint16_t>(mixed_small_size(rng));
  }
  std::vector<void*> live(kLiveBlocks);
  for (size_t i = 0; i < kLiveBlocks; ++i) {
    live[i] = std::malloc(mixed_small_size(rng));
    use_block(live[i]);
  }

  // Process-wide counts, taken by thread 0 for all threads (the library
  // starts and stops every thread's loop at one barrier); see usage.h.
  UsageProbe probe;
  if (st.thread_index() == 0) probe.start();
  size_t k = 0;
  for (auto _ : st) {
    const Step& s = script[k++ & (kScript - 1)];
    std::free(live[s.slot]);
    void* p = std::malloc(s.size);
    use_block(p);
    live[s.slot] = p;
  }
  if (st.thread_index() == 0)
    probe.finish(st, st.iterations() * st.threads());
  for (void* p : live) std::free(p);
  // One item = one free + one malloc. Items are summed over threads and
  // divided by wall time, so items_per_second is total throughput.
  st.SetItemsProcessed(st.iterations());
}

}  // namespace

void register_churn() {
  auto* b = benchmark::RegisterBenchmark("churn/mixed", churn);
  for (int t : scaling_thread_counts(true)) b->Threads(t);
  b->UseRealTime();
}

}  // namespace qb
