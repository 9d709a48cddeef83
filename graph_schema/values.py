"""The values a :class:`~graph_schema.store.GraphStore` takes and returns.

Nodes and relationships as read, stored applications and rings, counts, and what a
bulk write did. Times are seconds since the epoch (UTC) as floats
(:func:`to_timestamp`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graph_schema.schema import Label, RelType
from tianwang.frozen import quick_init

__all__ = [
    "ApplicationRecord",
    "BulkUpsertResult",
    "GraphCounts",
    "Node",
    "NodeRef",
    "Relationship",
    "RingRecord",
    "Subgraph",
    "check_rings",
    "to_timestamp",
]


def to_timestamp(moment: datetime | float | None) -> float | None:
    """Seconds since the epoch of an aware datetime (or a float, passed through)."""
    if moment is None or isinstance(moment, float | int):
        return None if moment is None else float(moment)
    if moment.tzinfo is None:
        raise ValueError("a point in time must carry a time zone")
    return moment.timestamp()


@quick_init
@dataclass(frozen=True, slots=True)
class NodeRef:
    """A node named by label and key value."""

    label: Label
    key: str


@quick_init
@dataclass(frozen=True, slots=True)
class Node:
    """A node with its properties (masked forms only for personal data)."""

    label: Label
    key: str
    properties: dict[str, Any]

    @property
    def ref(self) -> NodeRef:
        return NodeRef(self.label, self.key)

    @property
    def display(self) -> str:
        """What a person may see of the node: its masked form, name, or key."""
        props = self.properties
        return str(props.get("masked") or props.get("id_masked") or props.get("name") or self.key)


@quick_init
@dataclass(frozen=True, slots=True)
class Relationship:
    """A relationship between two nodes, written at time ``at``."""

    source: NodeRef
    type: RelType
    target: NodeRef
    at: float


@dataclass(frozen=True, slots=True)
class Subgraph:
    """Nodes and relationships around a node; ``truncated`` when a limit cut it short."""

    nodes: list[Node]
    relationships: list[Relationship]
    truncated: bool


@dataclass(frozen=True, slots=True)
class ApplicationRecord:
    """A stored application: the redacted application (personal fields masked, keys beside them)."""

    application_id: str
    submitted_at: float
    dealer_id: str
    content_hash: str
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GraphCounts:
    """Node counts by label and relationship counts by type (absent means zero)."""

    nodes: dict[str, int]
    relationships: dict[str, int]

    @property
    def total_nodes(self) -> int:
        return sum(self.nodes.values())

    @property
    def total_relationships(self) -> int:
        return sum(self.relationships.values())


@dataclass(frozen=True, slots=True)
class RingRecord:
    """A ring as stored: its id, its members (``Person`` keys) and its properties.

    ``properties`` hold the ring's statistics and risk as flat values a property graph
    can store (strings, numbers, booleans, lists of one of them);
    :meth:`~graph_schema.store.GraphStore.rings` adds ``detected_at``. Members are sorted.
    """

    ring_id: str
    members: tuple[str, ...]
    properties: dict[str, Any]


def check_rings(rings: list[RingRecord]) -> None:
    """Raise :class:`ValueError` if ring ids repeat or a person is in two rings."""
    ids: set[str] = set()
    members: set[str] = set()
    for ring in rings:
        if ring.ring_id in ids:
            raise ValueError(f"ring id {ring.ring_id!r} appears twice")
        ids.add(ring.ring_id)
        for member in ring.members:
            if member in members:
                raise ValueError(f"a person is a member of two rings (second: {ring.ring_id!r})")
            members.add(member)


@dataclass(slots=True)
class BulkUpsertResult:
    """What a bulk upsert did: applications written, found unchanged, and in conflict."""

    created: int = 0
    unchanged: int = 0
    conflicts: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.created + self.unchanged + len(self.conflicts)
