"""The append-only audit log: reads of personal data are audited, admins read it through GET /v1/audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from tests import builders
from tianwang.opsdb.models import AuditEntry
from tianwang.service.audit import audit


def _score(client, headers, n: int) -> dict:
    r = client.post("/v1/applications/score", content=orjson.dumps(builders.application(n)), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _me(client, headers) -> str:
    return client.get("/v1/auth/me", headers=headers).json()["id"]


def test_reading_a_decision_is_audited_with_who_and_which_ids(client, headers):
    decision = _score(client, headers["scorer"], 1)
    client.get(f"/v1/decisions/{decision['decision_id']}", headers={**headers["investigator"], "X-Request-ID": "q1"})
    r = client.get("/v1/audit", params={"action": "decision.read"}, headers=headers["admin"])
    assert r.status_code == 200
    [line] = r.json()["data"]
    assert line["actor"] == _me(client, headers["investigator"]) and line["roles"] == ["investigator"]
    assert line["target_type"] == "decision"
    assert line["target_ids"] == [decision["decision_id"], "APP-000001"]
    assert line["request_id"] == "q1"
    app = builders.application(1)
    assert app["applicant"]["phone"] not in r.text and app["applicant"]["id_number"] not in r.text


def test_a_missing_decision_leaves_no_audit_line(client, headers):
    assert client.get("/v1/decisions/dec_nothing", headers=headers["scorer"]).status_code == 404
    r = client.get("/v1/audit", params={"action": "decision.read"}, headers=headers["admin"])
    assert r.json()["data"] == []


def test_the_audit_log_is_for_admins_only(client, headers):
    assert client.get("/v1/audit").status_code == 401
    for role in ("scorer", "investigator", "analyst", "approver"):
        assert client.get("/v1/audit", headers=headers[role]).status_code == 403


def test_filters_and_cursor_pagination(client, headers, service):
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    with service.ops.session() as session:
        for i in range(5):
            session.add(AuditEntry(at=t0 + timedelta(minutes=i), actor="usr_a" if i % 2 else "usr_b", roles=[],
                                   action="verdict.create", target_type="application",
                                   target_ids=[f"APP-{i}", "ring_7"], detail={}))
    admin = headers["admin"]

    def get(**params):
        r = client.get("/v1/audit", params={"action": "verdict.create", **params}, headers=admin)
        assert r.status_code == 200, r.text
        return r.json()

    assert [x["target_ids"][0] for x in get()["data"]] == ["APP-4", "APP-3", "APP-2", "APP-1", "APP-0"]
    assert [x["target_ids"][0] for x in get(actor="usr_a")["data"]] == ["APP-3", "APP-1"]
    assert [x["target_ids"][0] for x in get(target_id="APP-2")["data"]] == ["APP-2"]
    assert len(get(target_id="ring_7")["data"]) == 5
    assert get(target_id="APP-")["data"] == []  # whole ids only
    window = get(since="2026-03-01T00:01:00Z", until="2026-03-01T00:03:00Z")["data"]
    assert [x["target_ids"][0] for x in window] == ["APP-2", "APP-1"]
    naive = get(since="2026-03-01T00:04:00")["data"]  # no offset: UTC
    assert [x["target_ids"][0] for x in naive] == ["APP-4"]
    assert get(target_type="case")["data"] == []
    first = get(limit=2)
    assert first["pagination"]["has_more"] is True
    second = get(limit=2, cursor=first["pagination"]["next"])
    third = get(limit=2, cursor=second["pagination"]["next"])
    seen = [x["id"] for page in (first, second, third) for x in page["data"]]
    assert len(seen) == len(set(seen)) == 5 and third["pagination"] == {"has_more": False, "next": None}
    bad = client.get("/v1/audit", params={"cursor": "garbage"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"


def test_reading_the_audit_log_is_itself_audited(client, headers):
    client.get("/v1/audit", params={"actor": "usr_x"}, headers=headers["admin"])
    lines = client.get("/v1/audit", params={"action": "audit.read"}, headers=headers["admin"]).json()["data"]
    assert lines[-1]["detail"]["filters"] == {"actor": "usr_x"}
    assert lines[-1]["actor"] == _me(client, headers["admin"])


def test_the_audit_log_refuses_updates_and_deletes(service):
    with service.ops.session() as session:
        audit(session, "cli", "key.create", "api_key", ["key_1"])
    with pytest.raises(DBAPIError, match="append-only"), service.ops.session() as session:
        session.execute(update(AuditEntry).values(actor="someone else"))
    with pytest.raises(DBAPIError, match="append-only"), service.ops.session() as session:
        session.execute(delete(AuditEntry))
    with pytest.raises(DBAPIError, match="append-only"), service.ops.session() as session:
        entry = session.query(AuditEntry).one()
        entry.action = "key.revoke"
        session.flush()
    with service.ops.session() as session:
        [entry] = session.query(AuditEntry).all()
        assert (entry.actor, entry.action) == ("cli", "key.create")
