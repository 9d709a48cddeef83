"""/v1/rings, /v1/rings/{id}, an application's network, /v1/paths and a dealer's scorecard, over rings built by
scoring applications through the API and refreshing the rings (POST /v1/rings/refresh)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from tests import builders
from tests.builders import T0, account, mobile
from tianwang.ids import new_id
from tianwang.opsdb.models import AuditEntry, DecisionRow, Verdict, utcnow

RING_PHONE, ORGANISER = mobile(7000), mobile(7001)
HOME = "北京市海淀区中关村大街1号"


def ring_applications() -> list[dict[str, Any]]:
    """1-4 share phones, a device and an account in a web (a risky ring); 5-7 share a home (a household,
    R-000002, not risky); 8 and 9 stand alone (8 at another dealer). As tests/rings/helpers.py builds them."""
    contact = [{"name": "甲", "phone": ORGANISER}]
    return [
        builders.application(1, **{"applicant.phone": RING_PHONE, "applicant.device_id": "dev-ring"}),
        builders.application(2, **{"applicant.phone": RING_PHONE, "applicant.emergency_contacts": contact}),
        builders.application(3, **{"applicant.device_id": "dev-ring", "applicant.bank_account": account(77)}),
        builders.application(4, **{"applicant.bank_account": account(77), "applicant.emergency_contacts": contact}),
        *[builders.application(n, **{"applicant.address": HOME, "submitted_at": (T0 + timedelta(days=d)).isoformat()})
          for n, d in ((5, 90), (6, 150), (7, 90))],
        builders.application(8, dealer_id="D-SH-002"),
        builders.application(9),
    ]


def _score_all(client, headers, apps) -> None:
    for app in apps:
        r = client.post("/v1/applications/score", content=orjson.dumps(app), headers=headers["scorer"])
        assert r.status_code == 201, r.text


def _verdict(service, application_id: str, fraud: bool) -> None:
    with service.ops.session() as session:
        session.add(Verdict(id=new_id("vrd"), application_id=application_id, fraud=fraud, source="api",
                            actor="test", at=utcnow(), applications=[application_id]))


@pytest.fixture
def rings(client, headers) -> list[dict[str, Any]]:
    """The applications, scored, and the rings refreshed."""
    apps = ring_applications()
    _score_all(client, headers, apps)
    r = client.post("/v1/rings/refresh", headers=headers["analyst"])
    assert r.status_code == 200, r.text
    assert r.json()["rings"] == 2 and r.json()["risky_rings"] == 1
    return apps


def _personal_values(apps: list[dict[str, Any]]) -> set[str]:
    values = set()
    for app in apps:
        a = app["applicant"]
        values |= {a["id_number"], a["phone"], a["bank_account"], a["name"], a["address"], a["id_registered_phone"]}
        values |= {c["phone"] for c in a["emergency_contacts"]} | {c["name"] for c in a["emergency_contacts"]}
    return values


def _ids(page: dict[str, Any]) -> list[str]:
    return [r["ring_id"] for r in page["data"]]


def test_no_rings_before_a_detection_then_the_riskiest_first_with_filters(client, headers):
    investigator = headers["investigator"]
    r = client.get("/v1/rings", headers=investigator)
    assert r.status_code == 200 and r.json() == {"data": [], "pagination": {"has_more": False, "next": None}}
    _score_all(client, headers, ring_applications())
    assert client.post("/v1/rings/refresh", headers=investigator).status_code == 403
    assert client.post("/v1/rings/refresh", headers=headers["analyst"]).status_code == 200

    body = client.get("/v1/rings", headers=investigator).json()
    assert _ids(body) == ["R-000001", "R-000002"]
    risky, household = body["data"]
    assert risky["risk"] > 0.5 > household["risk"] and (risky["size"], household["size"]) == (4, 3)
    assert risky["applications"] == 4 and risky["dealers"] == ["D-BJ-001"]
    assert {"Phone", "Device", "BankAccount"} <= set(risky["shared_labels"])

    def listed(**params: Any) -> list[str]:
        r = client.get("/v1/rings", params=params, headers=investigator)
        assert r.status_code == 200, r.text
        return _ids(r.json())

    assert listed(min_size=4) == ["R-000001"]
    assert listed(max_size=3) == ["R-000002"]
    assert listed(min_risk=0.5) == ["R-000001"]
    assert listed(dealer_id="D-SH-002") == []
    assert listed(dealer_id="D-BJ-001") == ["R-000001", "R-000002"]
    # a time window on the members' submissions: the web applied on day 0, the household on days 90 and 150
    assert listed(until=(T0 + timedelta(days=1)).isoformat()) == ["R-000001"]
    assert listed(since=(T0 + timedelta(days=140)).isoformat()) == ["R-000002"]
    assert listed(since=(T0 + timedelta(days=10)).isoformat(), until=(T0 + timedelta(days=80)).isoformat()) == []
    # pages, by cursor
    first = client.get("/v1/rings", params={"limit": 1}, headers=investigator).json()
    assert _ids(first) == ["R-000001"] and first["pagination"]["has_more"]
    second = client.get("/v1/rings", params={"limit": 1, "cursor": first["pagination"]["next"]},
                        headers=investigator).json()
    assert _ids(second) == ["R-000002"] and not second["pagination"]["has_more"]
    assert client.get("/v1/rings", params={"cursor": "nonsense"}, headers=investigator).status_code == 422
    assert client.get("/v1/rings", params={"since": "2026-03-01T00:00:00"}, headers=investigator).status_code == 422


def test_a_ring_shows_members_masked_shared_attributes_statistics_and_subgraph(client, headers, service, rings):
    _verdict(service, "APP-000002", True)
    _verdict(service, "APP-000003", False)
    r = client.get("/v1/rings/R-000001", headers=headers["investigator"])
    assert r.status_code == 200, r.text
    ring = r.json()
    assert [m["application_id"] for m in ring["members"]] == ["APP-000001", "APP-000002", "APP-000003", "APP-000004"]
    with service.ops.session() as session:
        bands = dict(session.execute(select(DecisionRow.application_id, DecisionRow.band)).all())
    assert all(m["band"] == bands[m["application_id"]] and m["submitted_at"] for m in ring["members"])

    shared = {(s["kind"], s["value"]): s["members"] for s in ring["shared_attributes"]}
    assert shared[("Phone", RING_PHONE[:3] + "****" + RING_PHONE[-4:])] == 2
    assert shared[("Phone", ORGANISER[:3] + "****" + ORGANISER[-4:])] == 2
    assert shared[("BankAccount", account(77)[:6] + "*********" + account(77)[-4:])] == 2
    assert shared[("Device", "dev-****")] == 2
    assert not any(kind == "Dealer" for kind, _ in shared)

    stats = ring["statistics"]
    assert (stats["size"], stats["applications"], stats["labelled"], stats["fraud_rate"]) == (4, 4, 2, 0.5)
    assert stats["dealers"] == ["D-BJ-001"] and stats["time_span_days"] == pytest.approx(3 / 24, abs=1e-3)

    ids = {n["id"] for n in ring["nodes"]}
    assert {f"app:APP-00000{n}" for n in (1, 2, 3, 4)} <= ids
    assert {s["id"] for s in ring["shared_attributes"]} <= ids
    assert sum(n["type"] == "Person" for n in ring["nodes"]) == 4
    assert all(e["source"] in ids and e["target"] in ids for e in ring["edges"])
    assert {e["type"] for e in ring["edges"]} >= {"SUBMITTED", "USES_PHONE", "LISTS_CONTACT", "FROM_DEVICE",
                                                  "PAYS_FROM"}
    # nothing personal comes back raw, not even inside an opaque id
    assert not [v for v in _personal_values(rings) if v in r.text]
    assert client.get("/v1/rings/R-404", headers=headers["investigator"]).status_code == 404


def test_a_network_collapses_hubs_and_flags_confirmed_fraud(client, headers, service, rings):
    _verdict(service, "APP-000009", True)  # approved, then confirmed as fraud
    _verdict(service, "APP-000002", False)  # rejected, then found legitimate
    investigator = headers["investigator"]
    r = client.get("/v1/applications/APP-000001/network", params={"hops": 2, "max_neighbours": 50},
                   headers=investigator)
    assert r.status_code == 200, r.text
    nodes = {n["id"]: n for n in r.json()["nodes"]}
    assert not any(n["hub"] for n in nodes.values())
    assert "app:APP-000009" in nodes  # through the employer and the dealer everyone shares
    assert nodes["app:APP-000009"]["confirmed_fraud"] and not nodes["app:APP-000002"]["confirmed_fraud"]
    assert nodes["app:APP-000003"]["confirmed_fraud"] == (nodes["app:APP-000003"]["band"] == "reject")
    assert not [v for v in _personal_values(rings) if v in r.text]

    # with at most 3 neighbours a node, the employer (9 applications) and the dealer (8) are hubs, not gone through
    r = client.get("/v1/applications/APP-000001/network", params={"hops": 2, "max_neighbours": 3},
                   headers=investigator)
    body = r.json()
    nodes = {n["id"]: n for n in body["nodes"]}
    hubs = {n["type"]: n["count"] for n in body["nodes"] if n["hub"]}
    assert hubs == {"Employer": 9, "Dealer": 8}
    assert "app:APP-000009" not in nodes and "app:APP-000002" in nodes  # APP-2 shares the ring phone
    assert all(e["source"] in nodes and e["target"] in nodes for e in body["edges"])

    r = client.get("/v1/applications/APP-000001/network", params={"hops": 1, "max_neighbours": 3},
                   headers=investigator)
    assert {n["type"] for n in r.json()["nodes"] if n["hub"]} == {"Employer", "Dealer"}
    assert not any(n["type"] == "Application" and n["id"] != "app:APP-000001" for n in r.json()["nodes"])
    assert client.get("/v1/applications/APP-404/network", headers=investigator).status_code == 404
    assert client.get("/v1/applications/APP-000001/network", params={"hops": 3},
                      headers=investigator).status_code == 422


def _stranger(n: int, **overrides: Any) -> dict[str, Any]:
    """An application sharing neither employer nor dealer with the others."""
    employer = {"name": f"深圳某公司{n}", "credit_code": builders.credit_code(f"91440300600{n:06d}")}
    return builders.application(n, dealer_id=f"D-SZ-{n:03d}", **{"applicant.employer": employer, **overrides})


def test_the_shortest_path_goes_through_shared_attributes_and_404s_beyond_max_hops(client, headers):
    phone, contact = mobile(20), [{"name": "乙", "phone": mobile(20)}]
    apps = [_stranger(20), _stranger(21, **{"applicant.emergency_contacts": contact, "applicant.device_id": "dv-21"}),
            _stranger(22, **{"applicant.device_id": "dv-21"}), _stranger(23)]
    _score_all(client, headers, apps)
    investigator = headers["investigator"]
    r = client.get("/v1/paths", params={"from": "APP-000020", "to": "APP-000022"}, headers=investigator)
    assert r.status_code == 200, r.text
    path = r.json()
    assert path["from"] == "APP-000020" and path["hops"] == 4
    assert [n["type"] for n in path["nodes"]] == ["Application", "Phone", "Application", "Device", "Application"]
    assert [e["type"] for e in path["edges"]] == ["USES_PHONE", "LISTS_CONTACT", "FROM_DEVICE", "FROM_DEVICE"]
    assert path["nodes"][1]["label"] == phone[:3] + "****" + phone[-4:] and phone not in r.text
    for edge, (a, b) in zip(path["edges"], zip(path["nodes"], path["nodes"][1:], strict=False), strict=True):
        assert {edge["source"], edge["target"]} == {a["id"], b["id"]}

    short = client.get("/v1/paths", params={"from": "APP-000020", "to": "APP-000022", "max_hops": 3},
                       headers=investigator)
    assert short.status_code == 404 and short.json()["error"]["code"] == "not_found"
    assert client.get("/v1/paths", params={"from": "APP-000020", "to": "APP-000023"},
                      headers=investigator).status_code == 404  # nothing shared
    assert client.get("/v1/paths", params={"from": "APP-000020", "to": "APP-404"},
                      headers=investigator).status_code == 404


def test_a_dealers_scorecard_counts_applications_bands_labels_and_rings(client, headers, service, rings):
    _verdict(service, "APP-000002", True)
    _verdict(service, "APP-000005", False)
    r = client.get("/v1/dealers/D-BJ-001/scorecard", headers=headers["analyst"])
    assert r.status_code == 200, r.text
    card = r.json()
    with service.ops.session() as session:
        bands = [b for (b,) in session.execute(select(DecisionRow.band).where(DecisionRow.dealer_id == "D-BJ-001"))]
    assert (card["applications"], card["decided"]) == (8, 8)
    assert card["decisions_by_band"] == {b: bands.count(b) for b in ("approve", "review", "reject")}
    assert (card["labelled"], card["confirmed_fraud"], card["fraud_rate"]) == (2, 1, 0.5)
    assert (card["in_risky_rings"], card["ring_share"]) == (4, 0.5)  # the web's 4 of the dealer's 8
    assert card["inflated_deals"] == 0
    assert [(t["ring_id"], t["applications_here"]) for t in card["rings"]] == [("R-000001", 4), ("R-000002", 3)]
    other = client.get("/v1/dealers/D-SH-002/scorecard", headers=headers["analyst"]).json()
    assert (other["applications"], other["rings"], other["in_risky_rings"]) == (1, [], 0)
    assert client.get("/v1/dealers/D-NOPE/scorecard", headers=headers["analyst"]).status_code == 404


def test_scorers_and_approvers_get_403_and_reads_are_audited(client, headers, service, rings):
    paths = ["/v1/rings", "/v1/rings/R-000001", "/v1/applications/APP-000001/network",
             "/v1/paths?from=APP-000001&to=APP-000002", "/v1/dealers/D-BJ-001/scorecard"]
    for role in ("scorer", "approver"):
        for path in paths:
            assert client.get(path, headers=headers[role]).status_code == 403, (role, path)
        assert client.post("/v1/rings/refresh", headers=headers[role]).status_code == 403
    assert client.get("/v1/rings").status_code == 401
    for path in paths:
        assert client.get(path, headers=headers["analyst"]).status_code == 200, path
        assert client.get(path, headers=headers["investigator"]).status_code == 200, path
    with service.ops.session() as session:
        actions = [a for (a,) in session.execute(select(AuditEntry.action))]
    for action in ("rings.refresh", "rings.list", "ring.read", "network.read", "path.read", "dealer.scorecard"):
        assert action in actions


def test_a_refresh_in_stored_rings_mode_writes_the_rings_to_the_store_and_loads_them(client, headers, service):
    from tianwang.service.rings import ring_source

    source = ring_source(service)
    assert source is not None
    source.refresh_every = 0  # a service reading the rings `tianwang rings detect` writes
    _score_all(client, headers, ring_applications())
    assert service.runtime.store.rings() == []
    assert client.post("/v1/rings/refresh", headers=headers["analyst"]).json()["rings"] == 2
    assert sorted(r.ring_id for r in service.runtime.store.rings()) == ["R-000001", "R-000002"]
    assert _ids(client.get("/v1/rings", headers=headers["investigator"]).json()) == ["R-000001", "R-000002"]


def test_without_a_ring_detector_a_refresh_is_a_409_and_the_list_is_empty(client, headers, monkeypatch):
    import tianwang.service.rings as rings_service

    monkeypatch.setattr(rings_service, "ring_source", lambda service: None)
    r = client.post("/v1/rings/refresh", headers=headers["analyst"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_ring_detector"
    assert client.get("/v1/rings", headers=headers["investigator"]).json()["data"] == []


def test_refreshes_run_one_at_a_time(client, headers, service, monkeypatch):
    import threading
    import time

    from tianwang.service.rings import refresh_rings, ring_source

    _score_all(client, headers, ring_applications())
    source = ring_source(service)
    real, running, most, lock = source.refresh, [0], [0], threading.Lock()

    def tracked(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(source, "refresh", tracked)
    threads = [threading.Thread(target=refresh_rings, args=(service, "analyst-1")) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
