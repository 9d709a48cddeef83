"""What the workbench needs from the API: a drawn node's neighbours, the dealer list, verification and
held funding on a case, and the nearest confirmed fraud on a case."""

from __future__ import annotations

import orjson
import pytest

from tests.api.test_cases import _review
from tests.api.test_cases_rings import refresh_rings, score, shared
from tianwang.service.cases import _similar_fraud


def test_a_drawn_node_expands_to_its_neighbours_masked(client, headers, service) -> None:
    inv = headers["investigator"]
    for n in range(1, 6):
        score(client, headers, shared(n))
    (ring,) = refresh_rings(service).summaries()
    drawn = client.get(f"/v1/rings/{ring.ring_id}", headers=inv).json()
    phone = next(n for n in drawn["nodes"] if n["type"] == "Phone")
    near = next(e["source"] if e["target"] == phone["id"] else e["target"] for e in drawn["edges"]
                if phone["id"] in (e["source"], e["target"]))
    assert near.startswith("app:")

    r = client.get(f"/v1/nodes/{phone['id']}/neighbours", params={"near": near[4:]}, headers=inv)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["node_id"] == phone["id"] and body["nodes"][0]["id"] == phone["id"] and not body["truncated"]
    assert {n["id"] for n in body["nodes"] if n["type"] == "Application"} == {f"app:APP-{n:06d}" for n in range(1, 6)}
    assert len(body["edges"]) == 5 and all(phone["id"] in (e["source"], e["target"]) for e in body["edges"])
    assert shared(1)["applicant"]["phone"] not in r.text and phone["label"] in r.text  # masked, as drawn

    few = client.get(f"/v1/nodes/{phone['id']}/neighbours", params={"near": near[4:], "limit": 2}, headers=inv)
    assert few.json()["truncated"] and len(few.json()["nodes"]) == 3 and few.json()["nodes"][0]["count"] == 5
    app = client.get("/v1/nodes/app:APP-000001/neighbours", headers=inv).json()  # an application needs no `near`
    assert phone["id"] in {n["id"] for n in app["nodes"]}

    without_near = client.get(f"/v1/nodes/{phone['id']}/neighbours", headers=inv)  # drawn: remembered
    assert without_near.status_code == 200 and without_near.json()["nodes"] == body["nodes"]
    unknown = client.get("/v1/nodes/phone:0000000000000000/neighbours", params={"near": "APP-000001"}, headers=inv)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert client.get("/v1/nodes/app:APP-000001/neighbours", headers=headers["scorer"]).status_code == 403


def test_the_dealer_list_agrees_with_each_scorecard_and_pages(client, headers, service, application) -> None:
    inv = headers["investigator"]
    for n in range(1, 6):
        score(client, headers, shared(n))
    other = application(application_id="APP-OTHER-1", dealer_id="D-OTHER-001")
    scored = client.post("/v1/applications/score", content=orjson.dumps(other), headers=headers["scorer"])
    assert scored.status_code == 201
    refresh_rings(service)
    client.post("/v1/verdicts", json={"application_id": "APP-000001", "fraud": True, "typology": "cash_out_ring"},
                headers=inv)

    rows = client.get("/v1/dealers", headers=inv).json()
    assert rows["pagination"] == {"has_more": False, "next": None} and len(rows["data"]) == 2
    for row in rows["data"]:
        card = client.get(f"/v1/dealers/{row['dealer_id']}/scorecard", headers=inv).json()
        assert {k: v for k, v in row.items() if k != "rings_touching"} == {k: v for k, v in card.items()
                                                                          if k != "rings"}
        assert row["rings_touching"] == len(card["rings"])
    assert rows["data"][0]["fraud_rate"] == 1.0  # the labelled dealer first: riskiest

    by_name = client.get("/v1/dealers", params={"sort": "dealer_id", "limit": 1}, headers=inv).json()
    assert by_name["pagination"]["has_more"]
    rest = client.get("/v1/dealers", params={"sort": "dealer_id", "limit": 1, "cursor": by_name["pagination"]["next"]},
                      headers=inv).json()
    assert [r["dealer_id"] for r in by_name["data"] + rest["data"]] == sorted(r["dealer_id"] for r in rows["data"])
    wrong = client.get("/v1/dealers", params={"sort": "applications", "cursor": by_name["pagination"]["next"]},
                       headers=inv)
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "cursor"
    assert client.get("/v1/dealers", params={"sort": "nope"}, headers=inv).status_code == 422
    assert client.get("/v1/dealers", params={"min_applications": 2}, headers=inv).json()["data"][0]["applications"] >= 2


def test_an_investigator_asks_for_verification_and_holds_funding_until_the_case_closes(client, headers) -> None:
    inv = headers["investigator"]
    case_id = _review(client, headers, 1, "mid")["case_id"]
    before = client.get(f"/v1/cases/{case_id}", headers=inv).json()

    had = [t["task"] for t in before["verification_tasks"]]
    task = next(t for t in ("employment_check", "identity_check", "proof_of_income") if t not in had)
    asked = client.post(f"/v1/cases/{case_id}/verification", json={"task": task, "note": "call HR"}, headers=inv)
    assert asked.status_code == 200, asked.text
    assert [t["task"] for t in asked.json()["verification_tasks"]] == [*had, task]
    assert asked.json()["verification_tasks"][-1]["requested_by"]
    again = client.post(f"/v1/cases/{case_id}/verification", json={"task": task}, headers=inv)
    assert again.json()["verification_tasks"] == asked.json()["verification_tasks"]  # nothing new
    bad = client.post(f"/v1/cases/{case_id}/verification", json={"task": "palm_reading"}, headers=inv)
    assert bad.status_code == 422 and bad.json()["error"]["field"].endswith("task")

    held = client.post(f"/v1/cases/{case_id}/hold", json={"hold": not before["hold_funding"]}, headers=inv)
    assert held.status_code == 200 and held.json()["hold_funding"] is (not before["hold_funding"])
    timeline = [e["kind"] for e in client.get(f"/v1/cases/{case_id}", headers=inv).json()["timeline"]]
    assert "verification_requested" in timeline and ("funding_held" in timeline or "funding_released" in timeline)
    assert client.post(f"/v1/cases/{case_id}/hold", json={"hold": True}, headers=headers["scorer"]).status_code == 403

    client.post(f"/v1/cases/{case_id}/close", json={"outcome": "false_positive"}, headers=inv)
    closed = client.post(f"/v1/cases/{case_id}/verification", json={"task": "identity_check"}, headers=inv)
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "case_closed"
    assert client.post(f"/v1/cases/{case_id}/hold", json={"hold": False}, headers=inv).status_code == 409
    trail = client.get("/v1/audit", params={"target_id": case_id}, headers=headers["admin"]).json()["data"]
    assert {"case.verification", "case.hold", "case.release"} & {e["action"] for e in trail} >= {"case.verification"}


@pytest.mark.parametrize("distance", ["0.12", "n/a"])
def test_the_nearest_confirmed_fraud_names_its_typology_and_what_it_shares(client, headers, service,
                                                                           distance) -> None:
    for n in (1, 2):
        score(client, headers, shared(n))
    client.post("/v1/verdicts", json={"application_id": "APP-000001", "fraud": True, "typology": "identity_theft"},
                headers=headers["investigator"])
    decision = {"votes": [{"detector": "known_fraud_similarity", "vote": {"reasons": [{"code": "NEAR_CONFIRMED_FRAUD",
                "evidence": [{"field": "embedding", "value": distance, "neighbour": "APP-000001"}]}]}},
                          {"detector": "rules", "vote": {"reasons": [{"code": "X", "evidence": [
                              {"field": "f", "value": "1", "neighbour": "APP-000002"}]}]}}]}
    with service.ops.session() as session:
        (near,) = _similar_fraud(service, session, "APP-000002", decision)
        assert _similar_fraud(service, session, "APP-000002", {"votes": []}) == []
    assert near["application_id"] == "APP-000001" and near["typology"] == "identity_theft"
    assert near["distance"] == (0.12 if distance == "0.12" else None)
    kinds = {m["kind"] for m in near["matched"]}
    assert {"Phone", "Device", "BankAccount"} <= kinds
    assert all(shared(1)["applicant"]["phone"] not in m["value"] for m in near["matched"])


def test_an_application_case_view_carries_its_similar_fraud(client, headers) -> None:
    case_id = _review(client, headers, 1, "mid")["case_id"]
    view = client.get(f"/v1/cases/{case_id}", headers=headers["investigator"]).json()
    assert view["similar_fraud"] == []  # no confirmed fraud near an application in an empty store
