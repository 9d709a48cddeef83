"""The benchmark suite's plot: scoring latency against graph size, drawn as SVG text (no plotting library).

Lines: p50 and p99, in process and over HTTP; x is the number of applications in the store
on a log scale, y is milliseconds on a linear scale from zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 800, 460
LEFT, RIGHT, TOP, BOTTOM = 80, 230, 60, 70
SERIES = (
    ("score", "p50_ms", "in process p50 / 进程内 p50", "#1f77b4", ""),
    ("score", "p99_ms", "in process p99 / 进程内 p99", "#1f77b4", "6 4"),
    ("http", "p50_ms", "HTTP p50", "#d62728", ""),
    ("http", "p99_ms", "HTTP p99", "#d62728", "6 4"),
)
TITLE = "评分延迟与图规模 · Scoring latency against graph size"


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def latency_svg(figures: Mapping[str, Mapping[str, Mapping[str, float]]], sizes: Sequence[int],
                subtitle: str = "") -> str:
    """The plot as an SVG document; ``figures[part][str(size)][key]`` as the suite's JSON holds them."""
    points = {
        (part, key): [(n, float(figures[part][str(n)][key])) for n in sizes
                      if str(n) in figures.get(part, {})
                      and math.isfinite(float(figures[part][str(n)].get(key) or "nan"))]
        for part, key, *_ in SERIES
    }
    y_max = _nice_ceiling(max((ms for line in points.values() for _, ms in line), default=1.0) * 1.05)
    lo, hi = math.log10(min(sizes)), math.log10(max(sizes))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(n: float) -> float:
        return LEFT + (math.log10(n) - lo) / (hi - lo) * plot_w

    def y(ms: float) -> float:
        return TOP + plot_h - ms / y_max * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="16">{escape(TITLE)}</text>']
    if subtitle:
        out.append(f'<text x="{WIDTH / 2}" y="42" text-anchor="middle" fill="#555">{escape(subtitle)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>')
    for k in range(6):  # y grid and ticks
        ms = y_max * k / 5
        out.append(f'<line x1="{LEFT}" y1="{y(ms):.1f}" x2="{LEFT + plot_w}" y2="{y(ms):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(ms) + 4:.1f}" text-anchor="end">{ms:g}</text>')
    for n in sizes:  # x ticks at the sizes measured
        out.append(f'<line x1="{x(n):.1f}" y1="{TOP + plot_h}" x2="{x(n):.1f}" y2="{TOP + plot_h + 5}" stroke="#333"/>')
        out.append(f'<text x="{x(n):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{_size_label(n)}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 20}" text-anchor="middle">'
               f'{escape("图中申请数 · applications in the graph (log scale)")}</text>')
    out.append(f'<text transform="translate(22 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">'
               f'{escape("延迟 · latency (ms)")}</text>')
    for row, (part, key, label, colour, dash) in enumerate(SERIES):
        line = points[(part, key)]
        style = f'stroke="{colour}" stroke-width="2" fill="none"' + (f' stroke-dasharray="{dash}"' if dash else "")
        if len(line) > 1:
            path = " ".join(f"{x(n):.1f},{y(ms):.1f}" for n, ms in line)
            out.append(f'<polyline points="{path}" {style}/>')
        for n, ms in line:
            out.append(f'<circle cx="{x(n):.1f}" cy="{y(ms):.1f}" r="3" fill="{colour}"><title>'
                       f'{escape(label)}: {ms:.2f} ms at {n:,}</title></circle>')
        ly = TOP + 14 + row * 20  # legend
        lx = LEFT + plot_w + 16
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 28}" y2="{ly}" {style}/>')
        out.append(f'<text x="{lx + 34}" y="{ly + 4}">{escape(label)}{"" if line else " (—)"}</text>')
    if not any(points.values()):
        out.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" fill="#888">'
                   f'{escape("无延迟数据 · no latency measured in this run")}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
