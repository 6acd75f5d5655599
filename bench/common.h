// Helpers shared by every quarry-bench workload.
//
// The binary is linked against the plain system malloc and measures whichever
// allocator is LD_PRELOADed, so nothing in here may call into quarry directly.
// Every random choice comes from a fixed seed: two runs under two allocators
// must ask for exactly the same sequence of sizes, or the comparison is void.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qb {

// splitmix64: tiny, fast, good enough statistically for picking sizes and
// slots, and — unlike std::mt19937 + std::uniform_int_distribution — its
// output is fully specified, so sequences are identical across standard
// libraries and therefore across machines.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n). The modulo bias is irrelevant at our n (< 2^32).
  uint64_t below(uint64_t n) { return next() % n; }

  // Uniform in [lo, hi].
  size_t between(size_t lo, size_t hi) { return lo + below(hi - lo + 1); }

 private:
  uint64_t state_;
};

// Seeds are named so a reader can tell that two workloads deliberately share
// (or do not share) a size stream.
constexpr uint64_t kSeedSizes = 0x5eed0001;
constexpr uint64_t kSeedOrder = 0x5eed0002;
constexpr uint64_t kSeedThreads = 0x5eed0003;
constexpr uint64_t kSeedFrag = 0x5eed0004;
constexpr uint64_t kSeedHuge = 0x5eed0005;

// Sizes in [lo, hi] where each power-of-two band is equally likely, so small
// requests dominate the way they do in real programs (a uniform pick over
// 16..1024 would make almost every request a large small one).
size_t log_uniform_size(Rng& rng, size_t lo, size_t hi);

// "Mixed small sizes" as used by the batch and multi-threaded workloads:
// log-uniform over 8..1024 bytes.
size_t mixed_small_size(Rng& rng);

// A fixed table of n sizes from mixed_small_size, precomputed outside the
// timed loop so the RNG does not show up in the measurement.
std::vector<size_t> mixed_small_sizes(size_t n, uint64_t seed);

// n sizes from log_uniform_size(lo, hi) under `seed`, precomputed outside
// the timed loop.
std::vector<size_t> log_uniform_sizes(size_t n, size_t lo, size_t hi,
                                      uint64_t seed);

// A permutation of [0, n) from `seed` (Fisher-Yates with our Rng: the
// algorithm behind std::shuffle is unspecified, so its order could differ
// between standard libraries).
std::vector<uint32_t> shuffled_indices(size_t n, uint64_t seed);

// Touch one byte in every page of [p, p+size): forces the kernel to back the
// block so allocators that hand out untouched mmap memory pay the same page
// faults as those that recycle.
void touch_pages(void* p, size_t size);

// malloc, then touch_pages: the cross-thread workloads write every page of
// every block so that an allocator that hands out untouched memory pays its
// page faults inside the measurement, as a real program would.
void* malloc_touched(size_t size);

// Current resident set size of this process in bytes, from /proc/self/statm.
size_t current_rss_bytes();

// Page size, cached.
size_t page_size();

// Human-readable size for benchmark names: 4096 -> "4K", 1 MiB -> "1M".
std::string size_label(size_t bytes);

// Write one byte so the compiler cannot drop a malloc/free pair as dead
// (GCC removes `free(malloc(n))` without it) and so the block is really used.
inline void use_block(void* p) {
  benchmark::DoNotOptimize(p);
  if (p) *static_cast<volatile char*>(p) = 1;
  benchmark::ClobberMemory();
}

}  // namespace qb
