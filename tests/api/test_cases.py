"""/v1/cases: the queue's order, taking the next case, the timeline, closing (and closing twice)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import orjson
from sqlalchemy import select

from tests import builders
from tianwang.ids import new_id
from tianwang.opsdb.models import AuditEntry, Case, utcnow
from tianwang.service.cases import REVIEW_TARGET, open_cases, take_next

#: monthly incomes that make builders' applications land in the review band, by rising score
REVIEW_INCOMES = {"low": 22000, "mid": 24000, "high": 26000}


def _review(client, headers, n: int, level: str = "low") -> dict:
    app = builders.application(n, **{"applicant.monthly_income": REVIEW_INCOMES[level]})
    r = client.post("/v1/applications/score", content=orjson.dumps(app), headers=headers["scorer"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["band"] == "review" and body["case_id"], body["band"]
    return body


def _insert_cases(service, risks: list[int]) -> list[str]:
    now = utcnow()
    ids = []
    with service.ops.session() as session:
        for i, risk in enumerate(risks):
            case_id = new_id("case")
            session.add(Case(id=case_id, kind="application", application_id=f"APP-X{i}", status="open", risk=risk,
                             title="t", opened_at=now + timedelta(seconds=i), updated_at=now, due_at=now,
                             verification_tasks=[], reviewed_members=[], hold_funding=False))
            ids.append(case_id)
    return ids


def test_queue_is_sorted_by_risk_then_age_and_pages(client, headers):
    low1 = _review(client, headers, 1, "low")
    high = _review(client, headers, 2, "high")
    low2 = _review(client, headers, 3, "low")
    mid = _review(client, headers, 4, "mid")
    assert low1["fraud_score"] == low2["fraud_score"] < mid["fraud_score"] < high["fraud_score"]
    r = client.get("/v1/cases", headers=headers["investigator"])
    assert r.status_code == 200, r.text
    got = [c["case_id"] for c in r.json()["data"]]
    assert got == [high["case_id"], mid["case_id"], low1["case_id"], low2["case_id"]]
    item = r.json()["data"][0]
    assert item["status"] == "open" and item["overdue"] is False and item["age_seconds"] >= 0
    assert datetime.fromisoformat(item["due_at"]) - datetime.fromisoformat(item["opened_at"]) == REVIEW_TARGET

    first = client.get("/v1/cases", params={"limit": 3}, headers=headers["investigator"]).json()
    assert first["pagination"]["has_more"] is True
    rest = client.get("/v1/cases", params={"limit": 3, "cursor": first["pagination"]["next"]},
                      headers=headers["investigator"]).json()
    assert [c["case_id"] for c in first["data"] + rest["data"]] == got
    assert rest["pagination"] == {"has_more": False, "next": None}


def test_queue_filters_snooze_and_overdue(client, headers, service):
    a = _review(client, headers, 1, "high")["case_id"]
    b = _review(client, headers, 2, "mid")["case_id"]
    inv = headers["investigator"]
    client.post(f"/v1/cases/{a}/assign", json={"assignee": "li.na"}, headers=inv)
    assert [c["case_id"] for c in client.get("/v1/cases", params={"assignee": "li.na"}, headers=inv).json()
            ["data"]] == [a]
    assert [c["case_id"] for c in client.get("/v1/cases", params={"assignee": "unassigned"}, headers=inv).json()
            ["data"]] == [b]
    assert client.get("/v1/cases", params={"kind": "ring"}, headers=inv).json()["data"] == []
    until = (utcnow() + timedelta(days=2)).isoformat()
    assert client.post(f"/v1/cases/{b}/snooze", json={"until": until}, headers=inv).status_code == 200
    assert [c["case_id"] for c in client.get("/v1/cases", headers=inv).json()["data"]] == [a]
    snoozed = client.get("/v1/cases", params={"include_snoozed": True}, headers=inv).json()["data"]
    assert [c["case_id"] for c in snoozed] == [a, b]
    with service.ops.session() as session:
        session.get(Case, a).due_at = utcnow() - timedelta(minutes=1)
    assert client.get("/v1/cases", headers=inv).json()["data"][0]["overdue"] is True


def test_take_next_hands_each_case_to_one_caller_only(service):
    ids = _insert_cases(service, [500, 700, 600, 900, 550, 800])
    callers = [f"investigator-{i}" for i in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        taken = list(pool.map(lambda who: take_next(service, who), callers))
    got = [t["case_id"] for t in taken if t is not None]
    assert sorted(got) == sorted(ids) and len(set(got)) == len(ids)  # every case once, none twice
    assert sum(t is None for t in taken) == len(callers) - len(ids)
    with service.ops.session() as session:
        rows = list(session.scalars(select(Case)))
        assert all(c.status == "in_progress" and c.assignee for c in rows)
        by_case = {t["case_id"]: t["assignee"] for t in taken if t is not None}
        assert {c.id: c.assignee for c in rows} == by_case


def test_take_next_through_the_api_takes_the_riskiest_unassigned(client, headers, service):
    low, high = _insert_cases(service, [500, 900])
    inv = headers["investigator"]
    r = client.post("/v1/cases/next", headers=inv)
    assert r.status_code == 200 and r.json()["case_id"] == high
    assert r.json()["status"] == "in_progress" and r.json()["assignee"] == "client-investigator"
    assert client.post("/v1/cases/next", headers=headers["admin"]).json()["case_id"] == low
    assert client.post("/v1/cases/next", headers=inv).status_code == 204
    with service.ops.session() as session:
        assert open_cases(session) == {"open": 0, "in_progress": 2}


def test_timeline_and_closing_twice_is_a_409(client, headers, service):
    decision = _review(client, headers, 1, "mid")
    case_id, inv = decision["case_id"], headers["investigator"]
    assert client.post("/v1/cases/next", headers=inv).json()["case_id"] == case_id
    assert client.post(f"/v1/cases/{case_id}/notes", json={"text": "called the employer"}, headers=inv).status_code \
        == 200
    until = (utcnow() + timedelta(hours=3)).isoformat()
    assert client.post(f"/v1/cases/{case_id}/snooze", json={"until": until}, headers=inv).status_code == 200
    assert client.post(f"/v1/cases/{case_id}/assign", json={"assignee": "wang.wei"}, headers=inv).status_code == 200
    bad = client.post(f"/v1/cases/{case_id}/close", json={"outcome": "confirmed_fraud"}, headers=inv)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "typology"
    closed = client.post(f"/v1/cases/{case_id}/close", json={"outcome": "confirmed_fraud", "typology":
                                                              "synthetic_identity", "note": "payslips forged"},
                         headers=inv)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["verdict_id"].startswith("vrd_")

    again = client.post(f"/v1/cases/{case_id}/close", json={"outcome": "false_positive"}, headers=inv)
    assert again.status_code == 409 and again.json()["error"]["code"] == "case_closed"
    assert client.post(f"/v1/cases/{case_id}/assign", json={"assignee": "x"}, headers=inv).status_code == 409

    view = client.get(f"/v1/cases/{case_id}", headers=inv).json()
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds == ["opened", "assigned", "note", "snoozed", "assigned", "note", "closed"]
    assert view["timeline"][1]["actor"] == "client-investigator"
    assert view["timeline"][2]["detail"]["text"] == "called the employer"
    assert view["timeline"][-1]["detail"]["outcome"] == "confirmed_fraud"
    assert view["decision"]["decision_id"] == decision["decision_id"]
    assert view["outcome"] == "confirmed_fraud" and view["typology"] == "synthetic_identity"
    raw = builders.application(1)["applicant"]
    assert not any(raw[f] in orjson.dumps(view).decode() for f in ("phone", "id_number", "bank_account", "name"))
    final = client.get(f"/v1/decisions/{decision['decision_id']}", headers=headers["scorer"]).json()
    assert (final["status"], final["final_action"]) == ("finalized", "reject")
    with service.ops.session() as session:
        actions = [a.action for a in session.scalars(select(AuditEntry).where(AuditEntry.target_ids.is_not(None)))]
    for action in ("case.take", "case.note", "case.snooze", "case.assign", "case.close", "verdict.record",
                   "case.read"):
        assert action in actions


def test_closing_false_positive_approves(client, headers):
    decision = _review(client, headers, 1, "low")
    r = client.post(f"/v1/cases/{decision['case_id']}/close", json={"outcome": "false_positive"},
                    headers=headers["investigator"])
    assert r.status_code == 200 and r.json()["typology"] is None
    final = client.get(f"/v1/decisions/{decision['decision_id']}", headers=headers["scorer"]).json()
    assert (final["status"], final["final_action"]) == ("finalized", "approve")


def test_roles_and_unknown_case(client, headers):
    assert client.get("/v1/cases", headers=headers["scorer"]).status_code == 403
    assert client.get("/v1/cases", headers=headers["analyst"]).status_code == 403
    assert client.get("/v1/cases").status_code == 401
    assert client.get("/v1/cases", headers=headers["admin"]).status_code == 200
    r = client.get("/v1/cases/case_nope", headers=headers["investigator"])
    assert r.status_code == 404
    assert client.post("/v1/cases/case_nope/close", json={"outcome": "false_positive"},
                       headers=headers["investigator"]).status_code == 404


def test_concurrent_closes_close_once(service):
    from tianwang.errors import StateConflictError
    from tianwang.service.cases import close_case

    (case_id,) = _insert_cases(service, [700])

    def close(who: str) -> str:
        try:
            close_case(service, who, case_id, "verified_legitimate")
            return "closed"
        except StateConflictError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(close, [f"inv-{i}" for i in range(8)]))
    assert sorted(results) == ["case_closed"] * 7 + ["closed"]
    with service.ops.session() as session:
        from tianwang.opsdb.models import CaseEvent, Verdict
        assert len(list(session.scalars(select(Verdict)))) == 1
        assert [e.kind for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id))] == ["closed"]
