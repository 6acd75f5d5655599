// Workload 7: fragmentation under key-value-store-like churn.
//
// The store is filled with values of one size mix, then a random half is
// deleted and the store refilled with values of a *different* mix — the
// holes left by the first mix are the wrong size for the second, which is
// exactly how long-running caches fragment. A few such generations are run.
//
// Reported counters (bytes): rss_start, rss_peak (max RSS seen while
// churning), rss_end (RSS with the final live set still allocated),
// live_bytes (bytes the program actually holds at the end, as requested) and
// rss_after_free (RSS once everything is freed: what the allocator keeps).
// rss_end / live_bytes is the fragmentation overhead.
//
// With QB_SNAPSHOT_DIR set, the moment rss_end is sampled is also written
// out by the allocator, if it offers quarry's control names: the memory
// doctor's text to <dir>/<workload>-doctor.txt and the heap map to
// <dir>/<workload>-heap.svg ('/' in the name becomes '-'), then the same
// after a purge. docs/doctor.md shows such a snapshot. Under any other
// allocator nothing is written. The snapshot is off the clock, but not out
// of the run's other counters (page faults, CPU time, rss_after_free): a
// snapshot run is for the pictures, not for the figures.
#include <dlfcn.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "common.h"
#include "usage.h"
#include "workloads.h"

namespace qb {
namespace {

constexpr size_t kLiveTarget = size_t{64} << 20;
constexpr size_t kRssSampleEvery = 4096;  // operations between RSS samples

struct SizeMix {
  size_t lo, hi;
};

struct Variant {
  const char* name;
  SizeMix first, second;  // alternate between these generation by generation
};

const Variant kVariants[] = {
    // Small values that grow: holes of 16..256 bytes cannot hold 257..1024.
    {"frag/kv_small", {16, 256}, {257, 1024}},
    // A wider spread reaching into page-run (large) classes.
    {"frag/kv_mixed", {16, 2048}, {2049, 32768}},
};

struct Entry {
  void* p;
  size_t size;
};

// The store's own index lives in anonymous mmap memory, not in the heap
// under test: its footprint is then identical for every allocator and does
// not mix with (or fill the holes of) the blocks we are measuring.
template <typename T>
T* map_array(size_t n) {
  void* p = mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<T*>(p);
}

struct Store {
  Entry* entries = nullptr;
  size_t count = 0;
  size_t capacity = 0;
  size_t live_bytes = 0;
  size_t rss_peak = 0;
  int64_t ops = 0;

  void sample_rss() {
    size_t rss = current_rss_bytes();
    if (rss > rss_peak) rss_peak = rss;
  }
  void tick() {
    if (++ops % kRssSampleEvery == 0) sample_rss();
  }

  bool fill(Rng& rng, SizeMix mix) {
    while (live_bytes < kLiveTarget) {
      if (count == capacity) return false;
      size_t size = log_uniform_size(rng, mix.lo, mix.hi);
      void* p = std::malloc(size);
      if (!p) return false;
      // Values are written in full: a KV store stores data, and a block
      // that is never written would not count towards RSS at all.
      std::memset(p, 0x5a, size);
      entries[count++] = Entry{p, size};
      live_bytes += size;
      tick();
    }
    sample_rss();
    return true;
  }

  // Delete a uniformly random half of the entries (partial Fisher-Yates:
  // the first half of a random permutation goes).
  void delete_half(Rng& rng) {
    size_t to_delete = count / 2;
    for (size_t i = 0; i < to_delete; ++i) {
      size_t j = i + rng.below(count - i);
      Entry victim = entries[j];
      entries[j] = entries[i];
      entries[i] = victim;
      std::free(victim.p);
      live_bytes -= victim.size;
      tick();
    }
    // Compact: survivors move down over the freed prefix.
    std::memmove(entries, entries + to_delete,
                 (count - to_delete) * sizeof(Entry));
    count -= to_delete;
    sample_rss();
  }

  void free_all() {
    for (size_t i = 0; i < count; ++i) std::free(entries[i].p);
    count = 0;
    live_bytes = 0;
  }
};

// jemalloc's mallctl signature, which quarry exports under the same name.
using MallctlFn = int (*)(const char*, void*, size_t*, void*, size_t);

// Writes the doctor's text to <dir>/<name>-doctor.txt and the heap map to
// <dir>/<name>-heap.svg; false when the allocator does not know the names.
// Both are built in quarry's fixed buffers and written with write(2), so
// they allocate nothing from the heap they describe; the paths here live on
// the stack for the same reason.
bool write_snapshot(MallctlFn mallctl, const char* dir, const char* name) {
  const struct {
    const char* ctl;
    const char* suffix;
  } outputs[] = {{"quarry.doctor", "doctor.txt"}, {"quarry.heapmap", "heap.svg"}};
  for (const auto& out : outputs) {
    char path[1024];
    std::snprintf(path, sizeof(path), "%s/%s-%s", dir, name, out.suffix);
    // The value is the path itself (a const char *), passed by address.
    const char* value = path;
    int err = mallctl(out.ctl, nullptr, nullptr, &value, sizeof(value));
    if (err == ENOENT) return false;  // another allocator's mallctl
    if (err != 0)
      std::fprintf(stderr, "quarry-bench: %s %s: error %d\n", out.ctl, path,
                   err);
  }
  return true;
}

// The snapshot of QB_SNAPSHOT_DIR (see the top of the file). The binary is
// not linked with quarry (see meson.build), so mallctl is looked up at run
// time: glibc, mimalloc and tcmalloc have none, jemalloc's answers ENOENT
// for "quarry.*", and then nothing is written. Under quarry a second pair,
// <workload>-purged-*, follows a purge of every arena (what the doctor's
// "quarry_purge() would return" line offers), to show what a purge does
// and does not give back; the run's rss_after_free then follows that purge.
void snapshot(const char* dir, const char* workload) {
  auto mallctl = reinterpret_cast<MallctlFn>(dlsym(RTLD_DEFAULT, "mallctl"));
  if (!mallctl) return;
  char name[64];
  std::snprintf(name, sizeof(name), "%s", workload);
  for (char* c = name; *c; ++c)
    if (*c == '/') *c = '-';
  if (!write_snapshot(mallctl, dir, name)) return;
  // 4096 is MALLCTL_ARENAS_ALL, for quarry as for jemalloc.
  if (mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0) != 0) return;
  char purged[80];
  std::snprintf(purged, sizeof(purged), "%s-purged", name);
  write_snapshot(mallctl, dir, purged);
}

void fragmentation(benchmark::State& st, const Variant& v) {
  // Read once, outside the timed loop: without it the loop only pays a
  // predictable branch.
  const char* snapshot_dir = std::getenv("QB_SNAPSHOT_DIR");
  // Upper bound on live entries: the target divided by the smallest size,
  // plus the overshoot of one fill. NORESERVE: only touched pages count.
  const size_t capacity = kLiveTarget / 16 + 1024;
  Entry* entries = map_array<Entry>(capacity);
  if (!entries) {
    st.SkipWithError("mmap for the store index failed");
    return;
  }
  size_t rss_start = 0, rss_peak = 0, rss_end = 0, live_end = 0,
         rss_after = 0;
  int64_t ops = 0;
  UsageProbe probe;
  probe.start();
  for (auto _ : st) {
    Store s;
    s.entries = entries;
    s.capacity = capacity;
    Rng rng(kSeedFrag);
    rss_start = current_rss_bytes();
    bool ok = s.fill(rng, v.first);
    // Three generations: each deletes a random half and refills with the
    // other mix, so both mixes end up interleaved across the heap.
    const SizeMix generations[] = {v.second, v.first, v.second};
    for (const SizeMix& mix : generations) {
      if (!ok) break;
      s.delete_half(rng);
      ok = s.fill(rng, mix);
    }
    if (!ok) {
      s.free_all();
      st.SkipWithError("store overflow or malloc returned NULL");
      break;
    }
    rss_end = current_rss_bytes();
    live_end = s.live_bytes;
    if (snapshot_dir) {
      // Writing megabytes of SVG is not the workload: keep it off the clock.
      st.PauseTiming();
      snapshot(snapshot_dir, v.name);
      st.ResumeTiming();
    }
    s.free_all();
    rss_after = current_rss_bytes();
    rss_peak = s.rss_peak;
    ops += s.ops;
  }
  probe.finish(st, ops);
  munmap(entries, capacity * sizeof(Entry));
  st.SetItemsProcessed(ops);  // one item = one malloc or one free
  st.counters["rss_start"] = static_cast<double>(rss_start);
  st.counters["rss_peak"] = static_cast<double>(rss_peak);
  st.counters["rss_end"] = static_cast<double>(rss_end);
  st.counters["live_bytes"] = static_cast<double>(live_end);
  st.counters["rss_after_free"] = static_cast<double>(rss_after);
}

}  // namespace

void register_fragmentation() {
  // One iteration: the workload is long and its RSS figures describe a
  // single history; repeating it in-process would measure the allocator's
  // reuse of its own leftovers instead. The runner repeats by process.
  for (const Variant& v : kVariants)
    benchmark::RegisterBenchmark(v.name, fragmentation, std::cref(v))
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
}

}  // namespace qb
