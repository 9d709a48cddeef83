"""The background checkpointer keeps the write-ahead log short under steady writes, off the writers' path."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tianwang.scoring.maintenance import WalCheckpointer


def _writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # only the checkpointer copies the log back
    conn.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB)")
    return conn


def _write_steadily(conn: sqlite3.Connection, lock: threading.Lock, seconds: float) -> int:
    """Commits of a few pages each, under the store's lock, with a millisecond of other work
    between them, as scoring writes: how many."""
    commits = 0
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        with lock:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR REPLACE INTO t VALUES (?, randomblob(3000))",
                             [(commits * 8 + k,) for k in range(8)])  # fmt: skip
            conn.execute("COMMIT")
        commits += 1
        time.sleep(0.001)
    return commits


def _log_frames(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return (wal.stat().st_size - 32) // (4096 + 24) if wal.exists() else 0


def test_the_log_starts_over_under_steady_writes(tmp_path: Path) -> None:
    path = tmp_path / "steady.db"
    conn, lock = _writer(path), threading.Lock()
    checkpointer = WalCheckpointer(path, interval=0.02, exclusive=lambda: lock, restart_frames=400).start()
    try:
        commits = _write_steadily(conn, lock, 2.0)
    finally:
        checkpointer.stop()
    # about 9 pages a commit would make a log of thousands of frames; it started over instead
    assert commits * 9 > 10 * 400
    assert checkpointer.full_checkpoints >= 3
    assert _log_frames(path) < 8 * 400
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == commits * 8
    conn.close()


def test_a_passive_checkpoint_alone_lets_the_log_grow(tmp_path: Path) -> None:
    """What the exclusive checkpoint is for: passive ones alone rarely let a busy log start over."""
    path = tmp_path / "passive.db"
    conn = _writer(path)
    checkpointer = WalCheckpointer(path, interval=0.02).start()
    try:
        commits = _write_steadily(conn, threading.Lock(), 1.0)
    finally:
        checkpointer.stop()
    assert checkpointer.checkpoints >= 10 and checkpointer.full_checkpoints == 0
    assert _log_frames(path) > commits * 9 // 2
    conn.close()


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        WalCheckpointer("x.db", interval=0)
    with pytest.raises(ValueError, match="restart_frames must be 1 or more"):
        WalCheckpointer("x.db", restart_frames=0)
