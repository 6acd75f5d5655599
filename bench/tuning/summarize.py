#!/usr/bin/env python3
"""Medians of the campaign.sh results, as the markdown tables of docs/tuning.md.

Usage: bench/tuning/summarize.py [/tmp/tuning-results.txt]

Each input line is "section=S tag=T key=value ...". RSS figures are shown
net of the program's own baseline (rss_base: the process before the
workload, including its index arrays), in MiB; times are medians.
"""
import statistics
import sys
from collections import OrderedDict, defaultdict


def parse(path):
    rows = []
    for line in open(path):
        line = line.strip()
        if not line.startswith("section="):
            continue
        section = line.split()[0].split("=", 1)[1]
        tag = line.split(" tag=", 1)[1].split(" alloc=", 1)[0]
        kv = {}
        for tok in line.split():
            if "=" in tok:
                k, v = tok.split("=", 1)
                try:
                    kv[k] = float(v)
                except ValueError:
                    kv[k] = v
        kv["section"], kv["tag"] = section, tag
        rows.append(kv)
    return rows


def groups(rows, section, key=lambda r: r["tag"]):
    g = OrderedDict()
    for r in rows:
        if r["section"] == section:
            g.setdefault(key(r), []).append(r)
    return g


def med(rs, field, net=False):
    vals = [r[field] - (r["rss_base"] if net else 0) for r in rs if isinstance(r.get(field), float)]
    return statistics.median(vals) if vals else float("nan")


def table(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in l) + " |" for l in lines]
    print("\n".join(out) + "\n")


def main():
    rows = parse(sys.argv[1] if len(sys.argv) > 1 else "/tmp/tuning-results.txt")

    print("### return after free (median of runs; MiB net of rss_base; s)\n")
    g = groups(rows, "return", key=lambda r: (int(r["size"]), r["tag"]))
    table(["block", "allocator", "n", "peak", "after free", "after purge", "free-all s", "purge s", "purge call"],
          [[f"{k[0]} B" if k[0] < 65536 else "64 KiB", k[1], len(v), f"{med(v,'rss_peak',1):.1f}",
            f"{med(v,'rss_free',1):.1f}", f"{med(v,'rss_purge',1):.1f}", f"{med(v,'t_free'):.3f}",
            f"{med(v,'t_purge'):.4f}", v[0].get("purge_call", "")] for k, v in g.items()])

    for sec, title in [("lg_frag", "fragmentation (frag_kv 256)"), ("lg_churn", "throughput (churn_ring 500000)")]:
        g = groups(rows, sec)
        if not g:
            continue
        base = med(g.get("lg_dirty_mult:3", []), "time")
        print(f"### lg_dirty_mult, {title}\n")
        cols = ["setting", "n", "time s", "vs lg 3", "peak", "final"]
        cols += ["empty", "faults k", "npurge"] if sec == "lg_frag" else ["empty", "faults k", "npurge"]
        table(cols, [[k, len(v), f"{med(v,'time'):.3f}", f"{med(v,'time')/base:.2f}", f"{med(v,'rss_peak',1):.1f}",
                      f"{med(v,'rss_final',1):.1f}", f"{med(v,'rss_empty',1):.1f}", f"{med(v,'faults')/1e3:.0f}",
                      f"{med(v,'npurge'):.0f}" if "npurge" in v[0] else "-"] for k, v in g.items()])

    g = groups(rows, "purge")
    if g:
        base = med(g.get("purge:dontneed,retain:true", []), "time")
        print("### purge / retain, fill_empty 50 64\n")
        table(["setting", "n", "time s", "vs default", "ms/cycle", "faults k", "peak", "after last empty", "of which LazyFree"],
              [[k, len(v), f"{med(v,'time'):.3f}", f"{med(v,'time')/base:.2f}", f"{med(v,'ms_per_cycle'):.1f}",
                f"{med(v,'faults')/1e3:.0f}", f"{med(v,'rss_peak',1):.1f}", f"{med(v,'rss_empty',1):.1f}",
                f"{med(v,'lazyfree'):.1f}"] for k, v in g.items()])

    for sec, title in [("thp_frag", "frag_kv 256"), ("thp_churn", "churn_ring 500000")]:
        g = groups(rows, sec)
        if not g:
            continue
        print(f"### THP, {title}\n")
        cols = ["setting", "n", "time s", "peak", "final", "empty", "faults k"]
        if sec == "thp_frag":
            cols += ["AnonHugePages full", "AnonHugePages final", "raw RSS final", "raw physical final", "of which THP",
                     "raw RSS empty", "raw physical empty"]
        table(cols, [[k, len(v), f"{med(v,'time'):.3f}", f"{med(v,'rss_peak',1):.1f}", f"{med(v,'rss_final',1):.1f}",
                      f"{med(v,'rss_empty',1):.1f}", f"{med(v,'faults')/1e3:.0f}"]
                     + ([f"{med(v,'anonhuge_full'):.1f}", f"{med(v,'anonhuge_final'):.1f}", f"{med(v,'rss_final'):.1f}",
                         f"{med(v,'phys_final'):.1f}", f"{med(v,'thp_final'):.1f}", f"{med(v,'rss_empty'):.1f}",
                         f"{med(v,'phys_empty'):.1f}"] if sec == "thp_frag" else [])
                     for k, v in g.items()])

    gt, gp = groups(rows, "huge_touch"), groups(rows, "huge_pair")
    if gt:
        bt, bp = med(gt["glibc"], "us_per_block"), med(gp["glibc"], "ns_per_pair")
        print("### huge blocks (touch: 200 random 5-25 MiB blocks; pair: 100000 x malloc(8 MiB)+free)\n")
        table(["allocator", "n", "touch us/block", "vs glibc", "faults/block", "RSS kept after", "pair ns", "vs glibc"],
              [[k, len(v), f"{med(v,'us_per_block'):.0f}", f"{med(v,'us_per_block')/bt:.2f}",
                f"{med(v,'faults_per_block'):.0f}", f"{med(v,'rss_after',1):.1f}",
                f"{med(gp[k],'ns_per_pair'):.0f}", f"{med(gp[k],'ns_per_pair')/bp:.2f}"] for k, v in gt.items()])


main()
