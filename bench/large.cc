// Workload 8: calloc of large zeroed blocks, and aligned allocation.
//
// calloc: an allocator that recycles memory must zero it, one that maps
// fresh pages gets zeroes from the kernel but pays page faults; touching one
// byte per page makes both pay for what the program will use, so neither
// strategy gets a free lunch from an untouched block.
//
// aligned: aligned_alloc and posix_memalign at 64 B .. 2 MiB. Small
// alignments should be free (size classes are naturally aligned); large
// ones force the allocator to over-allocate and trim, or to find an
// aligned run/chunk.
#include <cstdlib>

#include "common.h"
#include "usage.h"
#include "workloads.h"

namespace qb {
namespace {

void calloc_touch(benchmark::State& st, size_t size) {
  UsageProbe probe;
  probe.start();
  for (auto _ : st) {
    void* p = std::calloc(1, size);
    if (!p) {
      st.SkipWithError("calloc returned NULL");
      break;
    }
    touch_pages(p, size);
    std::free(p);
  }
  probe.finish(st, st.iterations());
  st.SetItemsProcessed(st.iterations());
  st.SetBytesProcessed(st.iterations() * static_cast<int64_t>(size));
}

enum class AlignApi { kAlignedAlloc, kPosixMemalign };

// The block is as large as its alignment (at least 64 bytes): a cache-line
// object at 64, a page at 4 KiB, a huge page at 2 MiB — the sizes programs
// actually request at those alignments.
void aligned(benchmark::State& st, AlignApi api, size_t align) {
  const size_t size = align < 64 ? 64 : align;
  UsageProbe probe;
  probe.start();
  for (auto _ : st) {
    void* p = nullptr;
    if (api == AlignApi::kAlignedAlloc) {
      p = std::aligned_alloc(align, size);
    } else if (posix_memalign(&p, align, size) != 0) {
      p = nullptr;
    }
    if (!p || (reinterpret_cast<uintptr_t>(p) & (align - 1)) != 0) {
      st.SkipWithError("aligned allocation failed or misaligned");
      std::free(p);
      break;
    }
    use_block(p);
    std::free(p);
  }
  probe.finish(st, st.iterations());
  st.SetItemsProcessed(st.iterations());
}

}  // namespace

void register_large() {
  for (size_t s : {size_t{64} << 10, size_t{1} << 20, size_t{8} << 20})
    benchmark::RegisterBenchmark(("calloc/touch/" + size_label(s)).c_str(),
                                 calloc_touch, s);
  const size_t aligns[] = {64,       256,      4096,
                           16 << 10, 64 << 10, 2 << 20};
  for (size_t a : aligns)
    benchmark::RegisterBenchmark(("aligned/aligned_alloc/" + size_label(a)).c_str(),
                                 aligned, AlignApi::kAlignedAlloc, a);
  for (size_t a : aligns)
    benchmark::RegisterBenchmark(("aligned/posix_memalign/" + size_label(a)).c_str(),
                                 aligned, AlignApi::kPosixMemalign, a);
}

}  // namespace qb
