"""Opening the embedded store's SQLite file: settings, migrations and the secret's fingerprint.

Nothing here takes SQLite's write lock unless it must write: a store whose schema is
current opens with reads only, so reading commands (``tianwang stats``) work while
another process holds the write lock. The fingerprint of the personal-data secret is
recorded by the first write, in its transaction (under the write lock), and checked
there again: two processes with different secrets cannot both write to one store.
"""

from __future__ import annotations

import logging
import sqlite3

from graph_schema.migrations import EMBEDDED_MIGRATIONS
from tianwang.errors import ConfigurationError

__all__ = ["check_fingerprint", "configure", "migrate", "migrations_pending"]

log = logging.getLogger(__name__)


def configure(conn: sqlite3.Connection, *, cache_mb: int = 64, mmap_mb: int = 4096) -> None:
    """Per-connection settings (WAL once set stays set: setting it again takes no lock).

    ``cache_mb`` bounds this connection's page cache (SQLite's own memory, which a serving
    process keeps for its life): it fills up to this size, then stays there. ``mmap_mb`` is
    how much of the file is read through a memory map instead of copies into that cache
    (0: none); the pages mapped are the operating system's page cache, reclaimable, but a
    process's resident size counts every one it touched.
    """
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute(f"PRAGMA cache_size={-1024 * int(cache_mb)}")  # negative: KiB
    conn.execute(f"PRAGMA mmap_size={1024 * 1024 * int(mmap_mb)}")
    conn.execute("PRAGMA temp_store=MEMORY")
    # Checkpoint every ~40 MiB of WAL instead of 4 MiB: the checkpoint (and its fsync) lands on
    # one request in thousands instead of one in a hundred, which keeps it out of the p99.
    conn.execute("PRAGMA wal_autocheckpoint=10000")


def migrations_pending(conn: sqlite3.Connection) -> bool:
    """Whether a migration is not recorded yet (a read: no write lock)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'").fetchone():
        return True
    done = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
    for migration in EMBEDDED_MIGRATIONS:
        if migration.version not in done:
            return True
        migration.check_recorded(done[migration.version])
    return False


def migrate(cur: sqlite3.Cursor, path: str) -> list[int]:
    """Apply the pending migrations in the write transaction ``cur``; return their versions."""
    cur.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
        " description TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {v: c for v, c in cur.execute("SELECT version, checksum FROM schema_migrations")}
    applied = []
    for migration in EMBEDDED_MIGRATIONS:
        if migration.version in done:
            migration.check_recorded(done[migration.version])
            continue
        for statement in migration.statements:
            cur.execute(statement)
        cur.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?, datetime('now'))",
            (migration.version, migration.description, migration.checksum),
        )
        applied.append(migration.version)
        log.info("applied embedded migration", extra={"version": migration.version, "path": path})
    return applied


def check_fingerprint(
    reader: sqlite3.Connection | sqlite3.Cursor, fingerprint: str, path: str, *, record: bool
) -> None:
    """Refuse a store holding data keyed under another secret; with ``record``, remember ours.

    ``record`` is for a write transaction only (it holds the write lock), so the check
    and the first write under a secret are one transaction.
    """
    row = reader.execute("SELECT value FROM store_meta WHERE key = 'keyer_fingerprint'").fetchone()
    if row is not None and row[0] == fingerprint:
        return
    if row is not None and reader.execute("SELECT EXISTS (SELECT 1 FROM applications)").fetchone()[0]:
        raise ConfigurationError(
            f"the store at {path} holds data written under another TIANWANG_SECRET "
            f"(fingerprint {row[0]}, now {fingerprint}); use that secret or a new store"
        )
    if record:
        reader.execute("INSERT OR REPLACE INTO store_meta VALUES ('keyer_fingerprint', ?)", (fingerprint,))
