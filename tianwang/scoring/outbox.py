"""Scoring goes on when the graph store is down or slow: a deadline, a durable outbox, a drain.

:class:`GraphGate` stands between the pipeline and the graph store. Each application's
graph write and graph reads (its links as of its submission) run on one of a few
store threads under a deadline (``TIANWANG_GRAPH_TIMEOUT_MS``). When the store raises
:class:`~tianwang.errors.StoreUnavailableError`, or does not answer in time (a server
that hangs never closes the socket, and the Neo4j driver has no read timeout), or
every store thread is still stuck on earlier calls, the gate:

* puts the application's graph rows (:class:`~graph_schema.mapping.ApplicationRow`:
  keyed hashes and the redacted record, never a raw identity number) in the
  :class:`GraphOutbox`, a local SQLite file written with a full sync before the
  pipeline goes on, so that the application is durable before its decision is
  answered;
* says the store is *down*: later applications go straight to the outbox without
  waiting on the store, and the pipeline scores them without graph evidence (the
  decision says so; see :meth:`ScoringPipeline.score
  <tianwang.scoring.pipeline.ScoringPipeline.score>`);
* starts a drain thread that tries the store every ``retry_seconds`` and writes what
  waits in batches, oldest first. Writes are idempotent (an application already stored
  with the same content is *unchanged*), so a write that timed out but landed later, or
  a batch written twice by two processes sharing the outbox, still leaves each
  application in the graph exactly once. The first batch that lands says the store is
  *up* again; the entry leaves the outbox only after its write committed.

An application the store refuses as a conflict (another content under its id) stays in
the outbox, marked, for an operator (``tianwang graph outbox``); it is never dropped.
A process that starts with entries waiting drains them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import orjson

from graph_schema.mapping import ApplicationRow
from graph_schema.store import GraphStore
from tianwang.errors import StoreUnavailableError

__all__ = ["GraphGate", "GraphOutbox", "GraphUnavailable", "outbox_path"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def outbox_path(scoring_db: Path) -> Path:
    """The outbox file beside the scoring database."""
    return scoring_db.with_name("graph-outbox.db")


class GraphUnavailable(Exception):
    """The graph store is down, too slow, or its threads are stuck; ``why`` says which.

    ``observed`` is false when the call was not tried because the store counted as down
    already: such a refusal must not mark the store down again after the drain found it up.
    """

    def __init__(self, why: str, *, observed: bool = True) -> None:
        super().__init__(why)
        self.why = why
        self.observed = observed


def _encode(row: ApplicationRow) -> bytes:
    return orjson.dumps(list(row))


def _decode(blob: bytes) -> ApplicationRow:
    values = orjson.loads(blob)
    values[6] = tuple(tuple(n) for n in values[6])
    values[7] = tuple(tuple(r) for r in values[7])
    return ApplicationRow(*values)


class GraphOutbox:
    """Applications' graph rows waiting for the store, in a local SQLite file.

    Several processes may share the file (WAL, a busy timeout); an application id is
    in it at most once.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")  # an entry is on disk before the caller goes on
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS outbox (application_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL,"
            " row BLOB NOT NULL, queued_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
            " conflict INTEGER NOT NULL DEFAULT 0, why TEXT)"
        )
        self._pending = self._count()

    def _count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM outbox WHERE conflict = 0").fetchone()[0])

    def put(self, row: ApplicationRow, why: str) -> bool:
        """Keep ``row`` until the store takes it; ``False`` when its application waits already."""
        with self._lock:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO outbox (application_id, content_hash, row, queued_at, why)"
                " VALUES (?, ?, ?, ?, ?)",
                (row.application_id, row.content_hash, _encode(row), time.time(), why),
            )
            added = cur.rowcount == 1
            if added:
                self._pending += 1
            return added

    def content_hash(self, application_id: str) -> str | None:
        """The content hash of an application waiting here, if it is."""
        with self._lock:
            found = self._conn.execute("SELECT content_hash FROM outbox WHERE application_id = ?",
                                       (application_id,)).fetchone()
        return None if found is None else str(found[0])

    def take(self, limit: int) -> list[ApplicationRow]:
        """The oldest ``limit`` waiting rows (they stay until :meth:`done`)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT row FROM outbox WHERE conflict = 0 ORDER BY queued_at, application_id LIMIT ?", (limit,)
            ).fetchall()
        return [_decode(r[0]) for r in rows]

    def done(self, application_ids: list[str]) -> None:
        """Forget rows whose write committed."""
        if not application_ids:
            return
        with self._lock:
            self._conn.executemany("DELETE FROM outbox WHERE application_id = ?", [(a,) for a in application_ids])
            self._pending = int(self._conn.execute("SELECT count(*) FROM outbox WHERE conflict = 0").fetchone()[0])

    def failed(self, application_ids: list[str], why: str) -> None:
        with self._lock:
            self._conn.executemany("UPDATE outbox SET attempts = attempts + 1, why = ? WHERE application_id = ?",
                                   [(why, a) for a in application_ids])

    def conflicted(self, application_ids: list[str]) -> None:
        """Set aside rows the store refused as conflicts: kept for an operator, not retried."""
        with self._lock:
            self._conn.executemany(
                "UPDATE outbox SET conflict = 1, why = 'another content is stored under this application id'"
                " WHERE application_id = ?", [(a,) for a in application_ids])
            self._pending = int(self._conn.execute("SELECT count(*) FROM outbox WHERE conflict = 0").fetchone()[0])

    @property
    def pending(self) -> int:
        """Rows waiting for the store (as this process last counted)."""
        return self._pending

    def refresh(self) -> int:
        """Count again (another process may have added or drained rows)."""
        self._pending = self._count()
        return self._pending

    def summary(self) -> dict[str, Any]:
        """Counts and the oldest entry's age, for status pages and the command line."""
        with self._lock:
            pending, conflicts, oldest, attempts = self._conn.execute(
                "SELECT sum(conflict = 0), sum(conflict = 1), min(queued_at), max(attempts) FROM outbox"
            ).fetchone()
        return {"path": self.path, "pending": int(pending or 0), "conflicts": int(conflicts or 0),
                "oldest_seconds": round(time.time() - oldest, 1) if oldest is not None else None,
                "max_attempts": int(attempts or 0)}

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class GraphGate:
    """Runs graph calls under a deadline; queues writes in the outbox when the store fails.

    Parameters
    ----------
    store : GraphStore
        The store guarded.
    outbox : GraphOutbox or None
        Where writes wait; ``None`` turns degraded mode off (a failure of the store is
        then the caller's error, as before).
    timeout : float or None
        Seconds a call may take; ``None`` calls the store in the caller's thread
        (a store that fails fast, such as the embedded one).
    threads : int
        Store threads; when all are stuck on calls past their deadline, the store
        counts as down without another wait.
    retry_seconds : float
        Pause between the drain's tries while the store is down.
    batch : int
        Rows per drain write.
    drain_on_start : bool
        Start the drain thread at once when the outbox holds entries (a process that
        starts after an outage); ``False`` for a caller that drains in its own thread.
    """

    def __init__(self, store: GraphStore, outbox: GraphOutbox | None, *, timeout: float | None = None,
                 threads: int = 8, retry_seconds: float = 1.0, batch: int = 200,
                 drain_on_start: bool = True) -> None:
        self.store = store
        self.outbox = outbox
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.batch = batch
        self._threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tianwang-graph") \
            if timeout is not None else None
        self._busy = 0
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._why: str | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._drainer: threading.Thread | None = None
        self.written_from_outbox = 0
        if drain_on_start and outbox is not None and outbox.pending:
            log.warning("graph outbox has entries from before: draining", extra={"pending": outbox.pending})
            self._start_drain()

    # -- state ----------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """Whether the gate degrades (an outbox is configured)."""
        return self.outbox is not None

    @property
    def down(self) -> bool:
        """Whether the store counts as down (writes go to the outbox without a try)."""
        return self._down_since is not None

    def state(self) -> dict[str, Any]:
        """``up`` or ``down``, since when, why, and the outbox's counts."""
        out: dict[str, Any] = {"state": "down" if self.down else "up", "degraded": self.enabled}
        if self._down_since is not None:
            out["down_seconds"] = round(time.monotonic() - self._down_since, 1)
            out["why"] = self._why
        if self.outbox is not None:
            out["outbox_pending"] = self.outbox.pending
        return out

    def _mark_down(self, why: str) -> None:
        with self._lock:
            if self._down_since is None:
                self._down_since = time.monotonic()
                self._why = why
                log.error("graph store unavailable: scoring goes on without graph evidence",
                          extra={"why": why, "store": self.store.kind})
        self._start_drain()

    def _mark_up(self) -> None:
        with self._lock:
            if self._down_since is not None:
                log.warning("graph store answers again", extra={"down_seconds":
                                                                round(time.monotonic() - self._down_since, 1)})
            self._down_since = None
            self._why = None

    # -- calls ----------------------------------------------------------------------------
    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` (which uses the store) under the deadline.

        Raises
        ------
        GraphUnavailable
            When the store is down already, raises :class:`StoreUnavailableError`, does
            not answer in time or has every thread stuck. Other errors propagate.
        """
        if self.enabled and self.down:
            raise GraphUnavailable(self._why or "the graph store is down", observed=False)
        return self._within(fn, self.timeout)

    def _within(self, fn: Callable[[], T], timeout: float | None) -> T:
        """``fn()`` on a store thread, waited for ``timeout`` seconds (in this thread without a pool)."""
        try:
            if self._pool is None:
                return fn()
            with self._lock:
                if self._busy >= self._threads:
                    raise GraphUnavailable(f"all {self._threads} graph store threads are stuck on earlier calls")
                self._busy += 1
            future: Future[T] = self._pool.submit(fn)
            future.add_done_callback(self._release)
            try:
                return future.result(timeout=timeout)
            except FutureTimeout:
                raise GraphUnavailable(f"the graph store did not answer within {timeout:g} s") from None
        except StoreUnavailableError as exc:
            raise GraphUnavailable(str(exc)) from None

    def _release(self, _future: object) -> None:
        with self._lock:
            self._busy -= 1

    def degrade(self, row: ApplicationRow, problem: GraphUnavailable) -> None:
        """Keep ``row`` in the outbox (durably) and, for a failure seen now, count the store as down.

        Raises the original problem when degraded mode is off.
        """
        if self.outbox is None:
            raise StoreUnavailableError(problem.why)
        self.outbox.put(row, problem.why)
        if problem.observed:
            self._mark_down(problem.why)
        else:
            self._start_drain()

    def waiting_hash(self, application_id: str) -> str | None:
        """The content hash of ``application_id`` when it waits in the outbox."""
        return self.outbox.content_hash(application_id) if self.outbox is not None else None

    # -- the drain ------------------------------------------------------------------------
    def _start_drain(self) -> None:
        with self._lock:
            if self._drainer is not None and self._drainer.is_alive():
                self._wake.set()
                return
            self._drainer = threading.Thread(target=self._drain_loop, name="tianwang-graph-drain", daemon=True)
            self._drainer.start()

    def _drain_loop(self) -> None:
        while not self._stop.is_set():
            try:
                left = self.drain_once()
            except Exception as exc:  # never let the drain die: the next round tries again
                log.warning("graph outbox drain failed", extra={"error": type(exc).__name__}, exc_info=True)
                left = -1
            if left == 0:
                return
            self._wake.wait(self.retry_seconds if left < 0 else 0)
            self._wake.clear()

    def drain_once(self) -> int:
        """Write one batch from the outbox; return how many wait still, or ``-1`` when the store failed."""
        assert self.outbox is not None
        rows = self.outbox.take(self.batch)
        if not rows:
            if self.outbox.refresh() == 0:
                self._mark_up()
            return self.outbox.pending
        ids = [r.application_id for r in rows]
        try:
            result = self._write_with_deadline(rows)
        except GraphUnavailable as exc:
            self.outbox.failed(ids, exc.why)
            return -1
        conflicts = set(result.conflicts)
        if conflicts:
            log.error("graph outbox entries conflict with stored applications: kept for an operator",
                      extra={"count": len(conflicts)})
            self.outbox.conflicted(sorted(conflicts))
        self.outbox.done([a for a in ids if a not in conflicts])
        self.written_from_outbox += len(ids) - len(conflicts)
        self._mark_up()
        return self.outbox.pending

    def _write_with_deadline(self, rows: list[ApplicationRow]) -> Any:
        # a batch is given five times a single call's deadline (at least 5 s)
        return self._within(partial(self.store.write_rows, rows), max(self.timeout or 0, 1.0) * 5)

    def wait_drained(self, timeout: float) -> bool:
        """Wait until the outbox is empty (tests, shutdown); ``False`` if it is not within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox is None or (self.outbox.refresh() == 0 and not self.down):
                return True
            self._wake.set()
            time.sleep(0.05)
        return False

    def close(self) -> None:
        """Stop the drain (what waits stays in the outbox for the next start) and the store threads."""
        self._stop.set()
        self._wake.set()
        if self._drainer is not None:
            self._drainer.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self.outbox is not None:
            self.outbox.close()

