"""POST /v1/applications/score, /batch and GET /v1/decisions/{id}: idempotency, conflicts, errors."""

from __future__ import annotations

import orjson
from fastapi.testclient import TestClient

from api.schemas import DecisionOut
from tests import builders


def _post(client: TestClient, app: dict, headers: dict[str, str]):
    return client.post("/v1/applications/score", content=orjson.dumps(app), headers=headers)


def test_score_answers_a_decision_with_votes_action_and_timings(client, headers):
    r = _post(client, builders.application(1), headers["scorer"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["decision_id"].startswith("dec_")
    assert body["application_id"] == "APP-000001"
    assert 0 <= body["fraud_score"] <= 1000
    assert body["band"] in {"approve", "review", "reject"}
    assert body["action"]["type"] in {"approve", "approve_with_verification", "review", "reject"}
    assert body["votes"] and all("detector" in v for v in body["votes"])
    assert "timings_ms" in body and "strategy" in body
    # written without FastAPI's response model: it is what the model would have written
    assert DecisionOut.model_validate(body).model_dump(mode="json") == body


def test_same_application_again_returns_the_first_decision_unscored(client, headers):
    app = builders.application(2)
    first = _post(client, app, headers["scorer"])
    again = _post(client, app, headers["scorer"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["decision_id"] == first.json()["decision_id"]
    assert again.json()["decided_at"] == first.json()["decided_at"]
    assert again.json()["timings_ms"] == first.json()["timings_ms"]


def test_changed_content_under_the_same_id_is_a_409_naming_fields_not_values(client, headers):
    app = builders.application(3)
    assert _post(client, app, headers["scorer"]).status_code == 201
    changed = builders.application(3)
    changed["applicant"]["phone"] = builders.mobile(777)
    changed["loan"]["amount"] = app["loan"]["amount"] + 1000
    r = _post(client, changed, headers["scorer"])
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "application_conflict"
    assert set(error["fields"]) == {"applicant.phone", "loan.amount"}
    assert builders.mobile(777) not in r.text and app["applicant"]["phone"] not in r.text


def test_invalid_application_is_a_422_naming_the_field_without_its_value(client, headers):
    app = builders.application(4)
    app["applicant"]["id_number"] = "110105198806151239"  # bad check character
    r = _post(client, app, headers["scorer"])
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_application"
    assert r.json()["error"]["field"] == "applicant.id_number"
    assert "110105198806151239" not in r.text


def test_malformed_json_is_a_422(client, headers):
    r = client.post("/v1/applications/score", content=b"{not json", headers=headers["scorer"])
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_application"


def test_json_nested_thousands_deep_is_a_422_on_every_kind_of_route(client, headers):
    deep = b"[" * 100_000 + b"]" * 100_000
    scored = client.post("/v1/applications/score", content=deep, headers=headers["scorer"])
    assert scored.status_code == 422 and scored.json()["error"]["code"] == "invalid_application"
    ring_case = client.post("/v1/cases", content=b'{"ring_id": ' + deep + b"}",
                            headers={**headers["investigator"], "content-type": "application/json"})
    assert ring_case.status_code == 422 and ring_case.json()["error"] == {
        "code": "invalid_request", "message": "body: JSON nested too deep", "field": "body"}
    proposal = client.post("/v1/config/proposals", json={"body": "a: " + "[" * 100_000, "summary": "deep"},
                           headers=headers["analyst"])
    assert proposal.status_code == 422 and "nested too deep" in proposal.json()["error"]["message"]


def test_credentials_and_roles(client, headers):
    app = builders.application(5)
    assert _post(client, app, {}).status_code == 401
    assert _post(client, app, {"X-API-Key": "tw_nope_secret"}).status_code == 401
    r = _post(client, app, headers["investigator"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert _post(client, app, headers["admin"]).status_code == 201


def test_decision_read_back_by_decision_id_and_application_id(client, headers):
    created = _post(client, builders.application(6), headers["scorer"]).json()
    by_id = client.get(f"/v1/decisions/{created['decision_id']}", headers=headers["scorer"])
    by_app = client.get("/v1/decisions/APP-000006", headers=headers["investigator"])
    assert by_id.status_code == by_app.status_code == 200
    assert by_id.json()["decision_id"] == by_app.json()["decision_id"] == created["decision_id"]
    assert by_id.json() == created  # the answer to the score is the decision as stored, field for field
    missing = client.get("/v1/decisions/dec_missing", headers=headers["scorer"])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_batch_streams_one_result_per_line_and_reports_bad_lines_by_number(client, headers):
    bad = builders.application(12)
    bad["loan"]["term_months"] = -1
    lines = [orjson.dumps(builders.application(10)), b"", orjson.dumps(builders.application(11)), b"{oops",
             orjson.dumps(bad)]
    r = client.post("/v1/applications/batch", content=b"\n".join(lines), headers=headers["scorer"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    results = [orjson.loads(line) for line in r.text.splitlines()]
    assert [x["line"] for x in results] == [1, 3, 4, 5]
    assert results[0]["decision"]["application_id"] == "APP-000010" and results[0]["created"] is True
    assert results[2]["error"]["code"] == "invalid_application"
    assert results[3]["error"]["field"] == "loan.term_months"
    again = client.post("/v1/applications/batch", content=lines[0], headers=headers["scorer"])
    assert orjson.loads(again.text)["created"] is False


def test_batch_over_its_size_limit_is_a_413(client, headers, service):
    service.settings.max_batch_bytes = 2048
    body = b"\n".join(orjson.dumps(builders.application(20 + i)) for i in range(5))
    r = client.post("/v1/applications/batch", content=body, headers=headers["scorer"])
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_no_more_applications_are_scored_at_once_than_the_setting_allows(service, headers, monkeypatch):
    import threading
    import time

    import anyio
    import httpx

    from api.app import create_app
    from api.routers import scoring as scoring_router
    from tianwang.service.scoring import score_application

    service.settings.scoring_concurrency = 2
    running, most, lock = [0], [0], threading.Lock()

    def slow_score(svc, body):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        try:
            return score_application(svc, body)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(scoring_router, "score_application", slow_score)
    app = create_app(service=service)
    app.state.service = service  # what the lifespan does; ASGITransport runs no lifespan

    async def main() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            statuses: list[int] = []

            async def one(n: int) -> None:
                r = await client.post("/v1/applications/score", content=orjson.dumps(builders.application(100 + n)),
                                      headers=headers["scorer"])
                statuses.append(r.status_code)

            async with anyio.create_task_group() as group:
                for n in range(6):
                    group.start_soon(one, n)
            return statuses

    assert anyio.run(main) == [201] * 6
    assert most[0] == 2
