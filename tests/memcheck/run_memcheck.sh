#!/bin/sh
# run_memcheck.sh <valgrind> <bugs program> <mode> <expected text or "">
# Runs one mode of bugs.c under memcheck and checks that the report names
# the bug (or, for "", that there is no error at all).
set -u
valgrind=$1 prog=$2 mode=$3 expect=$4
[ -x "$valgrind" ] || exit 77
out=$("$valgrind" --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=42 "$prog" "$mode" 2>&1)
rc=$?
if [ -z "$expect" ]; then
  if [ $rc -ne 0 ]; then
    echo "$out"
    echo "FAIL: $mode: memcheck reported errors (exit $rc)"
    exit 1
  fi
  exit 0
fi
# memcheck's exit code (42), or quarry's abort after memcheck's report.
if [ $rc -eq 0 ] || ! printf '%s\n' "$out" | grep -qF "$expect"; then
  echo "$out"
  echo "FAIL: $mode: expected memcheck to report \"$expect\" (exit $rc)"
  exit 1
fi
exit 0
