"""The embedded store with other processes (issue 18 items 3 and 4): one secret per store even when two
ingests start on an empty one, reads that never need the write lock, and a configurable, explained wait."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.mapping import ApplicationRow, application_row
from graph_schema.values import BulkUpsertResult
from tests.builders import application
from tianwang.application import parse_application
from tianwang.cli import app as cli
from tianwang.errors import ConfigurationError, IngestAbortedError
from tianwang.ingest import ingest_file
from tianwang.privacy import PersonalDataKeyer
from tianwang.settings import load_settings

OTHER_SECRET = b"tianwang-another-secret-0123456789abcdef"


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another process's view: a connection that holds the write lock until the block ends."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def rows(keyer: PersonalDataKeyer, *numbers: int) -> list[ApplicationRow]:
    return [application_row(parse_application(application(n)), keyer) for n in numbers]


# -- item 3 -----------------------------------------------------------------------------------


def test_two_secrets_cannot_both_write_to_one_empty_store(keyer: PersonalDataKeyer, tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    other = PersonalDataKeyer(OTHER_SECRET)
    with EmbeddedGraphStore(db, keyer) as first, EmbeddedGraphStore(db, other) as second:
        # both opened the empty store; the first write records its secret, in its transaction
        assert first.write_rows(rows(keyer, 1, 2)).created == 2
        with pytest.raises(ConfigurationError, match="another TIANWANG_SECRET"):
            second.write_rows(rows(other, 3))
        with pytest.raises(ConfigurationError, match="another TIANWANG_SECRET"):
            second.write_rings([], detected_at=0.0)
        assert first.counts().nodes["Application"] == 2
        assert first.get_application("APP-000003") is None
    with pytest.raises(ConfigurationError):
        EmbeddedGraphStore(db, other)
    with EmbeddedGraphStore(db, keyer) as again:
        assert again.write_rows(rows(keyer, 3)).created == 1


def test_the_second_secret_wins_an_empty_store_only_before_any_write(
    keyer: PersonalDataKeyer, tmp_path: Path
) -> None:
    db = tmp_path / "fresh.db"
    with EmbeddedGraphStore(db, keyer):
        pass  # opened, never written: no secret is bound to the store yet
    other = PersonalDataKeyer(OTHER_SECRET)
    with EmbeddedGraphStore(db, other) as second:
        assert second.write_rows(rows(other, 1)).created == 1
    with pytest.raises(ConfigurationError):
        EmbeddedGraphStore(db, keyer)


# -- item 4 -----------------------------------------------------------------------------------


def test_opening_and_reading_need_no_write_lock(keyer: PersonalDataKeyer, tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    with EmbeddedGraphStore(db, keyer) as store:
        store.write_rows(rows(keyer, 1, 2))
    with write_lock_held(db):
        with EmbeddedGraphStore(db, keyer, lock_timeout=0.2) as reader:
            assert reader.counts().nodes["Application"] == 2
            assert reader.get_application("APP-000001") is not None
        result = CliRunner().invoke(cli, ["stats", "--db", str(db)])
        assert result.exit_code == 0, result.output
        assert "Application" in result.stdout


def test_lock_timeout_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIANWANG_LOCK_TIMEOUT", "2.5")
    assert load_settings().lock_timeout == 2.5
    monkeypatch.setenv("TIANWANG_LOCK_TIMEOUT", "-1")
    with pytest.raises(ConfigurationError, match="lock_timeout"):
        load_settings()


def test_page_cache_size_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                      keyer: PersonalDataKeyer) -> None:
    """The page cache bounds what a serving process keeps of SQLite: 64 MiB unless set."""
    from graph_schema import open_store

    monkeypatch.setenv("TIANWANG_SQLITE_CACHE_MB", "8")
    settings = load_settings(db_path=tmp_path / "graph.db", store="embedded")
    assert settings.sqlite_cache_mb == 8
    with open_store(settings) as store:
        assert store._conn.execute("PRAGMA cache_size").fetchone()[0] == -8 * 1024
    with EmbeddedGraphStore(tmp_path / "other.db", keyer) as store:
        assert store._conn.execute("PRAGMA cache_size").fetchone()[0] == -64 * 1024
    monkeypatch.setenv("TIANWANG_SQLITE_CACHE_MB", "0")
    with pytest.raises(ConfigurationError, match="sqlite_cache_mb"):
        load_settings()


def test_memory_map_size_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     keyer: PersonalDataKeyer) -> None:
    """How much of the file each connection maps: 4 GiB asked unless set (SQLite maps at most its build's
    limit, 2 GiB here), 0 for none."""
    from graph_schema import open_store

    monkeypatch.setenv("TIANWANG_SQLITE_MMAP_MB", "0")
    settings = load_settings(db_path=tmp_path / "graph.db", store="embedded")
    assert settings.sqlite_mmap_mb == 0
    with open_store(settings) as store:
        assert store._conn.execute("PRAGMA mmap_size").fetchone()[0] == 0
    with EmbeddedGraphStore(tmp_path / "other.db", keyer) as store:
        assert store._conn.execute("PRAGMA mmap_size").fetchone()[0] >= 0x7FFF0000  # SQLite's cap
    monkeypatch.setenv("TIANWANG_SQLITE_MMAP_MB", "-1")
    with pytest.raises(ConfigurationError, match="sqlite_mmap_mb"):
        load_settings()


def test_an_ingest_that_cannot_get_the_lock_says_what_it_committed(
    keyer: PersonalDataKeyer, tmp_path: Path
) -> None:
    db = tmp_path / "contended.db"
    path = tmp_path / "apps.ndjson"
    path.write_text("\n".join(json.dumps(application(n)) for n in range(1, 8)) + "\n", encoding="utf-8")
    holding: list[sqlite3.Connection] = []

    class Contended(EmbeddedGraphStore):
        """Another process takes the write lock after the first batch and keeps it."""

        def write_rows(self, batch: list[ApplicationRow]) -> BulkUpsertResult:
            if holding:
                return super().write_rows(batch)
            result = super().write_rows(batch)
            holding.append(sqlite3.connect(db, isolation_level=None, check_same_thread=False))
            holding[0].execute("BEGIN IMMEDIATE")
            return result

    try:
        with Contended(db, keyer, lock_timeout=0.2) as store, pytest.raises(IngestAbortedError) as info:
            ingest_file(path, store, batch_size=3, workers=0)
    finally:
        for conn in holding:
            conn.close()
    message = " ".join(str(info.value).split())
    assert "database is locked" in message
    assert "3 new applications were committed" in message and "rerun the same file to resume" in message
    with EmbeddedGraphStore(db, keyer) as store:
        assert store.counts().nodes["Application"] == 3


def test_cli_ingest_against_a_held_lock_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "held.db"
    path = tmp_path / "apps.ndjson"
    path.write_text("\n".join(json.dumps(application(n)) for n in range(1, 4)) + "\n", encoding="utf-8")
    assert CliRunner().invoke(cli, ["stats", "--db", str(db)]).exit_code == 0  # creates the schema
    monkeypatch.setenv("TIANWANG_LOCK_TIMEOUT", "0.2")
    with write_lock_held(db):
        result = CliRunner().invoke(cli, ["ingest", str(path), "--db", str(db)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # no sqlite3 traceback
    output = " ".join(result.output.split())
    assert "database is locked" in output and "TIANWANG_LOCK_TIMEOUT" in output
    assert "0 new applications were committed" in output and "rerun the same file to resume" in output


def test_an_export_reads_beside_the_requests_on_a_file_with_any_name(keyer: PersonalDataKeyer, tmp_path: Path) -> None:
    """The export's own read-only connection opens the file by URI: spaces, '#', '%' and '?' in its path are fine,
    and it reads while another connection holds the write lock."""
    from tianwang.application import parse_application

    db = tmp_path / "a folder #1 %20?" / "graph.db"
    with EmbeddedGraphStore(db, keyer) as store:
        store.upsert_application(parse_application(application(1)))
        holder = sqlite3.connect(db, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another process's write in progress
            export = store.export_edges()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert export.num_nodes == store_nodes(db)


def store_nodes(db: Path) -> int:
    """Nodes in the store file, counted on a connection of its own."""
    with sqlite3.connect(db) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM nodes").fetchone()[0])
