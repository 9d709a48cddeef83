"""The vault through the service: scoring seals every personal field with its decision, and
POST /v1/cases/{id}/reveal opens one, for the assignee of an open case holding the application, audited."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from tests import builders
from tianwang.opsdb.models import AuditEntry, CaseEvent, DecisionRow, VaultEntry, utcnow
from tianwang.service.scoring import score_application
from tianwang.service.vault import REVEAL_ACTION, rotate
from tianwang.vault import Vault, personal_fields

REVIEW_INCOME = 22000  # builders' applications land in the review band with it (tests/api/test_cases.py)


def _score(client, headers, n: int, **changes) -> dict:
    app = builders.application(n, **changes)
    r = client.post("/v1/applications/score", content=orjson.dumps(app), headers=headers["scorer"])
    assert r.status_code == 201, r.text
    return r.json()


def _review_case(client, headers, n: int = 1) -> tuple[dict, str]:
    """A review decision's application and its case, taken by the investigator (assigned to them)."""
    body = _score(client, headers, n, **{"applicant.monthly_income": REVIEW_INCOME})
    assert body["band"] == "review", body["band"]
    taken = client.post("/v1/cases/next", headers=headers["investigator"])
    assert taken.status_code == 200 and taken.json()["case_id"] == body["case_id"], taken.text
    return builders.application(n, **{"applicant.monthly_income": REVIEW_INCOME}), body["case_id"]


def _entries(service, application_id: str) -> dict[str, VaultEntry]:
    with service.ops.session() as session:
        return {e.field: e for e in session.scalars(select(VaultEntry)
                                                      .where(VaultEntry.application_id == application_id))}


def test_scoring_seals_every_masked_field_of_every_decision(client, headers, service):
    approved = _score(client, headers, 7)
    assert approved["band"] != "review"
    raw = builders.application(7)
    entries = _entries(service, raw["application_id"])
    assert sorted(entries) == sorted([
        "applicant.id_number", "applicant.name", "applicant.phone", "applicant.id_registered_phone",
        "applicant.address", "applicant.bank_account", "applicant.emergency_contacts[0].name",
        "applicant.emergency_contacts[0].phone"])
    assert {e.key_id for e in entries.values()} == {service.vault.active_key_id}
    for entry in entries.values():  # sealed: no raw value in the row, and each nonce differs
        for value in (raw["applicant"]["id_number"], raw["applicant"]["phone"], raw["applicant"]["bank_account"]):
            assert value.encode() not in entry.ciphertext
    assert len({e.nonce for e in entries.values()}) == len(entries)
    # sent again: the first decision, and nothing sealed twice
    again = client.post("/v1/applications/score", content=orjson.dumps(raw), headers=headers["scorer"])
    assert again.status_code == 200 and len(_entries(service, raw["application_id"])) == len(entries)


def test_a_decision_is_not_stored_without_its_vault_entries(service):
    app = builders.application(3)
    with service.ops.engine.begin() as connection:  # an entry in the way: the vault insert fails
        connection.execute(insert(VaultEntry), [{"application_id": app["application_id"], "field": "applicant.name",
                                                 "key_id": "x", "nonce": b"0" * 12, "ciphertext": b"0",
                                                 "sealed_at": utcnow()}])
    with pytest.raises(IntegrityError):
        score_application(service, app)
    with service.ops.session() as session:
        assert session.scalar(select(DecisionRow).where(DecisionRow.application_id == app["application_id"])) is None
        assert list(session.scalars(select(VaultEntry.field)
                                    .where(VaultEntry.application_id == app["application_id"]))) == ["applicant.name"]


def test_the_assignee_reveals_a_value_audited_never_cached(client, headers, service):
    raw, case_id = _review_case(client, headers)
    inv = headers["investigator"]
    r = client.post(f"/v1/cases/{case_id}/reveal", json={"field": "applicant.phone"}, headers=inv)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.json() == {"case_id": case_id, "application_id": raw["application_id"], "field": "applicant.phone",
                        "value": raw["applicant"]["phone"]}
    contact = client.post(f"/v1/cases/{case_id}/reveal",
                          json={"application_id": raw["application_id"],
                                "field": "applicant.emergency_contacts[0].name"}, headers=inv)
    assert contact.status_code == 200 and contact.json()["value"] == raw["applicant"]["emergency_contacts"][0]["name"]
    with service.ops.session() as session:
        lines = session.scalars(select(AuditEntry).where(AuditEntry.action == REVEAL_ACTION)
                                .order_by(AuditEntry.id)).all()
        assert [(line.target_ids, line.detail["field"], line.detail["case_id"]) for line in lines] == [
            ([raw["application_id"]], "applicant.phone", case_id),
            ([raw["application_id"]], "applicant.emergency_contacts[0].name", case_id)]
        assert raw["applicant"]["phone"] not in orjson.dumps([line.detail for line in lines]).decode()
        kinds = [e.kind for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id))]
        assert kinds.count("revealed") == 2
    timeline = client.get(f"/v1/cases/{case_id}", headers=inv).json()["timeline"]
    assert [e["detail"]["field"] for e in timeline if e["kind"] == "revealed"] == [
        "applicant.phone", "applicant.emergency_contacts[0].name"]


def test_who_may_reveal_what(client, headers, service):
    raw, case_id = _review_case(client, headers)
    other = _score(client, headers, 2)  # an application of no case of theirs
    inv = headers["investigator"]
    url = f"/v1/cases/{case_id}/reveal"
    for role in ("scorer", "analyst", "approver"):
        assert client.post(url, json={"field": "applicant.phone"}, headers=headers[role]).status_code == 403
    assert client.post(url, json={"field": "applicant.phone"}).status_code == 401
    # another investigator, not assigned
    second = {"X-API-Key": service.accounts.create_key("client-investigator-2", ["investigator"])[0]}
    denied = client.post(url, json={"field": "applicant.phone"}, headers=second)
    assert denied.status_code == 403 and "assigned" in denied.json()["error"]["message"]
    bad = client.post(url, json={"field": "loan.amount"}, headers=inv)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "field"
    elsewhere = client.post(url, json={"application_id": other["application_id"], "field": "applicant.phone"},
                            headers=inv)
    assert elsewhere.status_code == 404
    assert client.post("/v1/cases/case_nope/reveal", json={"field": "applicant.phone"}, headers=inv).status_code == 404
    absent = client.post(url, json={"field": "vehicle.user_id_number"}, headers=inv)  # not in this application
    assert absent.status_code == 404
    closed = client.post(f"/v1/cases/{case_id}/close", json={"outcome": "false_positive"}, headers=inv)
    assert closed.status_code == 200, closed.text
    after = client.post(url, json={"field": "applicant.phone"}, headers=inv)
    assert after.status_code == 409 and after.json()["error"]["code"] == "case_closed"
    with service.ops.session() as session:  # only reveals that answered a value were audited: none here
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == REVEAL_ACTION)).all() == []
    for answer in (denied, bad, elsewhere, absent, after):
        assert raw["applicant"]["phone"] not in answer.text


def test_reveals_after_a_rotation_and_after_the_old_key_is_gone(client, headers, service):
    raw, case_id = _review_case(client, headers)
    old = service.vault
    assert old is not None
    new_key = ("k2", b"\x07" * 32)
    service.vault = Vault([new_key, *[(kid, _key_of(service, kid)) for kid in old.key_ids]])
    report = rotate(service.ops, service.vault, batch_size=3)
    assert report.complete and report.resealed == len(personal_fields(_app(raw)))
    assert {e.key_id for e in _entries(service, raw["application_id"]).values()} == {"k2"}
    service.vault = Vault([new_key])  # the old key removed from the settings
    r = client.post(f"/v1/cases/{case_id}/reveal", json={"field": "applicant.id_number"},
                    headers=headers["investigator"])
    assert r.status_code == 200 and r.json()["value"] == raw["applicant"]["id_number"]


def _key_of(service, kid: str) -> bytes:
    return dict(service.settings.vault_key_list)[kid]


def _app(raw: dict):
    from tianwang.application import parse_application

    return parse_application(raw)
