# Shared by the run_*.sh drivers (sourced, not run). Each driver is called
# by meson as
#     run_X.sh <interposer.so> <probe.so> <tool or ''> [files...]
# and runs a real program twice: plainly, then with
# LD_PRELOAD=<interposer.so>:<probe.so>. It fails on a non-zero exit or
# signal in either run, on any difference in stdout or stderr, or when the
# probe (probe.c) does not show the interposer bound in the program's
# process. Exit 77 (meson: skipped) only when the tool is absent.

set -u
export LC_ALL=C

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

skip() {
    echo "SKIP: $*"
    exit 77
}

# abspath <path>: meson passes built targets relative to the build
# directory, but the runs happen in scratch directories.
abspath() {
    case $1 in
        /*) printf '%s\n' "$1" ;;
        '') printf '\n' ;;
        *) printf '%s\n' "$PWD/$1" ;;
    esac
}

# init <interposer.so> <probe.so>: sets SO, PROBE (absolute) and WORK (a
# scratch directory removed on exit unless KEEP_WORK is set, for
# debugging).
init() {
    SO=$(abspath "$1")
    PROBE=$(abspath "$2")
    [ -f "$SO" ] || fail "interposer $SO does not exist"
    [ -f "$PROBE" ] || fail "probe $PROBE does not exist"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/quarry-interpose.XXXXXX") ||
        fail "mktemp failed"
    if [ -z "${KEEP_WORK:-}" ]; then
        trap 'rm -rf "$WORK"' EXIT
    else
        echo "scratch directory kept: $WORK"
    fi
    # Variables that would make runs differ or pick another allocator.
    unset MALLOC_PERTURB_ MALLOC_CHECK_ LD_PRELOAD
}

# require_tool <path or ''> <name>: skip when the tool is truly absent.
require_tool() {
    if [ -z "$1" ] || [ ! -x "$1" ]; then
        skip "$2 not found"
    fi
}

describe_status() {
    if [ "$1" -gt 128 ]; then
        echo "killed by signal $(($1 - 128)) ($(kill -l $(($1 - 128)) 2>/dev/null))"
    else
        echo "exit status $1"
    fi
}

# run_one <tag> <plain|preload> <stdin file> <command...>: runs the
# command in $WORK/<tag>.<mode>/ (a fresh directory, the cwd of the run)
# with stdout and stderr captured as <tag>.<mode>.out/.err.
run_one() {
    local tag=$1 mode=$2 input=$3
    shift 3
    local dir=$WORK/$tag.$mode
    mkdir -p "$dir"
    local status=0
    if [ "$mode" = preload ]; then
        (cd "$dir" && env LD_PRELOAD="$SO:$PROBE" \
            QUARRY_PROBE_OUT="$WORK/$tag.probe" QUARRY_PROBE_LIB="$SO" \
            "$@" <"$input" >"$WORK/$tag.$mode.out" 2>"$WORK/$tag.$mode.err") ||
            status=$?
    else
        (cd "$dir" && "$@" <"$input" >"$WORK/$tag.$mode.out" \
            2>"$WORK/$tag.$mode.err") || status=$?
    fi
    if [ "$status" -ne 0 ]; then
        echo "--- stderr of the $mode run (last 20 lines):" >&2
        tail -n 20 "$WORK/$tag.$mode.err" >&2
        fail "$tag: $mode run: $(describe_status "$status"): $*"
    fi
}

# same_files <what> <a> <b>: fail with a short diff when they differ.
same_files() {
    if ! cmp -s "$2" "$3"; then
        echo "--- $1 differs (plain vs with quarry), first lines of diff:" >&2
        diff "$2" "$3" | head -n 20 >&2
        fail "$1 differs between the plain and the preloaded run"
    fi
}

# check_probe <tag> <exe glob>: every process of the preloaded run bound
# malloc and operator new to the interposer and had it mapped, and at
# least one of them is the program under test (its /proc/self/exe
# matches the glob).
check_probe() {
    local log=$WORK/$1.probe glob=$2 base
    base=$(basename "$SO")
    [ -s "$log" ] || fail "$1: the probe never ran: LD_PRELOAD was not honoured"
    local line seen=0 exe malloc new mapped
    while IFS= read -r line; do
        exe=${line#*exe=}; exe=${exe%% malloc=*}
        malloc=${line#* malloc=}; malloc=${malloc%% new=*}
        new=${line#* new=}; new=${new%% mapped=*}
        mapped=${line##* mapped=}
        [ "$(basename "$malloc")" = "$base" ] ||
            fail "$1: in $exe malloc binds to $malloc, not $base"
        # A program may define operator new itself (gcc's cc1 links
        # libstdc++ statically); the executable always wins over any
        # preload, so that is the only other acceptable answer.
        [ "$(basename "$new")" = "$base" ] || [ "$new" = "$exe" ] ||
            fail "$1: in $exe operator new binds to $new, not $base"
        [ "$mapped" = 1 ] || fail "$1: $base is not mapped in $exe"
        # shellcheck disable=SC2053 # glob match intended
        [[ $exe == $glob ]] && seen=1
    done <"$log"
    [ "$seen" = 1 ] || {
        cat "$log" >&2
        fail "$1: no process matching '$glob' ran with the probe"
    }
    echo "$1: $(wc -l <"$log") process(es) ran with $base bound for malloc and new"
}

# compare_runs <tag> <exe glob> <stdin file> <command...>: the whole
# plain-vs-preloaded check for one command.
compare_runs() {
    local tag=$1 glob=$2 input=$3
    shift 3
    run_one "$tag" plain "$input" "$@"
    run_one "$tag" preload "$input" "$@"
    same_files "$tag: stdout" "$WORK/$tag.plain.out" "$WORK/$tag.preload.out"
    same_files "$tag: stderr" "$WORK/$tag.plain.err" "$WORK/$tag.preload.err"
    check_probe "$tag" "$glob"
    echo "$tag: identical output ($(wc -c <"$WORK/$tag.plain.out") bytes of stdout)"
}
