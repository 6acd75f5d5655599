"""The real-workload families of bench/compare: programs and Redis.

run_real() runs the families the command line selected and returns their
report sections, summary entries and charts; bench/compare merges them with
the micro-workload report (summary first). Standard library only.
"""

import os
import time

import compare_chart as chart
import compare_core as core
import compare_programs as programs
import compare_redis as redis
import compare_summary as summary


def add_arguments(p):
    p.add_argument("--programs", nargs="?", const="all", metavar="LIST",
                   help="run the real programs (comma-separated subset of "
                        + ",".join(programs.ALL) + "; default all); with "
                        "--programs or --redis only those families run "
                        "(reduced with --short)")
    p.add_argument("--redis", action="store_true",
                   help="run Redis: throughput and memory phases")
    p.add_argument("--no-real", action="store_true",
                   help="leave the programs and Redis out of --short/--full "
                        "(also implied by --filter)")
    p.add_argument("--redis-keys", type=int,
                   help="keys of the Redis memory fill (default 1M full, "
                        "100k short)")
    p.add_argument("--redis-requests", type=int,
                   help="requests per redis-benchmark command")
    p.add_argument("--redis-phases",
                   help="comma-separated subset of " + ",".join(redis.PHASES))
    p.add_argument("--redis-commands",
                   help="comma-separated subset of "
                        + ",".join(redis.COMMANDS))


def selected(args):
    """(micro?, program names, redis?) for the parsed arguments."""
    if args.programs or args.redis:
        names = []
        if args.programs:
            names = programs.ALL if args.programs == "all" else [
                n.strip() for n in args.programs.split(",") if n.strip()]
            bad = [n for n in names if n not in programs.PROGRAMS]
            if bad:
                raise SystemExit(f"compare: unknown program(s) {bad}; "
                                 f"choose from {','.join(programs.ALL)}")
        return False, names, bool(args.redis)
    if args.no_real or args.filter:
        return True, [], False
    return True, programs.ALL, True


def run_real(args, allocs, mode_name, subject, stem, log):
    names = list(allocs)
    _, prog_names, want_redis = selected(args)
    md, js, entries, svgs = [], {}, [], {}
    base = "glibc" if "glibc" in names else names[0]
    if prog_names:
        rounds = args.rounds or 3
        t0 = time.monotonic()
        res = programs.run_programs(prog_names, allocs, rounds, mode_name,
                                    args.timeout or 300, args.build_dir, log)
        pmd, pjs, groups, cells = programs.report(res, names, subject, rounds)
        pjs["elapsed_s"] = round(time.monotonic() - t0, 1)
        pjs["failures"] = res["failures"]
        md += pmd + [f"Chart: `{stem}-programs.svg` (CPU time and peak RSS "
                     f"relative to {base}, log scale). Took "
                     f"{pjs['elapsed_s']:.0f} s.", ""]
        js["programs"] = pjs
        svgs["programs"] = chart.render_svg(
            groups, names, base, "real programs: CPU time and peak RSS",
            f"relative to {base} (log scale; left of 1 = less)")
        entries += [summary.entry("programs", "CPU time", cells["cpu"],
                                  names, subject),
                    summary.entry("programs", "peak RSS", cells["rss"],
                                  names, subject),
                    summary.entry("programs", "wall time", cells["wall"],
                                  names, subject)]
        js["failures"] = list(res["failures"])
    if want_redis:
        t0 = time.monotonic()
        mode = "short" if mode_name == "short" else "full"
        res = redis.run_redis(
            allocs, mode, log,
            phases=args.redis_phases.split(",") if args.redis_phases
            else None,
            commands=args.redis_commands.split(",") if args.redis_commands
            else None,
            rounds=args.rounds,
            time_bound=max(60, (args.timeout or 1800)),
            keys=args.redis_keys, requests=args.redis_requests)
        charts = [f"{stem}-redis.svg", f"{stem}-redis-rss.svg"]
        rmd, rjs = redis.report(res, names, subject, charts)
        rjs["elapsed_s"] = round(time.monotonic() - t0, 1)
        md += rmd + [f"Took {rjs['elapsed_s']:.0f} s.", ""]
        js["redis"] = rjs
        js.setdefault("failures", []).extend(res["failures"])
        if not res["note"]:
            rbase = "jemalloc" if "jemalloc" in names else base
            cpu_rows = redis.cells(res, names, "cpu_req")
            groups = []
            for cmd, row in cpu_rows:
                groups.append((cmd, {a: core.ratio(row[a], row[rbase])
                                     or (row[a].status if row[a].status
                                         != core.OK else "n/a")
                                     for a in names}))
            svgs["redis"] = chart.render_svg(
                groups, names, rbase, "Redis: server CPU time per request",
                f"relative to {rbase} (log scale; left of 1 = less CPU)")
            first = next(iter(res["traces"].values()), None)
            marks = res["traces"].get(subject, first or {}).get("marks", [])
            svgs["redis-rss"] = chart.render_lines(
                {a: t["samples"] for a, t in res["traces"].items()}, names,
                f"Redis RSS over the memory phases "
                f"({res['mode']['keys']:,} keys)",
                f"VmRSS sampled every 0.1 s; dotted lines: {subject}'s "
                "phases" if subject in res["traces"] else "VmRSS every 0.1 s",
                marks)
            entries.append(summary.entry("redis", "server CPU/request",
                                         cpu_rows, names, subject))
            mem = [(r, c) for r, c in redis.memory_cells(res, names)
                   if r.endswith(" rss_proc")]
            entries.append(summary.entry("redis", "RSS after each phase",
                                         mem, names, subject))
            frag = [(r, c) for r, c in redis.memory_cells(res, names)
                    if r.endswith("mem_fragmentation_ratio")]
            entries.append(summary.entry("redis", "fragmentation ratio",
                                         frag, names, subject))
    return {"markdown": md, "json": js, "summary": entries, "svgs": svgs,
            "failures": js.get("failures", [])}


def write_svgs(out_dir, stem, svgs, write_atomic):
    paths = []
    os.makedirs(out_dir, exist_ok=True)
    for suffix, svg in svgs.items():
        path = os.path.join(out_dir, f"{stem}-{suffix}.svg")
        write_atomic(path, svg)
        paths.append(path)
    return paths
