#!/bin/bash
# The bad-input contract through the interposed free(): run badfree in one
# mode with quarry preloaded and require death by SIGABRT with exactly one
# stderr line "quarry: free(): invalid pointer 0x<addr>", <addr> being the
# pointer the program announced. Mode "ok" is the control: exit 0 and
# silence on stderr.
#   run_badfree.sh <interposer.so> <probe.so> <badfree> <mode>
. "$(dirname "$0")/common.sh"
init "$1" "$2"
BADFREE=$(abspath "$3")
MODE=$4
ulimit -c 0   # aborts are expected; leave no core files behind

status=0
# The braces take bash's own "Aborted" report away from the test log.
{ env LD_PRELOAD="$SO:$PROBE" QUARRY_PROBE_OUT="$WORK/badfree.probe" \
    QUARRY_PROBE_LIB="$SO" "$BADFREE" "$MODE" \
    >"$WORK/out" 2>"$WORK/err"; } 2>/dev/null || status=$?
check_probe badfree '*/badfree'
echo "--- stdout:"; cat "$WORK/out"
echo "--- stderr:"; cat "$WORK/err"
echo "--- $(describe_status "$status")"

if [ "$MODE" = ok ]; then
    [ "$status" -eq 0 ] || fail "control run: $(describe_status "$status")"
    [ ! -s "$WORK/err" ] || fail "control run wrote to stderr"
    exit 0
fi

grep -q '^free() returned$' "$WORK/out" &&
    fail "$MODE: free() accepted the invalid pointer and returned"
[ "$status" -eq $((128 + 6)) ] ||
    fail "$MODE: expected death by SIGABRT, got $(describe_status "$status")"
[ "$(wc -l <"$WORK/err")" -eq 1 ] ||
    fail "$MODE: expected exactly one line on stderr, got $(wc -l <"$WORK/err")"
line=$(cat "$WORK/err")
[[ $line =~ ^quarry:\ free\(\):\ invalid\ pointer\ 0x([0-9a-fA-F]+)$ ]] ||
    fail "$MODE: stderr line does not match 'quarry: free(): invalid pointer 0x...': $line"
reported=${BASH_REMATCH[1]}
announced=$(sed -n 's/^bad free of 0x\([0-9a-fA-F]*\)$/\1/p' "$WORK/out")
[ -n "$announced" ] || fail "$MODE: the program did not announce its pointer"
[ $((16#$reported)) -eq $((16#$announced)) ] ||
    fail "$MODE: reported pointer 0x$reported is not the freed 0x$announced"
echo "$MODE: aborted with the expected message"
