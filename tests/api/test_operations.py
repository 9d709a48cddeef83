"""Operations: /healthz, /readyz, /metrics, the request id, the access log and the body size limit."""

from __future__ import annotations

import logging
from datetime import timedelta

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import DETECTOR_FAILURES, observe_decision
from tests import builders
from tianwang.logs import JsonFormatter
from tianwang.opsdb.models import Case, OutboxEvent, utcnow


def _score(client, headers, n: int):
    r = client.post("/v1/applications/score", content=orjson.dumps(builders.application(n)), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_healthz_and_readyz_answer_without_credentials(client):
    assert client.get("/healthz").json()["status"] == "ok"
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "failed": [], "graph_outbox_pending": 0,
                        "checks": {"graph_store": "ok", "operational_db": "ok", "configuration": "ok"}}


def test_readyz_is_503_naming_the_operational_db_when_it_does_not_answer(client, service, monkeypatch):
    monkeypatch.setattr(service.ops, "ping", lambda: False)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["failed"] == ["operational_db"]


def test_readyz_is_503_naming_the_graph_store_when_it_fails(client, service, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("store gone")

    monkeypatch.setattr(service.runtime.store, "get_application", broken)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["failed"] == ["graph_store"]


def test_readyz_is_503_when_the_configuration_was_refused(client, service, monkeypatch):
    monkeypatch.setattr(type(service.runtime.pipeline), "config_error", property(lambda self: "bad weights"))
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["failed"] == ["configuration"]
    assert "bad weights" not in r.text


def test_metrics_count_requests_by_route_template_and_decisions_by_band(client, headers):
    before = _samples(client.get("/metrics").text)
    decision = _score(client, headers["scorer"], 1)
    assert client.get(f"/v1/decisions/{decision['decision_id']}", headers=headers["scorer"]).status_code == 200
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = _samples(r.text)
    band = ("tianwang_decisions_total", (("band", decision["band"]),))
    assert after[band] - before.get(band, 0) == 1
    read = ("tianwang_http_request_duration_seconds_count",
            (("method", "GET"), ("route", "/v1/decisions/{decision_id}"), ("status", "2xx")))
    assert after[read] - before.get(read, 0) == 1
    # detector time from the decision's votes
    ran = [v["detector"] for v in decision["votes"] if v["status"] != "skipped"]
    assert ran
    key = ("tianwang_detector_duration_seconds_count", (("detector", ran[0]),))
    assert after[key] - before.get(key, 0) == 1
    # never an id in a label
    assert decision["decision_id"] not in r.text and decision["application_id"] not in r.text


def test_a_replayed_decision_is_not_counted_again(client, headers):
    _score(client, headers["scorer"], 2)
    before = _samples(client.get("/metrics").text)
    again = client.post("/v1/applications/score", content=orjson.dumps(builders.application(2)),
                        headers=headers["scorer"])
    assert again.status_code == 200
    after = _samples(client.get("/metrics").text)
    band = ("tianwang_decisions_total", (("band", again.json()["band"]),))
    assert after[band] == before[band]


def test_detector_failures_are_counted_from_the_left_out_detectors():
    errors = DETECTOR_FAILURES.labels("gnn_ring", "error")
    before = errors._value.get()
    observe_decision({"band": "approve", "votes": [{"detector": "gnn_ring", "status": "error", "ms": 3.0}],
                      "left_out": [{"detector": "gnn_ring", "status": "error", "why": "RuntimeError"},
                                   {"detector": "similarity", "status": "skipped", "why": "not trained yet"}]})
    assert errors._value.get() == before + 1


def test_open_cases_and_webhook_backlog_are_read_from_the_database_at_scrape_time(client, service):
    now = utcnow()
    with service.ops.session() as session:
        for i, status in enumerate(["open", "in_progress", "closed"]):
            session.add(Case(id=f"case_{i}", kind="application", status=status, opened_at=now, updated_at=now))
        for i, status in enumerate(["pending", "pending", "delivered"]):
            session.add(OutboxEvent(id=f"evt_{i}", event_type="decision.finalized", payload={}, created_at=now,
                                    status=status, next_attempt_at=now + timedelta(seconds=i)))
    samples = _samples(client.get("/metrics").text)
    assert samples[("tianwang_open_cases", ())] == 2
    assert samples[("tianwang_webhook_backlog", ())] == 2
    # native memory of the answering process: SQLite's page caches hold the stores' pages by now
    assert samples[("tianwang_native_memory_bytes", (("pool", "sqlite"),))] > 0
    assert samples[("tianwang_native_memory_bytes", (("pool", "malloc_in_use"),))] > 1e6
    assert ("tianwang_native_memory_bytes", (("pool", "malloc_free"),)) in samples


def test_request_id_is_echoed_when_sane_and_replaced_otherwise(client, headers, service):
    decision = _score(client, headers["scorer"], 3)
    r = client.get(f"/v1/decisions/{decision['decision_id']}", headers={**headers["scorer"], "X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    # the audit line of the read carries it (request.state.request_id, api.deps.request_id)
    lines = client.get("/v1/audit", params={"action": "decision.read"}, headers=headers["admin"]).json()["data"]
    assert lines[0]["request_id"] == "abc-123"
    for bad in ("x" * 65, "a b", "<script>"):
        r = client.get("/healthz", headers={"X-Request-ID": bad})
        assert r.headers["X-Request-ID"] != bad and r.headers["X-Request-ID"].startswith("req_")
    assert client.get("/healthz").headers["X-Request-ID"].startswith("req_")


def test_one_json_access_line_per_request_without_query_values_or_bodies(client, headers, service, caplog):
    app = builders.application(4)
    with caplog.at_level(logging.INFO, logger="tianwang.access"):
        _score(client, headers["scorer"], 4)
        client.get("/v1/audit", params={"actor": "SECRET-QUERY-VALUE"}, headers={**headers["admin"],
                                                                               "X-Request-ID": "r-2"})
        client.get("/v1/decisions/APP-000004", headers=headers["scorer"])
    records = [r for r in caplog.records if r.name == "tianwang.access"]
    assert len(records) == 3
    lines = [orjson.loads(JsonFormatter().format(r)) for r in records]
    assert all(x["message"] == "request" and x["logger"] == "tianwang.access" for x in lines)
    assert [x["route"] for x in lines] == ["/v1/applications/score", "/v1/audit", "/v1/decisions/{decision_id}"]
    assert [x["status"] for x in lines] == [201, 200, 200]
    me = client.get("/v1/auth/me", headers=headers["admin"]).json()["id"]
    assert lines[1]["request_id"] == "r-2" and lines[1]["principal"] == me
    assert all(x["method"] in {"GET", "POST"} and x["duration_ms"] >= 0 for x in lines)
    text = "\n".join(JsonFormatter().format(r) for r in caplog.records if not r.name.startswith("httpx"))
    for value in ("SECRET-QUERY-VALUE", "APP-000004", app["applicant"]["phone"], app["applicant"]["id_number"]):
        assert value not in text


def test_a_body_over_the_limit_is_a_413_by_content_length(client, headers, service):
    service.settings.max_body_bytes = 1024
    body = orjson.dumps(builders.application(5, notes="x" * 2000))
    r = client.post("/v1/applications/score", content=body, headers=headers["scorer"])
    assert r.status_code == 413
    assert r.json()["error"] == {"code": "body_too_large", "field": "body", "limit": 1024,
                                 "message": "the request body is larger than 1024 bytes"}
    assert r.headers["X-Request-ID"]


def test_a_streamed_body_over_the_limit_is_a_413_too(client, headers, service):
    service.settings.max_body_bytes = 1024

    def chunks():  # no Content-Length: chunked transfer
        for _ in range(8):
            yield b"x" * 512

    r = client.post("/v1/applications/score", content=chunks(), headers=headers["scorer"])
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert r.json()["error"]["limit"] == 1024


def test_the_batch_route_has_its_own_larger_limit(client, headers, service):
    lines = [orjson.dumps(builders.application(30 + i)) for i in range(3)]
    service.settings.max_body_bytes = max(1024, *map(len, lines))  # the batch route's limit for one line
    body = b"\n".join(lines)
    assert len(body) > service.settings.max_body_bytes
    r = client.post("/v1/applications/batch", content=body, headers=headers["scorer"])
    assert r.status_code == 200 and len(r.text.splitlines()) == 3
    service.settings.max_batch_bytes = 1024
    r = client.post("/v1/applications/batch", content=body, headers=headers["scorer"])
    assert r.status_code == 413 and r.json()["error"]["limit"] == 1024


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_operational_endpoints_need_no_credentials(client, path):
    assert client.get(path).status_code == 200


def test_lines_logged_while_serving_a_request_carry_its_id(client, headers, service, monkeypatch):
    seen = []

    def spy(*args, **kwargs):
        seen.append(JsonFormatter().format(logging.makeLogRecord({"msg": "inside", "name": "tianwang.test"})))
        raise OSError("store gone")

    monkeypatch.setattr(service.runtime.store, "get_application", spy)
    client.get("/readyz", headers={"X-Request-ID": "inside-1"})  # the check runs in a worker thread
    assert orjson.loads(seen[0])["request_id"] == "inside-1"
    line = JsonFormatter().format(logging.makeLogRecord({"msg": "outside"}))
    assert "request_id" not in orjson.loads(line)


def test_the_service_log_configuration_writes_json_lines(capsys):
    import logging.config

    from tianwang.logs import SERVICE_LOG_CONFIG

    logging.config.dictConfig(SERVICE_LOG_CONFIG)
    try:
        logging.getLogger("tianwang.access").info("request", extra={"route": "/healthz", "status": 200})
        line = orjson.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert (line["message"], line["route"], line["status"], line["level"]) == ("request", "/healthz", 200, "INFO")
    finally:
        for name in ("tianwang", "uvicorn"):
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_an_unhandled_error_is_a_500_logged_and_answered_with_the_request_id(service, caplog):
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(service=service)

    @app.get("/boom")
    def boom() -> None:
        phone = "".join(["138", "0013", "8000"])
        raise RuntimeError(phone)  # a message may carry anything: never logged

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.INFO):
        r = client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert r.headers["X-Request-ID"] == "boom-1"
    lines = {rec.name: orjson.loads(JsonFormatter().format(rec)) for rec in caplog.records}
    assert lines["tianwang.api"]["request_id"] == "boom-1" and lines["tianwang.api"]["error"] == "RuntimeError"
    assert lines["tianwang.access"]["status"] == 500 and lines["tianwang.access"]["route"] == "/boom"
    assert "13800138000" not in "\n".join(JsonFormatter().format(rec) for rec in caplog.records)


def test_a_request_that_matches_no_route_is_labelled_unmatched(client):
    assert client.get("/v1/nothing/APP-000123").status_code == 404
    text = client.get("/metrics").text
    assert 'route="<unmatched>"' in text and "APP-000123" not in text
    assert client.delete("/healthz").status_code == 405
    assert 'method="DELETE",route="/healthz",status="4xx"' in client.get("/metrics").text


def test_metrics_say_how_many_rings_the_process_scores_with_and_whether_it_renews_them(client, service):
    from tests.rings.helpers import ring_applications
    from tianwang.rings.job import detect_rings

    rings = service.runtime.pipeline.loaded.detectors["fraud_ring"].rings
    samples = _samples(client.get("/metrics").text)
    assert samples[("tianwang_ring_index_rings", ())] == (len(rings.index) if rings.index else 0)
    assert samples[("tianwang_ring_index_renewing", ())] == 0
    service.runtime.store.upsert_applications(ring_applications())
    detect_rings(service.runtime.store, labels={"APP-000001": True})
    rings.load()  # what the process does in the background once a reload is due
    assert rings.index is not None and len(rings.index) >= 1
    assert _samples(client.get("/metrics").text)[("tianwang_ring_index_rings", ())] == len(rings.index)
    with rings._busy:  # a reload or refresh under way
        assert _samples(client.get("/metrics").text)[("tianwang_ring_index_renewing", ())] == 1
