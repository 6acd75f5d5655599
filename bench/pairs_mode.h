// `quarry-bench --pairs SIZE|LOOP COUNT`: the instruction-count mode used by
// `bench/compare --callgrind`. See pairs_mode.cc.
#pragma once

namespace qb {

// Returns the process exit status.
int run_pairs_mode(int argc, char** argv);

}  // namespace qb

// The loop callgrind counts (--toggle-collect=quarry_bench_pairs). C linkage
// so the symbol name is the same on every compiler.
extern "C" void quarry_bench_pairs(unsigned long kind, unsigned long size, unsigned long count);
