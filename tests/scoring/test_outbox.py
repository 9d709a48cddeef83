"""Degraded scoring: a graph store that does not answer in time, the durable outbox, the drain.

The fault is real: another connection holds the embedded store's write lock (a store
that hangs on writes, as a stopped Neo4j does on a socket that never closes). The
Neo4j outage, with the dev server stopped and started again, is tested in
tests/scoring/test_outbox_neo4j.py.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.mapping import application_row
from tianwang.application import parse_application
from tianwang.errors import ApplicationConflictError
from tianwang.scoring import DEFAULT_CONFIG_PATH, load_config
from tianwang.scoring.outbox import GraphGate, GraphOutbox
from tianwang.scoring.pipeline import GRAPH_UNAVAILABLE

from ..builders import application
from .helpers import config, registry

# synthetic_identity is an instance of the rules detector
GRAPH_DETECTORS = {"identity_theft", "rules", "synthetic_identity", "fraud_ring", "known_fraud_similarity", "gnn_ring",
                   "graph_evidence"}


@contextmanager
def write_lock(path: str) -> Iterator[None]:
    """Another connection holds the SQLite write lock of ``path`` until the block ends."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@pytest.fixture
def store(keyer, tmp_path):
    graph = EmbeddedGraphStore(tmp_path / "graph.db", keyer, lock_timeout=3)
    yield graph
    graph.close()


def gated(store, tmp_path, timeout: float = 0.3) -> GraphGate:
    return GraphGate(store, GraphOutbox(tmp_path / "graph-outbox.db"), timeout=timeout, retry_seconds=0.2)


def test_the_outbox_keeps_rows_once_and_gives_them_back_whole(keyer, tmp_path) -> None:
    outbox = GraphOutbox(tmp_path / "o.db")
    row = application_row(parse_application(application(1)), keyer)
    assert outbox.put(row, "down") and not outbox.put(row, "down again")
    assert outbox.pending == 1 and outbox.content_hash("APP-000001") == row.content_hash
    assert outbox.take(10) == [row]  # the same rows, field for field
    outbox.close()
    reopened = GraphOutbox(tmp_path / "o.db")  # durable: another process finds it
    assert reopened.pending == 1
    reopened.conflicted(["APP-000001"])
    assert reopened.pending == 0 and reopened.summary()["conflicts"] == 1 and reopened.take(10) == []
    reopened.close()


def test_a_store_that_hangs_degrades_scoring_and_the_outbox_writes_everything_once(store, tmp_path,
                                                                                   pipelines) -> None:
    gate = gated(store, tmp_path)
    pipeline = pipelines(store, load_config(DEFAULT_CONFIG_PATH, registry()), gate=gate)
    pipeline.score(application(1))  # the store answers: nothing degraded
    assert gate.state()["state"] == "up"
    with write_lock(store.path):
        started = time.perf_counter()
        decisions = [pipeline.score(application(n)) for n in range(2, 12)]
        took = time.perf_counter() - started
        assert gate.down and gate.outbox is not None and gate.outbox.pending == 10
    # one wait of the deadline, then straight to the outbox: ten answers well before the lock's 3 s
    assert took < 2.0, took
    for decision in decisions:
        assert decision.degraded is not None and decision.degraded["graph"] == "unavailable"
        assert set(decision.degraded["detectors"]) == GRAPH_DETECTORS - {"gnn_ring", "graph_evidence"}  # untrained
        unavailable = {o.detector for o in decision.outcomes if o.status == "unavailable"}
        assert unavailable == GRAPH_DETECTORS - {"gnn_ring", "graph_evidence"}
        assert decision.band != "approve"
        assert {d["detector"] for d in decision.as_dict()["left_out"]} >= unavailable
    assert gate.wait_drained(20), gate.state()
    assert gate.state()["state"] == "up" and gate.outbox.summary()["pending"] == 0
    assert store.counts().nodes["Application"] == 11
    for n in range(1, 12):
        assert store.get_application(f"APP-{n:06d}") is not None
    # the store answers again: scoring reads the graph, and sees what the outbox wrote
    after = pipeline.score(application(12))
    assert after.degraded is None and all(o.status != "unavailable" for o in after.outcomes)


def test_a_clean_application_goes_to_review_without_graph_evidence_unless_configured(store, tmp_path,
                                                                                     pipelines) -> None:
    detectors = {"multi_lending": {}, "identity_theft": {}}
    strict = pipelines(store, config(detectors), gate=gated(store, tmp_path / "a"))
    allowed = pipelines(store, config(detectors, degraded={"approve": True}), gate=gated(store, tmp_path / "b"))
    assert strict.score(application(1)).band == "approve"
    with write_lock(store.path):
        held = strict.score(application(2))
        let = allowed.score(application(3))
    assert held.band == "review" and held.decided_by == "degraded:graph" and held.fraud_score >= 300
    assert held.reasons[0][1].code == GRAPH_UNAVAILABLE and held.degraded["band_raised"] is True
    assert let.band == "approve" and let.degraded["band_raised"] is False
    assert strict.gate.wait_drained(20) and allowed.gate.wait_drained(20)
    assert store.counts().nodes["Application"] == 3


def test_different_content_under_a_waiting_id_is_a_conflict(store, tmp_path, pipelines) -> None:
    pipeline = pipelines(store, config({"multi_lending": {}}), gate=gated(store, tmp_path))
    with write_lock(store.path):
        pipeline.score(application(1))
        pipeline.score(application(1))  # the same content again: fine
        with pytest.raises(ApplicationConflictError):
            pipeline.score(application(1, **{"loan.amount": 123456}))
    assert pipeline.gate.wait_drained(20)
    assert store.get_application("APP-000001") is not None


def test_what_waits_at_shutdown_is_written_by_the_next_process(store, keyer, tmp_path, pipelines) -> None:
    pipeline = pipelines(store, config({"multi_lending": {}}), gate=gated(store, tmp_path))
    with write_lock(store.path):
        for n in range(1, 4):
            pipeline.score(application(n))
        pipeline.gate.close()  # the process ends with three entries waiting
    outbox = GraphOutbox(tmp_path / "graph-outbox.db")
    assert outbox.pending == 3  # on disk, for the next process
    again = GraphGate(store, outbox, timeout=0.3, retry_seconds=0.2)  # it drains on start
    try:
        assert again.wait_drained(20) and again.written_from_outbox == 3
        assert store.counts().nodes["Application"] == 3
    finally:
        again.close()


def test_without_an_outbox_a_store_failure_is_the_callers_error(store, pipelines) -> None:
    pipeline = pipelines(store, config({"multi_lending": {}}), gate=GraphGate(store, None, timeout=0.2))
    with write_lock(store.path), pytest.raises(Exception, match=r"unavailable|did not answer"):
        pipeline.score(application(1))


def test_the_command_line_shows_and_drains_the_outbox(store, keyer, tmp_path, pipelines) -> None:
    from typer.testing import CliRunner

    from tianwang.cli import app

    pipeline = pipelines(store, config({"multi_lending": {}}),
                         gate=GraphGate(store, GraphOutbox(tmp_path / "graph-outbox.db"), timeout=0.3,
                                        retry_seconds=3600))
    with write_lock(store.path):
        for n in range(1, 4):
            pipeline.score(application(n))
        pipeline.gate.close()
    env = {"TIANWANG_SECRET": keyer_secret()}
    runner = CliRunner()
    shown = runner.invoke(app, ["outbox", "--db", str(store.path)], env=env)
    assert shown.exit_code == 1 and "3" in shown.output, shown.output
    drained = runner.invoke(app, ["outbox", "--db", str(store.path), "--drain"], env=env)
    assert drained.exit_code == 0, drained.output
    assert store.counts().nodes["Application"] == 3


def keyer_secret() -> str:
    from tests.conftest import TEST_SECRET

    return TEST_SECRET.decode() if isinstance(TEST_SECRET, bytes) else TEST_SECRET
