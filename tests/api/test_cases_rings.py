"""Ring cases: opened once, members joined since the last review, one verdict for every member."""

from __future__ import annotations

import time

import orjson

from tests import builders
from tianwang.rings.index import RingIndex


def shared(n: int, group: int = 1) -> dict:
    """An application sharing phone, device and bank account with the rest of its group."""
    app = builders.application(n)
    app["applicant"]["phone"] = builders.mobile(5550 + group)
    app["applicant"]["device_id"] = f"dev-shared-{group}"
    app["applicant"]["bank_account"] = builders.account(4440 + group)
    return app


def score(client, headers, app: dict) -> dict:
    r = client.post("/v1/applications/score", content=orjson.dumps(app), headers=headers["scorer"])
    assert r.status_code == 201, r.text
    return r.json()


def refresh_rings(service):
    """Run ring detection over the store now, as the ring detector's source does every N applications."""
    return service.runtime.pipeline.loaded.detectors["fraud_ring"].rings.refresh(time.time())


def test_ring_case_lists_members_joined_since_last_review_and_closes_for_all(client, headers, service):
    inv = headers["investigator"]
    for n in range(1, 6):
        score(client, headers, shared(n))
    (ring,) = refresh_rings(service).summaries()

    opened = client.post("/v1/cases", json={"ring_id": ring.ring_id}, headers=inv)
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    assert opened.json()["kind"] == "ring" and opened.json()["risk"] == round(ring.risk * 1000)
    again = client.post("/v1/cases", json={"ring_id": ring.ring_id}, headers=inv)
    assert again.status_code == 200 and again.json()["case_id"] == case_id  # the open case, not a second one

    r = client.get(f"/v1/cases/{case_id}", headers=inv)
    view = r.json()["ring"]
    assert len(view["members"]) == 5 and view["joined_since_last_review"] == []
    assert all("*" in m["applicant"] for m in view["members"])  # masked identity numbers
    assert not any(key in r.text for key in ring.members)  # the members' keys stay inside
    assert not any(shared(n)["applicant"]["id_number"] in r.text for n in range(1, 6))

    for n in (6, 7):  # two more join the ring; the next run keeps its id
        score(client, headers, shared(n))
    (ring2,) = refresh_rings(service).summaries()
    assert ring2.ring_id == ring.ring_id and ring2.size == 7
    view = client.get(f"/v1/cases/{case_id}", headers=inv).json()["ring"]
    joined = sorted(a for m in view["joined_since_last_review"] for a in m["applications"])
    assert joined == ["APP-000006", "APP-000007"]
    assert len(view["members"]) == 7

    closed = client.post(f"/v1/cases/{case_id}/close", json={"outcome": "confirmed_fraud",
                                                              "typology": "fraud_ring"}, headers=inv)
    assert closed.status_code == 200, closed.text
    verdicts = client.get("/v1/verdicts", params={"ring_id": ring.ring_id}, headers=inv).json()["data"]
    assert len(verdicts) == 1
    assert verdicts[0]["applications"] == [f"APP-{n:06d}" for n in range(1, 8)]
    assert verdicts[0]["source"] == "case" and verdicts[0]["fraud"] is True
    fraud_ring = service.runtime.pipeline.loaded.detectors["fraud_ring"]
    assert all(fraud_ring.confirmed_fraud.get(f"APP-{n:06d}") for n in range(1, 8))

    view = client.get(f"/v1/cases/{case_id}", headers=inv).json()["ring"]
    assert view["joined_since_last_review"] == []  # closing reviewed all seven
    reopened = client.post("/v1/cases", json={"ring_id": ring.ring_id}, headers=inv)
    assert reopened.status_code == 201 and reopened.json()["case_id"] != case_id


def test_unknown_ring_is_a_404(client, headers):
    r = client.post("/v1/cases", json={"ring_id": "R-999999"}, headers=headers["investigator"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_a_ring_no_run_knows_any_more_still_shows_and_closes_on_its_reviewed_members(client, headers, service):
    inv = headers["investigator"]
    for n in range(1, 5):
        score(client, headers, shared(n))
    (ring,) = refresh_rings(service).summaries()
    case_id = client.post("/v1/cases", json={"ring_id": ring.ring_id}, headers=inv).json()["case_id"]
    fraud_ring = service.runtime.pipeline.loaded.detectors["fraud_ring"]
    fraud_ring.rings.use(RingIndex([]))  # the next run found no ring there
    view = client.get(f"/v1/cases/{case_id}", headers=inv).json()["ring"]
    assert view["ring_found"] is False and view["members"] == [] and len(view["left_since_last_review"]) == 4
    closed = client.post(f"/v1/cases/{case_id}/close", json={"outcome": "false_positive"}, headers=inv)
    assert closed.status_code == 200, closed.text
    (verdict,) = client.get("/v1/verdicts", headers=inv).json()["data"]
    assert verdict["applications"] == [f"APP-{n:06d}" for n in range(1, 5)] and verdict["fraud"] is False


def test_two_callers_opening_a_ring_case_at_once_get_the_same_case(client, headers, service, monkeypatch):
    from tianwang.service import cases

    for n in range(1, 5):
        score(client, headers, shared(n))
    (ring,) = refresh_rings(service).summaries()
    first = client.post("/v1/cases", json={"ring_id": ring.ring_id}, headers=headers["investigator"])
    assert first.status_code == 201

    # the second caller looked before the first one's case was committed: it found none
    looked = []
    real = cases._open_ring_case

    def not_yet(session, ring_id):
        looked.append(ring_id)
        return None if len(looked) == 1 else real(session, ring_id)

    monkeypatch.setattr(cases, "_open_ring_case", not_yet)
    second = client.post("/v1/cases", json={"ring_id": ring.ring_id}, headers=headers["investigator"])
    assert second.status_code == 200, second.text
    assert second.json()["case_id"] == first.json()["case_id"] and len(looked) == 2
