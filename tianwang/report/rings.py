"""The riskiest rings as small node-link drawings: their applications and the attributes they share.

:func:`ring_drawings` reads, for each of the riskiest rings of a
:class:`~tianwang.rings.job.RingReport`, the neighbours of its applications in the graph
store and keeps every attribute (phone, account, device, address, employer, …) that two
or more of them share. Attributes are shown as the workbench shows them
(:func:`tianwang.service.network.node_label`: masked when personal), never raw.
:func:`layout` places the applications on a circle and each attribute among the
applications it links, so the drawing needs no layout library.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from graph_schema.schema import Label
from graph_schema.values import NodeRef
from tianwang.service.network import node_label

if TYPE_CHECKING:
    from graph_schema.store import GraphStore
    from graph_schema.values import Node
    from tianwang.rings.job import DetectedRing, RingReport

__all__ = ["RingDrawing", "RingNode", "layout", "ring_drawings"]

MAX_APPLICATIONS = 24  # a ring larger than this is drawn with its first 24 applications
MAX_ATTRIBUTES = 12  # the most shared; more would not be legible
INNER = 0.26  # radius of the attributes' circle (the applications': 0.42)
NEIGHBOURS_READ = 200


@dataclass(frozen=True, slots=True)
class RingNode:
    """One node of a drawing: ``kind`` is the graph label, ``label`` what may be shown of it."""

    node_id: str
    kind: str
    label: str
    fraud: bool = False
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True, slots=True)
class RingDrawing:
    """A ring's applications and shared attributes, laid out in the unit square, and its links."""

    ring_id: str
    risk: float
    size: int
    applications: int
    shared: dict[str, int]
    nodes: list[RingNode]
    edges: list[tuple[str, str]]
    left_out: int = 0


def _shared_attributes(store: GraphStore, application_ids: list[str]
                       ) -> tuple[dict[NodeRef, set[str]], dict[NodeRef, Node]]:
    """Attributes linked to two or more of ``application_ids``, with the applications that link each."""
    sharing: dict[NodeRef, set[str]] = defaultdict(set)
    nodes: dict[NodeRef, Node] = {}
    for app in application_ids:
        sub = store.neighbours(NodeRef(Label.APPLICATION, app), hops=1, limit=NEIGHBOURS_READ, with_start=False)
        for node in sub.nodes:
            if node.label not in (Label.APPLICATION, Label.RING):
                sharing[node.ref].add(app)
                nodes[node.ref] = node
    shared = {ref: apps for ref, apps in sharing.items() if len(apps) >= 2}
    return shared, nodes


def layout(applications: list[str], attributes: Mapping[str, set[str]]) -> dict[str, tuple[float, float]]:
    """Positions in the unit square: applications on a circle, attributes on slots of a smaller circle inside
    (at least 12 slots, one attribute each), each on the free slot nearest the mean direction of the
    applications it links, the most shared first; so no two coincide.

    >>> pos = layout(["a", "b", "c", "d"], {"p": {"a"}, "q": {"c"}})
    >>> [round(v, 3) for v in pos["a"]], [round(v, 3) for v in pos["p"]], [round(v, 3) for v in pos["q"]]
    ([0.5, 0.08], [0.5, 0.24], [0.5, 0.76])
    """
    pos: dict[str, tuple[float, float]] = {}
    angle_of: dict[str, float] = {}
    n = max(len(applications), 1)
    for i, app in enumerate(applications):
        angle_of[app] = -math.pi / 2 + 2 * math.pi * i / n
        pos[app] = (0.5 + 0.42 * math.cos(angle_of[app]), 0.5 + 0.42 * math.sin(angle_of[app]))

    def direction(apps: set[str]) -> float:
        x = sum(math.cos(angle_of[a]) for a in apps if a in angle_of)
        y = sum(math.sin(angle_of[a]) for a in apps if a in angle_of)
        return math.atan2(y, x) if abs(x) + abs(y) > 1e-9 else -math.pi / 2

    slots = max(len(attributes), 12)
    free = set(range(slots))
    for attribute in sorted(attributes, key=lambda a: (-len(attributes[a]), a)):  # the most shared choose first
        wanted = direction(attributes[attribute]) % (2 * math.pi) * slots / (2 * math.pi)
        slot = min(free, key=lambda k: (min(abs(k - wanted), slots - abs(k - wanted)), k))
        free.remove(slot)
        angle = 2 * math.pi * slot / slots
        pos[attribute] = (0.5 + INNER * math.cos(angle), 0.5 + INNER * math.sin(angle))
    return pos


def _drawing(store: GraphStore, ring: DetectedRing, labels: Mapping[str, bool]) -> RingDrawing:
    applications = sorted(ring.application_ids)
    drawn = applications[:MAX_APPLICATIONS]
    shared, nodes = _shared_attributes(store, drawn)
    ranked = sorted(shared, key=lambda r: (-len(shared[r]), r.label.value, r.key))[:MAX_ATTRIBUTES]
    ids = {ref: f"{ref.label.value.lower()}-{i}" for i, ref in enumerate(ranked)}
    pos = layout(drawn, {ids[ref]: shared[ref] for ref in ranked})
    out_nodes = [RingNode(app, Label.APPLICATION.value, app, bool(labels.get(app, False)), *pos[app]) for app in drawn]
    out_nodes += [RingNode(ids[ref], ref.label.value, node_label(nodes[ref]), False, *pos[ids[ref]])
                  for ref in ranked]
    edges = [(app, ids[ref]) for ref in ranked for app in sorted(shared[ref])]
    return RingDrawing(ring.ring_id, float(ring.risk), ring.statistics.size, len(applications),
                       dict(ring.statistics.shared), out_nodes, edges, len(applications) - len(drawn))


def ring_drawings(store: GraphStore, report: RingReport, labels: Mapping[str, bool] | None = None,
                  top: int = 3) -> list[RingDrawing]:
    """The ``top`` riskiest rings of ``report`` as drawings; ``labels`` marks confirmed fraud applications."""
    if top < 0:
        raise ValueError(f"top must be at least 0, got: {top}")
    riskiest = sorted(report.rings, key=lambda r: (-r.risk, r.ring_id))[:top]
    return [_drawing(store, ring, labels or {}) for ring in riskiest]
