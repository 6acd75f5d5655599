// Threads and hand-off primitives for the cross-thread workloads (xbatch,
// xprodcons, xlife).
//
// The machine these run on may have fewer cores than the workloads have
// threads (2 cores, 8 threads), and bench/compare reports CPU time next to
// wall time. So a thread that waits for another must neither spin for long
// (it would steal the core the other thread needs) nor yield in a loop
// (sched_yield returns at once when nothing else is runnable, so a yielding
// waiter burns CPU that would then be charged to the allocator). Waits here
// spin for a moment and then sleep on a futex.
//
// Nothing in this file allocates after construction: the only allocator
// traffic in a timed loop is the workload's own.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace qb {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// One per waiting thread. A thread sleeps on its own doorbell with a
// predicate; whoever changes something that predicate reads calls ring()
// after the change. ring() costs a fence and a load unless someone sleeps.
//
// Lost wake-ups are ruled out the Dekker way: the ringer makes its change,
// fences, then reads `sleepers_`; the waiter bumps `sleepers_`, fences, then
// reads `seq_` and re-checks the predicate. Either the ringer sees the
// sleeper (and bumps seq_, so the futex wait returns or is woken) or the
// sleeper sees the change.
class alignas(64) Doorbell {
 public:
  void ring() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_relaxed) == 0) return;
    seq_.fetch_add(1, std::memory_order_seq_cst);
    syscall(SYS_futex, futex_word(), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
  }

  template <class Ready>
  void wait(Ready ready) {
    // About a microsecond: long enough to catch a hand-off from a thread
    // that is running on the other core, short enough not to matter when
    // the other side is descheduled.
    for (int i = 0; i < 64; ++i) {
      if (ready()) return;
      cpu_relax();
    }
    for (;;) {
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      uint32_t seen = seq_.load(std::memory_order_seq_cst);
      if (ready()) {
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
      syscall(SYS_futex, futex_word(), FUTEX_WAIT_PRIVATE, seen, nullptr,
              nullptr, 0);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      if (ready()) return;
    }
  }

 private:
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t),
                "futex needs a plain 32-bit word");
  uint32_t* futex_word() { return reinterpret_cast<uint32_t*>(&seq_); }

  std::atomic<uint32_t> seq_{0};
  std::atomic<uint32_t> sleepers_{0};
};

// Bounded single-producer/single-consumer ring of block pointers with bulk
// push and pop. Indices only grow (64-bit, never wrap in practice), so the
// fill level is tail - head, and either side may ask pending() in a wait
// predicate. (A third thread could see head pass the tail it read first.)
class alignas(64) BulkRing {
 public:
  static constexpr size_t kCapacity = 1024;  // power of two

  size_t pending() const {
    return static_cast<size_t>(tail_.load(std::memory_order_acquire) -
                               head_.load(std::memory_order_acquire));
  }
  // Fewer slots than kCapacity; only before first use.
  void set_limit(size_t limit) {
    limit_ = limit < kCapacity ? limit : kCapacity;
  }

  // Producer side.
  size_t space() const { return limit_ - pending(); }

  // Producer side; n <= space().
  void push(void* const* blocks, size_t n) {
    uint64_t t = tail_.load(std::memory_order_relaxed);
    for (size_t i = 0; i < n; ++i)
      slots_[(t + i) & (kCapacity - 1)] = blocks[i];
    tail_.store(t + n, std::memory_order_release);
  }

  // Consumer side: moves up to max pointers out; returns how many.
  size_t pop(void** out, size_t max) {
    uint64_t h = head_.load(std::memory_order_relaxed);
    uint64_t t = tail_.load(std::memory_order_acquire);
    size_t n = static_cast<size_t>(t - h);
    if (n > max) n = max;
    for (size_t i = 0; i < n; ++i) out[i] = slots_[(h + i) & (kCapacity - 1)];
    head_.store(h + n, std::memory_order_release);
    return n;
  }

 private:
  size_t limit_ = kCapacity;
  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};
  alignas(64) void* slots_[kCapacity] = {};
};

// A fixed crew of worker threads that a benchmark's timed loop drives one
// round at a time: run() makes every worker call work(i) once and returns
// when all have finished. Threads live as long as the Crew, so thread
// creation (and the allocations it makes) stays outside the timed loop.
//
// Between rounds a worker keeps answering idle_pending()/idle(): a worker
// that finished early must still free blocks other workers hand it, or a
// worker blocked on a full queue to it would never finish.
class Crew {
 public:
  class Job {
   public:
    virtual ~Job() = default;
    virtual void work(Crew& crew, int worker) = 0;
    virtual bool idle_pending(int) { return false; }
    virtual void idle(Crew&, int) {}
    // After the last round, on the worker's own thread.
    virtual void finish(Crew&, int) {}
  };

  Crew(int n, Job& job) : n_(n), job_(job), bells_(new Doorbell[n]) {
    threads_.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) threads_.emplace_back([this, i] { loop(i); });
  }

  ~Crew() {
    stop_.store(true, std::memory_order_release);
    for (int i = 0; i < n_; ++i) bells_[i].ring();
    for (std::thread& t : threads_) t.join();
  }

  Crew(const Crew&) = delete;
  Crew& operator=(const Crew&) = delete;

  int size() const { return n_; }
  Doorbell& bell(int worker) { return bells_[worker]; }

  void run() {
    const uint32_t target =
        done_.load(std::memory_order_relaxed) + static_cast<uint32_t>(n_);
    generation_.fetch_add(1, std::memory_order_release);
    for (int i = 0; i < n_; ++i) bells_[i].ring();
    main_bell_.wait(
        [&] { return done_.load(std::memory_order_acquire) == target; });
  }

 private:
  void loop(int i) {
    uint32_t seen = 0;
    for (;;) {
      uint32_t gen = 0;
      bool stop = false;
      bells_[i].wait([&] {
        gen = generation_.load(std::memory_order_acquire);
        stop = stop_.load(std::memory_order_acquire);
        return gen != seen || stop || job_.idle_pending(i);
      });
      if (gen != seen) {
        seen = gen;
        job_.work(*this, i);
        done_.fetch_add(1, std::memory_order_acq_rel);
        main_bell_.ring();
      } else if (stop) {
        break;
      } else {
        job_.idle(*this, i);
      }
    }
    job_.finish(*this, i);
  }

  const int n_;
  Job& job_;
  std::unique_ptr<Doorbell[]> bells_;
  std::vector<std::thread> threads_;
  Doorbell main_bell_;
  alignas(64) std::atomic<uint32_t> generation_{0};
  alignas(64) std::atomic<uint32_t> done_{0};
  alignas(64) std::atomic<bool> stop_{false};
};

}  // namespace qb
