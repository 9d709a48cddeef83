"""The :class:`GraphStore` interface every store implements, and the values it returns.

Times are seconds since the epoch (UTC) as floats; every relationship carries the
time ``at`` of the application that wrote it, so a point-in-time view
(:meth:`GraphStore.as_of`) can see the graph exactly as it stood at any moment.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Self

import numpy as np

from graph_schema.mapping import ApplicationGraph, ApplicationRow, application_row, graph_from_row
from graph_schema.schema import ATTRIBUTE_RELATIONSHIPS, Label, RelType
from tianwang.application import Application
from tianwang.errors import ApplicationConflictError, ApplicationNotFoundError
from tianwang.privacy import PersonalDataKeyer

__all__ = [
    "ApplicationDeals",
    "ApplicationRecord",
    "BulkUpsertResult",
    "GraphCounts",
    "GraphExport",
    "GraphStore",
    "GraphView",
    "Node",
    "NodeRef",
    "Relationship",
    "RingRecord",
    "SharedAttribute",
    "Subgraph",
    "Velocity",
    "build_export",
    "check_rings",
    "to_timestamp",
]

#: How many relationships of one application to read: far more than any application has.
_ATTRIBUTE_FETCH = 1000

ProgressCallback = Callable[[int], None]
"""Called with the number of applications just processed (written or found unchanged)."""


def to_timestamp(moment: datetime | float | None) -> float | None:
    """Seconds since the epoch of an aware datetime (or a float, passed through)."""
    if moment is None or isinstance(moment, float | int):
        return None if moment is None else float(moment)
    if moment.tzinfo is None:
        raise ValueError("a point in time must carry a time zone")
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A node named by label and key value."""

    label: Label
    key: str


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
class SharedAttribute:
    """An attribute of one application and the other applications that share it."""

    node: Node
    relationship: RelType
    application_ids: list[str]
    total: int


@dataclass(frozen=True, slots=True)
class Velocity:
    """Applications in the window ``(as_of - window, as_of]`` sharing each attribute.

    Counts include the application itself; an attribute it does not have counts 0.
    """

    application_id: str
    as_of: float
    window_seconds: float
    person: int
    phone: int
    device: int
    bank_account: int
    person_dealers: int


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
class ApplicationDeals:
    """The deal terms of exported applications, as arrays: what ring detection compares.

    Application ``k`` is export node ``node[k]``; it finances a vehicle of model
    ``model[k]`` (an integer standing for brand and model, the same for the same model
    within one export; -1 when unknown) at ``vehicle_price[k]``. ``model_names[m]``,
    when given, is model ``m``'s brand and model (``"Toyota Camry"``).
    """

    node: np.ndarray
    vehicle_price: np.ndarray
    model: np.ndarray
    model_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not len(self.node) == len(self.vehicle_price) == len(self.model):
            raise ValueError(
                f"node, vehicle_price and model must have one entry per application, got lengths "
                f"{len(self.node)}, {len(self.vehicle_price)} and {len(self.model)}"
            )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, float | None, str | None]]) -> ApplicationDeals:
        """From ``(node, vehicle price, model name)`` rows; a missing price or name is unknown."""
        listed = list(rows)
        codes: dict[str, int] = {}
        return cls(
            node=np.fromiter((r[0] for r in listed), dtype=np.int64, count=len(listed)),
            vehicle_price=np.fromiter(
                (np.nan if r[1] is None else r[1] for r in listed), dtype=np.float64, count=len(listed)
            ),
            model=np.fromiter(
                (codes.setdefault(r[2], len(codes)) if r[2] else -1 for r in listed), dtype=np.int64, count=len(listed)
            ),
            model_names=tuple(codes),
        )


@dataclass(frozen=True, slots=True)
class GraphExport:
    """The graph as arrays for analytics.

    ``node_label[i]`` and ``node_key[i]`` name node ``i``; relationship ``j`` goes from
    ``edge_index[0, j]`` to ``edge_index[1, j]`` with type ``edge_type[j]`` (a
    :class:`~graph_schema.schema.RelationshipType` code) and time ``edge_at[j]``.
    Nodes are ordered by (label code, key), relationships by (source, type, target).
    ``deals``, when the store gives them, are the applications' deal terms;
    ``landline``, when it gives it, says per node whether it is a ``Phone`` that is
    not a mobile (its ``mobile`` property is false).
    """

    node_label: np.ndarray
    node_key: list[str]
    edge_index: np.ndarray
    edge_type: np.ndarray
    edge_at: np.ndarray
    deals: ApplicationDeals | None = None
    landline: np.ndarray | None = None

    @property
    def num_nodes(self) -> int:
        return len(self.node_key)

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])


@dataclass(frozen=True, slots=True)
class RingRecord:
    """A ring as stored: its id, its members (``Person`` keys) and its properties.

    ``properties`` hold the ring's statistics and risk as flat values a property graph
    can store (strings, numbers, booleans, lists of one of them); :meth:`GraphStore.rings`
    adds ``detected_at``. Members are sorted.
    """

    ring_id: str
    members: tuple[str, ...]
    properties: dict[str, Any]


@dataclass(slots=True)
class BulkUpsertResult:
    """What a bulk upsert did: applications written, found unchanged, and in conflict."""

    created: int = 0
    unchanged: int = 0
    conflicts: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.created + self.unchanged + len(self.conflicts)


class GraphStore(ABC):
    """A graph of applications and their attributes.

    Writes are idempotent: an application already stored with the same content is
    left as it is, and one stored with different content is a conflict. Reads accept
    ``as_of`` (seconds since the epoch, or an aware datetime) to see only
    relationships with ``at <= as_of``; :meth:`as_of` binds it once.
    """

    kind: ClassVar[str]

    def __init__(self, keyer: PersonalDataKeyer) -> None:
        self.keyer = keyer

    # -- writes -------------------------------------------------------------------------
    def upsert_application(self, application: Application) -> bool:
        """Write one application in one transaction; return whether it was new.

        Raises
        ------
        ApplicationConflictError
            If the id is stored with different content. Nothing is written then.
        """
        result = self.write_rows([application_row(application, self.keyer)])
        if result.conflicts:
            raise ApplicationConflictError(application.application_id)
        return result.created == 1

    def upsert_applications(
        self,
        applications: Iterable[Application],
        *,
        batch_size: int = 1000,
        progress: ProgressCallback | None = None,
    ) -> BulkUpsertResult:
        """Write applications in batches of ``batch_size``, one transaction per batch.

        Conflicting applications are skipped and listed in the result; the rest of the
        batch is written. A batch that fails is rolled back whole, batches before it
        stay committed.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got: {batch_size}")
        total = BulkUpsertResult()
        for batch in _batched((application_row(a, self.keyer) for a in applications), batch_size):
            result = self.write_rows(batch)
            total.created += result.created
            total.unchanged += result.unchanged
            total.conflicts.extend(result.conflicts)
            if progress is not None:
                progress(len(batch))
        return total

    @abstractmethod
    def write_graphs(self, graphs: list[ApplicationGraph]) -> BulkUpsertResult:
        """Write the graphs of a batch of applications in one transaction.

        ``graphs`` come from :func:`~graph_schema.mapping.application_graph` with this
        store's keyer.
        """

    def write_rows(self, rows: list[ApplicationRow]) -> BulkUpsertResult:
        """Write a batch of applications given as rows, in one transaction.

        The same as :meth:`write_graphs` on ``[graph_from_row(r) for r in rows]``, and
        what bulk loaders call: rows come from
        :func:`~graph_schema.mapping.application_row` (possibly in another process),
        are cheaper to build and to send, and the stores write them without turning them
        into objects. Stores override this with their fast path.
        """
        return self.write_graphs([graph_from_row(row) for row in rows])

    @abstractmethod
    def write_rings(self, rings: list[RingRecord], *, detected_at: float) -> None:
        """Replace every stored ring by ``rings``, in one transaction.

        Previous ``Ring`` nodes and their ``MEMBER_OF`` relationships are deleted; each
        ring becomes a ``Ring`` node with its properties and ``detected_at``, and each
        member a ``(Person)-[:MEMBER_OF {at: detected_at}]->(Ring)`` relationship.
        Members that are not stored persons are skipped.

        Raises
        ------
        ValueError
            If two rings have the same id, or a person is a member of two rings.
        """

    @abstractmethod
    def rings(self) -> list[RingRecord]:
        """Every stored ring, by ring id, with its members and properties."""

    @abstractmethod
    def ring_of(self, application_id: str) -> RingRecord | None:
        """The ring of the application's applicant, or ``None``."""

    # -- reads --------------------------------------------------------------------------
    @abstractmethod
    def get_application(
        self, application_id: str, *, as_of: float | datetime | None = None
    ) -> ApplicationRecord | None:
        """The stored application, or ``None`` (also when submitted after ``as_of``)."""

    def neighbours(
        self, node: NodeRef, *, hops: int = 1, limit: int = 100, as_of: float | datetime | None = None
    ) -> Subgraph:
        """Nodes within ``hops`` of ``node`` (either direction), at most ``limit`` besides it.

        Breadth first; around each node, neighbours come in order of (relationship time,
        key, label, type). The start node is included when it exists (else the subgraph
        is empty). ``truncated`` says that ``limit`` left some neighbours out.
        """
        if hops < 0 or limit < 0:
            raise ValueError(f"hops and limit must be non-negative, got: hops={hops}, limit={limit}")
        ts = to_timestamp(as_of)
        start = self._get_node(node, ts)
        if start is None:
            return Subgraph([], [], False)
        nodes: dict[NodeRef, Node] = {start.ref: start}
        rels: dict[tuple[NodeRef, RelType, NodeRef], Relationship] = {}
        frontier = [start.ref]
        truncated = False
        for _ in range(hops):
            reached: list[NodeRef] = []
            for ref in frontier:
                room = limit - (len(nodes) - 1)
                fetch = room + len(nodes) + 1
                adjacent = self._adjacent(ref, ts, fetch)
                for rel, other in adjacent:
                    if other.ref not in nodes:
                        if room == 0:
                            truncated = True
                            continue
                        room -= 1
                        nodes[other.ref] = other
                        reached.append(other.ref)
                    rels[(rel.source, rel.type, rel.target)] = rel
                if len(adjacent) == fetch and room == 0:
                    truncated = True
            frontier = reached
        return Subgraph(list(nodes.values()), list(rels.values()), truncated)

    def shared_attributes(
        self, application_id: str, *, limit: int = 50, as_of: float | datetime | None = None
    ) -> list[SharedAttribute]:
        """Each attribute of the application shared with other applications, and those applications.

        Attributes are the nodes the application links to (phones, device, address,
        account, employer, dealer, vehicle, the vehicle's user) and its applicant
        (``Person`` through ``SUBMITTED``), in the order of
        :data:`~graph_schema.schema.ATTRIBUTE_RELATIONSHIPS` (``SUBMITTED`` first) and key.
        Each lists at most ``limit`` other application ids, earliest first; ``total``
        counts them all. Attributes nobody else has are left out.

        Raises
        ------
        ApplicationNotFoundError
            If the application is not stored (or not visible at ``as_of``).
        """
        ts = to_timestamp(as_of)
        ref = self._require_application(application_id, ts)
        order = {t: i for i, t in enumerate((RelType.SUBMITTED, *ATTRIBUTE_RELATIONSHIPS))}
        attributes = [
            (rel.type, other)
            for rel, other in self._adjacent(ref, ts, _ATTRIBUTE_FETCH)
            if other.label is not Label.APPLICATION and rel.type in order
        ]
        attributes.sort(key=lambda pair: (order[pair[0]], pair[1].key))
        shared = []
        for rel_type, attribute in attributes:
            ids, total = self._adjacent_applications(attribute.ref, application_id, ts, limit)
            if total:
                shared.append(SharedAttribute(attribute, rel_type, ids, total))
        return shared

    def velocity(self, application_id: str, window: timedelta, *, as_of: float | datetime | None = None) -> Velocity:
        """Velocity counts of an application's person, phone, device and bank account.

        The window ends at ``as_of`` when given, else at the application's own
        submission time.

        Raises
        ------
        ApplicationNotFoundError
            If the application is not stored (or not visible at ``as_of``).
        """
        ts = to_timestamp(as_of)
        record = self.get_application(application_id, as_of=ts)
        if record is None:
            raise ApplicationNotFoundError(application_id)
        end = record.submitted_at if ts is None else ts
        start = end - window.total_seconds()
        counts = {RelType.SUBMITTED: 0, RelType.USES_PHONE: 0, RelType.FROM_DEVICE: 0, RelType.PAYS_FROM: 0}
        dealers = 0
        for rel, other in self._adjacent(NodeRef(Label.APPLICATION, application_id), end, _ATTRIBUTE_FETCH):
            if rel.type in counts:
                n, distinct_dealers = self._window_applications(other.ref, rel.type, start, end)
                counts[rel.type] = n
                if rel.type is RelType.SUBMITTED:
                    dealers = distinct_dealers
        return Velocity(
            application_id=application_id,
            as_of=end,
            window_seconds=window.total_seconds(),
            person=counts[RelType.SUBMITTED],
            phone=counts[RelType.USES_PHONE],
            device=counts[RelType.FROM_DEVICE],
            bank_account=counts[RelType.PAYS_FROM],
            person_dealers=dealers,
        )

    @abstractmethod
    def export_edges(self, *, as_of: float | datetime | None = None) -> GraphExport:
        """The whole graph (relationships with ``at <= as_of``) as arrays."""

    @abstractmethod
    def counts(self) -> GraphCounts:
        """Node counts by label and relationship counts by type."""

    # -- primitives each store implements -----------------------------------------------
    @abstractmethod
    def _get_node(self, ref: NodeRef, as_of: float | None) -> Node | None:
        """The node, or ``None``; with ``as_of``, an application submitted later is ``None``."""

    @abstractmethod
    def _adjacent(self, ref: NodeRef, as_of: float | None, limit: int) -> list[tuple[Relationship, Node]]:
        """Relationships at or before ``as_of`` touching ``ref``, with the node at the other end.

        Ordered by (at, other key, other label code, type code), at most ``limit``.
        """

    @abstractmethod
    def _adjacent_applications(
        self, ref: NodeRef, exclude_id: str, as_of: float | None, limit: int
    ) -> tuple[list[str], int]:
        """Ids (earliest ``limit``) and count of applications adjacent to ``ref``, less ``exclude_id``."""

    @abstractmethod
    def _window_applications(self, ref: NodeRef, rel_type: RelType, start: float, end: float) -> tuple[int, int]:
        """Applications linked to ``ref`` by ``rel_type`` with ``start < at <= end``: count, distinct dealers."""

    def _require_application(self, application_id: str, as_of: float | None) -> NodeRef:
        ref = NodeRef(Label.APPLICATION, application_id)
        if self._get_node(ref, as_of) is None:
            raise ApplicationNotFoundError(application_id)
        return ref

    def as_of(self, moment: float | datetime) -> GraphView:
        """A read-only view that sees only relationships with ``at <= moment``."""
        ts = to_timestamp(moment)
        assert ts is not None
        return GraphView(self, ts)

    # -- lifecycle ----------------------------------------------------------------------
    @abstractmethod
    def clear(self) -> None:
        """Delete every node and relationship (the schema and its migrations stay)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and files."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class GraphView:
    """The reads of a :class:`GraphStore` as the graph stood at one moment."""

    def __init__(self, store: GraphStore, as_of: float) -> None:
        self.store = store
        self.moment = as_of

    def get_application(self, application_id: str) -> ApplicationRecord | None:
        return self.store.get_application(application_id, as_of=self.moment)

    def neighbours(self, node: NodeRef, *, hops: int = 1, limit: int = 100) -> Subgraph:
        return self.store.neighbours(node, hops=hops, limit=limit, as_of=self.moment)

    def shared_attributes(self, application_id: str, *, limit: int = 50) -> list[SharedAttribute]:
        return self.store.shared_attributes(application_id, limit=limit, as_of=self.moment)

    def velocity(self, application_id: str, window: timedelta) -> Velocity:
        return self.store.velocity(application_id, window, as_of=self.moment)

    def export_edges(self) -> GraphExport:
        return self.store.export_edges(as_of=self.moment)


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


def _batched(items: Iterable[ApplicationRow], size: int) -> Iterator[list[ApplicationRow]]:
    batch: list[ApplicationRow] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def build_export(
    nodes: list[tuple[int, int, str]],
    edges: list[tuple[int, int, int, float]],
    deals: list[tuple[int, float | None, str | None]] | None = None,
    landlines: Iterable[int] | None = None,
) -> GraphExport:
    """A :class:`GraphExport` from ``(id, label code, key)`` nodes sorted by (label code, key)
    and ``(source id, type code, target id, at)`` relationships; ids are any distinct ints.
    ``deals`` are ``(application id, vehicle price, vehicle model)`` rows; those of
    applications not among ``nodes`` are left out. ``landlines`` are the ids of the
    ``Phone`` nodes that are not mobiles (others are left out)."""
    ids = np.fromiter((n[0] for n in nodes), dtype=np.int64, count=len(nodes))
    index_of = np.argsort(ids, kind="stable")
    sorted_ids = ids[index_of]
    edge_arr = np.array([(e[0], e[2]) for e in edges], dtype=np.int64).reshape(-1, 2)
    pos = np.searchsorted(sorted_ids, edge_arr.ravel()).reshape(-1, 2)
    edge_index = index_of[pos].T.astype(np.int64) if len(edges) else np.empty((2, 0), dtype=np.int64)
    edge_type = np.fromiter((e[1] for e in edges), dtype=np.int16, count=len(edges))
    edge_at = np.fromiter((e[3] for e in edges), dtype=np.float64, count=len(edges))
    order = np.lexsort((edge_index[1], edge_type, edge_index[0])) if len(edges) else np.empty(0, dtype=np.int64)
    application_deals = None
    if deals is not None:
        # from store ids to export node indices, as for the relationships; unknown ids are left out
        by_id = ApplicationDeals.from_rows(deals)
        pos = np.minimum(np.searchsorted(sorted_ids, by_id.node), max(len(sorted_ids) - 1, 0))
        known = sorted_ids[pos] == by_id.node if len(sorted_ids) else np.zeros(len(pos), dtype=bool)
        application_deals = ApplicationDeals(
            index_of[pos[known]].astype(np.int64), by_id.vehicle_price[known], by_id.model[known], by_id.model_names
        )
    landline = None
    if landlines is not None:
        landline = np.zeros(len(nodes), dtype=bool)
        listed = np.fromiter(landlines, dtype=np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, listed), max(len(sorted_ids) - 1, 0))
        known = sorted_ids[pos] == listed if len(sorted_ids) else np.zeros(len(pos), dtype=bool)
        landline[index_of[pos[known]]] = True
    return GraphExport(
        node_label=np.fromiter((n[1] for n in nodes), dtype=np.int16, count=len(nodes)),
        node_key=[n[2] for n in nodes],
        edge_index=np.ascontiguousarray(edge_index[:, order]),
        edge_type=edge_type[order],
        edge_at=edge_at[order],
        deals=application_deals,
        landline=landline,
    )
