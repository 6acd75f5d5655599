#!/bin/bash
# Redis, a program built for jemalloc (it links libjemalloc and calls its
# mallctl, malloc_stats_print and nallocx), with quarry preloaded: a
# redis-server on a unix socket in a scratch directory (no network),
# loaded by redis-benchmark, then a fixed command script whose replies must
# match those of a plain server. The preloaded server must also show quarry
# at work:
#   - libquarry mapped, and every allocation and introspection name Redis
#     binds to (malloc ... mallctl, malloc_stats_print, nallocx) bound to it
#     (the dynamic linker's own record, LD_DEBUG=bindings), none to
#     libjemalloc;
#   - MEMORY MALLOC-STATS printing quarry's report with the server staying
#     up; MEMORY STATS, MEMORY DOCTOR, MEMORY PURGE answered;
#   - DEBUG MALLCTL / MALLCTL-STR on every name Redis itself uses, and
#     CONFIG SET jemalloc-bg-thread no|yes reaching background_thread;
#   - after 200,000 keys, INFO memory's allocator_allocated / _active /
#     _resident within 1% of quarry's stats.* read by DEBUG MALLCTL; after
#     FLUSHALL and MEMORY PURGE, resident memory given back;
#   - a clean shutdown (exit 0).
#   run_redis.sh <interposer.so> <probe.so> <redis-server or ''> <redis-cli or ''> <redis-benchmark or ''>
. "$(dirname "$0")/common.sh"
init "$1" "$2"
require_tool "$3" redis-server
require_tool "$4" redis-cli
require_tool "$5" redis-benchmark
SERVER=$3 CLI=$4 BENCH=$5

# The command script: strings, lists, hashes, sets, sorted sets, big
# values, deletes, and replies that depend on all of them.
awk 'BEGIN {
    x = 7; m = 2147483647
    big = "v"
    while (length(big) < 70000) big = big big
    for (i = 0; i < 3000; i++) {
        x = (x * 16807) % m
        printf "SET key:%d %s\n", i, substr("abcdefghijklmnopqrstuvwxyz0123456789", 1, 1 + x % 36)
        printf "RPUSH list:%d item-%d-%d\n", i % 50, i, x % 1000
        printf "HSET hash:%d field%d %d\n", i % 40, i, x % 100000
        printf "SADD set:%d member%d\n", i % 30, x % 500
        printf "ZADD zset:%d %d m%d\n", i % 20, x % 10000, i
        if (i % 97 == 0) printf "SET big:%d %s\n", i, substr(big, 1, 20000 + x % 50000)
        if (i % 7 == 0) printf "DEL key:%d\n", i - 3
    }
    print "DBSIZE"
    for (i = 0; i < 50; i += 7) printf "LRANGE list:%d 0 5\n", i
    for (i = 0; i < 40; i += 9) printf "HLEN hash:%d\n", i
    for (i = 0; i < 30; i += 5) printf "SCARD set:%d\n", i
    for (i = 0; i < 20; i += 4) printf "ZRANGE zset:%d 0 4 WITHSCORES\n", i
    for (i = 0; i < 3000; i += 333) printf "STRLEN key:%d\n", i
    print "FLUSHALL"
    print "DBSIZE"
}' >"$WORK/commands.txt" || fail "generating the commands failed"

PID=
stop_server() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    PID=
}
trap 'stop_server; [ -z "${KEEP_WORK:-}" ] && rm -rf "$WORK"' EXIT

# start_server <mode>: a server in $WORK/<mode>/ listening on redis.sock.
start_server() {
    local dir=$WORK/$1
    mkdir -p "$dir"
    SOCK=$dir/redis.sock
    local args=(--port 0 --unixsocket "$SOCK" --save '' --appendonly no --dir "$dir"
        --enable-debug-command local)
    if [ "$1" = preload ]; then
        env LD_PRELOAD="$SO:$PROBE" QUARRY_PROBE_OUT="$WORK/redis.probe" QUARRY_PROBE_LIB="$SO" \
            LD_DEBUG=bindings LD_DEBUG_OUTPUT="$WORK/bindings" \
            "$SERVER" "${args[@]}" >"$dir/server.log" 2>&1 &
    else
        "$SERVER" "${args[@]}" >"$dir/server.log" 2>&1 &
    fi
    PID=$!
    for _ in $(seq 100); do
        [ -S "$SOCK" ] && "$CLI" -s "$SOCK" ping >/dev/null 2>&1 && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/server.log" >&2
    fail "redis-server ($1) did not start"
}

# cli <args>: one command to the running server, bounded in time.
cli() {
    timeout 60 "$CLI" -s "$SOCK" "$@"
}

# field <name> <file>: the value of "name:value" in an INFO reply.
field() {
    sed -n "s/^$1:\([0-9]*\).*/\1/p" "$2" | tr -d '\r'
}

# within_1pct <what> <a> <b>
within_1pct() {
    local a=$2 b=$3 diff
    diff=$((a > b ? a - b : b - a))
    [ $((diff * 100)) -le "$b" ] || fail "$1: $a vs $b, more than 1% apart"
    echo "  $1: $a vs $b"
}

# The names Redis itself binds to, all of which must be quarry's.
check_bindings() {
    local name log
    log=$(cat "$WORK"/bindings.* 2>/dev/null) || fail "LD_DEBUG wrote no bindings"
    for name in malloc calloc realloc free malloc_usable_size mallctl malloc_stats_print nallocx; do
        grep -q "binding file [^ ]*redis[^ ]* .*libquarry[^ ]* .*normal symbol \`$name'" <<<"$log" ||
            fail "redis-server's $name is not bound to libquarry"
        ! grep -q "to [^ ]*libjemalloc[^ ]* .*normal symbol \`$name'" <<<"$log" ||
            fail "something binds $name to libjemalloc"
    done
    echo "redis: malloc ... mallctl, malloc_stats_print, nallocx bound to libquarry"
}

# quarry_stat <name>: stats.<name> as of now (epoch written first).
quarry_stat() {
    cli debug mallctl epoch 1 >/dev/null
    cli debug mallctl "stats.$1" | tr -d '\r'
}

# quarry's doctor and heap map through DEBUG MALLCTL-STR: Redis reads the
# name as a string (the last path written, "" at first), then writes the
# path; the reply is the old value. The files must be the diagnosis and an
# SVG that parses as XML.
check_doctor_heapmap() {
    local out
    out=$(cli debug mallctl-str quarry.doctor "$WORK/doctor.txt") || fail "DEBUG MALLCTL-STR quarry.doctor failed"
    grep -q '^ERR' <<<"$out" && fail "DEBUG MALLCTL-STR quarry.doctor: $out"
    grep -q '^quarry memory doctor' "$WORK/doctor.txt" ||
        fail "quarry.doctor wrote no diagnosis: $(head -c 300 "$WORK/doctor.txt" 2>&1)"
    grep -q '^Findings:' "$WORK/doctor.txt" || fail "the diagnosis has no findings section"
    out=$(cli debug mallctl-str quarry.heapmap "$WORK/heap.svg") || fail "DEBUG MALLCTL-STR quarry.heapmap failed"
    grep -q '^ERR' <<<"$out" && fail "DEBUG MALLCTL-STR quarry.heapmap: $out"
    python3 -c 'import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
rows = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "chunk"]
assert rows, "no chunk rows"' "$WORK/heap.svg" || fail "quarry.heapmap wrote no valid SVG"
    out=$(cli debug mallctl-str quarry.doctor | tr -d '\r')
    [ "$out" = "$WORK/doctor.txt" ] || fail "quarry.doctor reads back '$out'"
    [ "$(cli ping)" = PONG ] || fail "the server died after the doctor and the heap map"
    echo "redis: DEBUG MALLCTL-STR quarry.doctor / quarry.heapmap wrote the diagnosis and the heap map"
}

check_introspection() {
    check_bindings
    local out narenas name
    out=$(cli memory malloc-stats) || fail "MEMORY MALLOC-STATS failed"
    grep -q '___ Begin quarry statistics ___' <<<"$out" && grep -q '___ End quarry statistics ___' <<<"$out" ||
        fail "MEMORY MALLOC-STATS did not print quarry's report: $(head -c 300 <<<"$out")"
    [ "$(cli ping)" = PONG ] || fail "the server died after MEMORY MALLOC-STATS"
    cli memory stats >"$WORK/memory.stats" || fail "MEMORY STATS failed"
    grep -A1 -x 'allocator.allocated' "$WORK/memory.stats" | tail -n 1 | grep -Eq '^[1-9][0-9]*$' ||
        fail "MEMORY STATS has no allocator.allocated"
    out=$(cli memory doctor) || fail "MEMORY DOCTOR failed"
    [ -n "$out" ] && ! grep -q '^ERR' <<<"$out" || fail "MEMORY DOCTOR: $out"
    [ "$(cli memory purge)" = OK ] || fail "MEMORY PURGE did not answer OK"

    # What Redis reads and writes through mallctl (zmalloc.c): epoch,
    # stats.allocated/active/resident, arenas.narenas, arena.<narenas>.purge,
    # background_thread. DEBUG MALLCTL reads each as an integer; a purge
    # takes no value, so reading it is refused, as jemalloc refuses it.
    for name in epoch stats.allocated stats.active stats.resident arenas.narenas background_thread; do
        out=$(cli debug mallctl "$name" | tr -d '\r')
        [[ $out =~ ^[0-9]+$ ]] || fail "DEBUG MALLCTL $name: $out"
    done
    narenas=$(cli debug mallctl arenas.narenas | tr -d '\r')
    out=$(cli debug mallctl "arena.$narenas.purge")
    [ "$out" = "ERR Operation not permitted" ] || fail "DEBUG MALLCTL arena.$narenas.purge: $out"
    out=$(cli debug mallctl no.such.name)
    [ "$out" = "ERR No such file or directory" ] || fail "DEBUG MALLCTL no.such.name: $out"
    out=$(cli debug mallctl-str version)
    [[ $out =~ ^[0-9]+\.[0-9]+ ]] || fail "DEBUG MALLCTL-STR version: $out"
    [ "$(cli debug mallctl-str opt.thp)" = default ] || fail "DEBUG MALLCTL-STR opt.thp"
    [ "$(cli config set jemalloc-bg-thread no)" = OK ] || fail "CONFIG SET jemalloc-bg-thread no"
    [ "$(cli debug mallctl background_thread)" = 0 ] || fail "background_thread did not go off"
    [ "$(cli config set jemalloc-bg-thread yes)" = OK ] || fail "CONFIG SET jemalloc-bg-thread yes"
    [ "$(cli debug mallctl background_thread)" = 1 ] || fail "background_thread did not go on"
    echo "redis: MEMORY MALLOC-STATS/STATS/DOCTOR/PURGE, DEBUG MALLCTL(-STR), jemalloc-bg-thread answered"
    check_doctor_heapmap

    # 200,000 keys, then INFO memory against quarry's own figures. Redis
    # samples the allocator every 100 ms (serverCron); the server is idle
    # meanwhile, so the sample and the direct read agree.
    [ "$(cli debug populate 200000 key 100)" = OK ] || fail "DEBUG POPULATE failed"
    [ "$(cli dbsize)" = 200000 ] || fail "DBSIZE after the fill"
    sleep 0.5
    cli info memory >"$WORK/info.filled" || fail "INFO memory failed"
    local allocated active resident used
    allocated=$(quarry_stat allocated)
    active=$(quarry_stat active)
    resident=$(quarry_stat resident)
    echo "redis: INFO memory after 200,000 keys, against quarry's stats:"
    within_1pct allocator_allocated "$(field allocator_allocated "$WORK/info.filled")" "$allocated"
    within_1pct allocator_active "$(field allocator_active "$WORK/info.filled")" "$active"
    within_1pct allocator_resident "$(field allocator_resident "$WORK/info.filled")" "$resident"
    used=$(field used_memory "$WORK/info.filled")
    [ "$allocated" -ge "$used" ] || fail "stats.allocated $allocated below Redis's used_memory $used"
    out=$(cli memory malloc-stats) && grep -q '___ End quarry statistics ___' <<<"$out" ||
        fail "MEMORY MALLOC-STATS after the fill"
    [ "$(cli flushall)" = OK ] || fail "FLUSHALL"
    [ "$(cli memory purge)" = OK ] || fail "MEMORY PURGE after FLUSHALL"
    local after
    after=$(quarry_stat resident)
    [ $((after * 2)) -lt "$resident" ] || fail "resident $resident after the fill, still $after after FLUSHALL + PURGE"
    echo "  resident after FLUSHALL and MEMORY PURGE: $after"
}

run_mode() {
    start_server "$1"
    "$BENCH" -s "$SOCK" -q -n 20000 -r 5000 -d 300 -t set,get,lpush,lpop,sadd,hset,zadd \
        >"$WORK/$1.bench" 2>&1 || fail "redis-benchmark ($1) failed"
    cli flushall >/dev/null || fail "flushall ($1) failed"
    cli <"$WORK/commands.txt" >"$WORK/$1.out" 2>&1 || fail "the command script ($1) failed"
    if [ "$1" = preload ]; then
        grep -q libquarry "/proc/$PID/maps" || fail "libquarry is not mapped in redis-server"
        cli info memory >"$WORK/info" || fail "INFO memory failed"
        grep -Eq '^allocator_allocated:[1-9]' "$WORK/info" ||
            fail "INFO memory shows no allocator statistics: $(grep allocator_ "$WORK/info")"
        check_introspection
    fi
    cli shutdown nosave >/dev/null 2>&1
    wait "$PID" 2>/dev/null
    local status=$?
    PID=
    [ "$status" -eq 0 ] || { tail -n 20 "$WORK/$1/server.log" >&2; fail "redis-server ($1): $(describe_status $status)"; }
}

run_mode plain
run_mode preload
same_files "redis replies" "$WORK/plain.out" "$WORK/preload.out"
check_probe redis '*redis*' # redis-server is a link to redis-check-rdb
echo "redis: $(wc -l <"$WORK/plain.out") identical replies; benchmark under quarry:"
cat "$WORK/preload.bench"
