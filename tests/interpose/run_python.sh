#!/bin/bash
# python3 with PYTHONMALLOC=malloc (every object through malloc, not
# pymalloc's arenas) running workload.py, plain and preloaded; the
# per-stage digests must match.
#   run_python.sh <interposer.so> <probe.so> <python3 or ''> <workload.py>
. "$(dirname "$0")/common.sh"
init "$1" "$2"
require_tool "$3" python3
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
compare_runs python '*python3*' /dev/null "$3" "$(abspath "$4")"
cat "$WORK/python.plain.out"
