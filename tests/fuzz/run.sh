#!/bin/sh
# run.sh <fuzz_api> <seed corpus> <seconds> [artifact prefix] [libFuzzer options...]
#
# Fuzzes for the given time, starting from the seeds, in a scratch corpus
# (the committed seeds are never written to). Exits 0 when nothing failed,
# 1 on a crash, a failed check, a timeout or running out of memory, with
# the input that did it saved as <artifact prefix>crash-* (or timeout-*,
# oom-*); replay one with `fuzz_api <file>`, adding FUZZ_API_TRACE=1 to
# see every block made and freed. A longer run:
#     tests/fuzz/run.sh build-asan/tests/fuzz/fuzz_api tests/fuzz/corpus 1800
set -eu
fuzzer=$1 seeds=$2 seconds=$3
prefix=${4:-./}
[ $# -ge 4 ] && shift 4 || shift $#
work=$(mktemp -d "${TMPDIR:-/tmp}/quarry-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
# libFuzzer's own exit codes for a failure (77 by default) would read as
# "skipped" to meson: every failure exits 1 here.
"$fuzzer" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
  -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 \
  -artifact_prefix="$prefix" "$@" "$work" "$seeds"
