// Cross-thread batches (xbatch/T/B) and shuffled batch frees (xshuffle/N).
//
// xbatch: T threads stand in a ring. In every round each thread allocates a
// batch of B small blocks, hands the batch to the next thread, and frees the
// batch its predecessor handed it, in a shuffled order. Every free is a
// remote free, and each freeing thread returns a whole batch's worth of
// another thread's memory at once: the pattern of message-passing servers
// and of the "xmalloc"/"cache-scratch" style tests outside benchmark suites
// use. It stresses how remote frees get back to the owning arena (and how
// fast), and whether memory strands in the freeing thread's cache (RSS).
//
// xshuffle: one thread, a batch of N mixed small blocks freed in a random
// order, several rounds per iteration with a different order each round.
// Unlike batch/random (one fixed order) the runs never get freed in the same
// sequence twice, so per-run free lists are visited in a new order each time.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "common.h"
#include "usage.h"
#include "workloads.h"
#include "xthreads.h"

namespace qb {
namespace {

constexpr uint64_t kSeedXbatch = 0x5eed0101;
constexpr uint64_t kSeedXshuffle = 0x5eed0201;

// Blocks allocated per iteration, summed over threads. About a million
// makes one iteration 50-500 ms on a 2-core machine for every (T, B) and
// allocator: heavy enough that thread start-up and the hand-off latency of
// the first round do not matter, light enough that the family stays within
// seconds per allocator.
constexpr size_t kBlocksPerIteration = 1000000;

// Sizes 8..1000 bytes, log-uniform: the small-size mix of the outside
// benchmarks this family reproduces.
std::vector<size_t> small_sizes(size_t n, uint64_t seed) {
  return log_uniform_sizes(n, 8, 1000, seed);
}

// Round r of thread i: wait until the successor has freed this thread's
// batch of round r-2 (two buffers per thread), allocate into buffer r&1,
// publish, then wait for the predecessor's round-r batch and free it.
// Every wait is for an earlier step of another thread, so the ring cannot
// deadlock, and threads drift at most one round apart.
class XBatchJob : public Crew::Job {
 public:
  XBatchJob(int threads, size_t batch, size_t rounds)
      : t_(threads), b_(batch), rounds_(rounds), lanes_(threads) {
    for (int i = 0; i < t_; ++i) {
      Lane& l = lanes_[static_cast<size_t>(i)];
      l.sizes = small_sizes(b_, kSeedXbatch + static_cast<uint64_t>(i));
      l.order =
          shuffled_indices(b_, kSeedXbatch + 1000 + static_cast<uint64_t>(i));
      l.out[0].assign(b_, nullptr);
      l.out[1].assign(b_, nullptr);
    }
  }

  void work(Crew& crew, int i) override {
    Lane& me = lanes_[static_cast<size_t>(i)];
    const int succ = (i + 1) % t_;
    const int pred = (i + t_ - 1) % t_;
    Lane& next = lanes_[static_cast<size_t>(succ)];
    Lane& prev = lanes_[static_cast<size_t>(pred)];
    Doorbell& bell = crew.bell(i);
    for (size_t k = 0; k < rounds_; ++k) {
      const uint32_t r = me.round++;
      if (r >= 2)
        bell.wait([&] {
          return next.freed.load(std::memory_order_acquire) >= r - 1;
        });
      std::vector<void*>& out = me.out[r & 1];
      for (size_t j = 0; j < b_; ++j) out[j] = malloc_touched(me.sizes[j]);
      me.sent.store(r + 1, std::memory_order_release);
      crew.bell(succ).ring();

      bell.wait(
          [&] { return prev.sent.load(std::memory_order_acquire) >= r + 1; });
      const std::vector<void*>& in = prev.out[r & 1];
      for (uint32_t j : me.order) std::free(in[j]);
      me.freed.store(r + 1, std::memory_order_release);
      crew.bell(pred).ring();
    }
  }

 private:
  struct Lane {
    std::vector<size_t> sizes;    // this thread's batch, by block index
    std::vector<uint32_t> order;  // free order of the batch it receives
    std::vector<void*> out[2];
    uint32_t round = 0;  // owner-private
    // Rounds whose batch this thread has published / whose inbound batch
    // it has freed; read by its neighbours.
    alignas(64) std::atomic<uint32_t> sent{0};
    alignas(64) std::atomic<uint32_t> freed{0};
  };

  const int t_;
  const size_t b_;
  const size_t rounds_;
  std::vector<Lane> lanes_;
};

void xbatch(benchmark::State& st, int threads, size_t batch) {
  const size_t per_round = static_cast<size_t>(threads) * batch;
  const size_t rounds = std::max<size_t>(2, kBlocksPerIteration / per_round);
  XBatchJob job(threads, batch, rounds);
  Crew crew(threads, job);
  UsageProbe probe;
  probe.start();
  for (auto _ : st) crew.run();
  // One item = one block allocated by one thread and freed by another.
  const int64_t items =
      st.iterations() * static_cast<int64_t>(per_round * rounds);
  probe.finish(st, items);
  st.SetItemsProcessed(items);
}

void xshuffle(benchmark::State& st, size_t n) {
  constexpr size_t kOrders = 4;
  const size_t rounds = std::max<size_t>(2, kBlocksPerIteration / (2 * n));
  const std::vector<size_t> sizes = small_sizes(n, kSeedXshuffle);
  std::vector<std::vector<uint32_t>> orders;
  for (size_t k = 0; k < kOrders; ++k)
    orders.push_back(shuffled_indices(n, kSeedXshuffle + 1 + k));
  std::vector<void*> blocks(n);
  size_t round = 0;
  UsageProbe probe;
  probe.start();
  for (auto _ : st) {
    for (size_t k = 0; k < rounds; ++k) {
      for (size_t i = 0; i < n; ++i) blocks[i] = malloc_touched(sizes[i]);
      for (uint32_t i : orders[round++ % kOrders]) std::free(blocks[i]);
    }
    benchmark::ClobberMemory();
  }
  const int64_t items = st.iterations() * static_cast<int64_t>(n * rounds);
  probe.finish(st, items);
  st.SetItemsProcessed(items);
}

}  // namespace

void register_xbatch() {
  for (size_t b : {size_t{10000}, size_t{100000}})
    for (int t : {2, 4, 8})
      benchmark::RegisterBenchmark(
          ("xbatch/" + std::to_string(t) + "/" + std::to_string(b)).c_str(),
          xbatch, t, b)
          ->UseRealTime();
}

void register_xshuffle() {
  benchmark::RegisterBenchmark("xshuffle/100000", xshuffle, size_t{100000});
}

}  // namespace qb
