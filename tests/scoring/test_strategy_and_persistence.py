from __future__ import annotations

import pytest

from tianwang.errors import StoreError
from tianwang.scoring import (
    DecisionNotFoundError,
    InMemoryDecisionLog,
    InMemoryDocumentIndex,
    SqliteDecisionLog,
    SqliteDocumentIndex,
    bucket,
    scoring_db_path,
)


def test_buckets_are_stable_and_uniform() -> None:
    assert bucket("APP-1") != bucket("APP-2")
    values = [bucket(f"APP-{i}") for i in range(4000)]
    assert 0.47 < sum(values) / len(values) < 0.53
    assert 0.08 < sum(v < 0.1 for v in values) / len(values) < 0.12
    # pinned: an application keeps its strategy across processes and releases
    assert bucket("APP-1") == 0.664030069003652
    assert bucket("APP-1", salt="other") == 0.25367404287303036


@pytest.fixture(params=["memory", "sqlite"])
def decision_log(request: pytest.FixtureRequest, tmp_path):
    return InMemoryDecisionLog() if request.param == "memory" else SqliteDecisionLog(tmp_path / "scoring.db")


def test_decisions_are_read_back_by_application_id(decision_log) -> None:
    decision_log.put({"application_id": "A-1", "fraud_score": 10})
    decision_log.put({"application_id": "A-1", "fraud_score": 20})
    decision_log.put({"application_id": "A-2", "fraud_score": 30})
    assert decision_log.get("A-1")["fraud_score"] == 20
    assert decision_log.get("A-2")["fraud_score"] == 30
    with pytest.raises(DecisionNotFoundError, match="A-3"):
        decision_log.get("A-3")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_document_index_counts_other_identities_as_of(kind: str, tmp_path) -> None:
    index = InMemoryDocumentIndex() if kind == "memory" else SqliteDocumentIndex(tmp_path / "scoring.db")
    index.add("f" * 64, "person-a", 100.0)
    index.add("f" * 64, "person-a", 150.0)
    index.add("f" * 64, "person-b", 200.0)
    assert index.other_identities("f" * 64, "person-a", 250.0) == 1
    assert index.other_identities("f" * 64, "person-c", 150.0) == 1
    assert index.other_identities("f" * 64, "person-c", 250.0) == 2
    assert index.other_identities("e" * 64, "person-c", 250.0) == 0


def test_scoring_db_sits_beside_the_graph(tmp_path) -> None:
    assert scoring_db_path(tmp_path / "graph.db") == tmp_path / "scoring.db"


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_an_applications_files_are_indexed_at_once(kind: str, tmp_path) -> None:
    index = InMemoryDocumentIndex() if kind == "memory" else SqliteDocumentIndex(tmp_path / "scoring.db")
    statements: list[str] = []
    if kind == "sqlite":
        index._conn.set_trace_callback(statements.append)
    index.add_many(["f" * 64, "e" * 64], "person-a", 100.0)
    index.add_many(["f" * 64], "person-b", 200.0)
    index.add_many([], "person-c", 300.0)
    assert index.other_identities("f" * 64, "person-c", 250.0) == 2
    assert index.other_identities("e" * 64, "person-c", 250.0) == 1
    assert index.other_identities("f" * 64, "person-a", 150.0) == 0
    if kind == "sqlite":  # one transaction per application, not one per file
        assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE", "COMMIT"] * 2
        with pytest.raises(StoreError):  # a bad row writes none of the application's files
            index.add_many(["d" * 64, None], "person-d", 400.0)  # type: ignore[list-item]
        assert index.other_identities("d" * 64, "person-e", 500.0) == 0
