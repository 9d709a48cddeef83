"""The report's charts as inline SVG text, with no plotting library (as ``bench/suite_plot.py`` draws).

What the data draws (lines, bars, nodes) has class ``mark``, so a test can count it.
Every label comes in English and Chinese: :func:`words` writes both, one ``<text>`` each
with class ``en`` or ``zh``, and the page's style shows the language chosen. Each chart is
an ``<svg>`` with a ``viewBox`` (it scales with the page) and ``data-figure`` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from tianwang.report.figures import nice_ceiling
from tianwang.report.rings import RingDrawing

__all__ = ["Series", "bar_chart", "curve_chart", "histogram_chart", "ring_chart", "words"]

Text = tuple[str, str]  # (English, 中文)
WIDTH, HEIGHT = 640, 380
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 44, 56
FRAUD, LEGIT, NEUTRAL = "#d62728", "#1f77b4", "#7f7f7f"
KIND_COLOURS = {"Application": LEGIT, "Person": "#9467bd", "Phone": "#2ca02c", "BankAccount": "#ff7f0e",
                "Device": "#8c564b", "Address": "#e377c2", "Employer": "#17becf", "Dealer": "#bcbd22",
                "Vehicle": NEUTRAL}
#: the names of the attribute kinds in a ring drawing's legend
KIND_NAMES: dict[str, Text] = {"Person": ("person", "人员"), "Phone": ("phone", "手机"),
                               "BankAccount": ("account", "银行账户"), "Device": ("device", "设备"),
                               "Address": ("address", "地址"), "Employer": ("employer", "单位"),
                               "Dealer": ("dealer", "经销商"), "Vehicle": ("vehicle", "车辆")}
#: a white outline under a label, so that the lines it crosses do not hide it
HALO = 'paint-order="stroke" stroke="white" stroke-width="3" stroke-linejoin="round"'


@dataclass(frozen=True, slots=True)
class Series:
    """One line or one set of bars: its name, colour and values (``x`` only for lines)."""

    name: Text
    colour: str
    y: Sequence[float]
    x: Sequence[float] = ()
    dash: str = ""


def words(x: float, y: float, text: Text, **attrs: str | float) -> str:
    """``text`` at ``(x, y)`` in both languages (one element when they are the same)."""
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items())
    en, zh = text
    if en == zh:
        return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(en)}</text>'
    return (f'<text class="en" x="{x:.1f}" y="{y:.1f}"{extra}>{escape(en)}</text>'
            f'<text class="zh" x="{x:.1f}" y="{y:.1f}"{extra}>{escape(zh)}</text>')


def _open(figure: str, title: Text, width: int = WIDTH, height: int = HEIGHT) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" data-figure="{escape(figure)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" font-family="sans-serif" font-size="12">',
            f'<rect width="{width}" height="{height}" fill="white"/>',
            words(width / 2, 20, title, text_anchor="middle", font_size=15, font_weight="bold")]


class _Frame:
    """The plot area of a chart and its scales: x and y from ``[lo, hi]`` to pixels."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], left: int = LEFT) -> None:
        self.x_lo, self.x_hi = x_range
        self.y_lo, self.y_hi = y_range
        self.left, self.width, self.height = left, WIDTH - left - RIGHT, HEIGHT - TOP - BOTTOM

    def x(self, v: float) -> float:
        return self.left + (v - self.x_lo) / ((self.x_hi - self.x_lo) or 1.0) * self.width

    def y(self, v: float) -> float:
        return TOP + self.height - (v - self.y_lo) / ((self.y_hi - self.y_lo) or 1.0) * self.height

    def axes(self, x_label: Text, y_label: Text, x_ticks: Sequence[float], y_ticks: Sequence[float]) -> list[str]:
        out = [f'<rect x="{self.left}" y="{TOP}" width="{self.width}" height="{self.height}" fill="none" '
               f'stroke="#333"/>']
        for v in y_ticks:
            out.append(f'<line x1="{self.left}" y1="{self.y(v):.1f}" x2="{self.left + self.width}" '
                       f'y2="{self.y(v):.1f}" stroke="#e5e5e5"/>')
            out.append(words(self.left - 6, self.y(v) + 4, (f"{v:g}", f"{v:g}"), text_anchor="end"))
        for v in x_ticks:
            out.append(f'<line x1="{self.x(v):.1f}" y1="{TOP + self.height}" x2="{self.x(v):.1f}" '
                       f'y2="{TOP + self.height + 5}" stroke="#333"/>')
            out.append(words(self.x(v), TOP + self.height + 18, (f"{v:g}", f"{v:g}"), text_anchor="middle"))
        out.append(words(self.left + self.width / 2, HEIGHT - 14, x_label, text_anchor="middle"))
        out.append(f'<g transform="translate(16 {TOP + self.height / 2}) rotate(-90)">'
                   f'{words(0, 0, y_label, text_anchor="middle")}</g>')
        return out


def _ticks(hi: float, n: int = 5, lo: float = 0.0) -> list[float]:
    return [round(lo + (hi - lo) * k / n, 10) for k in range(n + 1)]


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    out = []
    for row, s in enumerate(series):
        ly = y + row * 18
        out.append(f'<rect x="{x:.1f}" y="{ly - 9:.1f}" width="14" height="10" fill="{s.colour}"/>')
        out.append(words(x + 20, ly, s.name))
    return out


def _legend_row(series: Sequence[Series], x: float, y: float, step: float = 220) -> list[str]:
    out = []
    for i, s in enumerate(series):
        out.append(f'<rect x="{x + i * step:.1f}" y="{y - 9:.1f}" width="14" height="10" fill="{s.colour}"/>')
        out.append(words(x + i * step + 20, y, s.name))
    return out


def curve_chart(figure: str, title: Text, x_label: Text, y_label: Text, series: Sequence[Series],
                diagonal: bool = False, note: Text | None = None) -> str:
    """Lines in the unit square (ROC, precision-recall); ``diagonal`` draws chance as a dashed line."""
    frame = _Frame((0.0, 1.0), (0.0, 1.0))
    out = _open(figure, title) + frame.axes(x_label, y_label, _ticks(1.0), _ticks(1.0))
    if diagonal:
        out.append(f'<line x1="{frame.x(0):.1f}" y1="{frame.y(0):.1f}" x2="{frame.x(1):.1f}" y2="{frame.y(1):.1f}" '
                   f'stroke="#999" stroke-dasharray="4 4"/>')
    for s in series:
        if s.x:
            points = " ".join(f"{frame.x(a):.1f},{frame.y(b):.1f}" for a, b in zip(s.x, s.y, strict=True))
            dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
            out.append(f'<polyline class="mark" points="{points}" fill="none" stroke="{s.colour}" '
                       f'stroke-width="2"{dash}/>')
    # where the curves leave room: ROC bends up-left (bottom right is empty), precision-recall starts high and
    # falls towards the base rate at recall 1 (bottom left is empty)
    bottom = TOP + frame.height - 40
    out += _legend(series, frame.left + frame.width - 200 if diagonal else frame.left + 20, bottom)
    if note is not None:
        out.append(words(frame.left + frame.width / 2, TOP - 6, note, text_anchor="middle", fill="#555"))
    out.append("</svg>")
    return "\n".join(out)


def histogram_chart(figure: str, title: Text, x_label: Text, y_label: Text, edges: Sequence[float],
                    series: Sequence[Series], markers: Sequence[tuple[float, Text, str]] = ()) -> str:
    """Bars over ``edges`` (series overlaid, half transparent), with vertical ``markers`` (value, name, colour)."""
    y_top = nice_ceiling(max((v for s in series for v in s.y), default=0.0))
    frame = _Frame((edges[0], edges[-1]), (0.0, y_top))
    x_ticks = [edges[i] for i in range(0, len(edges), max(1, (len(edges) - 1) // 5))]
    out = _open(figure, title) + frame.axes(x_label, y_label, x_ticks, _ticks(y_top))
    for s in series:
        for lo, hi, v in zip(edges, edges[1:], s.y, strict=False):
            if v > 0:
                out.append(f'<rect class="mark" x="{frame.x(lo):.1f}" y="{frame.y(v):.1f}" '
                           f'width="{frame.x(hi) - frame.x(lo):.1f}" height="{frame.y(0) - frame.y(v):.1f}" '
                           f'fill="{s.colour}" fill-opacity="0.55" '
                           f'stroke="{s.colour}"><title>{lo:g}–{hi:g}: {v:.4g}</title></rect>')
    for row, (value, name, colour) in enumerate(markers):
        x = frame.x(min(max(value, edges[0]), edges[-1]))
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{frame.y(0):.1f}" stroke="{colour}" '
                   f'stroke-dasharray="5 3" stroke-width="1.5"/>')
        out.append(words(x + 4, TOP + 14 + 16 * row, name, fill=colour))
    out += _legend(series, frame.left + frame.width - 200, TOP + 18)
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(figure: str, title: Text, x_label: Text, rows: Sequence[str], series: Sequence[Series],
              x_range: tuple[float, float] | None = None) -> str:
    """Horizontal bars, one group per row, one bar per series; a zero line when values go negative."""
    values = [v for s in series for v in s.y]
    lo = min(0.0, min(values, default=0.0))
    hi = max(0.0, max(values, default=0.0))
    if x_range is None:
        hi = nice_ceiling(hi) if hi > 0 else 0.0
        lo = -nice_ceiling(-lo) if lo < 0 else 0.0
        x_range = (lo, hi if hi > lo else 1.0)
    left = 150
    frame = _Frame(x_range, (0.0, float(max(len(rows), 1))), left=left)
    ticks = _ticks(x_range[1], 4, x_range[0])
    out = _open(figure, title) + frame.axes(x_label, ("", ""), ticks, [])
    band = frame.height / max(len(rows), 1)
    bar = band * 0.7 / max(len(series), 1)
    for i, row in enumerate(rows):
        top = TOP + i * band + band * 0.15
        out.append(words(left - 6, top + band * 0.35 + 4, (row, row), text_anchor="end"))
        for j, s in enumerate(series):
            v = s.y[i]
            x0, x1 = sorted((frame.x(0.0), frame.x(v)))
            out.append(f'<rect class="mark" x="{x0:.1f}" y="{top + j * bar:.1f}" width="{max(x1 - x0, 1.0):.1f}" '
                       f'height="{bar:.1f}" fill="{s.colour}"><title>{escape(row)}: {v:.3f}</title></rect>')
    if x_range[0] < 0:
        out.append(f'<line x1="{frame.x(0):.1f}" y1="{TOP}" x2="{frame.x(0):.1f}" y2="{TOP + frame.height}" '
                   f'stroke="#333"/>')
    if len(series) > 1:
        out += _legend_row(series, WIDTH - RIGHT - 130 * len(series), TOP - 4, 130)
    out.append("</svg>")
    return "\n".join(out)


def ring_chart(drawing: RingDrawing, size: int = 420) -> str:
    """A ring: applications (red when confirmed fraud) linked to the attributes they share, masked."""
    title = (f"{drawing.ring_id} · risk {drawing.risk:.2f}", f"{drawing.ring_id} · 风险 {drawing.risk:.2f}")
    out = _open(f"ring-{drawing.ring_id}", title, size, size + 60)
    pad, span = 30, size - 60

    def at(v: float) -> float:
        return pad + v * span

    where = {n.node_id: (at(n.x), at(n.y) + 30) for n in drawing.nodes}
    for a, b in drawing.edges:
        (x1, y1), (x2, y2) = where[a], where[b]
        out.append(f'<line class="mark" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#bbb"/>')
    for node in drawing.nodes:
        x, y = where[node.node_id]
        label = escape(f"{node.kind}: {node.label}")
        if node.kind == "Application":
            fill = FRAUD if node.fraud else LEGIT
            out.append(f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="7" fill="{fill}">'
                       f'<title>{label}</title></circle>')
        else:
            fill = KIND_COLOURS.get(node.kind, NEUTRAL)
            out.append(f'<rect class="mark" x="{x - 6:.1f}" y="{y - 6:.1f}" width="12" height="12" fill="{fill}">'
                       f'<title>{label}</title></rect>')
            outward = node.x >= 0.5  # the label away from the centre, so labels cross no other node
            out.append(f'<text x="{x + (9 if outward else -9):.1f}" y="{y + 4:.1f}" font-size="10" fill="#333" '
                       f'text-anchor="{"start" if outward else "end"}" {HALO}>{escape(node.label[:16])}</text>')
    kinds = [k for k in KIND_NAMES if any(n.kind == k for n in drawing.nodes)]
    step = (size - 20) / max(len(kinds), 1)
    for i, kind in enumerate(kinds):  # the legend: which colour is which kind of shared attribute
        x, y = 10 + i * step, size + 45
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{KIND_COLOURS[kind]}"/>')
        out.append(words(x + 14, y, KIND_NAMES[kind], font_size=11, fill="#333"))
    out.append("</svg>")
    return "\n".join(out)
