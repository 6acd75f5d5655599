#!/usr/bin/env python3
"""Draws a quarry statistics trace (QUARRY_CONF=stats_interval:MS,
stats_file:PATH: one JSON object per line) as an SVG chart of allocated,
active, resident and dirty bytes (and the process's RSS) over time.

    bench/trace_chart.py trace.jsonl chart.svg

Standard library only; a line that does not parse (a program killed in the
middle of a write) is skipped with a warning."""
import json
import sys
from xml.sax.saxutils import escape

SERIES = [("allocated", "#2c7fb8"), ("active", "#41ab5d"), ("resident", "#e6550d"),
          ("dirty", "#fdae6b"), ("rss", "#756bb1")]
W, H, LEFT, RIGHT, TOP, BOTTOM = 900, 420, 80, 150, 40, 50


def load(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                rows.append(json.loads(line))
            except ValueError:
                print(f"{path}:{n}: skipped a line that is not JSON", file=sys.stderr)
    return rows


def mib(v):
    return f"{v / 1048576:.0f} MiB" if v >= 10 << 20 else f"{v / 1048576:.1f} MiB"


def chart(rows, title):
    t_max = max(r["t_ms"] for r in rows) or 1
    y_max = max(max(r.get(k, 0) for k, _ in SERIES) for r in rows) or 1
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(t):
        return LEFT + pw * t / t_max

    def y(v):
        return TOP + ph - ph * v / y_max

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{LEFT}" y="22" font-size="14">{escape(title)}</text>']
    for k in range(5):
        v = y_max * k / 4
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{mib(v)}</text>')
        t = t_max * k / 4
        out.append(f'<text x="{x(t):.1f}" y="{TOP + ph + 18}" text-anchor="middle">{t / 1000:.1f} s</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    for n, (key, colour) in enumerate(SERIES):
        pts = " ".join(f"{x(r['t_ms']):.1f},{y(r.get(key, 0)):.1f}" for r in rows)
        out.append(f'<polyline class="{key}" fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"/>')
        ly = TOP + 10 + 18 * n
        out.append(f'<line x1="{LEFT + pw + 12}" x2="{LEFT + pw + 32}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{LEFT + pw + 38}" y="{ly + 4}">{key}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: trace_chart.py <trace.jsonl> <chart.svg>")
    rows = load(sys.argv[1])
    if not rows:
        sys.exit(f"{sys.argv[1]}: no trace lines")
    with open(sys.argv[2], "w") as f:
        f.write(chart(rows, f"quarry trace: {len(rows)} samples"))


main()
