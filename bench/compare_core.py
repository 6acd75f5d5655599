"""Pure functions behind bench/compare: planning, statistics, formatting.

Nothing in here starts a process or touches the file system, so all of it is
checked by bench/test_compare.py without running any benchmark.

Vocabulary:
  outcome  one measurement from one process run: {"status": "ok", "value": x}
           or {"status": "crash" | "timeout" | "error" | "missing", ...}
  cell     the summary of one allocator x one row over all rounds: a Cell
"""

import math
import re
import statistics
from collections import namedtuple

OK = "ok"
FAILURES = ("crash", "timeout", "error", "wrong-malloc", "missing")

Cell = namedtuple("Cell", "status value n_ok n_total")
Cell.__doc__ = """status: "ok" or a failure; value: median of the ok rounds
(None unless status is ok); n_ok / n_total: rounds that succeeded / ran."""


# ---------------------------------------------------------------- planning


def interleave(allocators, units, rounds):
    """The run order: every round runs every unit under every allocator.

    Allocators alternate within each unit, so the runs being compared with
    each other are seconds apart and drift (thermal, other load) hits all of
    them alike. The allocator order rotates by one each round so that no
    allocator always runs first (on a cold cache) or right after a heavy one.

    >>> interleave(["a", "b", "c"], ["u"], 2)
    [(0, 'u', 'a'), (0, 'u', 'b'), (0, 'u', 'c'), (1, 'u', 'b'), (1, 'u', 'c'), (1, 'u', 'a')]
    """
    plan = []
    n = len(allocators)
    for r in range(rounds):
        order = [allocators[(r + i) % n] for i in range(n)] if n else []
        for unit in units:
            for alloc in order:
                plan.append((r, unit, alloc))
    return plan


def family_of(name):
    """Workload family of a benchmark name: the part before the first '/'.

    >>> family_of("pair/malloc/16")
    'pair'
    """
    return name.split("/", 1)[0]


def display_name(name):
    """Benchmark name without the suffixes the benchmark library appends.

    >>> display_name("churn/mixed/real_time/threads:2")
    'churn/mixed/threads:2'
    >>> display_name("frag/kv_small/iterations:1")
    'frag/kv_small'
    """
    name = re.sub(r"/real_time|/manual_time|/iterations:\d+", "", name)
    return name


def exact_filter(names):
    """A --benchmark_filter (POSIX extended regex) matching exactly `names`.

    >>> exact_filter(["pair/malloc/16", "a.b"])
    '^(pair/malloc/16|a\\\\.b)$'
    """
    def esc(s):
        return re.sub(r"([.\[\](){}*+?|^$\\])", r"\\\1", s)
    return "^(" + "|".join(esc(n) for n in names) + ")$"


def plan_units(names, split_families, select=None):
    """Group benchmark names into process units.

    One unit per family (so the process's peak RSS is that family's), except
    families in `split_families`, which get one unit per benchmark (their
    in-process RSS counters must not see a sibling's leftovers). `select`, a
    compiled regex, keeps only the names it matches (short mode).

    >>> plan_units(["p/1", "p/2", "f/a", "f/b"], {"f"})
    [('p', ['p/1', 'p/2']), ('f/a', ['f/a']), ('f/b', ['f/b'])]
    """
    units = []
    by_family = {}
    for name in names:
        if select is not None and not select.search(name):
            continue
        fam = family_of(name)
        if fam in split_families:
            units.append((name, [name]))
        elif fam in by_family:
            by_family[fam].append(name)
        else:
            by_family[fam] = [name]
            units.append((fam, by_family[fam]))
    return units


# ---------------------------------------------------- parsing benchmark JSON

_TIME_TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def ns_per_op(bench):
    """Time per operation in ns from one Google Benchmark JSON entry.

    Every quarry-bench workload reports items_per_second, where an item is
    its natural operation (a malloc+free pair, a realloc, ...); for
    multi-threaded ones that is total throughput, so 1e9 / items_per_second
    is wall time per operation across all threads. Falls back to time per
    iteration.

    >>> ns_per_op({"items_per_second": 2e8, "real_time": 9, "time_unit": "ns"})
    5.0
    >>> ns_per_op({"real_time": 2.5, "time_unit": "us"})
    2500.0
    """
    ips = bench.get("items_per_second")
    if ips:
        return 1e9 / ips
    return bench["real_time"] * _TIME_TO_NS[bench.get("time_unit", "ns")]


RSS_COUNTERS = ("rss_peak", "rss_end", "rss_after_free", "live_bytes")
# Process-wide resource use of the timed loop (bench/usage.h): CPU time and
# system time per operation, page faults per 1000 operations, and the loop's
# RSS high-water mark.
USAGE_COUNTERS = ("cpu_ns_op", "sys_ns_op", "minflt_kop", "majflt_kop",
                  "rss_hwm")


def parse_benchmark_json(doc):
    """Per-benchmark outcomes from a parsed Google Benchmark JSON document.

    Returns {name: {"time": outcome, counter: outcome, ...}}. A benchmark
    that called SkipWithError becomes an "error" outcome with its message.
    """
    out = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue  # aggregates (mean/median/stddev) if repetitions were on
        name = b["name"]
        if b.get("error_occurred"):
            err = {"status": "error", "message": b.get("error_message", "")}
            out[name] = {"time": err}
            continue
        entry = {"time": {"status": OK, "value": ns_per_op(b)}}
        for c in RSS_COUNTERS + USAGE_COUNTERS:
            if c in b:
                entry[c] = {"status": OK, "value": float(b[c])}
        out[name] = entry
    return out


# ------------------------------------------------------ parsing strace logs

# System calls through which allocators get and return memory; the syscall
# pass traces these (plus write, for the markers) and nothing else.
STRACE_CALLS = ("madvise", "munmap", "mmap", "mremap")

_STRACE_LINE = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((.*)$")
_MARK_START = re.compile(r'^-1, "qb:start')
_MARK_END = re.compile(r'^-1, "qb:end (\d+)')


def parse_strace_log(text):
    """System calls made inside the last marked timed loop of a quarry-bench
    run under `strace -f -o FILE` (run with --syscall-markers).

    quarry-bench writes "qb:start" and "qb:end OPS" to fd -1 around each
    timed loop; the last pair is the run the benchmark library reports.
    A call that strace splits into "<unfinished ...>" and "<... resumed>"
    lines is counted once, at its start. Returns {"ops": OPS, "calls":
    {name: count}} (every name in STRACE_CALLS present), or None when the
    log has no complete start/end pair.

    >>> log = "\\n".join([
    ...     '7 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, -1, 0) = 0x1',
    ...     '7 write(-1, "qb:start\\\\n", 9) = -1 EBADF',
    ...     '8 madvise(0x1, 4096, MADV_DONTNEED <unfinished ...>',
    ...     '7 munmap(0x2, 8192) = 0',
    ...     '8 <... madvise resumed>) = 0',
    ...     '7 write(-1, "qb:end 1000\\\\n", 12) = -1 EBADF',
    ...     '8 madvise(0x1, 4096, MADV_DONTNEED) = 0'])
    >>> r = parse_strace_log(log)
    >>> c = r["calls"]
    >>> r["ops"], c["madvise"], c["munmap"], c["mmap"]
    (1000, 1, 1, 0)
    """
    result = None
    counts = None
    for line in text.splitlines():
        m = _STRACE_LINE.match(line)
        if not m:
            continue  # "<... resumed>", "+++ exited", "--- SIG..." lines
        call, rest = m.groups()
        if call == "write":
            if _MARK_START.match(rest):
                counts = dict.fromkeys(STRACE_CALLS, 0)
                continue
            end = _MARK_END.match(rest)
            if end and counts is not None:
                result = {"ops": int(end.group(1)), "calls": counts}
                counts = None
            continue
        if counts is not None and call in counts:
            counts[call] += 1
    return result


# ------------------------------------------------------------- statistics


def median(values):
    """Median; the mean of the middle two for an even count.

    >>> median([3, 1, 2])
    2
    >>> median([4, 1, 3, 2])
    2.5
    """
    return statistics.median(values)


def geomean(values):
    """Geometric mean of positive numbers; None for an empty list.

    >>> round(geomean([1, 4, 16]), 6)
    4.0
    >>> geomean([]) is None
    True
    """
    values = [v for v in values if v is not None and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def summarize(outcomes):
    """Collapse the per-round outcomes of one cell into a Cell.

    Any failed round makes the cell show the failure: a crash in one round
    out of three is a bug to see, not noise to median away.

    >>> summarize([{"status": "ok", "value": 3}, {"status": "ok", "value": 1},
    ...            {"status": "ok", "value": 2}])
    Cell(status='ok', value=2, n_ok=3, n_total=3)
    >>> summarize([{"status": "ok", "value": 3}, {"status": "crash"}])
    Cell(status='crash', value=None, n_ok=1, n_total=2)
    >>> summarize([])
    Cell(status='missing', value=None, n_ok=0, n_total=0)
    """
    if not outcomes:
        return Cell("missing", None, 0, 0)
    ok = [o["value"] for o in outcomes if o["status"] == OK]
    failed = [o["status"] for o in outcomes if o["status"] != OK]
    if failed:
        # The most frequent failure names the cell (ties: first seen).
        status = max(dict.fromkeys(failed), key=failed.count)
        return Cell(status, None, len(ok), len(outcomes))
    return Cell(OK, median(ok), len(ok), len(outcomes))


def ratio(a, b):
    """a / b for two Cells, or None unless both are ok and b is non-zero.

    >>> ratio(Cell("ok", 3.0, 3, 3), Cell("ok", 6.0, 3, 3))
    0.5
    >>> ratio(Cell("ok", 3.0, 3, 3), Cell("crash", None, 0, 3)) is None
    True
    """
    if a.status != OK or b.status != OK or not b.value:
        return None
    return a.value / b.value


def rate_cell(per_op, time_cell):
    """Events per second of benchmark time: a per-operation count (Cell)
    times the operations per second of the timing rounds (from a ns/op
    Cell). Counting under strace slows the run down, so its own duration
    would understate the rate; the count per operation does not change.

    >>> rate_cell(Cell("ok", 0.5, 1, 1), Cell("ok", 100.0, 3, 3))
    Cell(status='ok', value=5000000.0, n_ok=1, n_total=1)
    >>> rate_cell(Cell("ok", 0.5, 1, 1), Cell("crash", None, 0, 3)).status
    'crash'
    """
    if per_op.status != OK:
        return per_op
    if time_cell.status != OK or not time_cell.value:
        status = time_cell.status if time_cell.status != OK else "missing"
        return Cell(status, None, 0, per_op.n_total)
    return Cell(OK, per_op.value * 1e9 / time_cell.value, per_op.n_ok,
                per_op.n_total)


# ------------------------------------------------------------- formatting


def _sig3(x):
    """Three significant digits, no exponent for the magnitudes we print."""
    if x == 0:
        return "0"
    digits = max(0, 2 - int(math.floor(math.log10(abs(x)))))
    return f"{x:.{digits}f}"


def format_time(ns):
    """ns with a readable unit.

    >>> [format_time(x) for x in (8.523, 85.2, 1234.0, 4.5e6, 2e9)]
    ['8.52 ns', '85.2 ns', '1.23 us', '4.50 ms', '2.00 s']
    """
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{_sig3(ns / scale)} {unit}"
    return f"{_sig3(ns)} ns"


def format_bytes(b):
    """Bytes as MiB (the scale of everything we measure).

    >>> format_bytes(3 * 2**20), format_bytes(1.5 * 2**30)
    ('3.00 MiB', '1536 MiB')
    """
    return f"{_sig3(b / 2**20)} MiB"


def format_ratio(r):
    """Two decimals around 1, fewer digits as the ratio grows.

    >>> format_ratio(0.5), format_ratio(12.345), format_ratio(0.0123)
    ('0.50', '12.3', '0.012')
    >>> format_ratio(None)
    '-'
    """
    if r is None:
        return "-"
    if r < 0.1:
        return f"{r:.3f}"
    if r < 10:
        return f"{r:.2f}"
    return f"{r:.1f}" if r < 100 else f"{r:.0f}"


def format_rate(v):
    """A count per second or per 1000 operations: whole numbers when large,
    three significant digits when small.

    >>> [format_rate(x) for x in (0, 0.01234, 5.5, 1234.4, 1234567.0)]
    ['0', '0.0123', '5.50', '1,234', '1,234,567']
    """
    if v >= 1000:
        return f"{v:,.0f}"
    return _sig3(v)


FORMATTERS = {
    "time": format_time,
    "bytes": format_bytes,
    "rate": format_rate,
    "count": lambda v: f"{v:,.0f}",
    "instr": lambda v: f"{v:.1f}",
    "ratio": format_ratio,
}


def format_cell(cell, kind):
    """A Cell as table text: the value, or the failure with the share of
    rounds it hit when only some rounds failed.

    >>> format_cell(Cell("ok", 8.5, 3, 3), "time")
    '8.50 ns'
    >>> format_cell(Cell("crash", None, 0, 3), "time")
    'crash'
    >>> format_cell(Cell("timeout", None, 2, 3), "time")
    'timeout 1/3'
    """
    if cell.status == OK:
        return FORMATTERS[kind](cell.value)
    if 0 < cell.n_ok < cell.n_total:
        return f"{cell.status} {cell.n_total - cell.n_ok}/{cell.n_total}"
    return cell.status


# ------------------------------------------------------------------ tables


def build_table(rows, allocators, subject):
    """Add ratio columns and a geometric-mean row to summarized rows.

    rows: [(label, {alloc: Cell})]. Returns a dict with "rows" (each with
    "cells" and "ratios": subject / other for every other allocator) and
    "geomean". The allocator geomeans are taken over the rows where every
    allocator has a value, so they compare like with like; each ratio
    geomean over the rows where both sides do. "geomean_rows" says how many.
    Allocators without a single value (missing) are left out of "every".
    """
    others = [a for a in allocators if a != subject] if subject else []
    out_rows = []
    for label, cells in rows:
        ratios = {o: ratio(cells[subject], cells[o]) for o in others} \
            if subject in cells else {}
        out_rows.append({"label": label, "cells": cells, "ratios": ratios})
    # An allocator with no value anywhere (missing) would otherwise leave
    # no common rows at all.
    present = [a for a in allocators
               if any(r["cells"][a].status == OK for r in out_rows)]
    common = [r for r in out_rows
              if all(r["cells"][a].status == OK for a in present)]
    gm_cells = {a: geomean([r["cells"][a].value for r in common])
                if a in present else None for a in allocators}
    gm_ratios = {}
    gm_ratio_rows = {}
    for o in others:
        rs = [r["ratios"][o] for r in out_rows if r["ratios"].get(o)]
        gm_ratios[o] = geomean(rs)
        gm_ratio_rows[o] = len(rs)
    return {
        "allocators": list(allocators),
        "subject": subject,
        "rows": out_rows,
        "geomean": {"cells": gm_cells, "ratios": gm_ratios},
        "geomean_rows": {"cells": len(common), "ratios": gm_ratio_rows},
    }


def render_markdown(table, kind, row_header, with_geomean=True):
    """A built table as a Markdown table string. with_geomean=False leaves
    out the geometric-mean row, which means nothing for counts that are
    often zero (faults, system calls)."""
    allocs = table["allocators"]
    subject = table["subject"]
    others = [a for a in allocs if a != subject] if subject else []
    head = [row_header] + allocs + [f"{subject}/{o}" for o in others]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in table["rows"]:
        cells = [format_cell(r["cells"][a], kind) for a in allocs]
        ratios = [format_ratio(r["ratios"].get(o)) for o in others]
        lines.append("| " + " | ".join([r["label"]] + cells + ratios) + " |")
    if not with_geomean:
        return "\n".join(lines)
    fmt = FORMATTERS[kind]
    gm = table["geomean"]
    n_rows = len(table["rows"])
    label = "**geomean**"
    if table["geomean_rows"]["cells"] != n_rows:
        label += f" ({table['geomean_rows']['cells']}/{n_rows} rows)"
    cells = [fmt(gm["cells"][a]) if gm["cells"][a] else "-" for a in allocs]
    ratios = [f"**{format_ratio(gm['ratios'][o])}**" if gm["ratios"][o]
              else "-" for o in others]
    lines.append("| " + " | ".join([label] + cells + ratios) + " |")
    return "\n".join(lines)


def table_to_json(table):
    """A built table as plain JSON-able data (Cells become dicts)."""
    def cell(c):
        return {"status": c.status, "median": c.value,
                "rounds_ok": c.n_ok, "rounds": c.n_total}
    return {
        "allocators": table["allocators"],
        "subject": table["subject"],
        "rows": [{"workload": r["label"],
                  "cells": {a: cell(c) for a, c in r["cells"].items()},
                  "ratios": r["ratios"]} for r in table["rows"]],
        "geomean": table["geomean"],
        "geomean_rows": table["geomean_rows"],
    }


def scaling_rows(time_cells, allocators):
    """Throughput at n threads over throughput at 1 thread, per allocator.

    time_cells: {benchmark name: {alloc: Cell}} with ns/op cells. Rows come
    from names ending in threads:N (N > 1) whose threads:1 sibling exists.

    >>> c = lambda v: Cell("ok", v, 1, 1)
    >>> scaling_rows({"x/threads:1": {"a": c(10.0)},
    ...               "x/threads:2": {"a": c(5.0)}}, ["a"])
    [('x/threads:2', {'a': 2.0})]
    """
    rows = []
    for name, cells in time_cells.items():
        m = re.match(r"(.*/threads:)(\d+)$", name)
        if not m or m.group(2) == "1":
            continue
        base = time_cells.get(m.group(1) + "1")
        if not base:
            continue
        rows.append((name, {a: ratio(base[a], cells[a])
                            if a in base and a in cells else None
                            for a in allocators}))
    return rows


def render_versus(rows, subject, versus, columns):
    """A compact Markdown table of `subject` against a few allocators.

    rows: [(label, {metric: {alloc: Cell}})]. columns: [(metric, title,
    how, kind)] where how is "ratio" (one column per allocator in versus:
    subject / it, with a geometric-mean row) or "values" (one column with
    the subject's value and then each versus allocator's, joined by " / ",
    formatted as `kind`).

    >>> c = lambda v: Cell("ok", v, 3, 3)
    >>> rows = [("w", {"t": {"q": c(2.0), "j": c(4.0)},
    ...                "f": {"q": c(1.0), "j": c(3.0)}})]
    >>> print(render_versus(rows, "q", ["j"], [("t", "wall", "ratio", "time"),
    ...                                     ("f", "faults", "values", "rate")]))
    | workload | wall q/j | faults q / j |
    |---|---:|---:|
    | w | 0.50 | 1.00 / 3.00 |
    | **geomean** | **0.50** |  |
    """
    head = ["workload"]
    for metric, title, how, _ in columns:
        if how == "ratio":
            head += [f"{title} {subject}/{v}" for v in versus]
        else:
            head.append(f"{title} " + " / ".join([subject] + list(versus)))
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    ratios = {}  # (metric, versus) -> [ratio per row]
    missing = Cell("missing", None, 0, 0)
    for label, metrics in rows:
        out = [label]
        for metric, _, how, kind in columns:
            cells = metrics.get(metric, {})
            if how == "ratio":
                for v in versus:
                    r = ratio(cells.get(subject, missing),
                              cells.get(v, missing))
                    ratios.setdefault((metric, v), []).append(r)
                    out.append(format_ratio(r))
            else:
                out.append(" / ".join(format_cell(cells.get(a, missing), kind)
                                      for a in [subject] + list(versus)))
        lines.append("| " + " | ".join(out) + " |")
    gm = ["**geomean**"]
    for metric, _, how, _ in columns:
        if how == "ratio":
            for v in versus:
                g = geomean(ratios.get((metric, v), []))
                gm.append(f"**{format_ratio(g)}**" if g else "-")
        else:
            gm.append("")
    lines.append("| " + " | ".join(gm) + " |")
    return "\n".join(lines)
