"""Rate limits: per API key (429 with Retry-After, other keys unaffected) and login attempts per username."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tianwang.service import open_service
from tianwang.settings import load_settings


@pytest.fixture
def limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ops_url: str):
    monkeypatch.setenv("TIANWANG_RATE_LIMIT", "0.5")
    monkeypatch.setenv("TIANWANG_RATE_BURST", "3")
    monkeypatch.setenv("TIANWANG_LOGIN_ATTEMPTS_PER_MINUTE", "4")
    with open_service(load_settings(db_path=tmp_path / "graph.db", store="embedded"), ops_url=ops_url) as service, \
            TestClient(create_app(service=service)) as client:
        yield service, client


def test_a_key_over_its_rate_waits_and_the_others_do_not(limited) -> None:
    service, client = limited
    one = {"X-API-Key": service.accounts.create_key("one", ["investigator"])[0]}
    two = {"X-API-Key": service.accounts.create_key("two", ["investigator"])[0]}
    assert [client.get("/v1/cases", headers=one).status_code for _ in range(3)] == [200, 200, 200]  # the burst
    refused = client.get("/v1/cases", headers=one)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    assert client.get("/v1/cases", headers=two).status_code == 200
    assert client.get("/healthz").status_code == 200  # no credentials, no caller to count
    spec = client.get("/openapi.json").json()["paths"]
    assert "429" in spec["/v1/cases"]["get"]["responses"] and "429" not in spec["/healthz"]["get"]["responses"]


def test_a_password_cannot_be_guessed_faster_than_the_login_limit(limited) -> None:
    service, client = limited
    service.accounts.add_user("li.na", "a long passphrase", ["investigator"])
    wrong = [client.post("/v1/auth/login", json={"username": "li.na", "password": f"guess {n}"}).status_code
             for n in range(4)]
    assert wrong == [401, 401, 401, 401]
    blocked = client.post("/v1/auth/session", json={"username": "LI.NA", "password": "a long passphrase"})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1  # right or wrong, by name
    assert "set-cookie" not in blocked.headers
    other = client.post("/v1/auth/login", json={"username": "someone.else", "password": "whatever it is"})
    assert other.status_code == 401
