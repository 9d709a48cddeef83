"""Keep SQLite's write-ahead-log checkpoints off the scoring path.

In WAL mode SQLite copies the log back into the database (a *checkpoint*, with an
fsync) when the log passes 1,000 pages, inside whichever commit crosses the line: on
a disk, that commit takes 10 to 30 ms instead of 1. :class:`WalCheckpointer` runs a
passive checkpoint from its own connection in a background thread every
``interval`` seconds, so the log never grows to the automatic threshold and the
fsync happens off the request path. A passive checkpoint never blocks writers.

``tianwang score`` starts one beside the embedded graph store and beside the scoring
database (decisions, documents, watchlist); ``bench/score.py --checkpointer`` does the
same for the graph store. The backtest does not: its store is a throw-away file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["WalCheckpointer"]

log = logging.getLogger(__name__)


class WalCheckpointer:
    """A daemon thread that checkpoints the SQLite file at ``path`` every ``interval`` seconds."""

    def __init__(self, path: str | Path, *, interval: float = 0.25) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got: {interval}")
        self.path = str(path)
        self.interval = interval
        self.checkpoints = 0
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
            while not self._stop.wait(self.interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # busy or locked: try again next time
                    log.debug("checkpoint skipped", extra={"path": self.path, "error": str(exc)})
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WalCheckpointer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
