#!/bin/bash
# gcc (driver, cc1, as, collect2, ld, and lto1 for -flto) compiling
# gcc_input.c with and without quarry preloaded: the generated assembly
# must be identical, and the programs linked in each run must print the
# same thing.
#   run_gcc.sh <interposer.so> <probe.so> <gcc or ''> <gcc_input.c>
. "$(dirname "$0")/common.sh"
init "$1" "$2"
require_tool "$3" gcc
GCC=$3
SRC=$(abspath "$4")
# -frandom-seed: gcc otherwise mixes a random number into some symbol
# names; the two runs must be able to agree.
# Each run has its own working directory, which -g records; map both to
# the same name.
FLAGS=(-O2 -frandom-seed=quarry -Wall)
for mode in plain preload; do
    for tag in gcc_asm gcc_link gcc_lto; do
        FLAGS+=("-ffile-prefix-map=$WORK/$tag.$mode=/build")
    done
done

compare_runs gcc_asm '*/cc1' /dev/null "$GCC" "${FLAGS[@]}" -g -S "$SRC" -o out.s
same_files "gcc: generated assembly" "$WORK/gcc_asm.plain/out.s" \
    "$WORK/gcc_asm.preload/out.s"
echo "gcc_asm: identical assembly ($(wc -l <"$WORK/gcc_asm.plain/out.s") lines)"

compare_runs gcc_link '*-ld*' /dev/null "$GCC" "${FLAGS[@]}" "$SRC" -o prog
compare_runs gcc_lto '*/lto1' /dev/null "$GCC" "${FLAGS[@]}" -flto "$SRC" -o prog

# The compiled programs run without any preload: only the compiler was
# under test.
for tag in gcc_link gcc_lto; do
    "$WORK/$tag.plain/prog" >"$WORK/$tag.prog.plain" ||
        fail "$tag: the program compiled plainly failed"
    "$WORK/$tag.preload/prog" >"$WORK/$tag.prog.preload" ||
        fail "$tag: the program compiled under quarry failed"
    same_files "$tag: program output" "$WORK/$tag.prog.plain" "$WORK/$tag.prog.preload"
    cmp -s "$WORK/$tag.plain/prog" "$WORK/$tag.preload/prog" ||
        echo "note: $tag: binaries differ (ok; their behaviour matched)"
done
cat "$WORK/gcc_link.prog.plain"
