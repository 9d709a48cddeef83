"""The graph model as code and the stores that hold it.

* :mod:`graph_schema.schema`: labels, relationship types, keys (one source of truth).
* :mod:`graph_schema.migrations`: versioned, idempotent schema migrations of both stores.
* :mod:`graph_schema.mapping`: what one application writes into the graph.
* :mod:`graph_schema.store`: the :class:`GraphStore` interface every store implements.
* :mod:`graph_schema.values`: the values stores take and return (nodes, records, rings, counts).
* :mod:`graph_schema.export`: the graph as arrays for analytics (:class:`~graph_schema.export.GraphExport`).
* :mod:`graph_schema.view`: :class:`GraphView`, the read-only view of a store at one moment.
* :mod:`graph_schema.embedded`: the default store, one SQLite file.
* :mod:`graph_schema.neo4j_store`: the Neo4j store (imported only when asked for), its
  write transactions in :mod:`graph_schema.neo4j_writes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType
from graph_schema.store import GraphStore
from graph_schema.values import NodeRef
from graph_schema.view import GraphView

if TYPE_CHECKING:
    from tianwang.settings import Settings

__all__ = ["NODE_TYPES", "RELATIONSHIP_TYPES", "GraphStore", "GraphView", "Label", "NodeRef", "RelType", "open_store"]


def open_store(settings: Settings, kind: str | None = None, *, lazy: bool = False) -> GraphStore:
    """Open the store the settings name (or ``kind``: ``"embedded"`` or ``"neo4j"``).

    With ``lazy``, a Neo4j that cannot be reached now is connected at the first call
    that reaches it (a serving process with a graph outbox starts during an outage).

    Raises
    ------
    ConfigurationError
        For an unknown kind, or ``neo4j`` without ``TIANWANG_NEO4J_URI``.
    StoreUnavailableError
        When Neo4j cannot be reached (and not ``lazy``).
    """
    from tianwang.errors import ConfigurationError
    from tianwang.privacy import PersonalDataKeyer

    kind = kind or settings.store
    keyer = PersonalDataKeyer(settings.secret_bytes)
    if kind == "embedded":
        from graph_schema.embedded import EmbeddedGraphStore

        return EmbeddedGraphStore(settings.db_path, keyer, lock_timeout=settings.lock_timeout,
                                  cache_mb=settings.sqlite_cache_mb, mmap_mb=settings.sqlite_mmap_mb)
    if kind == "neo4j":
        if not settings.neo4j_uri:
            raise ConfigurationError("the neo4j store needs TIANWANG_NEO4J_URI (for example bolt://127.0.0.1:7687)")
        from graph_schema.neo4j_store import Neo4jGraphStore

        auth = None
        if settings.neo4j_user:
            password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
            auth = (settings.neo4j_user, password)
        return Neo4jGraphStore(settings.neo4j_uri, keyer, auth=auth, database=settings.neo4j_database, lazy=lazy)
    raise ConfigurationError(f"unknown store {kind!r}; choose one of: embedded, neo4j")
