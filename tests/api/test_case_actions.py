"""POST /v1/cases/{id}/verification and /hold: on an open application case only, idempotent, on the timeline and
in the audit log, and carried by the decision read back and by the final decision's webhook."""

from __future__ import annotations

from sqlalchemy import select

from tests.api.test_cases import _review
from tianwang.opsdb.models import OutboxEvent


def _audit(client, headers, case_id: str) -> list[dict]:
    return client.get("/v1/audit", params={"target_id": case_id}, headers=headers["admin"]).json()["data"]


def test_a_task_asked_for_twice_is_there_once_and_the_decision_and_webhook_carry_it(client, headers, service):
    inv = headers["investigator"]
    decision = _review(client, headers, 1, "mid")
    case_id = decision["case_id"]
    had = [t["task"] for t in decision["action"]["verification_tasks"]]
    task = next(t for t in ("identity_check", "employment_check", "proof_of_income") if t not in had)

    first = client.post(f"/v1/cases/{case_id}/verification", json={"task": task}, headers=inv)
    second = client.post(f"/v1/cases/{case_id}/verification", json={"task": task, "note": "again"}, headers=inv)
    assert first.status_code == second.status_code == 200
    assert [t["task"] for t in second.json()["verification_tasks"]] == [*had, task]
    timeline = client.get(f"/v1/cases/{case_id}", headers=inv).json()["timeline"]
    assert [e["detail"] for e in timeline if e["kind"] == "verification_requested"] == [{"task": task}]
    assert [e["action"] for e in _audit(client, headers, case_id)].count("case.verification") == 2  # both audited

    read = client.get(f"/v1/decisions/{decision['decision_id']}", headers=headers["scorer"]).json()
    assert [t["task"] for t in read["action"]["verification_tasks"]] == [*had, task]

    held = client.post(f"/v1/cases/{case_id}/hold", json={"hold": True, "note": "dealer under review"}, headers=inv)
    assert held.status_code == 200 and held.json()["hold_funding"] is True
    released = client.post(f"/v1/cases/{case_id}/hold", json={"hold": False}, headers=inv)
    assert released.json()["hold_funding"] is False
    client.post(f"/v1/cases/{case_id}/hold", json={"hold": True}, headers=inv)
    kinds = [e["kind"] for e in client.get(f"/v1/cases/{case_id}", headers=inv).json()["timeline"]]
    assert kinds[-1] == "funding_held" and "funding_released" in kinds and "note" in kinds
    assert {"case.hold", "case.release"} <= {e["action"] for e in _audit(client, headers, case_id)}
    assert client.get(f"/v1/decisions/{decision['decision_id']}",
                      headers=headers["scorer"]).json()["action"]["hold_funding"] is True

    closed = client.post(f"/v1/cases/{case_id}/close", json={"outcome": "false_positive"}, headers=inv)
    assert closed.status_code == 200, closed.text
    with service.ops.session() as session:
        (event,) = session.scalars(select(OutboxEvent).where(OutboxEvent.id == closed.json()["event_id"]))
        data = event.payload["data"]
        assert data["verification_tasks"] == [*had, task] and data["hold_funding"] is True


def test_an_unknown_task_names_its_field_and_a_closed_case_takes_no_action(client, headers):
    inv = headers["investigator"]
    case_id = _review(client, headers, 2, "mid")["case_id"]
    for body in ({"task": "palm_reading"}, {}, {"task": "identity_check", "extra": 1}):
        r = client.post(f"/v1/cases/{case_id}/verification", json=body, headers=inv)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text
    assert client.post(f"/v1/cases/{case_id}/verification", json={"task": "palm_reading"},
                       headers=inv).json()["error"]["field"] == "task"
    r = client.post(f"/v1/cases/{case_id}/hold", json={"hold": "perhaps"}, headers=inv)
    assert r.status_code == 422 and r.json()["error"]["field"] == "hold"
    for role in ("scorer", "analyst", "approver"):
        assert client.post(f"/v1/cases/{case_id}/hold", json={"hold": True}, headers=headers[role]).status_code == 403

    assert client.post(f"/v1/cases/{case_id}/close", json={"outcome": "false_positive"}, headers=inv).status_code == 200
    for path, body in (("verification", {"task": "identity_check"}), ("hold", {"hold": True}),
                       ("snooze", {"until": "2030-01-01T00:00:00+08:00"})):
        r = client.post(f"/v1/cases/{case_id}/{path}", json=body, headers=inv)
        assert r.status_code == 409 and r.json()["error"]["code"] == "case_closed", (path, r.text)
    missing = client.post("/v1/cases/case_nope/hold", json={"hold": True}, headers=inv)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
