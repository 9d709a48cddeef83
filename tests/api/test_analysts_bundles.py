"""Bundles through the service: a training job writes one, an approver activates it without restart,
and each decision names the bundle that made it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.builders import application
from tianwang.opsdb.models import AuditEntry
from tianwang.scoring.config import DEFAULT_CONFIG_PATH
from tianwang.service import Service, open_service
from tianwang.service.bundles import active_bundle_name
from tianwang.service.follow import sync_active
from tianwang.settings import load_settings

SMALL = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").replace(
    "  gnn_ring:\n", "  gnn_ring:\n    settings: {epochs: 15, hidden_channels: 16, patience: 5}\n")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures.generator import generate

    folder = tmp_path_factory.mktemp("history")
    generate(300, 11, folder)
    return folder


def _wait(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_train_job_then_activate_switches_bundles_without_restart(
        client: TestClient, headers: dict[str, dict[str, str]], service: Service, history: Path, ops_url: str,
) -> None:
    # the configuration the bundle is trained with, in force first (maker-checker)
    version = client.post("/v1/config/proposals", json={"body": SMALL, "summary": "a smaller ring GNN"},
                          headers=headers["analyst"]).json()["version"]
    assert client.post(f"/v1/config/proposals/{version}/approve", headers=headers["approver"]).status_code == 200

    before = client.post("/v1/applications/score", json=application(1), headers=headers["scorer"]).json()
    assert before["bundle"] is None
    assert next(v for v in before["votes"] if v["detector"] == "gnn_ring")["status"] == "skipped"

    service.settings.job_input_dir = history
    outside = client.post("/v1/jobs", json={"kind": "training", "params": {
        "applications": "../../etc/passwd", "labels": "labels.ndjson"}}, headers=headers["analyst"])
    refused = _wait(client, headers["analyst"], outside.json()["id"])
    assert refused["status"] == "failed" and "job input folder" in refused["error"]
    started = client.post("/v1/jobs", json={"kind": "training", "params": {
        "applications": "applications.ndjson", "labels": "labels.ndjson", "name": "first"}},
        headers=headers["analyst"])
    job = _wait(client, headers["analyst"], started.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["name"] == "first" and job["result"]["config"]["version"] == version

    listed = client.get("/v1/bundles", headers=headers["analyst"]).json()["data"]
    assert [(b["name"], b["active"]) for b in listed] == [("first", False)]
    assert listed[0]["metrics"]["n_applications"] == 300 and listed[0]["data_range"]["from"]

    # another worker of the same service, running since before the activation
    other = open_service(load_settings(db_path=service.settings.db_path, store="embedded"), ops_url=ops_url)
    assert sync_active(other) == ["config"] and other.extras.get("bundle_name") is None  # as it starts
    assert sync_active(other) == []

    activated = client.post("/v1/bundles/first/activate", headers=headers["approver"])
    assert activated.status_code == 200, activated.text
    assert activated.json()["active"] is True and active_bundle_name(service) == "first"
    with other:  # it follows the database
        assert sync_active(other) == ["bundle"] and other.extras["bundle_name"] == "first"
        assert other.runtime.pipeline.loaded.detectors["gnn_ring"].is_fitted
        assert sync_active(other) == []

    after = client.post("/v1/applications/score", json=application(2), headers=headers["scorer"]).json()
    assert after["bundle"] == "first"
    assert next(v for v in after["votes"] if v["detector"] == "gnn_ring")["status"] == "ok"
    detectors = {d["name"]: d for d in client.get("/v1/detectors", headers=headers["analyst"]).json()}
    assert detectors["gnn_ring"]["trained"] is True

    with service.ops.session() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "bundle.activate")) is not None
    assert client.post("/v1/bundles/nope/activate", headers=headers["approver"]).status_code == 404
