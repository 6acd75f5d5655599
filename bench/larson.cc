// Workload 6: a Larson-like server simulation. All threads share one pool of
// slots; each thread repeatedly puts a fresh block into a random slot and
// frees whatever was there — usually a block some other thread allocated.
// This is the classic pattern that makes per-thread caches drift: memory
// flows from allocating threads to freeing threads and must find its way
// back (or be stranded, which shows up as RSS).
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "common.h"
#include "threads.h"
#include "usage.h"
#include "workloads.h"

namespace qb {
namespace {

constexpr size_t kPoolSlots = 8192;
constexpr size_t kScript = 8192;

std::atomic<void*> g_pool[kPoolSlots];

struct Step {
  uint16_t slot;
  uint16_t size;
};

void larson(benchmark::State& st) {
  Rng rng(kSeedThreads + 100 + static_cast<uint64_t>(st.thread_index()));
  std::vector<Step> script(kScript);
  for (Step& s : script) {
    s.slot = static_cast<uint16_t>(rng.below(kPoolSlots));
    s.size = static_cast<uint16_t>(mixed_small_size(rng));
  }
  // Thread 0 fills the pool; the library's start barrier orders this before
  // any thread's first iteration.
  if (st.thread_index() == 0) {
    Rng fill(kSeedThreads + 99);
    for (auto& slot : g_pool) {
      void* p = std::malloc(mixed_small_size(fill));
      use_block(p);
      slot.store(p, std::memory_order_relaxed);
    }
  }

  // Process-wide counts, taken by thread 0 for all threads; see usage.h.
  UsageProbe probe;
  if (st.thread_index() == 0) probe.start();
  size_t k = 0;
  for (auto _ : st) {
    const Step& s = script[k++ & (kScript - 1)];
    void* p = std::malloc(s.size);
    use_block(p);
    // exchange, not load+store: two threads picking the same slot must not
    // both free the old block.
    void* old = g_pool[s.slot].exchange(p, std::memory_order_acq_rel);
    std::free(old);
  }
  if (st.thread_index() == 0)
    probe.finish(st, st.iterations() * st.threads());
  st.SetItemsProcessed(st.iterations());

  // The stop barrier has been passed by every thread once the loop ends, so
  // thread 0 can empty the pool without racing anyone.
  if (st.thread_index() == 0) {
    for (auto& slot : g_pool)
      std::free(slot.exchange(nullptr, std::memory_order_relaxed));
  }
}

}  // namespace

void register_larson() {
  auto* b = benchmark::RegisterBenchmark("larson/pool", larson);
  for (int t : scaling_thread_counts(true)) b->Threads(t);
  b->UseRealTime();
}

}  // namespace qb
