"""Draw the graph model (docs/img/graph-model.svg) from graph_schema's definitions.

    python scripts/draw_graph_model.py [--out docs/img/graph-model.svg] [--check]

Every node label of ``graph_schema.schema.NODE_TYPES`` is a box with its key (filled
when the key is an HMAC of personal data), every relationship type of
``RELATIONSHIP_TYPES`` an arrow. The Application sits in the middle, the labels it links
to around it, the others beyond their neighbour. The output is deterministic:
``tests/docs/test_docs_content.py`` checks that the committed file is what this script
draws now, so a label added without redrawing fails.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts" / "lib"))

from generated import write_or_check  # noqa: E402

from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, SCHEMA_VERSION, Label  # noqa: E402

OUT = ROOT / "docs" / "img" / "graph-model.svg"
WIDTH, HEIGHT = 1000, 640
CENTRE = (560.0, 320.0)
RADIUS, OUTER = 235.0, 470.0
BOX_W, BOX_H = 136.0, 44.0
PARALLEL = 16.0  # pixels between arrows joining the same two labels
PERSONAL, PLAIN, HUB, INK = "#f6d5d5", "#e8eef7", "#fff3c4", "#333333"


def _layout() -> dict[Label, tuple[float, float]]:
    """Where each label's box is centred."""
    cx, cy = CENTRE
    hub = Label.APPLICATION
    around = [label for label in NODE_TYPES if label != hub and any(
        {t.source, t.target} == {hub, label} for t in RELATIONSHIP_TYPES.values())]
    at: dict[Label, tuple[float, float]] = {hub: CENTRE}
    for i, label in enumerate(around):  # clockwise from the left
        angle = math.pi + 2 * math.pi * i / len(around)
        at[label] = (cx + RADIUS * math.cos(angle), cy + RADIUS * math.sin(angle) * 0.92)
    for label in NODE_TYPES:
        if label in at:
            continue
        neighbour = next((t.target if t.source == label else t.source) for t in RELATIONSHIP_TYPES.values()
                         if label in (t.source, t.target) and (t.target if t.source == label else t.source) in at)
        nx, ny = at[neighbour]
        angle = math.atan2(ny - cy, nx - cx)
        at[label] = (cx + OUTER * math.cos(angle), cy + OUTER * math.sin(angle) * 0.92)
    return at


def _to_border(x: float, y: float, dx: float, dy: float) -> tuple[float, float]:
    """Where the ray from a box's centre ``(x, y)`` along ``(dx, dy)`` leaves the box (plus a gap)."""
    t = min(BOX_W / 2 / abs(dx) if dx else math.inf, BOX_H / 2 / abs(dy) if dy else math.inf)
    return x + dx * (t + 4), y + dy * (t + 4)


def graph_model_svg() -> str:
    """The diagram as SVG text."""
    at = _layout()
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
           f'height="{HEIGHT}" role="img" font-family="sans-serif" font-size="12" data-figure="graph-model">',
           f'<title>Tianwang graph model, schema version {SCHEMA_VERSION}</title>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker></defs>',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{WIDTH / 2:.1f}" y="24" text-anchor="middle" font-size="15" font-weight="bold">'
           f'Graph model (schema version {SCHEMA_VERSION})</text>']
    pairs: dict[frozenset[Label], list[int]] = {}
    for i, rel in enumerate(RELATIONSHIP_TYPES.values()):
        pairs.setdefault(frozenset((rel.source, rel.target)), []).append(i)
    for i, rel in enumerate(RELATIONSHIP_TYPES.values()):
        (sx, sy), (tx, ty) = at[rel.source], at[rel.target]
        length = math.hypot(tx - sx, ty - sy)
        dx, dy = (tx - sx) / length, (ty - sy) / length
        group = pairs[frozenset((rel.source, rel.target))]
        # offset parallel arrows sideways, on the same side whichever way each one points
        ox, oy = (-dy, dx) if (rel.source.value < rel.target.value) else (dy, -dx)
        shift = (group.index(i) - (len(group) - 1) / 2) * PARALLEL
        sx, sy, tx, ty = sx + ox * shift, sy + oy * shift, tx + ox * shift, ty + oy * shift
        x1, y1 = _to_border(sx, sy, dx, dy)
        x2, y2 = _to_border(tx, ty, -dx, -dy)
        out.append(f'<line class="relationship" data-type="{rel.type.value}" x1="{x1:.1f}" y1="{y1:.1f}" '
                   f'x2="{x2:.1f}" y2="{y2:.1f}" stroke="{INK}" stroke-width="1.2" marker-end="url(#arrow)"/>')
        mx, my = x1 + (x2 - x1) * 0.55, y1 + (y2 - y1) * 0.55
        angle = math.degrees(math.atan2(y2 - y1, x2 - x1))
        if angle > 90 or angle < -90:  # keep the words upright
            angle -= 180 if angle > 0 else -180
        out.append(f'<text x="{mx:.1f}" y="{my - 3:.1f}" text-anchor="middle" font-size="10" '
                   f'transform="rotate({angle:.1f} {mx:.1f} {my:.1f})">{escape(rel.type.value)}</text>')
    for label, node in NODE_TYPES.items():
        x, y = at[label]
        fill = HUB if label == Label.APPLICATION else PERSONAL if node.personal else PLAIN
        key = f"HMAC({node.key})" if node.personal else node.key
        out.append(f'<g class="node" data-label="{label.value}">'
                   f'<rect x="{x - BOX_W / 2:.1f}" y="{y - BOX_H / 2:.1f}" width="{BOX_W:.0f}" height="{BOX_H:.0f}" '
                   f'rx="8" fill="{fill}" stroke="{INK}"/>'
                   f'<text x="{x:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-weight="bold">'
                   f'{escape(label.value)}</text>'
                   f'<text x="{x:.1f}" y="{y + 12:.1f}" text-anchor="middle" font-size="10">{escape(key)}</text></g>')
    legend_y = HEIGHT - 28
    for j, (fill, words) in enumerate(((PERSONAL, "key is an HMAC-SHA256 of personal data (masked form beside it)"),
                                       (PLAIN, "key is not personal data"))):
        x = 24 + j * 470
        out.append(f'<rect x="{x}" y="{legend_y - 11}" width="22" height="14" rx="3" fill="{fill}" stroke="{INK}"/>'
                   f'<text x="{x + 30}" y="{legend_y}">{escape(words)}</text>')
    out.append(f'<text x="24" y="{HEIGHT - 8}" font-size="11">Every relationship carries <tspan '
               'font-style="italic">at</tspan>: the application\'s time (MEMBER_OF: the ring detection\'s). '
               'Drawn by scripts/draw_graph_model.py '
               'from graph_schema/schema.py.</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    return write_or_check(argv, (__doc__ or "").splitlines()[0], OUT, graph_model_svg,
                          "is not what graph_schema draws now: run python scripts/draw_graph_model.py")


if __name__ == "__main__":
    raise SystemExit(main())
