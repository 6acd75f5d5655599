#!/bin/sh
# run_preloaded.sh <valgrind> <libquarry.so> <preloaded program> <usable> [valgrind options...]
# Under LD_PRELOAD, memcheck replaces malloc with its own unless told not
# to; this checks whose malloc the program got (by the usable size of a
# 100-byte block) and that the read after free is reported either way.
set -u
valgrind=$1 lib=$2 prog=$3 usable=$4
shift 4
[ -x "$valgrind" ] || exit 77
out=$(LD_PRELOAD=$lib "$valgrind" --error-exitcode=42 "$@" "$prog" 2>&1)
rc=$?
if ! printf '%s\n' "$out" | grep -q "^usable $usable\$" || [ $rc -ne 42 ] ||
   ! printf '%s\n' "$out" | grep -qF "Invalid read of size 1"; then
  echo "$out"
  echo "FAIL: expected usable $usable and a reported read after free (exit $rc)"
  exit 1
fi
exit 0
