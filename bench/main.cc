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
//   quarry-bench --pairs SIZE COUNT      fixed-length loop for callgrind
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common.h"
#include "pairs_mode.h"
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

// Peak RSS of this process (VmHWM, in bytes), or 0 if unknown.
//
// Why not let the runner use wait4()'s ru_maxrss: Linux carries the
// high-water mark across execve, so a child forked from a 20 MiB Python
// runner reports at least 20 MiB whatever it did itself. VmHWM belongs to
// the address space created by exec, so it is this program's own peak.
size_t peak_rss_bytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  unsigned long long kib = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %llu kB", &kib) == 1) break;
  std::fclose(f);
  return static_cast<size_t>(kib) * 1024;
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

  benchmark::AddCustomContext("malloc_provider", malloc_provider());
  const char* preload = std::getenv("LD_PRELOAD");
  benchmark::AddCustomContext("ld_preload", preload ? preload : "");

  // Our own flag, removed before the benchmark library sees (and rejects) it.
  bool report_peak_rss = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--report-peak-rss") == 0) {
      report_peak_rss = true;
      for (int j = i; j < argc; ++j) argv[j] = argv[j + 1];
      --argc;
      --i;
    }
  }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (report_peak_rss)
    std::fprintf(stderr, "quarry-bench: peak_rss_bytes=%zu\n",
                 peak_rss_bytes());
  return 0;
}
