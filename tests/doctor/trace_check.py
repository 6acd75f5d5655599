"""The trace and the at-exit outputs, under LD_PRELOAD=libquarry.so:
  - QUARRY_CONF=stats_interval:50,stats_file:F: every line parses as JSON
    with the documented keys, consecutive samples are 50 ms apart (within
    scheduling slack), and while the program is quiet the allocation
    counter does not move and no thread is bound besides the program's
    own: the trace thread allocates nothing;
  - bench/trace_chart.py turns the file into an SVG that parses;
  - QUARRY_CONF=doctor:true,heapmap:P writes the diagnosis on stderr and
    the heap map to P at exit."""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

so, prog, chart = sys.argv[1:4]
KEYS = {"t_ms", "unix_ms", "allocated", "active", "resident", "mapped", "metadata", "retained",
        "dirty", "muzzy", "rss", "huge_allocated", "huge_cached", "arenas", "nmalloc", "nthreads",
        "npurge", "nmadvise", "purged"}


def run(conf, *args):
    env = dict(os.environ, LD_PRELOAD=os.path.abspath(so), QUARRY_CONF=conf)
    return subprocess.run([prog, *args], env=env, check=True, capture_output=True, text=True, timeout=60)


with tempfile.TemporaryDirectory() as tmp:
    trace = os.path.join(tmp, "trace.jsonl")
    run(f"stats_interval:50,stats_file:{trace}", "800")
    with open(trace) as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) >= 12, f"{len(rows)} lines in about 1.1 s at 50 ms"
    for r in rows:
        assert KEYS <= set(r), sorted(KEYS - set(r))
        assert r["allocated"] <= r["active"] <= r["resident"] <= r["mapped"], r
        assert r["nthreads"] == 1, f"a thread besides main is bound: {r['nthreads']}"
    gaps = [b["t_ms"] - a["t_ms"] for a, b in zip(rows, rows[1:])]
    # Lines follow absolute deadlines: on a loaded machine one line can be
    # late and the next catch up, so single gaps only bound the stalls; the
    # mean says the interval is kept.
    assert all(0 <= g <= 1000 for g in gaps), gaps
    assert sum(gaps) / len(gaps) >= 40, f"mean interval {sum(gaps) / len(gaps):.1f} ms for 50"
    assert sum(gaps) / len(gaps) < 70, f"mean interval {sum(gaps) / len(gaps):.1f} ms for 50"
    # The quiet phase: samples whose allocated figure equals the peak's.
    peak = max(r["allocated"] for r in rows)
    quiet = [r for r in rows if r["allocated"] == peak]
    assert len(quiet) >= 8, f"only {len(quiet)} samples in the quiet phase"
    assert len({r["nmalloc"] for r in quiet}) == 1, [r["nmalloc"] for r in quiet]
    assert rows[-1]["allocated"] < peak, "the frees at the end are not in the trace"
    svg = os.path.join(tmp, "chart.svg")
    subprocess.run([sys.executable, chart, trace, svg], check=True)
    root = ET.parse(svg).getroot()
    lines = [p.get("class") for p in root.iter("{http://www.w3.org/2000/svg}polyline")]
    assert lines == ["allocated", "active", "resident", "dirty", "rss"], lines
    print(f"trace: {len(rows)} lines, mean interval {sum(gaps) / len(gaps):.1f} ms, chart drawn")

    heapmap = os.path.join(tmp, "exit.svg")
    out = run(f"doctor:true,heapmap:{heapmap}", "10")
    assert out.stderr.startswith("quarry memory doctor"), out.stderr[:300]
    assert "Findings:" in out.stderr
    ET.parse(heapmap)
    print("at exit: the diagnosis on stderr and the heap map written")
