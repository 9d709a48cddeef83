"""Versioned, idempotent schema migrations of both stores.

Each migration has a version, a description and statements. A store applies the
migrations it has not recorded yet, in order, when it opens, and records each one
with a checksum of its statements; a recorded migration whose statements have since
changed is an error (migrations are append-only: write a new one instead).

The Neo4j migrations derive their uniqueness constraints from
:data:`graph_schema.schema.NODE_TYPES`, so the schema module stays the one source of
truth. Every statement is idempotent (``IF NOT EXISTS``), so two processes starting
at once do no harm.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, RelType
from tianwang.errors import StoreError

__all__ = ["EMBEDDED_MIGRATIONS", "META_LABEL", "MIGRATION_LABEL", "NEO4J_MIGRATIONS", "Migration"]

#: Label of the nodes that record applied Neo4j migrations.
MIGRATION_LABEL = "TianwangMigration"
#: Label of the Neo4j store's own bookkeeping nodes (the secret's fingerprint), one per ``key``.
META_LABEL = "TianwangStoreMeta"


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change: a version, what it does, and its statements."""

    version: int
    description: str
    statements: tuple[str, ...]

    @property
    def checksum(self) -> str:
        return hashlib.sha256("\n".join(self.statements).encode()).hexdigest()[:16]

    def check_recorded(self, recorded_checksum: str) -> None:
        """Raise :class:`StoreError` if the recorded checksum is not this migration's."""
        if recorded_checksum != self.checksum:
            raise StoreError(
                f"migration {self.version} ({self.description}) was applied with checksum {recorded_checksum} "
                f"but the code now has {self.checksum}; migrations are append-only"
            )


EMBEDDED_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "nodes, relationships, applications and store metadata",
        (
            "CREATE TABLE IF NOT EXISTS nodes (id INTEGER PRIMARY KEY, label INTEGER NOT NULL,"
            " key TEXT NOT NULL, props TEXT NOT NULL)",
            "CREATE UNIQUE INDEX IF NOT EXISTS nodes_by_key ON nodes (label, key)",
            "CREATE TABLE IF NOT EXISTS edges (src INTEGER NOT NULL, type INTEGER NOT NULL, dst INTEGER NOT NULL,"
            " at REAL NOT NULL, PRIMARY KEY (src, type, dst)) WITHOUT ROWID",
            "CREATE INDEX IF NOT EXISTS edges_by_target ON edges (dst, type, at)",
            "CREATE TABLE IF NOT EXISTS applications (node_id INTEGER PRIMARY KEY,"
            " application_id TEXT NOT NULL UNIQUE, submitted_at REAL NOT NULL, dealer_id TEXT NOT NULL,"
            " content_hash TEXT NOT NULL, record TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS applications_by_time ON applications (submitted_at)",
            "CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ),
)


def _uniqueness_constraints() -> tuple[str, ...]:
    return tuple(
        f"CREATE CONSTRAINT {t.label.lower()}_{t.key} IF NOT EXISTS FOR (n:{t.label}) REQUIRE n.{t.key} IS UNIQUE"
        for t in NODE_TYPES.values()
    )


def _time_indexes() -> tuple[str, ...]:
    statements = [
        "CREATE RANGE INDEX application_submitted_at IF NOT EXISTS FOR (n:Application) ON (n.submitted_at)",
    ]
    statements += [
        f"CREATE RANGE INDEX rel_{t.type.lower()}_at IF NOT EXISTS FOR ()-[r:{t.type}]-() ON (r.at)"
        for t in RELATIONSHIP_TYPES.values()
        if t.type is not RelType.MEMBER_OF
    ]
    return tuple(statements)


NEO4J_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "uniqueness constraints on node keys",
        (
            f"CREATE CONSTRAINT tianwang_migration_version IF NOT EXISTS "
            f"FOR (m:{MIGRATION_LABEL}) REQUIRE m.version IS UNIQUE",
            *_uniqueness_constraints(),
        ),
    ),
    Migration(2, "range indexes on application and relationship times", _time_indexes()),
    Migration(
        3,
        "one store metadata node per key (two writers binding an empty graph to a secret cannot make two)",
        (f"CREATE CONSTRAINT tianwang_store_meta_key IF NOT EXISTS FOR (m:{META_LABEL}) REQUIRE m.key IS UNIQUE",),
    ),
)
