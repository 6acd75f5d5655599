// Process-wide resource use of one benchmark's timed loop, reported as
// Google Benchmark user counters so that bench/compare can show CPU time,
// page faults and peak RSS next to wall time.
//
// Why process-wide (getrusage RUSAGE_SELF) and not the benchmark library's
// own cpu_time: the cross-thread workloads do their work on threads the
// library does not know about, and an allocator can move work onto helper
// threads (background purging) that only a process-wide count sees.
//
// Counters (all per operation, an "operation" being the unit the benchmark
// passes to finish(), so they compare directly with wall time per op):
//   cpu_ns_op    user + system CPU time, ns
//   sys_ns_op    system CPU time alone, ns (page faults, madvise, mmap)
//   minflt_kop   minor page faults per 1000 operations
//   majflt_kop   major page faults per 1000 operations
//   rss_hwm      highest RSS during the timed loop, bytes (VmHWM, reset at
//                start(); absent when the kernel does not allow the reset)
#pragma once

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstddef>
#include <cstdint>

namespace qb {

class UsageProbe {
 public:
  // Call right before the timed loop (`for (auto _ : st)`).
  void start();
  // Call right after it, with the number of operations the loop performed.
  void finish(benchmark::State& st, int64_t ops);

 private:
  struct rusage before_ {};
  bool hwm_reset_ = false;
};

// Whether start()/finish() write the marker lines bench/compare's syscall
// pass looks for in an strace log (set once by main from a flag).
void set_syscall_markers(bool on);

// Peak RSS of the whole process so far in bytes, including the peaks that
// UsageProbe::start() reset away; 0 if unknown. bench/compare reads this
// rather than wait4()'s ru_maxrss because Linux carries that high-water
// mark across execve: a child of a 20 MiB Python runner would report at
// least 20 MiB whatever it did itself.
size_t process_peak_rss();

}  // namespace qb
