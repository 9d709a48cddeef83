"""The operational database on SQLite and on PostgreSQL: migrations, types, pagination and the
append-only audit log (each test runs on both through ``any_ops_url``; the PostgreSQL run needs
``TIANWANG_TEST_POSTGRES_URL``, see tests/conftest.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, StatementError

from tianwang.errors import InvalidRequestError
from tianwang.opsdb import OpsDB, paginate
from tianwang.opsdb.db import MIGRATIONS
from tianwang.opsdb.models import AuditEntry, Base, Case, DecisionRow
from tianwang.service.audit import audit

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _head() -> str:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_migrations_bring_an_empty_database_to_head_with_every_table(ops: OpsDB) -> None:
    assert ops.revision() == _head()
    assert set(ops.tables()) == set(Base.metadata.tables) | {"alembic_version"}


def test_migrations_create_the_schema_the_models_declare(ops: OpsDB) -> None:
    """Autogenerate finds nothing to add, drop or change: migrations and models agree on this backend."""
    with ops.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_again_and_a_second_opening_change_nothing(ops: OpsDB, any_ops_url: str) -> None:
    with ops.session() as session:
        audit(session, "cli", "key.create", "api_key", ["k1"])
    ops.upgrade()
    again = OpsDB(any_ops_url)
    try:
        assert again.revision() == _head()
        with again.session() as session:
            assert session.scalars(select(AuditEntry.action)).all() == ["key.create"]
    finally:
        again.close()


def test_timestamps_come_back_in_utc_and_json_as_written(ops: OpsDB) -> None:
    plus8 = timezone(timedelta(hours=8))
    record = {"votes": [{"detector": "fraud_ring", "score": 0.5, "fired": True}], "note": "ünïcode", "n": None,
              "big": 2**70}  # past orjson's 64 bits: written by the standard library instead
    with ops.session() as session:
        session.add(DecisionRow(id="d1", application_id="A1", decided_at=T0.astimezone(plus8),
                                submitted_at="2026-12-03T08:00:00Z", fraud_score=500, band="medium",
                                action="review", strategy="weighted", config_version="1", record=record))
    with ops.session() as session:
        row = session.get(DecisionRow, "d1")
        assert row is not None
        assert row.decided_at == T0 and row.decided_at.utcoffset() == timedelta(0)
        assert row.record == record
        assert row.status == "final"


def test_a_naive_timestamp_is_refused(ops: OpsDB) -> None:
    with pytest.raises(StatementError, match="naive datetime"), ops.session() as session:
        session.add(DecisionRow(id="d1", application_id="A1", decided_at=datetime(2026, 12, 3, 8, 0),
                                submitted_at="x", fraud_score=1, band="low", action="approve", strategy="s",
                                config_version="1", record={}))


def _cases(ops: OpsDB, n: int) -> list[tuple[int, datetime, str]]:
    """``n`` cases with many equal risks and opening times, so that the order needs every column."""
    keys = []
    with ops.session() as session:
        for i in range(n):
            risk, opened = (i * 7) % 4 * 100, T0 + timedelta(minutes=(i * 5) % 3, microseconds=i % 2)
            case_id = f"case_{(i * 11) % n:03d}"
            session.add(Case(id=case_id, kind="application", application_id=f"A{i}", risk=risk, title="t",
                             opened_at=opened, updated_at=opened))
            keys.append((risk, opened, case_id))
    return keys


@pytest.mark.parametrize("limit", [1, 4, 30])
def test_pages_walk_every_row_once_in_order_across_mixed_directions(ops: OpsDB, limit: int) -> None:
    keys = _cases(ops, 23)
    expected = [k[2] for k in sorted(keys, key=lambda k: (-k[0], k[1], k[2]))]
    order = [(Case.risk, True), (Case.opened_at, False), (Case.id, False)]
    seen: list[str] = []
    cursor = None
    for _ in range(30):
        with ops.session() as session:
            page = paginate(session, select(Case).where(Case.status == "open"), order, cursor=cursor, limit=limit)
        seen += [case.id for case in page.data]
        assert len(page.data) <= limit
        if not page.has_more:
            assert page.next is None
            break
        cursor = page.next
    assert seen == expected


def test_a_row_inserted_before_the_cursor_does_not_shift_the_next_page(ops: OpsDB) -> None:
    _cases(ops, 10)
    order = [(Case.risk, True), (Case.id, False)]
    with ops.session() as session:
        first = paginate(session, select(Case), order, cursor=None, limit=5)
        session.add(Case(id="case_!!!", kind="application", risk=900, title="t", opened_at=T0, updated_at=T0))
    with ops.session() as session:
        rest = paginate(session, select(Case), order, cursor=first.next, limit=50)
    ids = [c.id for c in first.data + rest.data]
    assert "case_!!!" not in ids and len(ids) == len(set(ids)) == 10


def test_a_foreign_cursor_is_an_invalid_request(ops: OpsDB) -> None:
    with ops.session() as session, pytest.raises(InvalidRequestError, match="cursor"):
        paginate(session, select(Case), [(Case.id, False)], cursor="bm90IGEgY3Vyc29y", limit=5)


def _refused(exc: BaseException) -> bool:
    return "append-only" in str(getattr(exc, "orig", exc))


@pytest.mark.parametrize("statement", [
    update(AuditEntry).values(actor="someone-else"),
    update(AuditEntry).where(AuditEntry.action == "verdict.create").values(detail={}),
    delete(AuditEntry),
    delete(AuditEntry).where(AuditEntry.actor == "alice"),
], ids=["update-all", "update-one", "delete-all", "delete-one"])
def test_the_database_refuses_to_change_or_remove_an_audit_line(ops: OpsDB, statement: object) -> None:
    with ops.session() as session:
        audit(session, "alice", "verdict.create", "application", ["A1"], fraud=True)
        audit(session, "bob", "case.read", "case", ["c1"])
    with pytest.raises(DBAPIError) as raised, ops.session() as session:
        session.execute(statement)  # type: ignore[call-overload]
    assert _refused(raised.value)
    with ops.session() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(r.actor, r.action, r.detail) for r in rows] == [
            ("alice", "verdict.create", {"fraud": True}), ("bob", "case.read", {})]
        audit(session, "carol", "key.create", "api_key", ["k1"])  # appending still works
    with ops.session() as session:
        assert session.scalars(select(AuditEntry.actor).order_by(AuditEntry.id)).all() == ["alice", "bob", "carol"]


def test_an_orm_change_to_a_loaded_audit_line_is_refused(ops: OpsDB) -> None:
    with ops.session() as session:
        audit(session, "alice", "watchlist.add", "watchlist", ["w1"])
    with pytest.raises(DBAPIError) as raised, ops.session() as session:
        entry = session.scalars(select(AuditEntry)).one()
        session.delete(entry)
    assert _refused(raised.value)


@pytest.mark.postgres
def test_postgres_refuses_truncating_the_audit_log(postgres_url: str) -> None:
    ops = OpsDB(postgres_url)
    try:
        with ops.session() as session:
            audit(session, "alice", "key.revoke", "api_key", ["k1"])
        with pytest.raises(DBAPIError) as raised, ops.engine.begin() as connection:
            connection.execute(text("TRUNCATE audit_log"))
        assert _refused(raised.value)
        with ops.session() as session:
            assert session.scalars(select(AuditEntry.actor)).all() == ["alice"]
    finally:
        ops.close()


def test_downgrade_to_nothing_and_upgrade_again(ops: OpsDB) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with ops.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert ops.tables() == ["alembic_version"] and ops.revision() is None
    ops.upgrade()
    assert ops.revision() == _head()
    with ops.session() as session:
        audit(session, "alice", "key.create", "api_key", ["k1"])
    with pytest.raises(DBAPIError) as raised, ops.session() as session:
        session.execute(delete(AuditEntry))
    assert _refused(raised.value)


def test_processes_opening_a_new_database_at_once_all_get_the_schema(any_ops_url: str) -> None:
    """``tianwang serve --workers N`` opens the database in N processes at the same time: the
    migrations run once, and no opening fails on a table another one is creating."""
    import subprocess
    import sys

    program = ("import sys, time; from tianwang.opsdb import OpsDB; "
               "time.sleep(max(0, float(sys.argv[2]) - time.time())); "
               "db = OpsDB(sys.argv[1]); print(db.revision()); db.close()")
    start = time.time() + 2  # all of them import first, then open at once
    workers = [subprocess.Popen([sys.executable, "-c", program, any_ops_url, str(start)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [worker.communicate(timeout=60) for worker in workers]
    assert [(worker.returncode, out.strip()) for worker, (out, _) in zip(workers, results, strict=True)] == [
        (0, _head())] * 4, [err[-300:] for _, err in results]
    db = OpsDB(any_ops_url, upgrade=False)
    try:
        with db.session() as session:
            assert session.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        db.close()


def test_a_ring_has_at_most_one_open_case(ops: OpsDB) -> None:
    from sqlalchemy.exc import IntegrityError

    def ring_case(case_id: str, status: str, ring: str = "R-1") -> Case:
        return Case(id=case_id, kind="ring", ring_id=ring, status=status, risk=500, title="t",
                    opened_at=T0, updated_at=T0)

    with ops.session() as session:
        session.add_all([ring_case("case_a", "closed"), ring_case("case_b", "closed"), ring_case("case_c", "open"),
                         ring_case("case_d", "open", ring="R-2")])
    with pytest.raises(IntegrityError), ops.session() as session:
        session.add(ring_case("case_e", "in_progress"))
    with ops.session() as session:
        session.get(Case, "case_c").status = "closed"
    with ops.session() as session:
        session.add(ring_case("case_f", "open"))
    with ops.session() as session:
        assert session.scalar(select(Case.id).where(Case.ring_id == "R-1", Case.status != "closed")) == "case_f"
