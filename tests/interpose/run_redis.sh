#!/bin/bash
# Redis, a program built for jemalloc (it links libjemalloc and calls its
# mallctl), with quarry preloaded: a redis-server on a unix socket in a
# scratch directory (no network), loaded by redis-benchmark, then a fixed
# command script whose replies must match those of a plain server. The
# preloaded server must also show quarry at work: libquarry mapped and
# bound for malloc (probe), allocator statistics in INFO memory (Redis
# reads them through mallctl, which quarry answers), and MEMORY PURGE
# answered OK (quarry's arena.<narenas>.purge).
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
    local args=(--port 0 --unixsocket "$SOCK" --save '' --appendonly no --dir "$dir")
    if [ "$1" = preload ]; then
        env LD_PRELOAD="$SO:$PROBE" QUARRY_PROBE_OUT="$WORK/redis.probe" QUARRY_PROBE_LIB="$SO" \
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

run_mode() {
    start_server "$1"
    "$BENCH" -s "$SOCK" -q -n 20000 -r 5000 -d 300 -t set,get,lpush,lpop,sadd,hset,zadd \
        >"$WORK/$1.bench" 2>&1 || fail "redis-benchmark ($1) failed"
    "$CLI" -s "$SOCK" flushall >/dev/null || fail "flushall ($1) failed"
    "$CLI" -s "$SOCK" <"$WORK/commands.txt" >"$WORK/$1.out" 2>&1 || fail "the command script ($1) failed"
    if [ "$1" = preload ]; then
        grep -q libquarry "/proc/$PID/maps" || fail "libquarry is not mapped in redis-server"
        "$CLI" -s "$SOCK" info memory >"$WORK/info" || fail "INFO memory failed"
        grep -Eq '^allocator_allocated:[1-9]' "$WORK/info" ||
            fail "INFO memory shows no allocator statistics: $(grep allocator_ "$WORK/info")"
        [ "$("$CLI" -s "$SOCK" memory purge)" = OK ] || fail "MEMORY PURGE did not answer OK"
    fi
    "$CLI" -s "$SOCK" shutdown nosave >/dev/null 2>&1
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
