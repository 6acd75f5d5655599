// quarry-bench entry point.
//
// The binary is linked against the ordinary system malloc; the allocator
// being measured is whichever one is LD_PRELOADed. One binary for all
// allocators means identical code, identical compiler decisions and
// identical benchmark-library overhead in every column of the comparison.
//
// Modes:
//   quarry-bench [--benchmark_* flags]   Google Benchmark workloads
//     --report-peak-rss                  also print this process's peak RSS
//                                        to stderr at exit (for bench/compare)
//     --syscall-markers                  mark each timed loop's start and end
//                                        for an strace log (see usage.cc)
//   quarry-bench --pairs SIZE COUNT      fixed-length loop for callgrind
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common.h"
#include "pairs_mode.h"
#include "usage.h"
#include "workloads.h"

namespace {

// Name the shared object that actually provides malloc in this process, and
// record it in the benchmark context. The runner checks it, so a typo in a
// preload path (which the dynamic loader only warns about) cannot silently
// turn a "jemalloc" column into a second glibc column.
std::string malloc_provider() {
  Dl_info info;
  void* (*fn)(size_t) = &std::malloc;
  if (dladdr(reinterpret_cast<void*>(fn), &info) && info.dli_fname)
    return info.dli_fname;
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--pairs") == 0)
    return qb::run_pairs_mode(argc, argv);

  qb::register_fastpath();
  qb::register_batch();
  qb::register_realloc();
  qb::register_prodcons();
  qb::register_churn();
  qb::register_larson();
  qb::register_fragmentation();
  qb::register_large();
  qb::register_huge();
  qb::register_xbatch();
  qb::register_xprodcons();
  qb::register_xlife();
  qb::register_xshuffle();

  benchmark::AddCustomContext("malloc_provider", malloc_provider());
  const char* preload = std::getenv("LD_PRELOAD");
  benchmark::AddCustomContext("ld_preload", preload ? preload : "");

  // Our own flags, removed before the benchmark library sees (and rejects)
  // them.
  bool report_peak_rss = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--report-peak-rss") == 0)
      report_peak_rss = true;
    else if (std::strcmp(argv[i], "--syscall-markers") == 0)
      qb::set_syscall_markers(true);
    else
      continue;
    for (int j = i; j < argc; ++j) argv[j] = argv[j + 1];
    --argc;
    --i;
  }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (report_peak_rss)
    std::fprintf(stderr, "quarry-bench: peak_rss_bytes=%zu\n",
                 qb::process_peak_rss());
  return 0;
}
