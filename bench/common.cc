// Implementation of the shared helpers declared in common.h.
#include "common.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace qb {

size_t log_uniform_size(Rng& rng, size_t lo, size_t hi) {
  // Pick a power-of-two band [2^k, 2^(k+1)) that intersects [lo, hi], then a
  // uniform size inside the band clipped to [lo, hi].
  unsigned lo_bit = 63 - __builtin_clzll(lo);
  unsigned hi_bit = 63 - __builtin_clzll(hi);
  unsigned bit = lo_bit + static_cast<unsigned>(rng.below(hi_bit - lo_bit + 1));
  size_t band_lo = size_t{1} << bit;
  size_t band_hi = (band_lo << 1) - 1;
  if (band_lo < lo) band_lo = lo;
  if (band_hi > hi) band_hi = hi;
  return rng.between(band_lo, band_hi);
}

size_t mixed_small_size(Rng& rng) { return log_uniform_size(rng, 8, 1024); }

std::vector<size_t> mixed_small_sizes(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<size_t> sizes(n);
  for (auto& s : sizes) s = mixed_small_size(rng);
  return sizes;
}

std::vector<size_t> log_uniform_sizes(size_t n, size_t lo, size_t hi,
                                      uint64_t seed) {
  Rng rng(seed);
  std::vector<size_t> sizes(n);
  for (auto& s : sizes) s = log_uniform_size(rng, lo, hi);
  return sizes;
}

std::vector<uint32_t> shuffled_indices(size_t n, uint64_t seed) {
  std::vector<uint32_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = static_cast<uint32_t>(i);
  Rng rng(seed);
  for (size_t i = n; i > 1; --i) std::swap(idx[i - 1], idx[rng.below(i)]);
  return idx;
}

size_t page_size() {
  static const size_t ps = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return ps;
}

void touch_pages(void* p, size_t size) {
  volatile char* c = static_cast<volatile char*>(p);
  const size_t ps = page_size();
  for (size_t off = 0; off < size; off += ps) c[off] = 1;
  if (size) c[size - 1] = 1;
  benchmark::ClobberMemory();
}

void* malloc_touched(size_t size) {
  void* p = std::malloc(size);
  if (p) touch_pages(p, size);
  return p;
}

size_t current_rss_bytes() {
  // statm is "size resident shared text lib data dt" in pages. fopen would
  // allocate its FILE through the allocator under test in the middle of a
  // measurement; read(2) into a stack buffer keeps the probe invisible.
  char buf[128];
  int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long size_pages = 0, rss_pages = 0;
  if (std::sscanf(buf, "%llu %llu", &size_pages, &rss_pages) != 2) return 0;
  return static_cast<size_t>(rss_pages) * page_size();
}

std::string size_label(size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
    return std::to_string(bytes >> 20) + "M";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + "K";
  return std::to_string(bytes);
}

}  // namespace qb
