from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.migrations import EMBEDDED_MIGRATIONS, MIGRATION_LABEL, NEO4J_MIGRATIONS
from graph_schema.schema import NODE_TYPES
from tianwang.errors import ConfigurationError, StoreError
from tianwang.privacy import PersonalDataKeyer


def test_embedded_migrations_run_once_and_are_recorded(tmp_path: Path, keyer: PersonalDataKeyer) -> None:
    path = tmp_path / "m.db"
    with EmbeddedGraphStore(path, keyer) as store:
        assert store.applied_migrations == [m.version for m in EMBEDDED_MIGRATIONS]
    with EmbeddedGraphStore(path, keyer) as store:
        assert store.applied_migrations == []
    rows = sqlite3.connect(path).execute("SELECT version, checksum FROM schema_migrations").fetchall()
    assert rows == [(m.version, m.checksum) for m in EMBEDDED_MIGRATIONS]
    journal = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


def test_an_edited_migration_is_refused(tmp_path: Path, keyer: PersonalDataKeyer) -> None:
    path = tmp_path / "m.db"
    EmbeddedGraphStore(path, keyer).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    with pytest.raises(StoreError, match="append-only"):
        EmbeddedGraphStore(path, keyer)


def test_embedded_store_refuses_another_secret_once_it_has_data(tmp_path: Path, keyer: PersonalDataKeyer) -> None:
    from tests.builders import application
    from tianwang.application import parse_application

    path = tmp_path / "m.db"
    other = PersonalDataKeyer(b"another secret of at least 32 bytes!")
    EmbeddedGraphStore(path, other).close()  # empty: the new secret takes over
    with EmbeddedGraphStore(path, keyer) as store:
        store.upsert_application(parse_application(application(1)))
    with pytest.raises(ConfigurationError, match="another TIANWANG_SECRET"):
        EmbeddedGraphStore(path, other)


def test_neo4j_constraints_come_from_the_schema() -> None:
    statements = "\n".join(NEO4J_MIGRATIONS[0].statements)
    for node_type in NODE_TYPES.values():
        assert f"FOR (n:{node_type.label}) REQUIRE n.{node_type.key} IS UNIQUE" in statements
    assert all("IF NOT EXISTS" in s for m in NEO4J_MIGRATIONS for s in m.statements)
    assert len({m.version for m in NEO4J_MIGRATIONS}) == len(NEO4J_MIGRATIONS)


@pytest.mark.neo4j
def test_neo4j_migrations_are_recorded_and_idempotent(neo4j_uri: str, keyer: PersonalDataKeyer) -> None:
    from graph_schema.neo4j_store import Neo4jGraphStore

    with Neo4jGraphStore(neo4j_uri, keyer) as store:
        rows = store._run(f"MATCH (m:{MIGRATION_LABEL}) RETURN m.version AS v, m.checksum AS c ORDER BY v")
        assert [(r["v"], r["c"]) for r in rows] == [(m.version, m.checksum) for m in NEO4J_MIGRATIONS]
        constraints = {r["name"] for r in store._run("SHOW CONSTRAINTS YIELD name RETURN name")}
        assert {f"{t.label.lower()}_{t.key}" for t in NODE_TYPES.values()} <= constraints
    with Neo4jGraphStore(neo4j_uri, keyer) as again:
        assert again.applied_migrations == []


@pytest.mark.neo4j
def test_neo4j_unreachable_is_a_clear_error(keyer: PersonalDataKeyer) -> None:
    from graph_schema.neo4j_store import Neo4jGraphStore
    from tianwang.errors import StoreUnavailableError

    with pytest.raises(StoreUnavailableError, match=r"cannot reach Neo4j at bolt://127\.0\.0\.1:9"):
        Neo4jGraphStore("bolt://127.0.0.1:9", keyer)

