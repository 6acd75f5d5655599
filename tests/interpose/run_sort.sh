#!/bin/bash
# sort(1) on a few hundred thousand generated lines, in three ways that
# allocate differently: a small buffer forcing temporary files and merges
# with two threads, a numeric key sort, and a unique sort under a UTF-8
# locale (strcoll/strxfrm). Outputs must be byte-identical.
#   run_sort.sh <interposer.so> <probe.so> <sort or ''>
. "$(dirname "$0")/common.sh"
init "$1" "$2"
require_tool "$3" sort
SORT=$3

# Deterministic input: a Park-Miller generator in awk (integer products
# stay below 2^53, so any awk computes the same stream).
awk 'BEGIN {
    x = 12345; m = 2147483647
    for (i = 0; i < 300000; i++) {
        x = (x * 16807) % m; a = x
        x = (x * 16807) % m; b = x
        word = ""
        n = 1 + a % 14
        for (j = 0; j < n; j++) {
            word = word sprintf("%c", 97 + (a + j * b) % 26)
            a = int(a / 3) + j
        }
        printf "%s,%d,%s%d\n", word, b % 100000, (b % 7 == 0 ? "Z" : "y"), i % 977
    }
}' >"$WORK/input.txt" || fail "generating input failed"

compare_runs sort_merge '*/sort' /dev/null \
    "$SORT" -S 1M --parallel=2 -T "$WORK" "$WORK/input.txt"
compare_runs sort_numeric '*/sort' /dev/null \
    "$SORT" -t, -k2,2n -k1,1r -s "$WORK/input.txt"
LC_ALL=C.UTF-8 compare_runs sort_unique '*/sort' /dev/null \
    "$SORT" -u -f -t, -k1,1 "$WORK/input.txt"
