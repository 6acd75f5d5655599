#!/usr/bin/env python3
"""A/B of two builds of libquarry.so under Debian's redis-server.

    python3 bench/redis_ab.py A.so B.so [--rounds N] [--commands SET,GET,...]
                              [--prefill KEYS] [--requests N]

Each round starts one server per build (the order alternates from round to
round), optionally fills it with KEYS keys of 16-199 byte values (a Lua
loop run by the server, so that the heap is large and its metadata no
longer fits the caches, as in a real deployment), then runs redis-benchmark
once per command, as `bench/compare --redis` does (50 clients, pipelining
16, the server's CPU time per request). Prints each round and, per
command, the medians and B/A. For comparing a change with its parent;
`bench/compare --redis` compares quarry with the other allocators.

Standard library only.
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_redis as cr  # noqa: E402

PREFILL_STEP = 100000
PREFILL_SCRIPT = ("local base = tonumber(ARGV[2]) "
                  "for i = 1, tonumber(ARGV[1]) do "
                  "local k = base + i "
                  "redis.call('SET', 'pre:' .. k, string.rep('x', 16 + (k * 7919) % 184)) "
                  "end return 1")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--commands", default="SET,GET,MSET,LPUSH,LPOP,HSET,SADD")
    ap.add_argument("--prefill", type=int, default=1000000)
    ap.add_argument("--requests", type=int, default=200000)
    args = ap.parse_args()
    server, bench, note = cr.find_tools()
    if note:
        sys.exit(note)
    libs = [os.path.abspath(args.a), os.path.abspath(args.b)]
    cmds = args.commands.split(",")
    ns = {lib: {c: [] for c in cmds} for lib in libs}
    for rnd in range(args.rounds):
        for lib in (libs if rnd % 2 == 0 else libs[::-1]):
            with cr.Server(server, "quarry", {"preload": lib}) as srv:
                for start in range(0, args.prefill, PREFILL_STEP):
                    n = min(PREFILL_STEP, args.prefill - start)
                    srv.client.call("EVAL", PREFILL_SCRIPT, "0", str(n), str(start))
                for c in cmds:
                    _, cpu = cr.bench_command(bench, srv, c, args.requests, 600)
                    ns[lib][c].append(cpu * 1e9)
            print(f"round {rnd} {'AB'[libs.index(lib)]}: " +
                  " ".join(f"{c} {ns[lib][c][-1]:.0f}" for c in cmds), flush=True)
    print(f"\nserver CPU ns per request, medians of {args.rounds} rounds "
          f"(prefill {args.prefill} keys); A = {args.a}, B = {args.b}")
    print("| command | A | B | B/A | rounds B < A |")
    print("|---|---:|---:|---:|---:|")
    for c in cmds:
        a, b = ns[libs[0]][c], ns[libs[1]][c]
        wins = sum(1 for x, y in zip(a, b) if y < x)
        print(f"| {c} | {statistics.median(a):.0f} | {statistics.median(b):.0f} | "
              f"{statistics.median(b) / statistics.median(a):.3f} | {wins} of {len(a)} |")


if __name__ == "__main__":
    main()
