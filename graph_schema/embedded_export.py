"""Whole-graph reads of the embedded store (an export), beside the requests.

The store's own connection serves every request under one lock; a read of the whole graph
there (seconds at a million applications) would make every request wait for it. A file
store exports on a connection of its own instead (:func:`read_snapshot`: read-only, WAL,
one committed state throughout, no writer blocked); an in-memory store has no second
connection and exports under its lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from graph_schema.export import GraphExport, build_export
from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType

__all__ = ["export_graph", "read_snapshot"]

_PHONE_CODE = NODE_TYPES[Label.PHONE].code


@contextmanager
def read_snapshot(path: str | Path, *, timeout: float, cache_mb: int = 16) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the store file at ``path`` in one read transaction (opened by URI)."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=timeout,
                           isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA cache_size={-1024 * cache_mb}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("BEGIN")  # one snapshot for every query of the read
        try:
            yield conn
        finally:
            conn.execute("COMMIT")
    finally:
        conn.close()


def export_graph(conn: sqlite3.Connection, ts: float | None, types: Iterable[RelType] | None) -> GraphExport:
    """:meth:`~graph_schema.store.GraphStore.export_edges` read on ``conn`` (relationships with ``at <= ts``)."""
    codes = None if types is None else sorted({RELATIONSHIP_TYPES[RelType(t)].code for t in types})
    where: list[str] = []
    params: list[object] = []
    if ts is not None:
        where.append("at <= ?")
        params.append(ts)
    if codes is not None:
        where.append(f"type IN ({', '.join('?' * len(codes))})")
        params.extend(codes)
    chosen = f" WHERE {' AND '.join(where)}" if where else ""
    ends = None if types is None else {end for t in types for end in (RELATIONSHIP_TYPES[RelType(t)].source,
                                                                      RELATIONSHIP_TYPES[RelType(t)].target)}
    edges = conn.execute(f"SELECT src, type, dst, at FROM edges{chosen}", params).fetchall()
    if not where:
        nodes = conn.execute("SELECT id, label, key FROM nodes ORDER BY label, key").fetchall()
    elif ts is None and ends is not None:  # the labels at the chosen relationships' ends (an index reads them)
        codes_of_ends = sorted(NODE_TYPES[end].code for end in ends)
        nodes = conn.execute(f"SELECT id, label, key FROM nodes WHERE label IN ({', '.join('?' * len(ends))})"
                             " ORDER BY label, key", codes_of_ends).fetchall()
    else:
        nodes = conn.execute(
            f"SELECT id, label, key FROM nodes WHERE id IN (SELECT src FROM edges{chosen}"
            f" UNION SELECT dst FROM edges{chosen}) ORDER BY label, key",
            params * 2,
        ).fetchall()
    # Deal terms from the Application node; the model from the record for applications
    # stored before the node carried it (COALESCE reads the record only for those), named
    # as tianwang.keys.vehicle_model_name names it.
    deals = conn.execute(
        "SELECT a.node_id, n.props ->> '$.vehicle_price', COALESCE(n.props ->> '$.vehicle_model',"
        " (a.record ->> '$.vehicle.brand') || ' ' || (a.record ->> '$.vehicle.model'))"
        " FROM applications a JOIN nodes n ON n.id = a.node_id"
        + ("" if ts is None else " WHERE a.submitted_at <= ?"),
        () if ts is None else (ts,),
    ).fetchall()
    # which phones are landlines: a read of every phone's properties (seconds at a million
    # applications), only when phones are exported
    landlines = conn.execute(
        "SELECT id FROM nodes WHERE label = ? AND props ->> '$.mobile' = 0", (_PHONE_CODE,)
    ).fetchall() if ends is None or Label.PHONE in ends else []
    return build_export(nodes, edges, deals, [row[0] for row in landlines])
