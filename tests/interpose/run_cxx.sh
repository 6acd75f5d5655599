#!/bin/bash
# cxx_program (built by meson with plain new/delete, sized and aligned
# deallocation) run plainly and with quarry preloaded; output must match.
# The program itself checks alignments and the bad_alloc / nullptr
# behaviour of impossible allocations and exits 1 if one is wrong.
#   run_cxx.sh <interposer.so> <probe.so> <cxx_program>
. "$(dirname "$0")/common.sh"
init "$1" "$2"
compare_runs cxx '*/cxx_program' /dev/null "$(abspath "$3")"
cat "$WORK/cxx.plain.out"
