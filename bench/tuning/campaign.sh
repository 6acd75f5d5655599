#!/bin/bash
# Runs the docs/tuning.md measurement campaign and appends one tagged line
# per run to $OUT (default /tmp/tuning-results.txt); summarize.py turns the
# file into the tables (medians). Configurations are run round-robin within
# each repeat, so that noise from the (shared) machine spreads over all of
# them instead of hitting one configuration's runs together.
#
# Usage: bench/tuning/campaign.sh [section...]   sections: return lg purge thp huge
# (meson builds the programs into build/bench/tuning; about 5 minutes in
# all on 2 cores)
# Env:   QUARRY_SO (default build/alloc/libquarry.so), BIN (dir of the
#        compiled programs, default build/bench/tuning), OUT, REPEATS (default 5).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
QUARRY_SO=${QUARRY_SO:-$ROOT/build/alloc/libquarry.so}
BIN=${BIN:-$ROOT/build/bench/tuning}
OUT=${OUT:-/tmp/tuning-results.txt}
REPEATS=${REPEATS:-5}
L=/usr/lib/x86_64-linux-gnu
declare -A SO=([quarry]=$QUARRY_SO [glibc]= [jemalloc]=$L/libjemalloc.so.2
               [mimalloc]=$L/libmimalloc.so.2 [tcmalloc]=$L/libtcmalloc_minimal.so.4)
OTHERS="glibc jemalloc mimalloc tcmalloc"

# run SECTION TAG ALLOCATOR QUARRY_CONF PROGRAM ARGS...
run() {
    local section=$1 tag=$2 alloc=$3 conf=$4; shift 4
    local out
    if [ -n "$conf" ]; then
        out=$(QUARRY_CONF=$conf LD_PRELOAD=${SO[$alloc]} "$BIN/$@" 2>&1)
    else
        out=$(env -u QUARRY_CONF LD_PRELOAD=${SO[$alloc]} "$BIN/$@" 2>&1)
    fi
    # Fold the program's continuation lines ("  quarry arena 0: ...") in.
    echo "section=$section tag=$tag $(echo "$out" | tr '\n' ' ')" >>"$OUT"
}

section_return() {
    for r in $(seq 3); do
        for size in 65536 1024; do
            run return "quarry" quarry "" return_after_free $size
            run return "quarry lg_dirty_mult:-1" quarry lg_dirty_mult:-1 return_after_free $size
            for a in $OTHERS; do run return "$a" $a "" return_after_free $size; done
        done
        run return "quarry random-order" quarry "" return_after_free 1024 1024 random
        run return "quarry lg_dirty_mult:-1 random-order" quarry lg_dirty_mult:-1 return_after_free 1024 1024 random
        run return "glibc random-order" glibc "" return_after_free 1024 1024 random
    done
}

section_lg() {
    for r in $(seq $REPEATS); do
        for lg in -1 0 1 2 3 4 5 6 7 8; do
            run lg_frag "lg_dirty_mult:$lg" quarry lg_dirty_mult:$lg frag_kv 256
            run lg_churn "lg_dirty_mult:$lg" quarry lg_dirty_mult:$lg churn_ring 500000
        done
        for a in $OTHERS; do
            run lg_frag "$a" $a "" frag_kv 256
            run lg_churn "$a" $a "" churn_ring 500000
        done
    done
}

section_purge() {
    for r in $(seq $REPEATS); do
        for p in dontneed free; do
            for t in true false; do
                run purge "purge:$p,retain:$t" quarry purge:$p,retain:$t fill_empty 50 64
            done
        done
        for a in $OTHERS; do run purge "$a" $a "" fill_empty 50 64; done
    done
}

section_thp() {
    for r in $(seq $REPEATS); do
        for t in default never always; do
            run thp_frag "thp:$t" quarry thp:$t frag_kv 256
            run thp_churn "thp:$t" quarry thp:$t churn_ring 500000
        done
    done
}

section_huge() {
    for r in $(seq $REPEATS); do
        for a in quarry $OTHERS; do
            run huge_touch "$a" $a "" huge_blocks touch 200
            run huge_pair "$a" $a "" huge_blocks pair 100000
        done
    done
}

sections=${*:-return lg purge thp huge}
for s in $sections; do
    echo "== $s $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    section_$s
done
