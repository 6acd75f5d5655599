"""Report sections on resource use: CPU time and page faults of every
workload, and the cross-thread section (wall and CPU time, faults,
allocator system calls, peak RSS, and a summary against jemalloc and
mimalloc).

Pure like compare_core: it reads per-round outcomes through a `get(alloc,
key, metric)` function (bench/compare's Collector.get) and returns Markdown
lines and JSON-able data; checked by bench/test_compare.py.
"""

import compare_core as core

# The allocators a reader of the cross-thread section compares quarry with
# first: the two best general-purpose allocators of the field.
VERSUS = ("jemalloc", "mimalloc")


def _cells(get, names, key, metric):
    return {a: core.summarize(get(a, key, metric)) for a in names}


def _has_values(cells):
    return any(c.status == core.OK for c in cells.values())


# Counts (faults, system calls) are often zero, where a geometric mean says
# nothing; only times and sizes get one.
_GEOMEAN_KINDS = ("time", "bytes")


def _table(rows, names, subject, kind, row_header):
    """(markdown, json) for rows where at least one allocator has a value;
    (None, None) if there are none."""
    rows = [(label, cells) for label, cells in rows if _has_values(cells)]
    if not rows:
        return None, None
    t = core.build_table(rows, names, subject)
    return (core.render_markdown(t, kind, row_header,
                                 with_geomean=kind in _GEOMEAN_KINDS),
            core.table_to_json(t))


def usage_sections(get, bench_order, names, subject, rounds, skip_families):
    """CPU time per operation and minor faults per 1000 operations for the
    workloads outside `skip_families` (those get their own section).
    Returns (markdown lines, {"cpu_ns_per_op": table, "minflt_per_kop":
    table})."""
    order = [b for b in bench_order
             if core.family_of(b) not in skip_families]
    cpu_md, cpu_js = _table(
        [(core.display_name(b), _cells(get, names, b, "cpu_ns_op"))
         for b in order], names, subject, "time", "workload")
    # Rows where no allocator faulted at all would only repeat "0".
    flt_md, flt_js = _table(
        [(core.display_name(b), cells) for b in order
         for cells in [_cells(get, names, b, "minflt_kop")]
         if any(c.value for c in cells.values())],
        names, subject, "rate", "workload")
    md = []
    if cpu_md:
        md += [f"## CPU time per operation (median of {rounds} rounds; "
               "lower is better)", "",
               "User + system CPU time of the whole process over the timed "
               "loop (getrusage), per operation: every thread counts, "
               "including an allocator's own background threads. Above the "
               "wall time per operation when threads run in parallel.", "",
               cpu_md, ""]
    if flt_md:
        md += [f"## Minor page faults per 1000 operations (median of "
               f"{rounds} rounds; lower is better)", "",
               "Faults of the whole process over the timed loop: pages the "
               "allocator handed out that the kernel had to back, often "
               "again after a purge. Workloads without a fault under any "
               "allocator are left out.", "", flt_md, ""]
    return md, {"cpu_ns_per_op": cpu_js, "minflt_per_kop": flt_js}


def cross_section(get, bench_order, unit_of, names, subject, rounds,
                  families, syscall_note=None):
    """The cross-thread workloads' section. unit_of maps a benchmark to the
    process unit whose peak RSS was recorded. Returns (markdown lines,
    json dict); ([], None) when no benchmark of `families` ran."""
    order = [b for b in bench_order if core.family_of(b) in families]
    if not order:
        return [], None
    label = core.display_name
    time = {b: _cells(get, names, b, "time") for b in order}
    metrics = {}
    for b in order:
        m = {"time": time[b]}
        for counter in ("cpu_ns_op", "sys_ns_op", "minflt_kop", "rss_hwm"):
            m[counter] = _cells(get, names, b, counter)
        for call in core.STRACE_CALLS:
            per_op = _cells(get, names, b, call + "_op")
            m[call + "_op"] = per_op
            m[call + "_s"] = {a: core.rate_cell(per_op[a], time[b][a])
                              for a in names}
        m["peak_rss"] = _cells(get, names, unit_of.get(b, b), "peak_rss")
        metrics[b] = m

    md = [f"## Cross-thread workloads ({', '.join(families)})", "",
          "Each benchmark runs in its own process. One operation: one block "
          "allocated by one thread and freed by another (xbatch, "
          "xprodcons), one slot replacement with about half the frees "
          "remote (xlife), one block of a shuffled batch (xshuffle). "
          f"Medians of {rounds} rounds.", ""]
    versus = [v for v in VERSUS if v in names and v != subject]
    if subject in names and versus:
        cols = [("time", "wall", "ratio", "time"),
                ("cpu_ns_op", "CPU", "ratio", "time"),
                ("minflt_kop", "faults/1k ops", "values", "rate"),
                ("madvise_s", "madvise/s", "values", "rate"),
                ("peak_rss", "peak RSS", "ratio", "bytes")]
        md += [f"### {subject} against {' and '.join(versus)}", "",
               "Ratios below 1: {0} is faster, uses less CPU or less "
               "memory. Faults and madvise calls: {0}'s value first."
               .format(subject), "",
               core.render_versus([(label(b), metrics[b]) for b in order],
                                  subject, versus, cols), ""]

    js = {}
    tables = [
        ("time", "wall_ns_per_op", "time",
         "Wall time per operation (lower is better)", ""),
        ("cpu_ns_op", "cpu_ns_per_op", "time",
         "CPU time per operation (user + system, all threads)", ""),
        ("sys_ns_op", "sys_ns_per_op", "time",
         "System CPU time per operation",
         "The kernel's share of the CPU time: page faults, madvise, "
         "munmap, futex waits of the hand-offs."),
        ("minflt_kop", "minflt_per_kop", "rate",
         "Minor page faults per 1000 operations", ""),
        ("peak_rss", "peak_rss_bytes", "bytes",
         "Peak RSS of the benchmark's process (lower is better)",
         "VmHWM of the process, including the workload's own tables "
         "(the same for every allocator)."),
    ]
    for metric, key, kind, title, note in tables:
        t_md, t_js = _table([(label(b), metrics[b][metric]) for b in order],
                            names, subject, kind, "workload")
        js[key] = t_js
        if t_md:
            md += [f"### {title}", ""] + ([note, ""] if note else []) + \
                  [t_md, ""]

    sys_rows = [(f"{label(b)} {call}", metrics[b][call + "_s"])
                for b in order for call in core.STRACE_CALLS
                if any(c.value for c in metrics[b][call + "_s"].values())]
    s_md, s_js = _table(sys_rows, names, subject, "rate", "workload, call")
    js["syscalls_per_s"] = s_js
    js["syscalls_per_op"] = {
        label(b): {call: {a: metrics[b][call + "_op"][a].value
                          for a in names} for call in core.STRACE_CALLS}
        for b in order}
    md += ["### Allocator system calls per second", ""]
    if syscall_note:
        md += [syscall_note, ""]
    if s_md:
        md += ["Counted once per allocator with `strace -f` inside the "
               "benchmark's reported timed loop (marked by the benchmark), "
               "as calls per operation, then multiplied by the operations "
               "per second of the timing rounds (strace itself slows the "
               "counted calls down). Calls that did not occur for any "
               "allocator are left out.", "", s_md, ""]
    elif not syscall_note:
        md += ["No allocator made any of these calls, or the pass did not "
               "run (`--syscalls off`).", ""]
    return md, js
