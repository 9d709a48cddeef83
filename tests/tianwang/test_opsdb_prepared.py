"""Statements compiled once and run on the driver's connection (the scoring path's check and inserts)
store what a SQLAlchemy ``Connection`` stores, byte for byte, on SQLite and on PostgreSQL
(``any_ops_url``, see tests/conftest.py), and fail as it fails."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError

from tianwang.opsdb import OpsDB
from tianwang.opsdb.models import AuditEntry, DecisionRow, VaultEntry
from tianwang.opsdb.prepared import PreparedStatement

_INSERT_DECISION = insert(DecisionRow)
_INSERT_VAULT = insert(VaultEntry)
_DECIDED = select(DecisionRow.id).where(DecisionRow.application_id == bindparam("application_id"))
T0 = datetime(2026, 12, 6, 8, 30, 15, 123456, tzinfo=UTC)


def _decision(n: int) -> dict[str, Any]:
    # a record with what JSON columns must carry: non-ASCII text, a float, a null, a number past 64 bits
    record = {"decision_id": f"dec_p{n}", "fraud_score": 71, "reasons": [{"code": "RING", "text": "团伙 ring"}],
              "weight": 0.125, "bundle": None, "big": 2**70}
    return dict(id=f"dec_p{n}", application_id=f"app_p{n}", decided_at=T0, submitted_at="2026-12-01T00:00:00+00:00",
                dealer_id=None if n % 2 else "D001", fraud_score=71, band="approve", action="approve",
                strategy="default", config_version="v1", bundle=None, record=record, status="final")


def _vault(n: int) -> list[dict[str, Any]]:
    return [{"application_id": f"app_p{n}", "field": f"applicant.f{j}", "key_id": "k1", "nonce": bytes([j]) * 12,
             "ciphertext": b"\x00\xff" * (j + 3), "sealed_at": T0} for j in range(3)]


_DECISION_KEYS = tuple(_decision(0))  # the columns every row gives, as the service derives them from its rows
_VAULT_KEYS = tuple(_vault(0)[0])


def _stored(ops: OpsDB, n: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with ops.engine.connect() as connection:  # the driver's values, not the types' reading of them
        decisions = connection.exec_driver_sql(f"SELECT * FROM decisions WHERE id = 'dec_p{n}'").all()
        vault = connection.exec_driver_sql(
            f"SELECT * FROM vault_entries WHERE application_id = 'app_p{n}' ORDER BY field").all()
    return [tuple(r) for r in decisions], [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                                           for r in vault]


@pytest.mark.parametrize("n", [1, 2])
def test_the_inserts_store_what_a_connection_stores(ops: OpsDB, n: int) -> None:
    with ops.engine.begin() as connection:
        connection.execute(_INSERT_DECISION, _decision(n))
        connection.execute(_INSERT_VAULT, _vault(n))
    expected = _stored(ops, n)
    with ops.engine.begin() as connection:
        connection.execute(delete(VaultEntry))
        connection.execute(delete(DecisionRow))
    with ops.driver_transaction() as connection:
        ops.prepare(_INSERT_DECISION, _DECISION_KEYS).execute(connection, [_decision(n)])
        ops.prepare(_INSERT_VAULT, _VAULT_KEYS).execute(connection, _vault(n))
    assert _stored(ops, n) == expected
    assert len(expected[0]) == 1 and len(expected[1]) == 3
    with ops.session() as session:  # and the ORM reads it back as written
        row = session.get(DecisionRow, f"dec_p{n}")
        assert row is not None and row.record == _decision(n)["record"] and row.decided_at == T0


def test_the_check_answers_the_first_row_or_none(ops: OpsDB) -> None:
    check = ops.prepare(_DECIDED)
    assert check.first({"application_id": "app_p1"}) is None
    with ops.driver_transaction() as connection:
        ops.prepare(_INSERT_DECISION, _DECISION_KEYS).execute(connection, [_decision(1)])
    assert check.first({"application_id": "app_p1"}) == ("dec_p1",)
    assert ops.prepare(_DECIDED) is check  # compiled once
    # an insert is compiled per set of columns: a row with another one is not cut down to the first's
    assert ops.prepare(_INSERT_DECISION, _DECISION_KEYS) is ops.prepare(_INSERT_DECISION, _DECISION_KEYS)
    assert ops.prepare(_INSERT_DECISION, (*_DECISION_KEYS, "case_id")) is not ops.prepare(
        _INSERT_DECISION, _DECISION_KEYS)


def test_a_failed_insert_raises_sqlalchemys_error_and_leaves_nothing(ops: OpsDB) -> None:
    with ops.driver_transaction() as connection:
        ops.prepare(_INSERT_DECISION, _DECISION_KEYS).execute(connection, [_decision(1)])
    duplicate = dict(_decision(2), application_id="app_p1")  # the application id is unique
    with pytest.raises(IntegrityError), ops.driver_transaction() as connection:
        ops.prepare(_INSERT_VAULT, _VAULT_KEYS).execute(connection, _vault(2))
        ops.prepare(_INSERT_DECISION, _DECISION_KEYS).execute(connection, [duplicate])
    assert _stored(ops, 2) == ([], [])  # the vault rows before it were rolled back
    with ops.driver_transaction() as connection:  # and the pooled connection still works
        ops.prepare(_INSERT_DECISION, _DECISION_KEYS).execute(connection, [_decision(3)])
    assert len(_stored(ops, 3)[0]) == 1


def test_an_error_in_the_block_rolls_back(ops: OpsDB) -> None:
    with pytest.raises(RuntimeError), ops.driver_transaction() as connection:
        ops.prepare(_INSERT_DECISION, _DECISION_KEYS).execute(connection, [_decision(4)])
        raise RuntimeError("after the insert")
    assert _stored(ops, 4) == ([], [])


def test_an_insert_must_name_the_columns_sqlalchemy_would_fill_in(ops: OpsDB) -> None:
    """``AuditEntry`` has defaults a Connection fills in per row: a prepared insert refuses to leave them out."""
    with pytest.raises(ValueError, match="give them as columns"):
        PreparedStatement(ops.engine, insert(AuditEntry), ("actor", "action"))
