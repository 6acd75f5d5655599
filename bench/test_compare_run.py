#!/usr/bin/env python3
"""bench/compare itself on a tiny configuration: one program
(mt_containers), one Redis phase (fill, 5,000 keys) and one command, one
round, glibc and quarry. Checks that it exits 0, that the report starts with
the summary and has the programs and Redis sections, that the digests were
equal and the charts are well-formed SVG. About 10 s.

    python3 bench/test_compare_run.py [build dir]

Exit 77 (skipped) when redis-server or redis-benchmark is not installed or
libquarry.so is not built.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                            else os.path.join(HERE, "..", "build"))
    so = os.path.join(build, "alloc", "libquarry.so")
    if not os.path.exists(so):
        print(f"SKIP: {so} not built")
        return 77
    for tool in ("redis-server", "redis-benchmark"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} not installed")
            return 77
    with tempfile.TemporaryDirectory(prefix="quarry-compare-test.") as out:
        argv = [sys.executable, os.path.join(HERE, "compare"), "--short",
                "--programs", "mt_containers", "--redis",
                "--redis-phases", "fill", "--redis-keys", "5000",
                "--redis-requests", "2000", "--redis-commands", "SET",
                "--rounds", "1", "--allocators", "glibc,quarry",
                "--build-dir", build, "--out-dir", out, "--timeout", "100"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=110)
        sys.stdout.write(r.stderr[-3000:])
        assert r.returncode == 0, f"bench/compare exited {r.returncode}"
        stem = os.path.join(out, "programs+redis-short")
        md = open(stem + ".md").read()
        lines = md.splitlines()
        assert lines[0].startswith("# "), lines[0]
        assert lines[4].startswith("## Summary"), lines[:6]
        for needle in ("## Real programs", "| mt_containers |", "## Redis",
                       "| programs | CPU time |", "| redis | server CPU",
                       "fill rss_proc", "identical under every allocator"):
            assert needle in md, f"report lacks {needle!r}"
        assert "## Failures" not in md, md[md.index("## Failures"):]
        js = json.load(open(stem + ".json"))
        assert js["redis"]["digests_equal"] is True
        cells = js["programs"]["cpu"]["rows"][0]["cells"]
        assert all(c["status"] == "ok" for c in cells.values()), cells
        assert set(js["redis"]["memory"]) == {"glibc", "quarry"}
        for suffix in ("programs", "redis", "redis-rss"):
            root = ET.parse(f"{stem}-{suffix}.svg").getroot()
            assert root.tag.endswith("svg")
        trace = js["redis"]["traces"]["quarry"]["samples"]
        assert len(trace) >= 2, trace
    print("bench/compare tiny run: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
