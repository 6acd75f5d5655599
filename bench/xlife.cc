// Random lifetimes across threads (xlife/T). Each of T threads keeps an
// array of slots and, step by step, puts a new block of a random size
// (16 B .. 16 KiB, log-uniform) into a random slot; the block it replaces
// dies. Slots are picked with a strong skew (slot < 2^k, k uniform), so
// low slots are replaced every few steps and high ones only after tens of
// thousands: lifetimes span four orders of magnitude, the way real heaps
// mix temporaries with long-lived objects.
//
// Half of the dying blocks are not freed by the thread that replaced them
// but sent to another thread, which frees them at its next drain (every
// 32 steps). So about 50% of frees are remote, from every thread to every
// other, interleaved with local frees of blocks of the same classes: the
// case where an allocator's remote-free path, its thread-cache flushes and
// its purging all run at once. Sizes span small, large and (for some
// allocators) page-run classes, and every page of every block is touched.
#include <cstdint>
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

constexpr uint64_t kSeedXlife = 0x5eed0401;
constexpr unsigned kLgSlots = 11;
constexpr size_t kSlots = size_t{1} << kLgSlots;  // per thread
constexpr size_t kScript = 16384;                 // steps, cycled
constexpr size_t kDrainEvery = 32;                // steps
constexpr size_t kOutBatch = 16;  // remote frees buffered per destination
// Blocks in flight per (sender, receiver) queue. With more threads than
// cores most receivers are descheduled at any moment, and senders fill
// their queues for a whole time slice: a deep queue would let the blocks in
// flight (up to T*(T-1) queues full) outgrow the slots' live set and make
// RSS and faults a matter of scheduling. 256 keeps them below it.
constexpr size_t kQueueLimit = 256;
// Steps per iteration over all threads (2^18): 20-600 ms on 2 cores.
constexpr size_t kStepsPerIteration = size_t{1} << 18;

struct Step {
  uint16_t slot;
  uint16_t size;  // up to 16384
  uint8_t dest;   // thread that frees the replaced block
};

class LifeJob : public Crew::Job {
 public:
  explicit LifeJob(int threads)
      : t_(threads),
        lanes_(static_cast<size_t>(threads)),
        rings_(new BulkRing[static_cast<size_t>(threads * threads)]) {
    for (int i = 0; i < t_; ++i) {
      Lane& l = lane(i);
      Rng rng(kSeedXlife + static_cast<uint64_t>(i));
      l.script.resize(kScript);
      for (Step& s : l.script) {
        unsigned k = static_cast<unsigned>(rng.below(kLgSlots + 1));
        s.slot = static_cast<uint16_t>(rng.below(size_t{1} << k));
        s.size = static_cast<uint16_t>(log_uniform_size(rng, 16, 16384));
        int dest = i;
        if (t_ > 1 && rng.below(2))
          dest = (i + 1 +
                  static_cast<int>(rng.below(static_cast<uint64_t>(t_ - 1)))) %
                 t_;
        s.dest = static_cast<uint8_t>(dest);
      }
      l.initial = log_uniform_sizes(
          kSlots, 16, 16384, kSeedXlife + 1000 + static_cast<uint64_t>(i));
      l.slots.assign(kSlots, nullptr);
      l.out.resize(static_cast<size_t>(t_));
    }
    for (size_t q = 0; q < static_cast<size_t>(t_ * t_); ++q)
      rings_[q].set_limit(kQueueLimit);
  }

  size_t steps_per_iteration() const {
    return kStepsPerIteration / static_cast<size_t>(t_) *
           static_cast<size_t>(t_);
  }

  // The next run() fills every thread's slots instead of stepping (done
  // once, before timing, by the threads that will own the blocks).
  void set_filling(bool on) { filling_ = on; }

  void work(Crew& crew, int i) override {
    Lane& me = lane(i);
    if (filling_) {
      for (size_t s = 0; s < kSlots; ++s)
        me.slots[s] = malloc_touched(me.initial[s]);
      return;
    }
    const size_t steps = kStepsPerIteration / static_cast<size_t>(t_);
    size_t cursor = me.cursor;
    for (size_t n = 0; n < steps; ++n) {
      const Step& s = me.script[cursor++ & (kScript - 1)];
      void* old = me.slots[s.slot];
      me.slots[s.slot] = malloc_touched(s.size);
      if (s.dest == i) {
        std::free(old);
      } else {
        Outbox& o = me.out[s.dest];
        o.blocks[o.n++] = old;
        if (o.n == kOutBatch) flush(crew, i, s.dest);
      }
      if ((n & (kDrainEvery - 1)) == kDrainEvery - 1) drain(crew, i);
    }
    me.cursor = cursor;
    for (int d = 0; d < t_; ++d) flush(crew, i, d);
    drain(crew, i);
  }

  bool idle_pending(int i) override { return inbound_pending(i); }
  void idle(Crew& crew, int i) override { drain(crew, i); }

  void finish(Crew& crew, int i) override {
    for (void*& p : lane(i).slots) {
      std::free(p);
      p = nullptr;
    }
    drain(crew, i);
  }

 private:
  struct Outbox {
    void* blocks[kOutBatch];
    size_t n = 0;
  };
  struct alignas(64) Lane {
    std::vector<Step> script;
    std::vector<size_t> initial;  // sizes of the first fill
    std::vector<void*> slots;
    std::vector<Outbox> out;  // by destination thread
    size_t cursor = 0;
  };

  Lane& lane(int i) { return lanes_[static_cast<size_t>(i)]; }
  BulkRing& ring(int from, int to) {
    return rings_[static_cast<size_t>(from * t_ + to)];
  }

  bool inbound_pending(int i) {
    for (int src = 0; src < t_; ++src)
      if (src != i && ring(src, i).pending()) return true;
    return false;
  }

  void drain(Crew& crew, int i) {
    void* got[64];
    for (int src = 0; src < t_; ++src) {
      if (src == i) continue;
      BulkRing& r = ring(src, i);
      bool popped = false;
      while (size_t n = r.pop(got, 64)) {
        popped = true;
        for (size_t k = 0; k < n; ++k) std::free(got[k]);
      }
      if (popped) crew.bell(src).ring();
    }
  }

  // A sender whose queue is full frees its own inbound blocks while it
  // waits, and sleeps only when it has none: so every thread that blocks
  // another is draining or about to, and the threads cannot deadlock.
  void flush(Crew& crew, int i, int d) {
    Outbox& o = lane(i).out[static_cast<size_t>(d)];
    if (!o.n) return;
    BulkRing& r = ring(i, d);
    while (r.space() < o.n) {
      drain(crew, i);
      if (r.space() >= o.n) break;
      crew.bell(i).wait([&] { return r.space() >= o.n || inbound_pending(i); });
    }
    r.push(o.blocks, o.n);
    o.n = 0;
    crew.bell(d).ring();
  }

  const int t_;
  std::vector<Lane> lanes_;
  std::unique_ptr<BulkRing[]> rings_;
  bool filling_ = false;  // written by the main thread between runs
};

void xlife(benchmark::State& st, int threads) {
  LifeJob job(threads);
  Crew crew(threads, job);
  job.set_filling(true);
  crew.run();
  job.set_filling(false);
  UsageProbe probe;
  probe.start();
  for (auto _ : st) crew.run();
  // One item = one step: a block allocated and one dying (freed here or
  // handed to another thread).
  const int64_t items =
      st.iterations() * static_cast<int64_t>(job.steps_per_iteration());
  probe.finish(st, items);
  st.SetItemsProcessed(items);
}

}  // namespace

void register_xlife() {
  for (int t : {2, 4, 8})
    benchmark::RegisterBenchmark(("xlife/" + std::to_string(t)).c_str(), xlife,
                                 t)
        ->UseRealTime();
}

}  // namespace qb
