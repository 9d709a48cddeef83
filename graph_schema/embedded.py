"""The embedded graph store: one SQLite file in WAL mode, no server.

Nodes get increasing integer ids in arrival order and are found by (label, key)
through a unique index; relationships refer to node ids. Since most of what an
application writes is new, each batch appends to the end of every table, which keeps
commits small as the store grows. Applications and their redacted records are
appended in arrival order too. Labels and relationship types are stored as the
integer codes of :mod:`graph_schema.schema`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import orjson

from graph_schema.embedded_export import export_graph, read_snapshot
from graph_schema.embedded_setup import check_fingerprint, configure, migrate, migrations_pending
from graph_schema.export import GraphExport
from graph_schema.mapping import ApplicationRow
from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType, label_from_code, rel_type_from_code
from graph_schema.store import GraphStore
from graph_schema.values import (
    ApplicationRecord,
    BulkUpsertResult,
    GraphCounts,
    Node,
    NodeRef,
    Relationship,
    RingRecord,
    check_rings,
    to_timestamp,
)
from tianwang.errors import StoreError
from tianwang.privacy import PersonalDataKeyer

__all__ = ["EmbeddedGraphStore"]

log = logging.getLogger(__name__)

_APPLICATION_CODE = NODE_TYPES[Label.APPLICATION].code
_SUBMITTED_CODE = RELATIONSHIP_TYPES[RelType.SUBMITTED].code
_PERSON_CODE = NODE_TYPES[Label.PERSON].code
_RING_CODE = NODE_TYPES[Label.RING].code
_MEMBER_OF_CODE = RELATIONSHIP_TYPES[RelType.MEMBER_OF].code
_FAR_FUTURE = float("inf")
_SQL_VARIABLES = 900
# one ref's relationships at or before a time, ordered as _adjacent orders them, at most a limit; parameters:
# the ref's index, its label code, key and the time, the same three again, and the limit
_ADJACENT_ONE = (
    "SELECT * FROM (SELECT ? AS i, type, at, outgoing, label, key, props FROM ("
    "SELECT e.type, e.at, 1 AS outgoing, n.label, n.key, n.props FROM edges e JOIN nodes n ON n.id = e.dst"
    " WHERE e.src = (SELECT id FROM nodes WHERE label = ? AND key = ?) AND e.at <= ?"
    " UNION ALL SELECT e.type, e.at, 0, n.label, n.key, n.props FROM edges e JOIN nodes n ON n.id = e.src"
    " WHERE e.dst = (SELECT id FROM nodes WHERE label = ? AND key = ?) AND e.at <= ?)"
    " ORDER BY at, key, label, type LIMIT ?)"
)
_REFS_PER_STATEMENT = 100  # one term each (SQLite allows 500 in a compound SELECT), 8 parameters each (999)


def _adjacent_order(row: tuple) -> tuple:
    i, type_code, at, _, label_code, key, _ = row
    return i, at, key, label_code, type_code


class EmbeddedGraphStore(GraphStore):
    """A :class:`GraphStore` in one SQLite file.

    Parameters
    ----------
    path : str or Path
        The database file (created with its folder when missing), or ``":memory:"``.
    keyer : PersonalDataKeyer
        Derives personal-data keys. The store remembers a fingerprint of its secret
        (in the transaction of the first write) and refuses to open or write under
        another one.
    lock_timeout : float
        Seconds to wait for another process's write lock before giving up
        (``TIANWANG_LOCK_TIMEOUT``).
    cache_mb : int
        SQLite's page cache for this connection, in MiB (``TIANWANG_SQLITE_CACHE_MB``). It
        fills as pages are written and read outside the memory map, up to this size; reads
        mostly come through the memory map (file-backed, reclaimable), so a small cache costs
        little latency. A bulk load into a large store may go faster with a larger one.
    mmap_mb : int
        How much of the file this connection reads through a memory map, in MiB
        (``TIANWANG_SQLITE_MMAP_MB``; 0: none, every page is copied into the page cache).
        Mapped pages are the operating system's file cache, shared and reclaimable, but the
        process's resident size counts each one it touched.

    Opening takes no write lock unless migrations are pending: reading commands work
    while another process writes.
    """

    kind = "embedded"

    def __init__(self, path: str | Path, keyer: PersonalDataKeyer, *, lock_timeout: float = 30.0,
                 cache_mb: int = 64, mmap_mb: int = 4096) -> None:
        super().__init__(keyer)
        if lock_timeout < 0:
            raise ValueError(f"lock_timeout must be 0 or more seconds, got: {lock_timeout}")
        self.path = str(path)
        self.lock_timeout = lock_timeout
        self.cache_mb = cache_mb
        self.mmap_mb = mmap_mb
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=lock_timeout, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        try:
            self._open()
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreError(f"cannot open the embedded store at {self.path}: {exc}{self._waited(exc)}") from exc
        except BaseException:
            self._conn.close()
            raise

    def exclusive(self) -> threading.RLock:
        """The lock every operation on the store's connection holds: holding it, nothing of this
        process reads or writes the file (a checkpointer's moment to start the log over)."""
        return self._lock

    def _open(self) -> None:
        configure(self._conn, cache_mb=self.cache_mb, mmap_mb=self.mmap_mb)
        if migrations_pending(self._conn):
            with self._transaction() as cur:
                self.applied_migrations = migrate(cur, self.path)
        else:
            self.applied_migrations = []
        self._check_fingerprint()

    def _waited(self, exc: sqlite3.Error) -> str:
        if "locked" not in str(exc) and "busy" not in str(exc):
            return ""
        return f" (another process held the write lock for {self.lock_timeout:g} s; TIANWANG_LOCK_TIMEOUT sets it)"

    def _check_fingerprint(self, cur: sqlite3.Cursor | None = None) -> None:
        """Refuse a store keyed under another secret; in a write transaction (``cur``), record ours there."""
        check_fingerprint(cur if cur is not None else self._conn, self.keyer.fingerprint(), self.path,
                          record=cur is not None)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()

    # -- writes ---------------------------------------------------------------------------
    def write_rows(self, rows: list[ApplicationRow]) -> BulkUpsertResult:
        """Write a batch in one transaction, a few statements per table.

        Applications already stored are sorted out first (one lookup of their content
        hashes); the nodes the new ones touch are deduplicated in memory and inserted
        with ids after the largest (the write lock is held), so every table grows at its
        end instead of being rewritten all over. Relationships go in sorted, in one
        statement.
        """
        result = BulkUpsertResult()
        try:
            with self._transaction() as cur:
                self._check_fingerprint(cur)
                known = self._content_hashes(cur, [row.application_id for row in rows])
                # (label code, key) -> properties of every node the new applications touch
                new_nodes: dict[tuple[int, str], str] = {}
                accepted: list[ApplicationRow] = []
                for row in rows:
                    previous = known.get(row.application_id)
                    if previous is not None:
                        if previous == row.content_hash:
                            result.unchanged += 1
                        else:
                            result.conflicts.append(row.application_id)
                        continue
                    known[row.application_id] = row.content_hash
                    accepted.append(row)
                    new_nodes[(_APPLICATION_CODE, row.application_id)] = row.properties
                    for code, key, props in row.nodes:
                        if (code, key) not in new_nodes:
                            new_nodes[(code, key)] = props
                result.created = len(accepted)
                if not accepted:
                    return result
                # Insert every node the batch touches with the next free ids; those already stored
                # are skipped by the unique index (one seek, as a lookup would cost) and are the
                # only ones looked up. Skipped ids stay unused: ids are distinct, not consecutive.
                first = cur.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM nodes").fetchone()[0]
                cur.executemany(
                    "INSERT INTO nodes (id, label, key, props) VALUES (?, ?, ?, ?) ON CONFLICT (label, key) DO NOTHING",
                    [(nid, code, key, props) for nid, ((code, key), props) in enumerate(new_nodes.items(), first)],
                )
                inserted = {nid for (nid,) in cur.execute("SELECT id FROM nodes WHERE id >= ?", (first,))}
                ids: dict[tuple[int, str], int] = {}
                stored: list[tuple[int, str]] = []
                for nid, node in enumerate(new_nodes, first):
                    if nid in inserted:
                        ids[node] = nid
                    else:
                        stored.append(node)
                ids.update(self._node_ids(cur, stored))
                edge_rows = [
                    (ids[(s, sk)], t, ids[(d, dk)], row.submitted_ts)
                    for row in accepted
                    for s, sk, t, d, dk in row.relationships
                ]
                edge_rows.sort()
                cur.executemany(
                    "INSERT INTO edges (src, type, dst, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", edge_rows
                )
                cur.executemany(
                    "INSERT INTO applications (node_id, application_id, submitted_at, dealer_id, content_hash, record)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            ids[(_APPLICATION_CODE, row.application_id)],
                            row.application_id,
                            row.submitted_ts,
                            row.dealer_id,
                            row.content_hash,
                            row.record_json,
                        )
                        for row in accepted
                    ],
                )
        except sqlite3.Error as exc:
            raise StoreError(f"embedded store write failed, batch rolled back: {exc}{self._waited(exc)}") from exc
        return result

    def write_rings(self, rings: list[RingRecord], *, detected_at: float) -> None:
        check_rings(rings)
        try:
            with self._transaction() as cur:
                self._check_fingerprint(cur)
                cur.execute("DELETE FROM edges WHERE type = ?", (_MEMBER_OF_CODE,))
                cur.execute("DELETE FROM nodes WHERE label = ?", (_RING_CODE,))
                if not rings:
                    return
                persons = self._node_ids(cur, [(_PERSON_CODE, m) for ring in rings for m in ring.members])
                first = cur.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM nodes").fetchone()[0]
                node_rows = []
                edge_rows = []
                for offset, ring in enumerate(rings):
                    props = {**ring.properties, "detected_at": detected_at}
                    node_rows.append((first + offset, _RING_CODE, ring.ring_id, orjson.dumps(props).decode()))
                    for member in ring.members:
                        person = persons.get((_PERSON_CODE, member))
                        if person is not None:
                            edge_rows.append((person, _MEMBER_OF_CODE, first + offset, detected_at))
                cur.executemany("INSERT INTO nodes (id, label, key, props) VALUES (?, ?, ?, ?)", node_rows)
                cur.executemany("INSERT INTO edges (src, type, dst, at) VALUES (?, ?, ?, ?)", sorted(edge_rows))
        except sqlite3.Error as exc:
            raise StoreError(f"embedded store ring write failed, rolled back: {exc}") from exc

    def rings(self) -> list[RingRecord]:
        return self._rings_where("", ())

    def ring_of(self, application_id: str) -> RingRecord | None:
        found = self._rings_where(
            " AND r.id IN (SELECT m.dst FROM applications a JOIN edges s ON s.dst = a.node_id AND s.type = ?"
            " JOIN edges m ON m.src = s.src AND m.type = ? WHERE a.application_id = ?)",
            (_SUBMITTED_CODE, _MEMBER_OF_CODE, application_id),
        )
        return found[0] if found else None

    def _rings_where(self, condition: str, params: tuple[object, ...]) -> list[RingRecord]:
        rows = self._query(
            "SELECT r.key, r.props, p.key FROM nodes r LEFT JOIN edges e ON e.dst = r.id AND e.type = ?"
            f" LEFT JOIN nodes p ON p.id = e.src WHERE r.label = ?{condition} ORDER BY r.key, p.key",
            (_MEMBER_OF_CODE, _RING_CODE, *params),
        )
        rings: dict[str, tuple[str, list[str]]] = {}
        for ring_id, props, member in rows:
            entry = rings.setdefault(ring_id, (props, []))
            if member is not None:
                entry[1].append(member)
        return [RingRecord(k, tuple(members), orjson.loads(props)) for k, (props, members) in rings.items()]

    @staticmethod
    def _node_ids(cur: sqlite3.Cursor, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """Ids of the nodes among ``keys`` that exist already."""
        by_label: dict[int, list[str]] = {}
        for code, key in keys:
            by_label.setdefault(code, []).append(key)
        found: dict[tuple[int, str], int] = {}
        for code, label_keys in by_label.items():
            for i in range(0, len(label_keys), _SQL_VARIABLES):
                chunk = label_keys[i : i + _SQL_VARIABLES]
                marks = ",".join("?" * len(chunk))
                for key, nid in cur.execute(
                    f"SELECT key, id FROM nodes WHERE label = ? AND key IN ({marks})", (code, *chunk)
                ):
                    found[(code, key)] = nid
        return found

    @staticmethod
    def _content_hashes(cur: sqlite3.Cursor, ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for i in range(0, len(ids), _SQL_VARIABLES):
            chunk = ids[i : i + _SQL_VARIABLES]
            marks = ",".join("?" * len(chunk))
            found.update(
                cur.execute(
                    f"SELECT application_id, content_hash FROM applications WHERE application_id IN ({marks})", chunk
                ).fetchall()
            )
        return found

    # -- reads ----------------------------------------------------------------------------
    def _query(self, sql: str, params: tuple[object, ...] | list[object] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def get_application(
        self, application_id: str, *, as_of: float | datetime | None = None
    ) -> ApplicationRecord | None:
        ts = to_timestamp(as_of)
        rows = self._query(
            "SELECT application_id, submitted_at, dealer_id, content_hash, record FROM applications"
            " WHERE application_id = ? AND submitted_at <= ?",
            (application_id, _FAR_FUTURE if ts is None else ts),
        )
        if not rows:
            return None
        app_id, submitted, dealer, content_hash, record = rows[0]
        return ApplicationRecord(app_id, submitted, dealer, content_hash, orjson.loads(record))

    def _get_node(self, ref: NodeRef, as_of: float | None) -> Node | None:
        rows = self._query("SELECT props FROM nodes WHERE label = ? AND key = ?", (NODE_TYPES[ref.label].code, ref.key))
        if not rows:
            return None
        props = orjson.loads(rows[0][0])
        if as_of is not None and ref.label is Label.APPLICATION and props["submitted_at"] > as_of:
            return None
        return Node(ref.label, ref.key, props)

    def _adjacent(self, ref: NodeRef, as_of: float | None, limit: int) -> list[tuple[Relationship, Node]]:
        return self._adjacent_many([ref], as_of, limit)[0]

    def _adjacent_many(self, refs: list[NodeRef], as_of: float | None,
                       limit: int) -> list[list[tuple[Relationship, Node]]]:
        # one statement per chunk of refs: each ref's relationships as _adjacent orders them, the first
        # `limit` kept by a LIMIT of its own (SQLite stops each index walk there; a window over all of
        # them ranked every one first and took a third longer)
        ts = _FAR_FUTURE if as_of is None else as_of
        rows: list[tuple] = []
        for first in range(0, len(refs), _REFS_PER_STATEMENT):
            chunk = refs[first:first + _REFS_PER_STATEMENT]
            params: list[object] = []
            for i, ref in enumerate(chunk, start=first):
                code = NODE_TYPES[ref.label].code
                params += (i, code, ref.key, ts, code, ref.key, ts, limit)
            rows += self._query(" UNION ALL ".join([_ADJACENT_ONE] * len(chunk)), params)
        # each ref's rows in _adjacent's order, whatever order SQLite returns the parts in
        rows.sort(key=_adjacent_order)
        out: list[list[tuple[Relationship, Node]]] = [[] for _ in refs]
        for i, type_code, at, outgoing, label_code, key, props in rows:
            ref = refs[i]
            label = label_from_code(label_code)
            other_ref = NodeRef(label, key)
            rel_type = rel_type_from_code(type_code)
            rel = Relationship(ref, rel_type, other_ref, at) if outgoing else Relationship(other_ref, rel_type, ref, at)
            out[i].append((rel, Node(label, key, orjson.loads(props))))
        return out

    def export_edges(self, *, as_of: float | datetime | None = None,
                     types: Iterable[RelType] | None = None) -> GraphExport:
        if self.path == ":memory:" or self.path.startswith("file:"):  # no second connection: under the lock
            with self._lock:
                return export_graph(self._conn, to_timestamp(as_of), types)
        with read_snapshot(self.path, timeout=self.lock_timeout, cache_mb=min(self.cache_mb, 16)) as conn:
            return export_graph(conn, to_timestamp(as_of), types)

    def node_keys(self, label: Label) -> list[str]:
        # on a read-only snapshot of its own, as the export: a million keys are not read under the writes' lock
        with read_snapshot(self.path, timeout=self.lock_timeout, cache_mb=min(self.cache_mb, 16)) as conn:
            return [key for (key,) in conn.execute("SELECT key FROM nodes WHERE label = ?", (NODE_TYPES[label].code,))]

    def application_dealers(self, application_ids: Collection[str]) -> dict[str, str]:
        ids = sorted(application_ids)
        out: dict[str, str] = {}
        for start in range(0, len(ids), 500):  # SQLite's bound on parameters, with room
            chunk = tuple(ids[start:start + 500])
            out.update(self._query("SELECT application_id, dealer_id FROM applications WHERE application_id IN "
                                   f"({', '.join('?' * len(chunk))})", chunk))
        return out

    def counts(self) -> GraphCounts:
        nodes = self._query("SELECT label, COUNT(*) FROM nodes GROUP BY label")
        rels = self._query("SELECT type, COUNT(*) FROM edges GROUP BY type")
        return GraphCounts(
            nodes={str(label_from_code(code)): n for code, n in nodes},
            relationships={str(rel_type_from_code(code)): n for code, n in rels},
        )

    # -- lifecycle ------------------------------------------------------------------------
    def clear(self) -> None:
        with self._transaction() as cur:
            for table in ("edges", "nodes", "applications"):
                cur.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
