"""The audit log's hash chain: lines written from many threads form one chain, and a line deleted, altered
or moved by someone who got past the append-only triggers is found and named (`tianwang audit verify`)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from tianwang.cli import app as cli
from tianwang.opsdb import OpsDB
from tianwang.opsdb.models import AuditEntry
from tianwang.service.audit import GENESIS, audit, verify_chain

LINES = 8


@pytest.fixture
def ops(any_ops_url: str) -> Iterator[OpsDB]:
    db = OpsDB(any_ops_url)
    for n in range(LINES):
        with db.session() as session:
            audit(session, "cli", "key.create", "api_key", [f"k{n}"], n=n, detail={"nested": [n, 0.5]})
    try:
        yield db
    finally:
        db.close()


def _tamper(ops: OpsDB, *statements: str) -> None:
    """Change the log as a database administrator could: past the append-only triggers."""
    with ops.engine.begin() as connection:
        if ops.dialect == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            connection.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        else:
            connection.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
        for statement in statements:
            connection.execute(text(statement))


def _ids(ops: OpsDB) -> list[int]:
    with ops.session() as session:
        return list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))


def _verify(ops: OpsDB) -> list[str]:
    with ops.session() as session:
        return verify_chain(session, batch=3).problems  # small batches: the walk crosses pages


def test_lines_written_at_once_from_many_threads_form_one_chain(ops: OpsDB) -> None:
    def write(n: int) -> None:
        with ops.session() as session:
            audit(session, "cli", "decision.read", "decision", [f"d{n}"])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(40)))
    with ops.session() as session:
        report = verify_chain(session)
        first = session.scalars(select(AuditEntry).order_by(AuditEntry.id).limit(1)).one()
    assert report.intact and report.lines == LINES + 40 and report.before_chain == 0, report.problems
    assert first.prev_hash == GENESIS


def test_an_altered_line_is_named(ops: OpsDB) -> None:
    third = _ids(ops)[2]
    _tamper(ops, f"UPDATE audit_log SET actor = 'someone-else' WHERE id = {third}")
    assert _verify(ops) == [f"line {third}: its content does not match its hash (altered)"]


def test_a_deleted_line_is_found_at_the_next(ops: OpsDB) -> None:
    ids = _ids(ops)
    _tamper(ops, f"DELETE FROM audit_log WHERE id = {ids[4]}")
    assert _verify(ops) == [f"line {ids[5]}: does not follow the line before it (a line deleted or moved before it)"]


def test_lines_deleted_at_either_end_are_found(ops: OpsDB) -> None:
    ids = _ids(ops)
    _tamper(ops, f"DELETE FROM audit_log WHERE id IN ({ids[0]}, {ids[-1]})")
    problems = _verify(ops)
    assert problems[0].startswith(f"line {ids[1]}: the chain's first line does not start it")
    assert problems[-1] == "the last line is not the chain's head (lines deleted at the end)"


def test_two_lines_swapped_are_found(ops: OpsDB) -> None:
    a, b = _ids(ops)[1], _ids(ops)[3]
    columns = "actor, action, target_ids, detail, prev_hash, hash"
    swap = ", ".join(f"{c} = (SELECT {c} FROM audit_log WHERE id = {{other}})" for c in columns.split(", "))
    _tamper(ops, "CREATE TABLE saved AS SELECT * FROM audit_log",
            f"UPDATE audit_log SET {swap.replace('audit_log', 'saved').format(other=b)} WHERE id = {a}",
            f"UPDATE audit_log SET {swap.replace('audit_log', 'saved').format(other=a)} WHERE id = {b}",
            "DROP TABLE saved")
    problems = _verify(ops)
    assert problems and all(str(a) in p or str(b) in p or str(a + 1) in p or str(b + 1) in p for p in problems)


def test_the_command_says_intact_or_broken(tmp_path: Path) -> None:
    db = tmp_path / "graph.db"
    ops = OpsDB(f"sqlite:///{tmp_path / 'operations.db'}")
    with ops.session() as session:
        audit(session, "cli", "user.create", "user", ["u1"])
        audit(session, "cli", "user.create", "user", ["u2"])
    runner = CliRunner()
    good = runner.invoke(cli, ["audit", "verify", "--db", str(db)])
    assert good.exit_code == 0 and "2 lines; chain intact" in good.stdout
    _tamper(ops, "UPDATE audit_log SET target_ids = '[\"u3\"]' WHERE target_ids LIKE '%u2%'")
    ops.close()
    bad = runner.invoke(cli, ["audit", "verify", "--db", str(db)])
    assert bad.exit_code == 1 and "BROKEN" in bad.stdout and "altered" in bad.output
