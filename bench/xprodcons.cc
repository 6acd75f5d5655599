// Producers and consumers (xprodcons/P/C), the "xmalloc" pattern: P threads
// only allocate small blocks, C threads only free them, through bounded
// queues. Producer p sends its k-th batch of 32 blocks to consumer
// (p + k) mod C, so with several consumers each producer's memory is freed
// by all of them, and each consumer frees memory of every producer.
//
// No thread ever frees what it allocated: an allocator whose remote frees
// are slow, or whose freeing threads hoard other threads' memory in their
// caches, shows it here as time and as RSS. The queues are bounded (32
// batches per producer/consumer pair), so the live set stays small and the
// two sides must keep pace with each other.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "usage.h"
#include "workloads.h"
#include "xthreads.h"

namespace qb {
namespace {

constexpr uint64_t kSeedXprodcons = 0x5eed0301;
constexpr size_t kBatch = 32;
constexpr size_t kSizeTable = 4096;  // per producer, cycled
// Blocks per iteration over all producers (2^20): 50-200 ms on 2 cores.
constexpr size_t kBlocksPerIteration = size_t{1} << 20;

class ProdConsJob : public Crew::Job {
 public:
  ProdConsJob(int producers, int consumers)
      : p_(producers),
        c_(consumers),
        batches_(kBlocksPerIteration / kBatch / static_cast<size_t>(producers)),
        rings_(new BulkRing[static_cast<size_t>(producers * consumers)]),
        sizes_(static_cast<size_t>(producers)),
        cursor_(static_cast<size_t>(producers), 0) {
    for (int p = 0; p < p_; ++p)
      sizes_[static_cast<size_t>(p)] = log_uniform_sizes(
          kSizeTable, 8, 1000, kSeedXprodcons + static_cast<uint64_t>(p));
  }

  // Every batch count is a multiple of the consumer count, so each
  // consumer knows exactly how many blocks an iteration brings it.
  bool valid() const { return batches_ > 0 && batches_ % c_ == 0; }
  size_t blocks_per_iteration() const {
    return batches_ * kBatch * static_cast<size_t>(p_);
  }

  void work(Crew& crew, int w) override {
    if (w < p_)
      produce(crew, w);
    else
      consume(crew, w - p_);
  }

 private:
  BulkRing& ring(int p, int c) {
    return rings_[static_cast<size_t>(p * c_ + c)];
  }

  void produce(Crew& crew, int p) {
    const std::vector<size_t>& sizes = sizes_[static_cast<size_t>(p)];
    // A local copy: neighbouring producers' cursors share a cache line.
    size_t cursor = cursor_[static_cast<size_t>(p)];
    void* batch[kBatch];
    for (size_t k = 0; k < batches_; ++k) {
      for (void*& b : batch)
        b = malloc_touched(sizes[cursor++ & (kSizeTable - 1)]);
      const int c = static_cast<int>((static_cast<size_t>(p) + k) %
                                     static_cast<size_t>(c_));
      BulkRing& r = ring(p, c);
      if (r.space() < kBatch)
        crew.bell(p).wait([&] { return r.space() >= kBatch; });
      r.push(batch, kBatch);
      crew.bell(p_ + c).ring();
    }
    cursor_[static_cast<size_t>(p)] = cursor;
  }

  void consume(Crew& crew, int c) {
    size_t left =
        batches_ / static_cast<size_t>(c_) * kBatch * static_cast<size_t>(p_);
    void* got[2 * kBatch];
    while (left) {
      size_t n_all = 0;
      for (int p = 0; p < p_; ++p) {
        size_t n = ring(p, c).pop(got, 2 * kBatch);
        if (!n) continue;
        // Release the producer before freeing: the queue slots are free.
        crew.bell(p).ring();
        for (size_t i = 0; i < n; ++i) std::free(got[i]);
        n_all += n;
      }
      left -= n_all;
      if (!n_all && left)
        crew.bell(p_ + c).wait([&] {
          for (int p = 0; p < p_; ++p)
            if (ring(p, c).pending()) return true;
          return false;
        });
    }
  }

  const int p_;
  const int c_;
  const size_t batches_;  // per producer per iteration
  std::unique_ptr<BulkRing[]> rings_;
  std::vector<std::vector<size_t>> sizes_;
  std::vector<size_t> cursor_;  // per producer, between iterations
};

void xprodcons(benchmark::State& st, int producers, int consumers) {
  ProdConsJob job(producers, consumers);
  if (!job.valid()) {
    st.SkipWithError("batch count not a multiple of the consumer count");
    return;
  }
  Crew crew(producers + consumers, job);
  UsageProbe probe;
  probe.start();
  for (auto _ : st) crew.run();
  // One item = one block allocated by a producer and freed by a consumer.
  const int64_t items =
      st.iterations() * static_cast<int64_t>(job.blocks_per_iteration());
  probe.finish(st, items);
  st.SetItemsProcessed(items);
}

}  // namespace

void register_xprodcons() {
  for (int n : {1, 2, 4})
    benchmark::RegisterBenchmark(
        ("xprodcons/" + std::to_string(n) + "/" + std::to_string(n)).c_str(),
        xprodcons, n, n)
        ->UseRealTime();
}

}  // namespace qb
