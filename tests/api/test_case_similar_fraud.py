"""similar_fraud on GET /v1/cases/{id}: the confirmed fraud the known-fraud similarity detector found nearest,
with its typology and what it shares with the case's application (masked).

Training the detector to vote in a test costs more than the case view is worth, so the reviewed decision is
given the vote the detector writes (its own Reason and Evidence types) after scoring; everything from the
stored decision on is the served path."""

from __future__ import annotations

import orjson
from sqlalchemy import select

from detectors.base import Evidence, Reason, Vote
from tests import builders
from tests.api.test_cases import REVIEW_INCOMES
from tianwang.opsdb.models import DecisionRow


def _score(client, headers, app: dict) -> dict:
    r = client.post("/v1/applications/score", content=orjson.dumps(app), headers=headers["scorer"])
    assert r.status_code == 201, r.text
    return r.json()


def _near_vote(*neighbours: tuple[str, float]) -> dict:
    evidence = tuple(Evidence("embedding", f"{d:.2f}", neighbour=a, detail="fraud") for a, d in neighbours)
    vote = Vote(0.8, 1.0, (Reason("NEAR_CONFIRMED_FRAUD", "near confirmed fraud", evidence, 1.0),), baseline=0.01)
    return {"detector": "known_fraud_similarity", "status": "ok", "vote": vote.as_dict()}


def test_a_reviewed_application_near_confirmed_fraud_shows_it_with_what_they_share(client, headers, service):
    fraud = builders.application(1)  # the same employer and dealer as the reviewed one
    _score(client, headers, fraud)
    unrelated = builders.application(3)
    _score(client, headers, unrelated)
    verdict = client.post("/v1/verdicts", json={"application_id": "APP-000001", "fraud": True,
                                                 "typology": "synthetic_identity"}, headers=headers["investigator"])
    assert verdict.status_code in (200, 201), verdict.text
    reviewed = _score(client, headers, builders.application(2, **{"applicant.monthly_income": REVIEW_INCOMES["mid"]}))
    assert reviewed["band"] == "review"
    with service.ops.session() as session:
        row = session.scalar(select(DecisionRow).where(DecisionRow.id == reviewed["decision_id"]))
        row.record = {**row.record, "votes": [*row.record["votes"],
                                              _near_vote(("APP-000001", 0.12), ("APP-000003", 0.4))]}

    r = client.get(f"/v1/cases/{reviewed['case_id']}", headers=headers["investigator"])
    assert r.status_code == 200, r.text
    nearest, other = r.json()["similar_fraud"]
    assert (nearest["application_id"], nearest["distance"], nearest["typology"]) == ("APP-000001", 0.12,
                                                                                    "synthetic_identity")
    matched = {m["kind"]: m["value"] for m in nearest["matched"]}
    assert {"Employer", "Dealer"} <= set(matched) and matched["Dealer"] == fraud["dealer_id"]
    assert not {"Person", "Phone", "BankAccount", "Application"} & set(matched)  # not theirs to share
    assert other["application_id"] == "APP-000003" and other["typology"] is None  # no fraud verdict on it
    personal = {fraud["applicant"][k] for k in ("id_number", "phone", "bank_account", "name", "address")}
    assert not [v for v in personal if v in r.text]


def test_no_vote_no_similar_fraud(client, headers):
    reviewed = _score(client, headers, builders.application(4, **{"applicant.monthly_income": REVIEW_INCOMES["mid"]}))
    view = client.get(f"/v1/cases/{reviewed['case_id']}", headers=headers["investigator"]).json()
    assert view["similar_fraud"] == []
