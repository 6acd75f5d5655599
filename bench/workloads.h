// One registration function per workload family. main() calls them in a
// fixed order so `--benchmark_list_tests` is stable, and so the comparison
// runner (bench/compare) can group benchmarks by the family prefix of their
// names ("pair/", "batch/", ...), running each family as its own process.
#pragma once

namespace qb {

void register_fastpath();      // pair/    malloc+free and new+delete, one size
void register_batch();         // batch/   N blocks, freed LIFO / FIFO / random
void register_realloc();       // realloc/ growth by doubling and by 16 bytes
void register_prodcons();      // prodcons/ one thread allocates, another frees
void register_churn();         // churn/   independent per-thread churn
void register_larson();        // larson/  shared pool, blocks die elsewhere
void register_fragmentation(); // frag/    KV-store churn, RSS counters
void register_large();         // calloc/, aligned/
void register_huge();          // huge/    5-25 MiB blocks, every page touched
void register_xbatch();        // xbatch/  batches passed round a thread ring
void register_xprodcons();     // xprodcons/ P allocating, C freeing threads
void register_xlife();         // xlife/   random lifetimes, half freed remotely
void register_xshuffle();      // xshuffle/ a batch freed in a new order

}  // namespace qb
