"""Graphs for investigators: an application's network, the path between two applications, and how a node
is shown.

A node is shown with an opaque id (``app:<application id>`` and ``dealer:<dealer id>``,
which are not personal; every other node ``<type>:`` and 16 hex of a hash of its key),
its type (for the shape) and a label a person may see: the masked form the graph keeps
of a personal value (:attr:`graph_schema.values.Node.display`), a device's first
characters. Applications carry their decision band and whether they are confirmed
fraud (a fraud verdict; without a verdict, a reject decision).

Hubs: around a node with more than ``max_neighbours`` neighbours (a dealer, a shared
switchboard) the network shows the node once, marked as a hub with its count, and does
not go through it; the path search does not go through hubs nor dealers either.

Expanding a drawn node (:func:`node_neighbours`) takes the opaque id back. A hashed id
cannot be turned back into its key, so the process remembers the nodes it has drawn
(:class:`DrawnNodes`, the most recent 100,000); an id it has not drawn (another process
drew it, or the service restarted) is found around the application named in ``near``
or, without one, by hashing every key of that kind of node (``GraphStore.node_keys``), at
most once every :data:`SCAN_EVERY` seconds a kind.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import or_, select

from graph_schema.schema import Label
from graph_schema.values import Node, NodeRef, Relationship
from tianwang.errors import InvalidRequestError, NotFoundError
from tianwang.opsdb.models import DecisionRow, Verdict
from tianwang.service import Service
from tianwang.service.audit import audit

__all__ = ["DrawnNodes", "adjacent", "application_flags", "confirmed", "drawn_nodes", "edge_view", "network",
           "node_id", "node_label", "node_neighbours", "node_view", "shortest_path"]

#: Neighbours read around one node at most (a hub's count stops there).
HUB_READ_LIMIT = 1000
#: Beyond this many neighbours a node is a hub: searches do not go through it.
HUB_NEIGHBOURS = 50
#: Nodes the path search expands at most before it gives up.
PATH_SEARCH_LIMIT = 5000
#: Nodes drawn by this process remembered by their opaque id.
DRAWN_REMEMBERED = 100_000
#: A hashed id never drawn here is looked for over the whole graph at most this often (seconds) per kind.
SCAN_EVERY = 30.0
_NOT_THROUGH = {Label.DEALER, Label.RING}
#: the prefix of an opaque id -> the kind of node (as :func:`node_id` writes them)
_KINDS = {**{label.value.lower(): label for label in Label if label is not Label.APPLICATION},
          "app": Label.APPLICATION}
_HASHED = re.compile(r"[0-9a-f]{16}")


def node_id(ref: NodeRef) -> str:
    """The opaque id of a node: application and dealer ids as they are, other keys hashed."""
    if ref.label is Label.APPLICATION:
        return f"app:{ref.key}"
    if ref.label is Label.DEALER:
        return f"dealer:{ref.key}"
    return f"{ref.label.value.lower()}:{hashlib.sha256(f'{ref.label}:{ref.key}'.encode()).hexdigest()[:16]}"


class DrawnNodes:
    """The nodes this process has drawn, by opaque id (the most recent ``size``), so that a hashed id from an
    answer is expanded without searching the graph; and when each kind was last searched for over the graph."""

    def __init__(self, size: int = DRAWN_REMEMBERED) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got: {size}")
        self.size = size
        self._refs: OrderedDict[str, NodeRef] = OrderedDict()
        self._scanned: dict[Label, float] = {}
        self._lock = threading.Lock()

    def remember(self, refs: Iterable[NodeRef]) -> None:
        with self._lock:
            for ref in refs:
                if ref.label not in (Label.APPLICATION, Label.DEALER):  # their ids name them already
                    opaque = node_id(ref)
                    self._refs[opaque] = ref
                    self._refs.move_to_end(opaque)
            while len(self._refs) > self.size:
                self._refs.popitem(last=False)

    def get(self, opaque: str) -> NodeRef | None:
        with self._lock:
            return self._refs.get(opaque)

    def may_scan(self, label: Label, now: float | None = None) -> bool:
        """Whether ``label``'s keys may be hashed over the whole graph now (then not again for a while)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if now - self._scanned.get(label, -np.inf) < SCAN_EVERY:
                return False
            self._scanned[label] = now
            return True


def drawn_nodes(service: Service) -> DrawnNodes:
    """The process's :class:`DrawnNodes`."""
    drawn: DrawnNodes = service.extras.setdefault("drawn_nodes", DrawnNodes())
    return drawn


def node_label(node: Node) -> str:
    """What a person may see of a node (masked when personal)."""
    if node.label is Label.DEVICE:
        return node.key[:4] + "****"
    if node.label is Label.PERSON:
        return str(node.properties.get("id_masked") or "person")
    if node.label in (Label.PHONE, Label.ADDRESS, Label.BANK_ACCOUNT):
        return str(node.properties.get("masked") or node.label.value)
    return node.display


def application_flags(service: Service, application_ids: Iterable[str]) -> dict[str, tuple[str | None, int | None,
                                                                                         bool | None]]:
    """Per application: its decision band and score (where decided here) and its verdict (fraud or not; None
    without one). A verdict on a ring counts for the applications it labelled."""
    ids = sorted(set(application_ids))
    out: dict[str, tuple[str | None, int | None, bool | None]] = {a: (None, None, None) for a in ids}
    if not ids:
        return out
    with service.ops.session() as session:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in session.execute(select(DecisionRow.application_id, DecisionRow.band, DecisionRow.fraud_score)
                                       .where(DecisionRow.application_id.in_(chunk))):
                out[row[0]] = (row[1], row[2], None)
        verdicts = session.scalars(select(Verdict).where(or_(Verdict.application_id.in_(ids),
                                                             Verdict.ring_id.is_not(None))).order_by(Verdict.at))
        wanted = set(ids)
        for verdict in verdicts:  # later verdicts win
            for app in {verdict.application_id, *(verdict.applications or [])} & wanted:
                band, score, _ = out[app]
                out[app] = (band, score, verdict.fraud)
    return out


def confirmed(flags: tuple[str | None, int | None, bool | None]) -> bool:
    band, _, verdict = flags
    return bool(verdict) if verdict is not None else band == "reject"


def node_view(node: Node, flags: dict[str, tuple[str | None, int | None, bool | None]] | None = None,
              **extra: Any) -> dict[str, Any]:
    view: dict[str, Any] = {"id": node_id(node.ref), "type": node.label.value, "label": node_label(node),
                            "hub": False, "count": None, "confirmed_fraud": False, "band": None}
    if node.label is Label.APPLICATION and flags is not None and node.key in flags:
        view["band"] = flags[node.key][0]
        view["confirmed_fraud"] = confirmed(flags[node.key])
    view.update(extra)
    return view


def edge_view(rel: Relationship) -> dict[str, str]:
    return {"source": node_id(rel.source), "target": node_id(rel.target), "type": rel.type.value}


def adjacent(service: Service, ref: NodeRef, limit: int = HUB_READ_LIMIT) -> tuple[list[tuple[Relationship, Node]],
                                                                                     bool]:
    """The relationships touching ``ref`` with the node at their other end, and whether ``limit`` cut them."""
    sub = service.runtime.store.neighbours(ref, hops=1, limit=limit)
    nodes = {n.ref: n for n in sub.nodes}
    out = []
    for rel in sub.relationships:
        other = rel.target if rel.source == ref else rel.source
        if other in nodes and other != ref:
            out.append((rel, nodes[other]))
    return out, sub.truncated


def _distinct(around: list[tuple[Relationship, Node]]) -> int:
    """How many nodes (not relationships) are around."""
    return len({node.ref for _, node in around})


def _application(service: Service, application_id: str) -> Node:
    sub = service.runtime.store.neighbours(NodeRef(Label.APPLICATION, application_id), hops=0)
    if not sub.nodes:
        raise NotFoundError("application", application_id)
    return sub.nodes[0]


def network(service: Service, actor: Any, application_id: str, *, hops: int = 1, max_neighbours: int = 25,
            request_id: str | None = None) -> dict[str, Any]:
    """The application's network up to ``hops`` (1 or 2), hubs collapsed (see the module docstring)."""
    if hops not in (1, 2):
        raise InvalidRequestError("hops", "must be 1 or 2")
    start = _application(service, application_id)
    nodes: dict[NodeRef, Node] = {start.ref: start}
    hubs: dict[NodeRef, int] = {}
    rels: dict[tuple[NodeRef, str, NodeRef], Relationship] = {}
    truncated = False
    frontier = [start.ref]
    for depth in range(hops):
        reached: list[NodeRef] = []
        for ref in frontier:
            around, cut = adjacent(service, ref)
            truncated = truncated or cut
            if ref != start.ref and _distinct(around) > max_neighbours:
                hubs[ref] = _distinct(around)
                continue
            for rel, other in around:
                if depth == hops - 1 and other.ref not in nodes and len(nodes) > 10 * max_neighbours:
                    truncated = True
                    continue
                if other.ref not in nodes:
                    nodes[other.ref] = other
                    reached.append(other.ref)
                rels[(rel.source, rel.type.value, rel.target)] = rel
        frontier = reached
    if hops == 1:  # a neighbour of the application may itself be a hub: say so, without going through it
        for ref in list(nodes):
            if ref != start.ref and _distinct(adjacent(service, ref, max_neighbours + 1)[0]) > max_neighbours:
                hubs[ref] = _distinct(adjacent(service, ref)[0])
    flags = application_flags(service, [r.key for r in nodes if r.label is Label.APPLICATION])
    drawn_nodes(service).remember(nodes)
    with service.ops.session() as session:
        audit(session, actor, "network.read", "application", [application_id], request_id=request_id, hops=hops,
              applications=len(flags))
    return {
        "application_id": application_id, "hops": hops, "truncated": truncated,
        "nodes": [node_view(n, flags, **({"hub": True, "count": hubs[r]} if r in hubs else {}))
                  for r, n in nodes.items()],
        "edges": [edge_view(rel) for rel in rels.values()],
    }


def _find_node(service: Service, wanted: str, near: str | None) -> Node:
    """The node whose opaque id is ``wanted`` (see the module docstring); :class:`NotFoundError` for an id that
    names no node or is not an id this service gives out."""
    kind, _, rest = wanted.partition(":")
    label = _KINDS.get(kind)
    if label is None or not rest:
        raise NotFoundError("node", wanted)
    if label is Label.APPLICATION:
        return _application(service, rest)
    if label is Label.DEALER:
        ref: NodeRef | None = NodeRef(Label.DEALER, rest)
    elif not _HASHED.fullmatch(rest):
        raise NotFoundError("node", wanted)
    else:
        ref = drawn_nodes(service).get(wanted)
        if ref is None and near is not None:
            return _search_near(service, wanted, near)
        if ref is None:
            ref = _scan(service, label, wanted)
    found = service.runtime.store.neighbours(ref, hops=0).nodes if ref is not None else []
    if not found:
        raise NotFoundError("node", wanted)
    return found[0]


def _search_near(service: Service, wanted: str, near: str) -> Node:
    """The node ``wanted`` within two hops of application ``near``, not through dealers, rings or hubs."""
    start = _application(service, near)
    seen = {start.ref}
    frontier = [start.ref]
    for _ in range(2):
        reached = []
        for ref in frontier:
            around, _ = adjacent(service, ref)
            if ref != start.ref and _distinct(around) > HUB_NEIGHBOURS:
                continue
            for _, other in around:
                if node_id(other.ref) == wanted:
                    return other
                if other.ref not in seen and other.label not in _NOT_THROUGH:
                    seen.add(other.ref)
                    reached.append(other.ref)
        frontier = reached
    raise NotFoundError("node", wanted)


def _scan(service: Service, label: Label, wanted: str) -> NodeRef | None:
    """The node of kind ``label`` whose hashed id is ``wanted``, by hashing every such key of the graph (at most
    once every :data:`SCAN_EVERY` seconds a kind; ``None`` in between)."""
    if not drawn_nodes(service).may_scan(label):
        return None
    for key in service.runtime.store.node_keys(label):  # that kind's keys alone, not the whole graph
        ref = NodeRef(label, key)
        if node_id(ref) == wanted:
            return ref
    return None


def node_neighbours(service: Service, actor: Any, node: str, *, near: str | None = None, limit: int = 50,
                    max_neighbours: int = 25, request_id: str | None = None) -> dict[str, Any]:
    """A node and up to ``limit`` of its neighbours (a click on a drawn node), hubs collapsed as
    :func:`network` collapses them; ``truncated`` when it has more.

    ``node`` is an opaque id from a network, ring or path answer; ``near`` (optional)
    names an application within two hops of a hashed node, where to look for one this
    process has not drawn. The node comes first, marked as a hub with its count when
    ``limit`` cut its neighbours; a neighbour with more than ``max_neighbours``
    neighbours of its own is marked as a hub with its count.
    """
    center = _find_node(service, node, near)
    around, cut = adjacent(service, center.ref)
    nodes: dict[NodeRef, Node] = {}
    rels: dict[tuple[NodeRef, str, NodeRef], Relationship] = {}
    for rel, other in around:
        if other.ref not in nodes and len(nodes) >= limit:
            cut = True
            continue
        nodes.setdefault(other.ref, other)
        rels[(rel.source, rel.type.value, rel.target)] = rel
    hubs = {}
    for ref in nodes:
        if _distinct(adjacent(service, ref, max_neighbours + 1)[0]) > max_neighbours:
            hubs[ref] = _distinct(adjacent(service, ref)[0])
    flags = application_flags(service, [r.key for r in [center.ref, *nodes] if r.label is Label.APPLICATION])
    drawn_nodes(service).remember([center.ref, *nodes])
    with service.ops.session() as session:
        audit(session, actor, "network.read", "node", [node], request_id=request_id, near=near,
              applications=len(flags))
    hub = {"hub": True, "count": _distinct(around)} if cut else {}
    return {"node_id": node, "truncated": cut,
            "nodes": [node_view(center, flags, **hub),
                      *(node_view(n, flags, **({"hub": True, "count": hubs[r]} if r in hubs else {}))
                        for r, n in nodes.items())],
            "edges": [edge_view(rel) for rel in rels.values()]}


def shortest_path(service: Service, actor: Any, source: str, target: str, *, max_hops: int = 6,
                  max_neighbours: int = 50, request_id: str | None = None) -> dict[str, Any]:
    """The shortest path from application ``source`` to ``target`` through what they share (not through dealers
    nor hubs); :class:`NotFoundError` when there is none within ``max_hops`` relationships."""
    start = _application(service, source)
    goal = _application(service, target)
    parent: dict[NodeRef, tuple[NodeRef, Relationship] | None] = {start.ref: None}
    seen_nodes: dict[NodeRef, Node] = {start.ref: start, goal.ref: goal}
    queue: deque[tuple[NodeRef, int]] = deque([(start.ref, 0)])
    expanded = 0
    found = start.ref == goal.ref
    while queue and not found and expanded < PATH_SEARCH_LIMIT:
        ref, depth = queue.popleft()
        if depth >= max_hops:
            continue
        around, _ = adjacent(service, ref, max_neighbours + 1)
        expanded += 1
        if ref != start.ref and _distinct(around) > max_neighbours:
            continue  # a hub links everything and says nothing
        for rel, other in around:
            if other.ref in parent or other.label in _NOT_THROUGH:
                continue
            parent[other.ref] = (ref, rel)
            seen_nodes[other.ref] = other
            if other.ref == goal.ref:
                found = True
                break
            queue.append((other.ref, depth + 1))
    if not found:
        raise NotFoundError("path", f"{source} -> {target} within {max_hops} hops")
    refs, rels = [goal.ref], []
    while (step := parent[refs[-1]]) is not None:
        refs.append(step[0])
        rels.append(step[1])
    refs.reverse()
    rels.reverse()
    flags = application_flags(service, [r.key for r in refs if r.label is Label.APPLICATION])
    drawn_nodes(service).remember(refs)
    with service.ops.session() as session:
        audit(session, actor, "path.read", "application", [source, target], request_id=request_id,
              hops=len(rels))
    return {"from": source, "to": target, "hops": len(rels), "nodes": [node_view(seen_nodes[r], flags) for r in refs],
            "edges": [edge_view(rel) for rel in rels]}
