"""A point-in-time, read-only view of a graph store: :class:`GraphView`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from graph_schema.export import GraphExport
from graph_schema.values import ApplicationRecord, NodeRef, Subgraph

if TYPE_CHECKING:
    from graph_schema.store import GraphStore

__all__ = ["GraphView"]


class GraphView:
    """The reads of a :class:`~graph_schema.store.GraphStore` as the graph stood at one moment.

    Every read sees only applications submitted, and relationships written, at or
    before :attr:`moment`. A view has no write: detectors get one, so they can read
    the graph but not change it. Made by :meth:`GraphStore.as_of`.
    """

    __slots__ = ("_moment", "_store")

    def __init__(self, store: GraphStore, as_of: float) -> None:
        self._store = store
        self._moment = float(as_of)

    @property
    def moment(self) -> float:
        """The moment the view sees the graph at, in seconds since the epoch."""
        return self._moment

    def get_application(self, application_id: str) -> ApplicationRecord | None:
        """The stored application, or ``None`` (also when submitted after the moment)."""
        return self._store.get_application(application_id, as_of=self._moment)

    def neighbours(self, node: NodeRef, *, hops: int = 1, limit: int = 100, with_start: bool = True) -> Subgraph:
        """:meth:`GraphStore.neighbours <graph_schema.store.GraphStore.neighbours>` as of the moment."""
        return self._store.neighbours(node, hops=hops, limit=limit, as_of=self._moment, with_start=with_start)

    def surroundings(self, refs: Sequence[NodeRef], *, limit: int = 100) -> list[Subgraph]:
        """:meth:`GraphStore.surroundings <graph_schema.store.GraphStore.surroundings>` as of the moment."""
        return self._store.surroundings(refs, limit=limit, as_of=self._moment)

    def export_edges(self) -> GraphExport:
        """The graph as arrays, as of the moment."""
        return self._store.export_edges(as_of=self._moment)
