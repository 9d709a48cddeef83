"""The service publishes what it accepted on a real Kafka broker (TIANWANG_KAFKA_BOOTSTRAP): each new
decision's application, each verdict per application, each outcome, keyed by application id; a replayed
decision publishes nothing again, and what it published is what the graph writer takes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.examples import APPLICATION_EXAMPLE
from graph_schema.mapping import ApplicationRow
from tianwang.ingest import map_line
from tianwang.service import Service, open_service
from tianwang.settings import load_settings
from tianwang.stream.topics import APPLICATIONS, OUTCOMES, VERDICTS

pytestmark = [pytest.mark.slow, pytest.mark.kafka]


@pytest.fixture
def service(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Service]:
    settings = load_settings(db_path=tmp_path / "graph.db", store="embedded", kafka_bootstrap=kafka_bootstrap)
    with open_service(settings) as svc:
        yield svc


def _messages(bootstrap: str, topic: str, keys: set[str], want: int) -> list[tuple[str, dict[str, Any]]]:
    """The messages of ``topic`` keyed by one of ``keys``, read from the start until ``want`` came (or 60 s)."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    found: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + 60
    try:
        while len(found) < want and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=100, timeout=1.0):
                key = (message.key() or b"").decode()
                if message.error() is None and key in keys:
                    found.append((key, orjson.loads(message.value() or b"null")))
        time.sleep(0.5)  # anything published twice would have come by now
        for message in consumer.consume(num_messages=100, timeout=1.0):
            key = (message.key() or b"").decode()
            if message.error() is None and key in keys:
                found.append((key, orjson.loads(message.value() or b"null")))
    finally:
        consumer.close()
    return found


def test_decisions_verdicts_and_outcomes_are_published_once_keyed_by_application(
    service: Service, kafka_bootstrap: str
) -> None:
    run = uuid.uuid4().hex[:8].upper()
    ids = [f"APP-EV{run}-{n}" for n in range(3)]
    with TestClient(create_app(service=service)) as client:
        key = {"X-API-Key": service.accounts.create_key("events", ["scorer", "investigator"])[0]}
        for n, application_id in enumerate(ids):
            body = {**APPLICATION_EXAMPLE, "application_id": application_id}
            assert client.post("/v1/applications/score", json=body, headers=key).status_code in (200, 201)
            if n == 0:  # the same application again: the earlier decision, nothing published again
                assert client.post("/v1/applications/score", json=body, headers=key).status_code == 200
        verdict = client.post("/v1/verdicts", json={"application_id": ids[1], "fraud": True,
                                                    "typology": "identity_theft"}, headers=key)
        assert verdict.status_code == 201, verdict.text
        outcome = client.post("/v1/outcomes", json={"application_id": ids[2], "kind": "paid_as_agreed",
                                                    "observed_on": "2026-11-30"}, headers=key)
        assert outcome.status_code == 201, outcome.text
        metrics = client.get("/metrics").text
    service.extras["events"].publisher.flush(30)

    applications = _messages(kafka_bootstrap, APPLICATIONS, set(ids), len(ids))
    assert sorted(k for k, _ in applications) == sorted(ids), "each new decision's application, once"
    for application_id, value in applications:
        row = map_line(0, orjson.dumps(value), service.runtime.store.keyer)
        assert isinstance(row, ApplicationRow) and row.application_id == application_id, "the graph writer takes it"
    verdicts = _messages(kafka_bootstrap, VERDICTS, set(ids), 1)
    assert [(k, v["fraud"], v["typology"], v["verdict_id"]) for k, v in verdicts] == [
        (ids[1], True, "identity_theft", verdict.json()["verdict_id"])]
    outcomes = _messages(kafka_bootstrap, OUTCOMES, set(ids), 1)
    assert [(k, v["kind"], v["outcome_id"]) for k, v in outcomes] == [
        (ids[2], "paid_as_agreed", outcome.json()["outcome_id"])]
    assert 'tianwang_stream_events_total{outcome="queued"} 5.0' in metrics
    assert 'tianwang_stream_events_total{outcome="refused"} 0.0' in metrics
    counts = service.extras["events"].counts()
    assert counts["delivered"] == 5 and counts["failed"] == 0
