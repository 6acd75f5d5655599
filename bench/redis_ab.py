#!/usr/bin/env python3
"""A/B of two builds of libquarry.so under Debian's redis-server.

    python3 bench/redis_ab.py A.so B.so [--rounds N] [--commands SET,GET,...]
                              [--prefill KEYS] [--requests N] [--perf CMD]

Each round starts one server per build (the order alternates from round to
round), optionally fills it with KEYS keys of 16-199 byte values (a Lua
loop run by the server, so that the heap is large and its metadata no
longer fits the caches, as in a real deployment), then runs redis-benchmark
once per command, as `bench/compare --redis` does (50 clients, pipelining
16, the server's CPU time per request). Prints each round and, per
command, the medians and B/A. For comparing a change with its parent;
`bench/compare --redis` compares quarry with the other allocators.

With --perf CMD, each round instead records the server with `perf record`
(Debian's linux-perf) for 6 s of redis-benchmark CMD and prints the share
of the server's samples in the allocator's object and its three busiest
functions. A build named "jemalloc" runs the server with nothing
preloaded: Debian's redis-server links jemalloc.

Standard library only.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_redis as cr  # noqa: E402

PREFILL_STEP = 100000
PREFILL_SCRIPT = ("local base = tonumber(ARGV[2]) "
                  "for i = 1, tonumber(ARGV[1]) do "
                  "local k = base + i "
                  "redis.call('SET', 'pre:' .. k, string.rep('x', 16 + (k * 7919) % 184)) "
                  "end return 1")


def perf_shares(bench, srv, cmd, lib):
    """(share of the server's samples in lib's object, [(share, symbol)])
    over 6 s of redis-benchmark cmd."""
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        rec = subprocess.Popen(["perf", "record", "-q", "-o", data, "-p", str(srv.proc.pid),
                                "--", "sleep", "6"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load = threading.Thread(target=lambda: cr.bench_command(bench, srv, cmd, 400000, 600))
        load.start()
        rec.wait()
        load.join()
        dso = "libjemalloc.so.2" if lib == "jemalloc" else os.path.basename(lib)

        def report(*extra):
            r = subprocess.run(["perf", "report", "-i", data, "--no-children", "-q", *extra],
                               capture_output=True, text=True)
            return [line.split() for line in r.stdout.splitlines() if line.strip()]
        total = sum(float(f[0].rstrip("%")) for f in report("--sort", "dso") if f[-1] == dso)
        syms = [(float(f[0].rstrip("%")), f[-1]) for f in report("--dsos", dso, "--sort", "sym")[:3]]
        return total, syms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--commands", default="SET,GET,MSET,LPUSH,LPOP,HSET,SADD")
    ap.add_argument("--prefill", type=int, default=1000000)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--perf", metavar="CMD", help="profile CMD instead of timing the commands")
    args = ap.parse_args()
    server, bench, note = cr.find_tools()
    if note:
        sys.exit(note)
    libs = [x if x == "jemalloc" else os.path.abspath(x) for x in (args.a, args.b)]
    shares = {lib: [] for lib in libs}
    cmds = args.commands.split(",")
    ns = {lib: {c: [] for c in cmds} for lib in libs}
    for rnd in range(args.rounds):
        for lib in (libs if rnd % 2 == 0 else libs[::-1]):
            preload = None if lib == "jemalloc" else lib
            with cr.Server(server, "jemalloc" if preload is None else "quarry", {"preload": preload}) as srv:
                for start in range(0, args.prefill, PREFILL_STEP):
                    n = min(PREFILL_STEP, args.prefill - start)
                    srv.client.call("EVAL", PREFILL_SCRIPT, "0", str(n), str(start))
                if args.perf:
                    cr.bench_command(bench, srv, args.perf, 100000, 600)  # warm-up
                    total, syms = perf_shares(bench, srv, args.perf, lib)
                    shares[lib].append(total)
                    print(f"round {rnd} {'AB'[libs.index(lib)]}: {args.perf} allocator {total:.2f}%: " +
                          "; ".join(f"{name} {share:.2f}%" for share, name in syms), flush=True)
                    continue
                for c in cmds:
                    _, cpu = cr.bench_command(bench, srv, c, args.requests, 600)
                    ns[lib][c].append(cpu * 1e9)
            print(f"round {rnd} {'AB'[libs.index(lib)]}: " +
                  " ".join(f"{c} {ns[lib][c][-1]:.0f}" for c in cmds), flush=True)
    if args.perf:
        print(f"\nallocator's share of the server's samples during {args.perf}, medians of "
              f"{args.rounds} rounds: A ({args.a}) {statistics.median(shares[libs[0]]):.2f}%, "
              f"B ({args.b}) {statistics.median(shares[libs[1]]):.2f}%")
        return
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
