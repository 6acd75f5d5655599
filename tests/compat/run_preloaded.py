#!/usr/bin/env python3
"""Runs a compat test program with LD_PRELOAD=libquarry.so and checks what
it wrote: the JSON report parses (json module) and its totals are the
mallctl reads taken right after it; the XML of malloc_info parses (xml
module) and has glibc's elements.

    run_preloaded.py jemalloc|glibc <libquarry.so> <program>
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def run(lib, program, outdir):
    env = dict(os.environ)
    for name in ("MALLOC_CHECK_", "MALLOC_PERTURB_", "QUARRY_CONF"):
        env.pop(name, None)
    env["LD_PRELOAD"] = os.path.abspath(lib)
    proc = subprocess.run([os.path.abspath(program), outdir], env=env, capture_output=True, text=True, timeout=240)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        fail(f"{os.path.basename(program)} exited with {proc.returncode}")


def check_jemalloc(outdir):
    with open(os.path.join(outdir, "stats.json")) as f:
        report = json.load(f)["quarry"]
    reads = {}
    with open(os.path.join(outdir, "mallctl.txt")) as f:
        for line in f:
            key, value = line.strip().split("=")
            reads[key] = int(value)
    for key, value in reads.items():
        if report["stats"][key] != value:
            fail(f"JSON stats.{key} = {report['stats'][key]}, mallctl read {value}")
    totals = report["stats"]
    if not totals["allocated"] <= totals["active"] <= totals["resident"] <= totals["mapped"]:
        fail(f"totals out of order: {totals}")
    arenas = report["stats.arenas"]
    merged = arenas["merged"]
    each = [a for key, a in arenas.items() if key != "merged"]
    for field in ("pactive", "pdirty", "mapped", "resident"):
        if merged[field] != sum(a[field] for a in each):
            fail(f"merged {field} is not the sum of the arenas")
    if merged["pactive"] * 4096 + totals["huge"]["allocated"] != totals["active"]:
        fail("stats.active is not the arenas' active pages plus huge blocks")
    small = sum(b["curregs"] * b["size"] for b in merged["bins"])
    if small != merged["small"]["allocated"]:
        fail("bins do not add up to small.allocated")
    large = sum(l["curruns"] * l["size"] for l in merged["lextents"])
    if large != merged["large"]["allocated"]:
        fail("large classes do not add up to large.allocated")
    if not (report["version"] and report["opt"]["lg_dirty_mult"] == 2 and len(report["arenas"]["bin"]) == 28):
        fail("the general section")

    with open(os.path.join(outdir, "stats_omit.json")) as f:
        omitted = json.load(f)["quarry"]
    if "version" in omitted or "opt" in omitted:
        fail("'g' did not leave the general section out")
    if list(omitted["stats.arenas"].keys()) != ["merged"]:
        fail(f"'a' did not leave the arenas out: {list(omitted['stats.arenas'].keys())}")
    if "bins" in omitted["stats.arenas"]["merged"] or "lextents" in omitted["stats.arenas"]["merged"]:
        fail("'b' and 'l' did not leave bins and large classes out")
    with open(os.path.join(outdir, "stats.txt")) as f:
        text = f.read()
    for needle in ("___ Begin quarry statistics ___", "Merged arenas", "arenas[", "bins:", "large:",
                   "___ End quarry statistics ___"):
        if needle not in text:
            fail(f"the text report lacks {needle!r}")
    print(f"jemalloc_api: JSON report ({len(json.dumps(report))} bytes) matches mallctl: {reads}")


def check_glibc(outdir):
    root = ET.parse(os.path.join(outdir, "malloc_info.xml")).getroot()
    if root.tag != "malloc" or root.get("version") != "1":
        fail("malloc_info: not <malloc version=\"1\">")
    heaps = root.findall("heap")
    if not heaps:
        fail("malloc_info: no <heap>")
    for heap in heaps:
        if heap.find("sizes") is None or heap.find("system[@type='current']") is None:
            fail("malloc_info: a heap without <sizes> or <system>")
    mmap = root.find("total[@type='mmap']")
    if mmap is None or root.find("system[@type='current']") is None:
        fail("malloc_info: no totals")
    with open(os.path.join(outdir, "malloc_stats.txt")) as f:
        stats = f.read()
    if "Arena 0:" not in stats or "in use bytes" not in stats or "Total" not in stats:
        fail(f"malloc_stats printed: {stats!r}")
    print(f"glibc_api: malloc_info has {len(heaps)} heap(s), malloc_stats {len(stats.splitlines())} lines")


def main():
    mode, lib, program = sys.argv[1:4]
    with tempfile.TemporaryDirectory(prefix="quarry-compat.") as outdir:
        run(lib, program, outdir)
        (check_jemalloc if mode == "jemalloc" else check_glibc)(outdir)


if __name__ == "__main__":
    main()
