"""Keep SQLite's write-ahead-log checkpoints off the scoring path.

In WAL mode SQLite copies the log back into the database (a *checkpoint*, with an
fsync) when the log passes ``wal_autocheckpoint`` pages, inside whichever commit crosses
the line: that commit takes tens of milliseconds instead of one (an fsync costs about
4.5 ms per 1,000 dirty pages on this machine's disk). :class:`WalCheckpointer` keeps that
from happening, from its own connection in a background thread:

* every ``interval`` seconds a *passive* checkpoint copies what the log holds without
  blocking anyone. Under steady traffic a commit lands while it runs, so it never
  reaches the log's end, and SQLite syncs the database file only when a checkpoint does:
  the checkpointer fdatasyncs the file itself after each turn, so copied pages do not
  pile up unsynced;
* the log's frame counter only starts over when a writer finds everything copied, which
  under steady traffic only the commit that crosses SQLite's threshold did (paying for
  the checkpoint and the sync of everything copied before: 50 to 110 ms at 100k). So
  once the log holds ``restart_frames`` frames, the checkpointer takes ``exclusive`` (the
  lock every operation on the file's connections holds in this process) and runs a full
  checkpoint of the few frames written since the passive one, a few milliseconds; the
  next commit starts the log over. Requests wait for it on a Python lock, which wakes
  them at once (SQLite's busy handler sleeps in steps of up to 100 ms). Inside, it waits
  at most ``hold_ms`` for another process's writer or an old reader (a long export); past
  that it copies what it can and tries again at the next turn. Without ``exclusive`` it
  only runs passive checkpoints, and does not sync.

``tianwang score`` and the service start one beside the embedded graph store
(``EmbeddedGraphStore.exclusive``) and beside the scoring database (decisions, documents,
watchlist: ``ScoringRecords.exclusive``); ``bench/score.py --checkpointer`` does the same
for the graph store. The backtest does not: its store is a throw-away file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

__all__ = ["WalCheckpointer"]

log = logging.getLogger(__name__)


class WalCheckpointer:
    """A daemon thread that checkpoints the SQLite file at ``path`` every ``interval`` seconds
    and starts its log over once it holds ``restart_frames`` frames (the module's docstring)."""

    def __init__(
        self,
        path: str | Path,
        *,
        interval: float = 0.25,
        exclusive: Callable[[], AbstractContextManager[Any]] | None = None,
        restart_frames: int = 4000,
        hold_ms: int = 20,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got: {interval}")
        if restart_frames < 1 or hold_ms < 0:
            raise ValueError(f"restart_frames must be 1 or more and hold_ms 0 or more, got: {restart_frames}, "
                             f"{hold_ms}")  # fmt: skip
        self.path = str(path)
        self.interval = interval
        self.exclusive = exclusive
        self.restart_frames = restart_frames
        self.hold_ms = hold_ms
        self.checkpoints = 0
        self.full_checkpoints = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WalCheckpointer:
        if self.path == ":memory:" or self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="tianwang-wal-checkpoint", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=1)
        try:
            database = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            conn.close()
            log.warning("checkpoints stopped: the file cannot be opened", extra={"path": self.path, "error": str(exc)})
            return
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.checkpoint(conn, database)
                except (sqlite3.Error, OSError) as exc:  # busy or locked: try again next time
                    log.debug("checkpoint skipped", extra={"path": self.path, "error": str(exc)})
        finally:
            os.close(database)
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection, database: int) -> None:
        """One turn: a passive checkpoint and an fsync of the database file (``database``, a file
        descriptor), then a full one, in ``exclusive``, when the log should start over."""
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1
        if self.exclusive is None:
            return
        # a passive checkpoint overtaken by a commit leaves the pages it copied unsynced; synced here, they
        # are not left for the checkpoint inside ``exclusive`` (it took 50 to 60 ms with them, 2 without)
        _sync(database)
        if frames < self.restart_frames:
            return
        conn.execute(f"PRAGMA busy_timeout={int(self.hold_ms)}")
        try:
            with self.exclusive():
                busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
            self.full_checkpoints += not busy and frames == copied
        finally:
            conn.execute("PRAGMA busy_timeout=1000")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WalCheckpointer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _sync(fd: int) -> None:
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)
