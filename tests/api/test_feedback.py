"""Verdicts and outcomes: a verdict through the API changes a ring member's next score; labels for training."""

from __future__ import annotations

from datetime import date

import orjson
from sqlalchemy import func, select

from tests import builders
from tests.api.test_cases_rings import score, shared
from tianwang.opsdb.models import Verdict
from tianwang.service.feedback import labels, post_outcome


def _ring_vote(decision: dict) -> float:
    (vote,) = [v for v in decision["votes"] if v["detector"] == "fraud_ring"]
    return vote["vote"]["score"]


def test_a_verdict_through_the_api_raises_a_ring_members_next_score(client, headers):
    """Two rings built alike (three applications sharing phone, device and bank account); a fraud
    verdict on one member of the first makes its next member score higher than the second's."""
    for n in (1, 2, 3):
        score(client, headers, shared(n, group=1))
    for n in (11, 12, 13):
        score(client, headers, shared(n, group=2))
    r = client.post("/v1/verdicts", json={"application_id": "APP-000001", "fraud": True,
                                          "typology": "fraud_ring"}, headers=headers["investigator"])
    assert r.status_code == 201, r.text
    assert r.json()["detectors_informed"] == 1 and r.json()["source"] == "api"

    member = score(client, headers, shared(4, group=1))
    control = score(client, headers, shared(14, group=2))
    assert _ring_vote(control) > 0.1  # the control forms a ring too
    assert _ring_vote(member) > _ring_vote(control) + 0.05
    assert member["fraud_score"] >= control["fraud_score"]
    assert "1 confirmed fraud" in orjson.dumps(member["votes"]).decode()


def test_verdicts_are_listed_newest_first_in_pages(client, headers):
    for n in (1, 2, 3):
        score(client, headers, builders.application(n))
        body = {"application_id": f"APP-{n:06d}", "fraud": n == 2, "typology": "forged_documents" if n == 2 else None}
        assert client.post("/v1/verdicts", json=body, headers=headers["investigator"]).status_code == 201
    first = client.get("/v1/verdicts", params={"limit": 2}, headers=headers["analyst"]).json()
    rest = client.get("/v1/verdicts", params={"limit": 2, "cursor": first["pagination"]["next"]},
                      headers=headers["analyst"]).json()
    assert [v["application_id"] for v in first["data"] + rest["data"]] == ["APP-000003", "APP-000002", "APP-000001"]
    assert client.get("/v1/verdicts", headers=headers["scorer"]).status_code == 403


def test_verdict_requests_that_are_refused(client, headers):
    inv = headers["investigator"]
    score(client, headers, builders.application(1))
    both = client.post("/v1/verdicts", json={"application_id": "APP-000001", "ring_id": "R-000001", "fraud": False},
                       headers=inv)
    assert both.status_code == 422 and both.json()["error"]["field"] == "application_id"
    untyped = client.post("/v1/verdicts", json={"application_id": "APP-000001", "fraud": True}, headers=inv)
    assert untyped.status_code == 422 and untyped.json()["error"]["field"] == "typology"
    assert client.post("/v1/verdicts", json={"application_id": "APP-404", "fraud": False},
                       headers=inv).status_code == 404
    assert client.post("/v1/verdicts", json={"application_id": "APP-000001", "fraud": False},
                       headers=headers["scorer"]).status_code == 403


def test_outcomes_are_recorded_by_the_servicing_system(client, headers):
    score(client, headers, builders.application(1))
    body = {"application_id": "APP-000001", "kind": "first_payment_default", "observed_on": "2026-04-15"}
    r = client.post("/v1/outcomes", json=body, headers=headers["scorer"])
    assert r.status_code == 201, r.text
    assert r.json()["counts_as_fraud"] is True and r.json()["observed_on"] == "2026-04-15"
    assert client.post("/v1/outcomes", json={**body, "kind": "charge_off"},
                       headers=headers["investigator"]).json()["counts_as_fraud"] is False
    assert client.post("/v1/outcomes", json={**body, "kind": "bankrupt"}, headers=headers["scorer"]).status_code == 422
    assert client.post("/v1/outcomes", json={**body, "application_id": "APP-404"},
                       headers=headers["scorer"]).status_code == 404
    assert client.post("/v1/outcomes", json=body, headers=headers["analyst"]).status_code == 403
    # an id no application can have (a NUL byte, which PostgreSQL refuses in text) is a 422 naming the field
    for bad in ("\u00c9-\u0000", "APP 1", "-APP"):
        for path, payload in (("/v1/outcomes", {**body, "application_id": bad}),
                              ("/v1/verdicts", {"application_id": bad, "fraud": False})):
            r = client.post(path, json=payload, headers=headers["investigator"])
            assert r.status_code == 422 and "application_id" in r.text, (path, bad, r.text)


def test_labels_a_verdict_wins_and_only_first_payment_default_is_fraud(client, headers, service):
    for n in range(1, 6):
        score(client, headers, builders.application(n))
    day = date(2026, 5, 1)
    post_outcome(service, "servicing", application_id="APP-000001", kind="first_payment_default", observed_on=day)
    post_outcome(service, "servicing", application_id="APP-000002", kind="charge_off", observed_on=day)
    post_outcome(service, "servicing", application_id="APP-000003", kind="paid_as_agreed", observed_on=day)
    post_outcome(service, "servicing", application_id="APP-000004", kind="first_payment_default", observed_on=day)
    post_outcome(service, "servicing", application_id="APP-000004", kind="paid_as_agreed", observed_on=day)
    post_outcome(service, "servicing", application_id="APP-000005", kind="first_payment_default", observed_on=day)
    # an investigator cleared APP-000005 (its default was a lost job) and confirmed APP-000002
    client.post("/v1/verdicts", json={"application_id": "APP-000005", "fraud": False},
                headers=headers["investigator"])
    client.post("/v1/verdicts", json={"application_id": "APP-000002", "fraud": True, "typology": "bust_out"},
                headers=headers["investigator"])
    with service.ops.session() as session:
        got = {a: (fraud, source) for a, fraud, source, _ in labels(session)}
    assert got == {
        "APP-000001": (True, "outcome"),
        "APP-000002": (True, "verdict"),
        "APP-000003": (False, "outcome"),
        "APP-000004": (True, "outcome"),  # a first-payment default stays fraud whatever follows
        "APP-000005": (False, "verdict"),
    }


def test_a_first_payment_default_reaches_the_detectors_unless_an_investigator_judged(client, headers, service):
    for n in (1, 2, 3):
        score(client, headers, shared(n))
    fraud_ring = service.runtime.pipeline.loaded.detectors["fraud_ring"]
    body = {"application_id": "APP-000001", "kind": "first_payment_default", "observed_on": "2026-04-15"}
    assert client.post("/v1/outcomes", json=body, headers=headers["scorer"]).json()["detectors_informed"] == 1
    assert fraud_ring.confirmed_fraud.get("APP-000001") is True
    assert client.post("/v1/outcomes", json={**body, "kind": "charge_off"},
                       headers=headers["scorer"]).json()["detectors_informed"] == 0

    client.post("/v1/verdicts", json={"application_id": "APP-000002", "fraud": False},
                headers=headers["investigator"])
    r = client.post("/v1/outcomes", json={**body, "application_id": "APP-000002"}, headers=headers["scorer"])
    assert r.json()["detectors_informed"] == 0 and "APP-000002" not in fraud_ring.confirmed_fraud


def test_a_nul_character_in_a_text_field_is_refused_or_kept_never_a_server_error(client, headers, service,
                                                                                   ops_url):
    """PostgreSQL takes no NUL in text: its refusal is a 422 and nothing is written; SQLite keeps it."""
    score(client, headers, builders.application(1))
    r = client.post("/v1/verdicts", json={"application_id": "APP-000001", "fraud": True, "typology": "x\u0000y"},
                    headers=headers["investigator"])
    with service.ops.session() as session:
        written = session.scalar(select(func.count()).select_from(Verdict))
    if ops_url.startswith("postgresql"):
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text
        assert "NUL" in r.json()["error"]["message"] and written == 0
    else:
        assert r.status_code == 201 and written == 1
