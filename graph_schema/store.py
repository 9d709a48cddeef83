"""The :class:`GraphStore` interface every store implements.

Times are seconds since the epoch (UTC) as floats; every relationship carries the
time ``at`` of the application that wrote it, so a point-in-time view
(:meth:`GraphStore.as_of`, a :class:`~graph_schema.view.GraphView`) can see the graph
exactly as it stood at any moment. The values the interface takes and returns are in
:mod:`graph_schema.values`, the graph as arrays in :mod:`graph_schema.export`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import ClassVar, Self

from graph_schema.export import GraphExport
from graph_schema.mapping import ApplicationGraph, ApplicationRow, application_row, row_from_graph
from graph_schema.rollup import DealerRollup
from graph_schema.schema import NODE_TYPES, Label, RelType
from graph_schema.values import (
    ApplicationRecord,
    BulkUpsertResult,
    GraphCounts,
    Node,
    NodeRef,
    Relationship,
    RingRecord,
    Subgraph,
    to_timestamp,
)
from graph_schema.view import GraphView
from tianwang.application import Application
from tianwang.errors import ApplicationConflictError
from tianwang.keys import PersonalKeys
from tianwang.privacy import PersonalDataKeyer

__all__ = ["GraphStore", "ProgressCallback"]

ProgressCallback = Callable[[int], None]
"""Called with the number of applications just processed (written or found unchanged)."""


def _take(adjacent: list[tuple[Relationship, Node]], fetch: int, room: int, seen: set[NodeRef],
          nodes: dict[NodeRef, Node], rels: dict[tuple[NodeRef, RelType, NodeRef], Relationship],
          ) -> tuple[list[NodeRef], bool]:
    """Take what one node's adjacency (``fetch`` asked for) adds: new nodes while there is
    ``room``, every relationship among what is kept. Returns the nodes reached and whether
    the limit left some out."""
    reached: list[NodeRef] = []
    truncated = False
    for rel, other in adjacent:
        ref = other.ref
        if ref not in seen:
            if room == 0:
                truncated = True
                continue
            room -= 1
            seen.add(ref)
            nodes[ref] = other
            reached.append(ref)
        rels[(rel.source, rel.type, rel.target)] = rel
    if len(adjacent) == fetch and room == 0:
        truncated = True
    return reached, truncated


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
    def upsert_application(self, application: Application, keys: PersonalKeys | None = None) -> bool:
        """Write one application in one transaction; return whether it was new.

        ``keys`` are its :func:`~tianwang.keys.personal_keys` under this store's keyer, when
        the caller has them (else they are computed).

        Raises
        ------
        ApplicationConflictError
            If the id is stored with different content. Nothing is written then.
        """
        result = self.write_rows([application_row(application, self.keyer, keys)])
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
    def write_rows(self, rows: list[ApplicationRow]) -> BulkUpsertResult:
        """Write a batch of applications given as rows, in one transaction.

        Rows come from :func:`~graph_schema.mapping.application_row` with this store's
        keyer (possibly in another process): what every write goes through. An
        application already stored with the same content hash counts as unchanged, one
        with another hash as a conflict (and is not written); the rest are written.
        """

    def write_graphs(self, graphs: list[ApplicationGraph]) -> BulkUpsertResult:
        """:meth:`write_rows` for graphs from :func:`~graph_schema.mapping.application_graph`."""
        return self.write_rows([row_from_graph(graph) for graph in graphs])

    def rehearse_write(self, rows: list[ApplicationRow]) -> None:
        """Run :meth:`write_rows` on ``rows`` and roll it back: a server compiles and caches its
        plans before the first real write (Neo4j). Nothing stays; stores without plans do nothing."""
        return None

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
        self, node: NodeRef, *, hops: int = 1, limit: int = 100, as_of: float | datetime | None = None,
        with_start: bool = True,
    ) -> Subgraph:
        """Nodes within ``hops`` of ``node`` (either direction), at most ``limit`` besides it.

        Breadth first; around each node, neighbours come in order of (relationship time,
        key, label, type). The start node is included when it exists (else the subgraph
        is empty). ``truncated`` says that ``limit`` left some neighbours out.

        ``with_start=False`` leaves the start node out of ``nodes`` and saves the read of it
        (the relationships still name it): a caller that wants only what surrounds a node.
        """
        if hops < 0 or limit < 0:
            raise ValueError(f"hops and limit must be non-negative, got: hops={hops}, limit={limit}")
        ts = to_timestamp(as_of)
        nodes: dict[NodeRef, Node] = {}
        if with_start:
            start = self._get_node(node, ts)
            if start is None:
                return Subgraph([], [], False)
            nodes[start.ref] = start
        seen = {node}
        rels: dict[tuple[NodeRef, RelType, NodeRef], Relationship] = {}
        frontier = [node]
        truncated = False
        for _ in range(hops):
            reached: list[NodeRef] = []
            for ref in frontier:
                room = limit - (len(seen) - 1)
                fetch = room + len(seen) + 1
                added, cut = _take(self._adjacent(ref, ts, fetch), fetch, room, seen, nodes, rels)
                reached += added
                truncated = truncated or cut
            frontier = reached
        return Subgraph(list(nodes.values()), list(rels.values()), truncated)

    def surroundings(
        self, refs: Sequence[NodeRef], *, limit: int = 100, as_of: float | datetime | None = None,
    ) -> list[Subgraph]:
        """One hop around each of ``refs``, read together: what
        ``[neighbours(ref, hops=1, limit=limit, as_of=as_of, with_start=False) for ref in refs]``
        gives, in one statement on the embedded store and one round trip on Neo4j instead of
        one each (scoring reads the surroundings of ten or so entities per application).
        """
        if limit < 0:
            raise ValueError(f"limit must be non-negative, got: {limit}")
        fetch = limit + 2  # as neighbours() fetches around the start node: room + the start + 1
        adjacent = self._adjacent_many(list(refs), to_timestamp(as_of), fetch) if refs else []
        out = []
        for ref, around in zip(refs, adjacent, strict=True):
            nodes: dict[NodeRef, Node] = {}
            rels: dict[tuple[NodeRef, RelType, NodeRef], Relationship] = {}
            truncated = _take(around, fetch, limit, {ref}, nodes, rels)[1]
            out.append(Subgraph(list(nodes.values()), list(rels.values()), truncated))
        return out

    @abstractmethod
    def export_edges(self, *, as_of: float | datetime | None = None,
                     types: Iterable[RelType] | None = None) -> GraphExport:
        """The whole graph (relationships with ``at <= as_of``) as arrays.

        With ``types``, only relationships of those types and the nodes they join (a reader that needs
        who applied where reads a fifth of the graph, not all of it)."""

    def dealer_rollup(self, people: Collection[str], *, prices: bool = True) -> DealerRollup:
        """Each dealer's applications, each model's priced applications and 95th-percentile price (with
        ``prices``), and the applications at a dealer of ``people`` (``Person`` keys): what the ring index
        counts (:class:`~graph_schema.rollup.DealerRollup`). Counted here from :meth:`export_edges`; a store
        that can count by itself does so."""
        export = self.export_edges(types=(RelType.SUBMITTED, RelType.AT_DEALER))
        return DealerRollup.of_export(export, people, prices=prices)

    def node_keys(self, label: Label) -> list[str]:
        """The keys of every ``label`` node (a node without relationships too), in no set order."""
        export = self.export_edges()
        code = NODE_TYPES[label].code
        return [key for key, at in zip(export.node_key, export.node_label.tolist(), strict=True) if at == code]

    def application_dealers(self, application_ids: Collection[str]) -> dict[str, str]:
        """The dealer of each of ``application_ids`` that the graph holds at a dealer."""
        export = self.export_edges(types=(RelType.AT_DEALER,))
        wanted = set(application_ids)
        (src, dst), keys = export.edge_index, export.node_key
        return {keys[a]: keys[d] for a, d in zip(src.tolist(), dst.tolist(), strict=True) if keys[a] in wanted}

    @abstractmethod
    def counts(self) -> GraphCounts:
        """Node counts by label and relationship counts by type."""

    def as_of(self, moment: float | datetime) -> GraphView:
        """A read-only view that sees only relationships with ``at <= moment``."""
        ts = to_timestamp(moment)
        assert ts is not None
        return GraphView(self, ts)

    # -- primitives each store implements -----------------------------------------------
    @abstractmethod
    def _get_node(self, ref: NodeRef, as_of: float | None) -> Node | None:
        """The node, or ``None``; with ``as_of``, an application submitted later is ``None``."""

    @abstractmethod
    def _adjacent(self, ref: NodeRef, as_of: float | None, limit: int) -> list[tuple[Relationship, Node]]:
        """Relationships at or before ``as_of`` touching ``ref``, with the node at the other end.

        Ordered by (at, other key, other label code, type code), at most ``limit``.
        """

    def _adjacent_many(self, refs: list[NodeRef], as_of: float | None,
                       limit: int) -> list[list[tuple[Relationship, Node]]]:
        """:meth:`_adjacent` of each of ``refs``; stores that can read them together override it."""
        return [self._adjacent(ref, as_of, limit) for ref in refs]

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


def _batched(items: Iterable[ApplicationRow], size: int) -> Iterator[list[ApplicationRow]]:
    batch: list[ApplicationRow] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
