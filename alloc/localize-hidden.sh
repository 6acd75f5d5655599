#!/bin/sh
# Usage: localize-hidden.sh in.a out.a
# Links every object of in.a into one relocatable object, turns its hidden
# symbols into local ones, and archives it as out.a: an embedding program
# then links against quarry_* alone, with no internal name to collide with.
set -eu
in=$1
out=$2
tmp="$out.tmp.o"
ld -r --whole-archive "$in" -o "$tmp"
objcopy --localize-hidden "$tmp"
rm -f "$out"
ar rcs "$out" "$tmp"
rm -f "$tmp"
