"""SVG chart for bench/compare, written by hand (no plotting library).

One group of horizontal bars per workload, one bar per allocator: its time
per operation divided by the baseline allocator's (glibc when present). The
axis is logarithmic and centred on 1, so "twice as fast" and "twice as slow"
are bars of equal length on opposite sides. Horizontal rather than vertical
bars because a full run has ~90 workloads with long names.
"""

import math
from xml.sax.saxutils import escape

# Colour-blind-safe palette (Okabe-Ito), one colour per allocator position.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00",
           "#56B4E9", "#F0E442", "#000000"]

LABEL_W = 260     # left column for workload names
PLOT_W = 560      # bar area
RIGHT_W = 40
BAR_H = 9
GROUP_GAP = 8
TOP = 70          # title + legend
BOTTOM = 40       # axis labels


def _log_range(ratios):
    """Axis limits as powers of two enclosing every ratio and 1."""
    finite = [r for r in ratios if r and r > 0]
    lo = min(finite + [1.0])
    hi = max(finite + [1.0])
    lo_e = math.floor(math.log2(lo))
    hi_e = math.ceil(math.log2(hi))
    if lo_e == hi_e:
        lo_e, hi_e = lo_e - 1, hi_e + 1
    # Keep the chart readable if one workload is off the scale: clip at
    # 1/1024 .. 1024; clipped bars carry their value as text.
    return max(lo_e, -10), min(hi_e, 10)


def render_svg(groups, allocators, baseline, title, subtitle=None):
    """groups: [(label, {alloc: ratio or failure string})] -> SVG text.

    A ratio is a float (time relative to `baseline`); a string is a failure
    ("crash", "timeout", ...) and is written as text where the bar would be.
    The baseline allocator itself is not drawn (it would be 1 everywhere).
    """
    bars = [a for a in allocators if a != baseline]
    colors = {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(allocators)}
    values = [v for _, row in groups for v in row.values()
              if isinstance(v, (int, float))]
    lo_e, hi_e = _log_range(values)
    lo, hi = 2.0 ** lo_e, 2.0 ** hi_e

    def x(r):
        r = min(max(r, lo), hi)
        return LABEL_W + (math.log2(r) - lo_e) / (hi_e - lo_e) * PLOT_W

    group_h = max(1, len(bars)) * BAR_H + GROUP_GAP
    height = TOP + len(groups) * group_h + BOTTOM
    width = LABEL_W + PLOT_W + RIGHT_W
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:.0f}" y="18" text-anchor="middle" '
        f'font-size="14">{escape(title)}</text>',
        f'<text x="{width / 2:.0f}" y="34" text-anchor="middle" fill="#555">'
        + escape(subtitle or f'time per operation / {baseline} (log scale; '
                 'left of 1 = faster)') + '</text>',
    ]
    # Legend.
    lx = LABEL_W
    for a in bars:
        out.append(f'<rect x="{lx}" y="46" width="10" height="10" '
                   f'fill="{colors[a]}"/>')
        out.append(f'<text x="{lx + 14}" y="55">{escape(a)}</text>')
        lx += 14 + 8 * len(a) + 16
    # Grid lines at every power of two, labelled.
    plot_top, plot_bottom = TOP - 6, height - BOTTOM + 4
    # Label every k-th power of two so labels like "1/512" never collide;
    # counting from 0 keeps the 1 line labelled.
    spacing = PLOT_W / (hi_e - lo_e)
    k = max(1, math.ceil(36 / spacing))
    for e in range(lo_e, hi_e + 1):
        gx = x(2.0 ** e)
        stroke = "#333" if e == 0 else "#ddd"
        out.append(f'<line x1="{gx:.1f}" y1="{plot_top}" x2="{gx:.1f}" '
                   f'y2="{plot_bottom}" stroke="{stroke}"/>')
        if e % k:
            continue
        label = f"{2.0 ** e:g}" if e >= 0 else f"1/{2 ** -e}"
        out.append(f'<text x="{gx:.1f}" y="{plot_bottom + 14}" '
                   f'text-anchor="middle" fill="#333">{label}</text>')
    # Bars.
    x1 = x(1.0)
    for gi, (label, row) in enumerate(groups):
        gy = TOP + gi * group_h
        out.append(f'<text x="{LABEL_W - 6}" '
                   f'y="{gy + len(bars) * BAR_H / 2 + 4:.1f}" '
                   f'text-anchor="end">{escape(label)}</text>')
        for bi, a in enumerate(bars):
            by = gy + bi * BAR_H
            v = row.get(a)
            if isinstance(v, (int, float)) and v > 0:
                bx = x(v)
                left, w = min(x1, bx), max(abs(bx - x1), 1.0)
                out.append(
                    f'<rect x="{left:.1f}" y="{by}" width="{w:.1f}" '
                    f'height="{BAR_H - 1}" fill="{colors[a]}">'
                    f'<title>{escape(a)}: {v:.3g}x</title></rect>')
                if v > hi or v < lo:
                    tx, anchor = (bx - 2, "end") if v > hi else (bx + 2,
                                                                  "start")
                    out.append(f'<text x="{tx:.1f}" y="{by + BAR_H - 1}" '
                               f'font-size="8" fill="white" '
                               f'text-anchor="{anchor}">{v:.3g}x</text>')
            else:
                text = v if isinstance(v, str) else "n/a"
                out.append(f'<text x="{x1 + 3:.1f}" y="{by + BAR_H - 1}" '
                           f'font-size="8" fill="{colors[a]}">'
                           f'{escape(a)}: {escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def render_lines(series, allocators, title, subtitle, marks=None):
    """A line chart: series {alloc: [(x seconds, y bytes)]}, one coloured
    line per allocator (same colours as render_svg), y in MiB from 0.
    marks: [(x, label)] drawn as dotted vertical lines (the phases of one
    allocator's run, to read the others against)."""
    colors = {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(allocators)}
    pts = [p for a in allocators for p in series.get(a, []) if p[1]]
    xmax = max([p[0] for p in pts] + [1.0])
    ymax = max([p[1] for p in pts] + [1.0]) / 2**20
    # A round number of MiB for the top of the axis.
    step = 10 ** math.floor(math.log10(ymax)) if ymax >= 1 else 1
    for m in (1, 2, 5, 10):
        if ymax / (step * m) <= 6:
            step *= m
            break
    ytop = step * math.ceil(ymax / step)
    left, top, pw, ph = 70, 60, PLOT_W, 300
    width, height = left + pw + RIGHT_W, top + ph + 50

    def px(t):
        return left + t / xmax * pw

    def py(v):
        return top + ph - (v / 2**20) / ytop * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:.0f}" y="18" text-anchor="middle" '
        f'font-size="14">{escape(title)}</text>',
        f'<text x="{width / 2:.0f}" y="34" text-anchor="middle" fill="#555">'
        f'{escape(subtitle)}</text>',
    ]
    lx = left
    for a in allocators:
        out.append(f'<rect x="{lx}" y="42" width="10" height="10" '
                   f'fill="{colors[a]}"/>')
        out.append(f'<text x="{lx + 14}" y="51">{escape(a)}</text>')
        lx += 14 + 8 * len(a) + 16
    v = 0.0
    while v <= ytop + 1e-9:
        y = py(v * 2**20)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" '
                   f'y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{v:g} MiB</text>')
        v += step
    for t, label in marks or []:
        x = px(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" '
                   f'y2="{top + ph}" stroke="#999" stroke-dasharray="2,3"/>')
        out.append(f'<text x="{x + 2:.1f}" y="{top + 10}" fill="#555" '
                   f'font-size="9">{escape(label)}</text>')
    for a in allocators:
        ps = [p for p in series.get(a, []) if p[1]]
        if not ps:
            continue
        d = " ".join(f"{px(t):.1f},{py(y):.1f}" for t, y in ps)
        out.append(f'<polyline fill="none" stroke="{colors[a]}" '
                   f'stroke-width="1.5" points="{d}"><title>{escape(a)}'
                   f'</title></polyline>')
    out.append(f'<text x="{left + pw / 2:.0f}" y="{top + ph + 30}" '
               'text-anchor="middle" fill="#333">seconds since the first '
               'phase began</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
