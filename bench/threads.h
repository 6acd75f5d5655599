// Thread counts for the scaling workloads: 1 and 2 show single-thread cost
// and the first step of scaling; 2 x nproc oversubscribes the machine so
// that threads are preempted while holding allocator state (and, on small
// machines, so there are more threads than arenas/caches would assume).
#pragma once

#include <thread>
#include <vector>

namespace qb {

inline std::vector<int> scaling_thread_counts(bool include_one) {
  int nproc = static_cast<int>(std::thread::hardware_concurrency());
  if (nproc < 1) nproc = 1;
  std::vector<int> counts;
  if (include_one) counts.push_back(1);
  counts.push_back(2);
  if (2 * nproc > 2) counts.push_back(2 * nproc);
  return counts;
}

}  // namespace qb
