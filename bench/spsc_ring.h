// A bounded single-producer/single-consumer ring of pointers, used to hand
// blocks from the allocating thread to the freeing thread in the
// producer/consumer workload. It is lock-free and allocation-free so that the
// only allocator traffic in that workload is the blocks themselves.
#pragma once

#include <atomic>
#include <cstddef>
#include <thread>

namespace qb {

class SpscRing {
 public:
  static constexpr size_t kCapacity = 1024;  // power of two

  // Only valid while neither side is running (between benchmark runs).
  void reset() {
    head_.store(0, std::memory_order_relaxed);
    tail_.store(0, std::memory_order_relaxed);
    cached_head_ = 0;
    cached_tail_ = 0;
  }

  // Producer side. Returns false when full.
  bool push(void* p) {
    size_t t = tail_.load(std::memory_order_relaxed);
    if (t - cached_head_ == kCapacity) {
      // Only re-read the consumer's index when our cached copy says full:
      // keeps the shared cache line from bouncing on every push.
      cached_head_ = head_.load(std::memory_order_acquire);
      if (t - cached_head_ == kCapacity) return false;
    }
    slots_[t & (kCapacity - 1)] = p;
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // Consumer side. Returns false when empty.
  bool pop(void*& p) {
    size_t h = head_.load(std::memory_order_relaxed);
    if (h == cached_tail_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (h == cached_tail_) return false;
    }
    p = slots_[h & (kCapacity - 1)];
    head_.store(h + 1, std::memory_order_release);
    return true;
  }

 private:
  // Each index and each side's private cache on its own cache line.
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) size_t cached_tail_ = 0;  // consumer-private
  alignas(64) std::atomic<size_t> tail_{0};
  alignas(64) size_t cached_head_ = 0;  // producer-private
  alignas(64) void* slots_[kCapacity] = {};
};

// Spin briefly, then yield: on a 2-core machine a pure spin would steal the
// core the other side needs whenever anything else (the benchmark's own main
// thread, the kernel) wants to run.
class Backoff {
 public:
  void pause() {
    if (++spins_ < 64) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
  void reset() { spins_ = 0; }

 private:
  unsigned spins_ = 0;
};

}  // namespace qb
