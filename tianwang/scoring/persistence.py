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
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from tianwang.errors import StoreError
from tianwang.ids import new_id
from tianwang.keys import watchlist_key
from tianwang.privacy import PersonalDataKeyer
from tianwang.scoring.errors import DecisionNotFoundError
from tianwang.scoring.watchlist_entries import WatchlistEntry, watchlist_hint

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

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """``sql`` once per row, in one transaction (one commit, not one per row)."""
        if rows:
            self.transaction(lambda conn: conn.executemany(sql, rows))

    def transaction(self, work: Callable[[sqlite3.Connection], object]) -> None:
        """``work(connection)`` in one write transaction (``BEGIN IMMEDIATE``: other processes wait), or none of it."""
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    work(self._conn)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
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
    """A watchlist keyed by HMAC keys; ``add``/``remove`` take raw values and key them.

    Entries (:class:`~tianwang.scoring.watchlist_entries.WatchlistEntry`) keep a masked hint
    beside the key; :meth:`lookup` skips entries whose ``expires_at`` has passed.
    """

    keyer: PersonalDataKeyer

    def add(self, kind: str, value: str, *, reason: str | None = None) -> None: ...
    def remove(self, kind: str, value: str) -> bool: ...
    def lookup(self, kind: str, keys: Sequence[str]) -> dict[str, str | None]: ...
    def lookup_many(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """Listed ``(kind, key)`` pairs among ``wanted``, each with its reason (one read for all kinds)."""
        ...

    def add_entry(self, kind: str, value: str, *, reason: str | None = None, expires_at: float | None = None,
                  added_by: str | None = None) -> tuple[WatchlistEntry, bool]:
        """List ``value`` (or update its listing); the entry, and whether it is new."""
        ...

    def entries(self, *, after: tuple[float, str] | None = None, limit: int = 50) -> list[WatchlistEntry]:
        """Entries newest first (by ``added_at``, then id), those strictly after ``after``."""
        ...

    def remove_entry(self, entry_id: str) -> WatchlistEntry | None:
        """Remove an entry by id; the entry removed, or ``None``."""
        ...


def _new_entry(keyer: PersonalDataKeyer, kind: str, value: str, reason: str | None, expires_at: float | None,
               added_by: str | None) -> tuple[str, WatchlistEntry]:
    key = watchlist_key(keyer, kind, value)
    hint = watchlist_hint(kind, value)
    return key, WatchlistEntry(new_id("wl"), kind, hint, reason, time.time(), expires_at, added_by)


def _of_kind(listed: dict[tuple[str, str], str | None]) -> dict[str, str | None]:
    """:meth:`WatchlistStore.lookup_many`'s answer for one kind, by key."""
    return {key: reason for (_, key), reason in listed.items()}


class InMemoryWatchlist:
    """A :class:`WatchlistStore` in memory."""

    def __init__(self, keyer: PersonalDataKeyer) -> None:
        self.keyer = keyer
        self._listed: dict[tuple[str, str], WatchlistEntry] = {}

    def add(self, kind: str, value: str, *, reason: str | None = None) -> None:
        self.add_entry(kind, value, reason=reason)

    def add_entry(self, kind: str, value: str, *, reason: str | None = None, expires_at: float | None = None,
                  added_by: str | None = None) -> tuple[WatchlistEntry, bool]:
        key, entry = _new_entry(self.keyer, kind, value, reason, expires_at, added_by)
        old = self._listed.get((kind, key))
        if old is not None:
            entry = WatchlistEntry(old.entry_id, kind, entry.hint, reason, old.added_at, expires_at, added_by)
        self._listed[(kind, key)] = entry
        return entry, old is None

    def remove(self, kind: str, value: str) -> bool:
        return self._listed.pop((kind, watchlist_key(self.keyer, kind, value)), None) is not None

    def remove_entry(self, entry_id: str) -> WatchlistEntry | None:
        for where, entry in list(self._listed.items()):
            if entry.entry_id == entry_id:
                return self._listed.pop(where)
        return None

    def entries(self, *, after: tuple[float, str] | None = None, limit: int = 50) -> list[WatchlistEntry]:
        listed = sorted(self._listed.values(), key=lambda e: (e.added_at, e.entry_id), reverse=True)
        return [e for e in listed if after is None or (e.added_at, e.entry_id) < after][:limit]

    def lookup(self, kind: str, keys: Sequence[str]) -> dict[str, str | None]:
        return _of_kind(self.lookup_many([(kind, k) for k in keys]))

    def lookup_many(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        now = time.time()
        found = {pair: self._listed.get(pair) for pair in wanted}
        return {pair: e.reason for pair, e in found.items()
                if e is not None and (e.expires_at is None or e.expires_at > now)}


_ENTRY_COLUMNS = "entry_id, kind, hint, reason, added_at, expires_at, added_by"


class SqliteWatchlist(_Sqlite):
    """A :class:`WatchlistStore` in SQLite (table ``watchlist``: kind, key, reason, added_at, and the entry's
    id, masked hint, expiry and who added it)."""

    def __init__(self, path: str | Path, keyer: PersonalDataKeyer) -> None:
        super().__init__(path, [
            "CREATE TABLE IF NOT EXISTS watchlist (kind TEXT NOT NULL, key TEXT NOT NULL, reason TEXT,"
            " added_at REAL NOT NULL, PRIMARY KEY (kind, key))",
        ])
        self.transaction(self._upgrade)
        self.keyer = keyer

    @staticmethod
    def _upgrade(conn: sqlite3.Connection) -> None:
        # a file from before entries had ids gains their columns; in one write transaction, columns read in
        # it, so that a second process starting beside this one (`serve --workers 2`) waits and finds them
        columns = {row[1] for row in conn.execute("PRAGMA table_info(watchlist)")}
        for column, sql_type in (("entry_id", "TEXT"), ("hint", "TEXT"), ("expires_at", "REAL"),
                                 ("added_by", "TEXT")):
            if column not in columns:
                conn.execute(f"ALTER TABLE watchlist ADD COLUMN {column} {sql_type}")
        conn.execute("UPDATE watchlist SET entry_id = 'wl_' || lower(hex(randomblob(12))), hint = '(unknown)'"
                     " WHERE entry_id IS NULL")
        conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS watchlist_entry ON watchlist (entry_id)")
        conn.execute("CREATE INDEX IF NOT EXISTS watchlist_order ON watchlist (added_at, entry_id)")

    def add(self, kind: str, value: str, *, reason: str | None = None) -> None:
        self.add_entry(kind, value, reason=reason)

    def add_entry(self, kind: str, value: str, *, reason: str | None = None, expires_at: float | None = None,
                  added_by: str | None = None) -> tuple[WatchlistEntry, bool]:
        key, entry = _new_entry(self.keyer, kind, value, reason, expires_at, added_by)
        rows = self.execute(
            "INSERT INTO watchlist (kind, key, reason, added_at, entry_id, hint, expires_at, added_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET reason = excluded.reason,"
            " hint = excluded.hint, expires_at = excluded.expires_at, added_by = excluded.added_by"
            f" RETURNING {_ENTRY_COLUMNS}",
            (kind, key, reason, entry.added_at, entry.entry_id, entry.hint, expires_at, added_by))
        stored = WatchlistEntry(*rows[0])
        return stored, stored.entry_id == entry.entry_id

    def remove(self, kind: str, value: str) -> bool:
        key = watchlist_key(self.keyer, kind, value)
        return bool(self.execute("DELETE FROM watchlist WHERE kind = ? AND key = ? RETURNING 1", (kind, key)))

    def remove_entry(self, entry_id: str) -> WatchlistEntry | None:
        rows = self.execute(f"DELETE FROM watchlist WHERE entry_id = ? RETURNING {_ENTRY_COLUMNS}", (entry_id,))
        return WatchlistEntry(*rows[0]) if rows else None

    def entries(self, *, after: tuple[float, str] | None = None, limit: int = 50) -> list[WatchlistEntry]:
        where, params = ("WHERE (added_at, entry_id) < (?, ?)", [*after]) if after else ("", [])
        rows = self.execute(f"SELECT {_ENTRY_COLUMNS} FROM watchlist {where} ORDER BY added_at DESC,"
                            " entry_id DESC LIMIT ?", (*params, limit))
        return [WatchlistEntry(*row) for row in rows]

    def lookup(self, kind: str, keys: Sequence[str]) -> dict[str, str | None]:
        return _of_kind(self.lookup_many([(kind, k) for k in keys]))

    def lookup_many(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        if not wanted:
            return {}
        # one OR of (kind, key) pairs: SQLite searches the primary key for each (a row-value IN scans)
        pairs = " OR ".join(["(kind = ? AND key = ?)"] * len(wanted))
        rows = self.execute(f"SELECT kind, key, reason FROM watchlist WHERE ({pairs})"
                            " AND (expires_at IS NULL OR expires_at > ?)",
                            (*(part for pair in wanted for part in pair), time.time()))
        return {(kind, key): reason for kind, key, reason in rows}


# -- documents -----------------------------------------------------------------------------
class DocumentIndex(Protocol):
    """Which identity submitted which document file, and when."""

    def add(self, sha256: str, id_hash: str, at: float) -> None: ...
    def add_many(self, sha256s: Sequence[str], id_hash: str, at: float) -> None:
        """:meth:`add` for each of ``sha256s`` (an application's files), written at once."""
        ...

    def other_identities(self, sha256: str, id_hash: str, as_of: float) -> int: ...


class InMemoryDocumentIndex:
    """A :class:`DocumentIndex` in memory."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, float]] = defaultdict(dict)

    def add(self, sha256: str, id_hash: str, at: float) -> None:
        first = self._seen[sha256].get(id_hash)
        self._seen[sha256][id_hash] = at if first is None else min(first, at)

    def add_many(self, sha256s: Sequence[str], id_hash: str, at: float) -> None:
        for sha256 in sha256s:
            self.add(sha256, id_hash, at)

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

    _ADD = ("INSERT INTO document_uses VALUES (?, ?, ?) ON CONFLICT (sha256, id_hash)"
            " DO UPDATE SET at = MIN(at, excluded.at)")

    def add(self, sha256: str, id_hash: str, at: float) -> None:
        self.execute(self._ADD, (sha256, id_hash, at))

    def add_many(self, sha256s: Sequence[str], id_hash: str, at: float) -> None:
        self.execute_many(self._ADD, [(sha256, id_hash, at) for sha256 in sha256s])

    def other_identities(self, sha256: str, id_hash: str, as_of: float) -> int:
        rows = self.execute("SELECT COUNT(*) FROM document_uses WHERE sha256 = ? AND id_hash != ? AND at <= ?",
                            (sha256, id_hash, as_of))
        return int(rows[0][0])


@dataclass(frozen=True, slots=True)
class ScoringRecords:
    """The records a scoring pipeline writes beside the graph: watchlist, document index, decision log."""

    watchlist: WatchlistStore
    documents: DocumentIndex
    decisions: DecisionLog | None
    """``None`` where the caller records decisions itself (the service: in its operational
    database, with the action and the case), so that no decision is written twice."""

    @classmethod
    def open(cls, path: str | Path, keyer: PersonalDataKeyer, *, decisions: bool = True) -> ScoringRecords:
        """Durable records in the SQLite file ``path`` (created when missing); no decision log
        when ``decisions`` is false."""
        return cls(SqliteWatchlist(path, keyer), SqliteDocumentIndex(path),
                   SqliteDecisionLog(path) if decisions else None)

    @classmethod
    def in_memory(cls, keyer: PersonalDataKeyer) -> ScoringRecords:
        """Records that live as long as the process: for backtests and tests, never for a service."""
        return cls(InMemoryWatchlist(keyer), InMemoryDocumentIndex(), InMemoryDecisionLog())

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the locks of every connection to the records' file: meanwhile nothing of this
        process reads or writes it (a checkpointer's moment to start the log over)."""
        with ExitStack() as held:
            for part in (self.watchlist, self.documents, self.decisions):
                lock = getattr(part, "_lock", None)
                if lock is not None:
                    held.enter_context(lock)
            yield

    def close(self) -> None:
        """Close the files behind the records (in-memory ones have none)."""
        for part in (self.watchlist, self.documents, self.decisions):
            close = getattr(part, "close", None)
            if close is not None:
                close()
