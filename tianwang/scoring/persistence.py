"""Small SQLite-backed stores of the scoring pipeline, each with an in-memory twin.

* :class:`DecisionLog`: every decision, read back by application id.
* :class:`WatchlistStore`: listed identities, phones, devices, accounts and employers,
  keyed by HMAC keys (:class:`~tianwang.privacy.PersonalDataKeyer`), never raw values.
* :class:`DocumentIndex`: which identities submitted which document file (sha256), so
  a file reused by another applicant can be found.

:class:`ScoringRecords` holds the three a pipeline writes to. Which kind a process uses
is always said by its caller: :meth:`ScoringRecords.open` (SQLite, durable: what the
command line and the service use) or :meth:`ScoringRecords.in_memory` (gone with the
process: backtests and tests).

They live beside the graph store (``scoring.db`` next to ``TIANWANG_DB_PATH``) until
the :class:`~graph_schema.store.GraphStore` interface grows watchlist and document
operations of its own.

Examples
--------
>>> from tianwang.privacy import PersonalDataKeyer
>>> lists = InMemoryWatchlist(PersonalDataKeyer(b"x" * 32))
>>> lists.add("phone", "13800138000", reason="confirmed fraud")
>>> key = lists.keyer.phone("13800138000")
>>> lists.lookup("phone", [key, "other"]) == {key: "confirmed fraud"}
True
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from tianwang.errors import StoreError
from tianwang.keys import watchlist_key
from tianwang.privacy import PersonalDataKeyer
from tianwang.scoring.errors import DecisionNotFoundError

__all__ = [
    "DecisionLog",
    "DocumentIndex",
    "InMemoryDecisionLog",
    "InMemoryDocumentIndex",
    "InMemoryWatchlist",
    "ScoringRecords",
    "SqliteDecisionLog",
    "SqliteDocumentIndex",
    "SqliteWatchlist",
    "WatchlistStore",
    "scoring_db_path",
]




def scoring_db_path(graph_db_path: str | Path) -> Path:
    """``scoring.db`` in the folder of the graph store's file."""
    return Path(graph_db_path).with_name("scoring.db")


class _Sqlite:
    def __init__(self, path: str | Path, schema: Sequence[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        for statement in schema:
            self._conn.execute(statement)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"scoring store {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# -- decisions -----------------------------------------------------------------------------
class DecisionLog(Protocol):
    """Where decisions are recorded."""

    def put(self, record: dict[str, Any]) -> None:
        """Record one decision (a JSON-able dict with ``application_id``)."""
        ...

    def get(self, application_id: str) -> dict[str, Any]:
        """The latest decision on ``application_id``; :class:`DecisionNotFoundError` if none."""
        ...

    def close(self) -> None: ...


class InMemoryDecisionLog:
    """A :class:`DecisionLog` in a dict (tests, backtests)."""

    def __init__(self) -> None:
        self._records: dict[str, bytes] = {}

    def put(self, record: dict[str, Any]) -> None:
        self._records[record["application_id"]] = orjson.dumps(record)

    def get(self, application_id: str) -> dict[str, Any]:
        try:
            record: dict[str, Any] = orjson.loads(self._records[application_id])
            return record
        except KeyError:
            raise DecisionNotFoundError(application_id) from None

    def __len__(self) -> int:
        return len(self._records)

    def close(self) -> None:
        pass


class SqliteDecisionLog(_Sqlite):
    """A :class:`DecisionLog` in SQLite; every decision is kept, the latest is read back."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, [
            "CREATE TABLE IF NOT EXISTS decisions (seq INTEGER PRIMARY KEY, application_id TEXT NOT NULL,"
            " decided_at REAL NOT NULL, record BLOB NOT NULL)",
            "CREATE INDEX IF NOT EXISTS decisions_by_application ON decisions (application_id, seq)",
        ])

    def put(self, record: dict[str, Any]) -> None:
        self.execute("INSERT INTO decisions (application_id, decided_at, record) VALUES (?, ?, ?)",
                     (record["application_id"], time.time(), orjson.dumps(record)))

    def get(self, application_id: str) -> dict[str, Any]:
        rows = self.execute("SELECT record FROM decisions WHERE application_id = ? ORDER BY seq DESC LIMIT 1",
                            (application_id,))
        if not rows:
            raise DecisionNotFoundError(application_id)
        record: dict[str, Any] = orjson.loads(rows[0][0])
        return record


# -- watchlist -----------------------------------------------------------------------------
class WatchlistStore(Protocol):
    """A watchlist keyed by HMAC keys; ``add``/``remove`` take raw values and key them."""

    keyer: PersonalDataKeyer

    def add(self, kind: str, value: str, *, reason: str | None = None) -> None: ...
    def remove(self, kind: str, value: str) -> bool: ...
    def lookup(self, kind: str, keys: Sequence[str]) -> dict[str, str | None]: ...


class InMemoryWatchlist:
    """A :class:`WatchlistStore` in memory."""

    def __init__(self, keyer: PersonalDataKeyer) -> None:
        self.keyer = keyer
        self._listed: dict[str, dict[str, str | None]] = defaultdict(dict)

    def add(self, kind: str, value: str, *, reason: str | None = None) -> None:
        self._listed[kind][watchlist_key(self.keyer, kind, value)] = reason

    def remove(self, kind: str, value: str) -> bool:
        return self._listed[kind].pop(watchlist_key(self.keyer, kind, value), 0) != 0

    def lookup(self, kind: str, keys: Sequence[str]) -> dict[str, str | None]:
        listed = self._listed.get(kind)
        return {k: listed[k] for k in keys if k in listed} if listed else {}


class SqliteWatchlist(_Sqlite):
    """A :class:`WatchlistStore` in SQLite (table ``watchlist``: kind, key, reason, added_at)."""

    def __init__(self, path: str | Path, keyer: PersonalDataKeyer) -> None:
        super().__init__(path, [
            "CREATE TABLE IF NOT EXISTS watchlist (kind TEXT NOT NULL, key TEXT NOT NULL, reason TEXT,"
            " added_at REAL NOT NULL, PRIMARY KEY (kind, key))",
        ])
        self.keyer = keyer

    def add(self, kind: str, value: str, *, reason: str | None = None) -> None:
        self.execute("INSERT OR REPLACE INTO watchlist VALUES (?, ?, ?, ?)",
                     (kind, watchlist_key(self.keyer, kind, value), reason, time.time()))

    def remove(self, kind: str, value: str) -> bool:
        key = watchlist_key(self.keyer, kind, value)
        found = self.execute("SELECT 1 FROM watchlist WHERE kind = ? AND key = ?", (kind, key))
        self.execute("DELETE FROM watchlist WHERE kind = ? AND key = ?", (kind, key))
        return bool(found)

    def lookup(self, kind: str, keys: Sequence[str]) -> dict[str, str | None]:
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self.execute(f"SELECT key, reason FROM watchlist WHERE kind = ? AND key IN ({marks})", (kind, *keys))
        return dict(rows)


# -- documents -----------------------------------------------------------------------------
class DocumentIndex(Protocol):
    """Which identity submitted which document file, and when."""

    def add(self, sha256: str, id_hash: str, at: float) -> None: ...
    def other_identities(self, sha256: str, id_hash: str, as_of: float) -> int: ...


class InMemoryDocumentIndex:
    """A :class:`DocumentIndex` in memory."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, float]] = defaultdict(dict)

    def add(self, sha256: str, id_hash: str, at: float) -> None:
        first = self._seen[sha256].get(id_hash)
        self._seen[sha256][id_hash] = at if first is None else min(first, at)

    def other_identities(self, sha256: str, id_hash: str, as_of: float) -> int:
        seen = self._seen.get(sha256)
        if not seen:
            return 0
        return sum(1 for who, at in seen.items() if who != id_hash and at <= as_of)


class SqliteDocumentIndex(_Sqlite):
    """A :class:`DocumentIndex` in SQLite."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, [
            "CREATE TABLE IF NOT EXISTS document_uses (sha256 TEXT NOT NULL, id_hash TEXT NOT NULL,"
            " at REAL NOT NULL, PRIMARY KEY (sha256, id_hash))",
        ])

    def add(self, sha256: str, id_hash: str, at: float) -> None:
        self.execute("INSERT INTO document_uses VALUES (?, ?, ?) ON CONFLICT (sha256, id_hash)"
                     " DO UPDATE SET at = MIN(at, excluded.at)", (sha256, id_hash, at))

    def other_identities(self, sha256: str, id_hash: str, as_of: float) -> int:
        rows = self.execute("SELECT COUNT(*) FROM document_uses WHERE sha256 = ? AND id_hash != ? AND at <= ?",
                            (sha256, id_hash, as_of))
        return int(rows[0][0])


@dataclass(frozen=True, slots=True)
class ScoringRecords:
    """The records a scoring pipeline writes beside the graph: watchlist, document index, decision log."""

    watchlist: WatchlistStore
    documents: DocumentIndex
    decisions: DecisionLog

    @classmethod
    def open(cls, path: str | Path, keyer: PersonalDataKeyer) -> ScoringRecords:
        """Durable records in the SQLite file ``path`` (created when missing)."""
        return cls(SqliteWatchlist(path, keyer), SqliteDocumentIndex(path), SqliteDecisionLog(path))

    @classmethod
    def in_memory(cls, keyer: PersonalDataKeyer) -> ScoringRecords:
        """Records that live as long as the process: for backtests and tests, never for a service."""
        return cls(InMemoryWatchlist(keyer), InMemoryDocumentIndex(), InMemoryDecisionLog())

    def close(self) -> None:
        """Close the files behind the records (in-memory ones have none)."""
        for part in (self.watchlist, self.documents, self.decisions):
            close = getattr(part, "close", None)
            if close is not None:
                close()
