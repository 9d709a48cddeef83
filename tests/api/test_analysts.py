"""Analysts' endpoints: detectors, the configuration, proposals under maker-checker, rollback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.builders import application
from tianwang.opsdb.models import AuditEntry, Outcome, Verdict, utcnow
from tianwang.scoring.config import DEFAULT_CONFIG_PATH
from tianwang.service import Service, open_service
from tianwang.service.analysts import ensure_active_version
from tianwang.service.follow import Follower, sync_active
from tianwang.settings import load_settings

SHIPPED = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
# the champion's thresholds at 0: every application is rejected
REJECT_ALL = SHIPPED.replace("thresholds: {review: 500, reject: 900}", "thresholds: {review: 0, reject: 0}")


def _score(client: TestClient, headers: dict[str, dict[str, str]], n: int) -> dict[str, Any]:
    answer = client.post("/v1/applications/score", json=application(n), headers=headers["scorer"])
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _wait_backtest(client: TestClient, headers: dict[str, str], version: int) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        view: dict[str, Any] = client.get(f"/v1/config/versions/{version}", headers=headers).json()
        if view["backtest"] is not None:
            return view
        time.sleep(0.05)
    raise AssertionError("the proposal's backtest did not finish")


def test_a_proposal_never_runs_before_approval_and_shows_its_backtest(
        client: TestClient, headers: dict[str, dict[str, str]], service: Service) -> None:
    assert REJECT_ALL != SHIPPED
    before = _score(client, headers, 1)
    assert before["band"] == "approve"
    active = client.get("/v1/config", headers=headers["analyst"]).json()
    assert active["status"] == "active" and active["body"] == SHIPPED

    proposed = client.post("/v1/config/proposals", json={"body": REJECT_ALL, "summary": "reject everything"},
                           headers=headers["analyst"])
    assert proposed.status_code == 201, proposed.text
    version = proposed.json()["version"]
    assert proposed.json()["status"] == "proposed" and proposed.json()["parent"] == active["version"]

    # the backtest, on the stored decisions, beside the active version's (same data)
    view = _wait_backtest(client, headers["analyst"], version)
    backtest = view["backtest"]
    assert backtest["active_version"] == active["version"]
    assert backtest["proposal"]["n_decisions"] == backtest["active"]["n_decisions"] == 1
    assert backtest["proposal"]["band_counts"]["reject"] == 1
    assert backtest["active"]["band_counts"]["approve"] == 1

    # pending: scoring still runs the active version
    assert _score(client, headers, 2)["band"] == "approve"
    assert client.get("/v1/config", headers=headers["analyst"]).json()["version"] == active["version"]

    # self-approval is refused
    own = client.post(f"/v1/config/proposals/{version}/approve", json={"comment": "mine"},
                      headers=headers["analyst"])
    assert own.status_code == 409 and own.json()["error"]["code"] == "self_approval"
    assert _score(client, headers, 3)["band"] == "approve"

    # another analyst approves: in force from the next request, without restart
    other = {"X-API-Key": service.accounts.create_key("client-analyst-2", ["analyst"])[0]}
    approved = client.post(f"/v1/config/proposals/{version}/approve", json={"comment": "ok"}, headers=other)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active" and approved.json()["activated_at"] is not None
    assert _score(client, headers, 4)["band"] == "reject"
    now = client.get("/v1/config", headers=headers["approver"]).json()
    assert now["version"] == version and now["reviewed_by"] != proposed.json()["proposed_by"]
    assert client.post(f"/v1/config/proposals/{version}/approve", headers=other).json()["error"]["code"] == \
        "not_proposed"

    # the previous version one call away
    rolled = client.post("/v1/config/rollback", json={"comment": "too strict"}, headers=headers["approver"])
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["body"] == SHIPPED and rolled.json()["status"] == "active"
    assert rolled.json()["version"] > version
    assert _score(client, headers, 5)["band"] == "approve"

    history = client.get("/v1/config/versions", headers=headers["analyst"], params={"limit": 2}).json()
    assert [v["version"] for v in history["data"]] == [rolled.json()["version"], version]
    assert history["pagination"]["has_more"] is True
    statuses = {v["version"]: v["status"] for v in client.get(
        "/v1/config/versions", headers=headers["analyst"], params={"limit": 50}).json()["data"]}
    assert statuses[version] == "superseded" and statuses[active["version"]] == "superseded"

    with service.ops.session() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("config.%"))))
    assert {"config.propose", "config.approve", "config.rollback"} <= set(actions)


def test_a_rejected_proposal_never_runs(client: TestClient, headers: dict[str, dict[str, str]]) -> None:
    version = client.post("/v1/config/proposals", json={"body": REJECT_ALL}, headers=headers["analyst"]).json()[
        "version"]
    rejected = client.post(f"/v1/config/proposals/{version}/reject", json={"comment": "no"},
                           headers=headers["approver"])
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert _score(client, headers, 1)["band"] == "approve"
    again = client.post(f"/v1/config/proposals/{version}/approve", headers=headers["approver"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_proposed"


@pytest.mark.parametrize(("body", "says"), [
    ("detectors: [", "not valid YAML"),
    (SHIPPED.replace("  gnn_ring:\n", "  no_such_detector:\n"), "no_such_detector"),
    (SHIPPED.replace("thresholds: {review: 500, reject: 900}", "thresholds: {review: 950, reject: 900}"),
     "strategies.baseline.thresholds"),
])
def test_a_bad_proposal_is_a_422_naming_the_field(client: TestClient, headers: dict[str, dict[str, str]],
                                                  body: str, says: str) -> None:
    answer = client.post("/v1/config/proposals", json={"body": body}, headers=headers["analyst"])
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == "body" and says in error["message"]
    assert client.get("/v1/config/versions", headers=headers["analyst"]).json()["data"][0]["status"] == "active"


def test_nothing_to_roll_back_is_a_409(client: TestClient, headers: dict[str, dict[str, str]]) -> None:
    answer = client.post("/v1/config/rollback", headers=headers["approver"])
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "nothing_to_roll_back"


def test_detectors_show_versions_modes_weights_and_training(client: TestClient,
                                                           headers: dict[str, dict[str, str]]) -> None:
    answer = client.get("/v1/detectors", headers=headers["approver"])
    assert answer.status_code == 200
    by_name = {d["name"]: d for d in answer.json()}
    assert by_name["gnn_ring"]["needs_training"] is True and by_name["gnn_ring"]["trained"] is False
    assert by_name["synthetic_identity"]["detector"] == "rules"
    assert by_name["rules"]["weights"] == {"baseline": 1.0, "strict": 1.3}
    assert by_name["watchlist"]["veto"] is True and by_name["rules"]["mode"] == "active"


@pytest.mark.parametrize(("method", "path", "allowed", "refused"), [
    ("get", "/v1/detectors", "analyst", "scorer"),
    ("get", "/v1/config", "approver", "scorer"),
    ("get", "/v1/config/versions", "analyst", "investigator"),
    ("post", "/v1/config/proposals", "analyst", "scorer"),
    ("post", "/v1/config/proposals", "analyst", "approver"),
    ("post", "/v1/config/rollback", "approver", "analyst"),
    ("get", "/v1/bundles", "analyst", "scorer"),
    ("post", "/v1/bundles/b1/activate", "approver", "analyst"),
])
def test_roles(client: TestClient, headers: dict[str, dict[str, str]], method: str, path: str, allowed: str,
               refused: str) -> None:
    body = {"json": {"body": SHIPPED}} if path.endswith("proposals") else {}
    assert getattr(client, method)(path, headers=headers[refused], **body).status_code == 403
    assert getattr(client, method)(path, **body).status_code == 401
    assert getattr(client, method)(path, headers=headers[allowed], **body).status_code not in (401, 403)


def test_the_backtest_scores_against_verdicts_and_outcomes(client: TestClient, headers: dict[str, dict[str, str]],
                                                           service: Service) -> None:
    for n in range(1, 6):
        _score(client, headers, n)
    with service.ops.session() as session:
        session.add(Verdict(id="vrd_1", application_id="APP-000001", fraud=True, source="api", actor="usr_1",
                            at=utcnow(), applications=["APP-000001"]))
        session.add(Outcome(id="out_1", application_id="APP-000002", kind="paid_as_agreed", observed_on="2026-06-01",
                            actor="usr_1", at=utcnow()))
        session.add(Outcome(id="out_2", application_id="APP-000003", kind="first_payment_default",
                            observed_on="2026-06-01", actor="usr_1", at=utcnow()))
        # a credit loss is a label, and not fraud: the rule training uses (tianwang.outcomes)
        session.add(Outcome(id="out_3", application_id="APP-000004", kind="charge_off",
                            observed_on="2026-06-01", actor="usr_1", at=utcnow()))
    version = client.post("/v1/config/proposals", json={"body": REJECT_ALL}, headers=headers["analyst"]).json()[
        "version"]
    backtest = _wait_backtest(client, headers["analyst"], version)["backtest"]
    for side in ("proposal", "active"):
        assert backtest[side]["n_decisions"] == 5 and backtest[side]["n_labelled"] == 4
        assert backtest[side]["n_fraud"] == 2 and backtest[side]["auroc"] is not None
    assert backtest["proposal"]["legit_flagged_rate"] == 1.0 and backtest["active"]["legit_flagged_rate"] == 0.0
    assert backtest["proposal"]["fraud_flagged_rate"] == 1.0


def test_a_restarted_service_runs_the_active_version(client: TestClient, headers: dict[str, dict[str, str]],
                                                     service: Service, ops_url: str, tmp_path: Path) -> None:
    version = client.post("/v1/config/proposals", json={"body": REJECT_ALL}, headers=headers["analyst"]).json()[
        "version"]
    assert client.post(f"/v1/config/proposals/{version}/approve", headers=headers["approver"]).status_code == 200
    settings = load_settings(db_path=tmp_path / "restarted" / "graph.db", store="embedded")
    with open_service(settings, ops_url=ops_url) as restarted:
        assert restarted.runtime.pipeline.loaded.config.strategies["baseline"].thresholds.reject == 900
        assert ensure_active_version(restarted) == version
        assert restarted.runtime.pipeline.loaded.config.strategies["baseline"].thresholds.reject == 0


def test_a_proposal_made_on_a_version_no_longer_active_is_refused(client: TestClient,
                                                                  headers: dict[str, dict[str, str]]) -> None:
    first = client.post("/v1/config/proposals", json={"body": REJECT_ALL}, headers=headers["analyst"]).json()
    second = client.post("/v1/config/proposals", json={"body": SHIPPED.replace("share: 0.0", "share: 0.1")},
                         headers=headers["analyst"]).json()
    assert first["parent"] == second["parent"]
    assert client.post(f"/v1/config/proposals/{second['version']}/approve",
                       headers=headers["approver"]).status_code == 200
    stale = client.post(f"/v1/config/proposals/{first['version']}/approve", headers=headers["approver"])
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_proposal"
    assert _score(client, headers, 1)["band"] == "approve"


def test_an_approval_reaches_every_other_process_within_the_sync_interval(
        client: TestClient, headers: dict[str, dict[str, str]], service: Service, ops_url: str) -> None:
    # a second worker of the same service: same store, same operational database, started before the approval
    settings = load_settings(db_path=service.settings.db_path, store="embedded")
    with open_service(settings, ops_url=ops_url) as other:
        assert ensure_active_version(other) == ensure_active_version(service)
        assert sync_active(other) == []  # in step: nothing to do
        follower = Follower(other, interval=0.05)
        follower.TRIM_SECONDS = 0.1  # the same thread hands free heap pages back, here every 0.1 s
        follower.start()
        try:
            version = client.post("/v1/config/proposals", json={"body": REJECT_ALL},
                                  headers=headers["analyst"]).json()["version"]
            assert client.post(f"/v1/config/proposals/{version}/approve",
                               headers=headers["approver"]).status_code == 200
            deadline = time.monotonic() + 10
            while other.extras.get("config_version") != version and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            follower.stop()
        assert other.extras["config_version"] == version and follower.changes == 1
        assert follower.trims >= 1
        assert other.runtime.pipeline.loaded.config.strategies["baseline"].thresholds.reject == 0
        assert sync_active(other) == []


def test_every_service_process_starts_a_follower(client: TestClient,
                                                   service: Service) -> None:
    follower = service.extras.get("follower")
    assert isinstance(follower, Follower) and follower.interval == service.settings.sync_seconds
