"""The one-screen summary at the top of bench/compare's report: per family
(micro-workloads, real programs, Redis) and metric, the subject's
geometric-mean ratio against each other allocator and the worst single
case. Pure functions; checked by test_compare.py.
"""

import compare_core as core


def entry(family, metric, rows, names, subject):
    """rows: [(label, {alloc: Cell})] (lower is better). Returns
    {"family", "metric", "ratios": {other: geomean subject/other or None},
    "rows": {other: n}, "worst": (label, other, ratio) or None}.

    >>> c = lambda v: core.Cell("ok", v, 3, 3)
    >>> e = entry("f", "cpu", [("a", {"q": c(1.0), "g": c(2.0)}),
    ...                        ("b", {"q": c(3.0), "g": c(2.0)})], ["g", "q"], "q")
    >>> round(e["ratios"]["g"], 3), e["worst"]
    (0.866, ('b', 'g', 1.5))
    """
    others = [a for a in names if a != subject]
    ratios, counts, worst = {}, {}, None
    for o in others:
        rs = []
        for label, cells in rows:
            if subject not in cells or o not in cells:
                continue
            r = core.ratio(cells[subject], cells[o])
            if r:
                rs.append(r)
                if worst is None or r > worst[2]:
                    worst = (label, o, r)
        ratios[o] = core.geomean(rs)
        counts[o] = len(rs)
    return {"family": family, "metric": metric, "ratios": ratios,
            "rows": counts, "worst": worst}


def render(entries, names, subject, charts=()):
    """Markdown lines of the summary table.

    >>> c = lambda v: core.Cell("ok", v, 3, 3)
    >>> e = entry("programs", "CPU time", [("jq", {"q": c(1.0), "g": c(2.0)})],
    ...           ["g", "q"], "q")
    >>> print("\\n".join(render([e], ["g", "q"], "q")[4:6]))
    | family | metric | q/g | worst case |
    |---|---|---:|---|
    """
    others = [a for a in names if a != subject]
    out = [f"## Summary: {subject} against each allocator", "",
           f"Geometric means of {subject}/x over each family's rows (lower "
           f"is better for every metric: < 1 means {subject} uses less CPU "
           "time or memory); the worst case is the single row where "
           f"{subject} compares worst. Medians of a shared, noisy machine; "
           "the tables below have the figures.", "",
           "| family | metric | " + " | ".join(f"{subject}/{o}"
                                               for o in others)
           + " | worst case |",
           "|---|---|" + "---:|" * len(others) + "---|"]
    for e in entries:
        cells = [core.format_ratio(e["ratios"].get(o)) for o in others]
        w = e["worst"]
        worst = f"{w[0]} vs {w[1]}: {core.format_ratio(w[2])}" if w else "-"
        out.append(f"| {e['family']} | {e['metric']} | " + " | ".join(cells)
                   + f" | {worst} |")
    out.append("")
    if charts:
        out += ["Charts: " + ", ".join(f"`{c}`" for c in charts), ""]
    return out
