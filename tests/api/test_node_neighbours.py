"""GET /v1/nodes/{node_id}/neighbours: a drawn node expanded by its opaque id alone, masked, hubs collapsed as
on the network; an unknown or malformed id is a 404."""

from __future__ import annotations

import pytest

from tests.api.test_cases_rings import refresh_rings, score, shared


def _personal(n: int) -> set[str]:
    applicant = shared(n)["applicant"]
    return {applicant["id_number"], applicant["phone"], applicant["bank_account"], applicant["name"],
            applicant["address"], applicant["id_registered_phone"]}


@pytest.fixture
def ring(client, headers, service) -> dict:
    """Five applications sharing a phone, a device and an account: one ring, as GET /v1/rings/{id} draws it."""
    for n in range(1, 6):
        score(client, headers, shared(n))
    (found,) = refresh_rings(service).summaries()
    r = client.get(f"/v1/rings/{found.ring_id}", headers=headers["investigator"])
    assert r.status_code == 200, r.text
    return r.json()


def _phone(ring: dict) -> dict:
    return next(n for n in ring["nodes"] if n["type"] == "Phone")


def test_a_rings_shared_phone_expands_to_the_members_applications_without_personal_data(client, headers, ring):
    phone = _phone(ring)
    r = client.get(f"/v1/nodes/{phone['id']}/neighbours", headers=headers["analyst"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["node_id"] == phone["id"] and body["nodes"][0] == phone and body["truncated"] is False
    apps = {n["id"]: n for n in body["nodes"] if n["type"] == "Application"}
    assert set(apps) == {m_id for m_id in (f"app:{m['application_id']}" for m in ring["members"])}
    assert all(n["band"] for n in apps.values())  # each with its band, as the ring draws them
    assert {(e["source"], e["target"]) for e in body["edges"]} == {(a, phone["id"]) for a in apps}
    assert not [v for n in range(1, 6) for v in _personal(n) if v in r.text]


def test_a_node_this_process_never_drew_is_found_over_the_graph(client, headers, service, ring):
    phone = _phone(ring)
    service.extras.pop("drawn_nodes")  # another worker drew it, or the service restarted
    r = client.get(f"/v1/nodes/{phone['id']}/neighbours", headers=headers["investigator"])
    assert r.status_code == 200, r.text
    assert sum(n["type"] == "Application" for n in r.json()["nodes"]) == 5


@pytest.mark.parametrize("node_id", ["phone:0123456789abcdef", "phone:not-a-hash", "phone:0123456789ABCDEF",
                                     "martian:0123456789abcdef", "nonsense", "app:APP-404", "dealer:D-404",
                                     "app:13800138000"])
def test_an_unknown_or_malformed_id_is_a_404(client, headers, ring, node_id):
    r = client.get(f"/v1/nodes/{node_id}/neighbours", headers=headers["investigator"])
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found" and "13800138000" not in r.text


def test_neighbours_with_many_neighbours_are_hubs_as_on_the_network(client, headers, ring):
    investigator = headers["investigator"]
    network = client.get("/v1/applications/APP-000001/network", params={"max_neighbours": 3},
                         headers=investigator).json()
    r = client.get("/v1/nodes/app:APP-000001/neighbours", params={"max_neighbours": 3}, headers=investigator)
    body = r.json()
    assert {n["id"]: (n["hub"], n["count"]) for n in body["nodes"]} == {
        n["id"]: (n["hub"], n["count"]) for n in network["nodes"]}
    assert {n["type"] for n in body["nodes"] if n["hub"]} >= {"Dealer", "Employer"}
    dealer = next(n for n in body["nodes"] if n["type"] == "Dealer")
    assert dealer["count"] == 5
    cut = client.get(f"/v1/nodes/{dealer['id']}/neighbours", params={"limit": 2}, headers=investigator).json()
    assert cut["truncated"] and cut["nodes"][0]["hub"] and cut["nodes"][0]["count"] == 5 and len(cut["nodes"]) == 3


def test_only_readers_of_the_network_expand_nodes(client, headers, ring):
    phone = _phone(ring)
    for role, status in (("scorer", 403), ("approver", 403), ("investigator", 200), ("analyst", 200)):
        assert client.get(f"/v1/nodes/{phone['id']}/neighbours", headers=headers[role]).status_code == status
    assert client.get(f"/v1/nodes/{phone['id']}/neighbours").status_code == 401
