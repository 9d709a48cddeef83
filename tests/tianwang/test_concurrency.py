"""Concurrent scoring (issue 19, concurrency): applications that share attributes, scored from many threads
at once and each sent twice at the same moment, leave one node per entity, one relationship per link, one
stored application and one decision each, on both stores."""

from __future__ import annotations

import contextlib
import threading
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from tests.api.test_cases_rings import shared
from tianwang.opsdb.models import DecisionRow
from tianwang.service import Service, open_service
from tianwang.service.scoring import score_application
from tianwang.settings import load_settings


def _service(kind: str, folder: Path, request: pytest.FixtureRequest,
             monkeypatch: pytest.MonkeyPatch) -> Service:
    if kind == "neo4j":
        monkeypatch.setenv("TIANWANG_NEO4J_URI", request.getfixturevalue("neo4j_uri"))
    service = open_service(load_settings(db_path=folder / "graph.db", store=kind), store=kind)
    if kind == "neo4j":
        service.runtime.store.clear()  # type: ignore[attr-defined]
    return service


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def live(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    service = _service(request.param, tmp_path / "live", request, monkeypatch)
    try:
        yield service
    finally:
        if request.param == "neo4j":
            service.runtime.store.clear()  # type: ignore[attr-defined]
        service.close()


def test_concurrent_scores_of_linked_applications_leave_no_duplicate(live: Service, tmp_path: Path) -> None:
    bodies = [orjson.dumps(shared(n, group=n % 3)) for n in range(1, 19)]  # three groups sharing phone, device, account
    start = threading.Barrier(8)

    def score(body: bytes) -> tuple[str, str, bool]:
        with contextlib.suppress(threading.BrokenBarrierError):  # eight at a time, the last few without
            start.wait(timeout=1)
        decision, created = score_application(live, body)
        return decision["application_id"], decision["decision_id"], created

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(score, [b for body in bodies for b in (body, body)]))  # each one twice at once

    by_application: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for application_id, decision_id, created in results:
        by_application[application_id].append((decision_id, created))
    assert len(by_application) == 18
    for application_id, answers in by_application.items():
        assert len({d for d, _ in answers}) == 1, application_id  # one decision, answered to both
        assert sorted(c for _, c in answers) == [False, True], application_id  # created once
    with live.ops.session() as session:
        assert session.scalar(select(func.count()).select_from(DecisionRow)) == 18

    with open_service(load_settings(db_path=tmp_path / "one-by-one" / "graph.db", store="embedded"),
                      store="embedded") as alone:
        for body in bodies:
            score_application(alone, body)
        expected = alone.runtime.store.counts()
    # a write past the graph's deadline (a Neo4j server just started compiles its first queries slowly) waits in
    # the outbox and lands from there: count once it has
    gate = live.runtime.pipeline.gate
    assert gate.wait_drained(60), gate.state()
    assert live.runtime.store.counts() == expected  # as if scored one at a time: no node nor link twice
