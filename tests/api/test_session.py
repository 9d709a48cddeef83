"""The workbench's session: an HttpOnly cookie, changes only with the session's anti-forgery
token, security headers on every answer, and an application's details masked by role."""

from __future__ import annotations

import hashlib
import re

import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.middleware import CONTENT_SECURITY_POLICY
from api.web import STATIC_DIR

PASSWORD = "a long passphrase"


@pytest.fixture
def people(service) -> None:
    service.accounts.add_user("li.na", PASSWORD, ["investigator"])
    service.accounts.add_user("wang.fang", PASSWORD, ["analyst"])


def log_in(client: TestClient, username: str = "li.na") -> str:
    r = client.post("/v1/auth/session", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["csrf_token"]


def test_the_session_cookie_is_httponly_strict_and_changes_need_its_token(client, people) -> None:
    assert client.get("/v1/auth/session").json() == {"user": None, "csrf_token": None, "expires_in": 0}
    r = client.post("/v1/auth/session", json={"username": "li.na", "password": PASSWORD})
    cookie = r.headers["set-cookie"]
    assert "tianwang_session=twt_" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    assert r.headers["cache-control"] == "no-store"
    token = r.json()["csrf_token"]
    assert token and token not in cookie and r.json()["user"]["roles"] == ["investigator"]
    again = client.get("/v1/auth/session").json()
    assert again["csrf_token"] == token and again["user"]["name"] == "li.na"

    assert client.get("/v1/cases").status_code == 200  # reading needs the cookie only
    body = {"ring_id": "R-999999"}
    assert client.post("/v1/cases", json=body).json()["error"]["code"] == "forbidden"  # no token
    assert client.post("/v1/cases", json=body, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    other = log_in(client, "wang.fang")  # another session's token does not fit this one
    token = log_in(client)
    assert client.post("/v1/cases", json=body, headers={"X-CSRF-Token": other}).status_code == 403
    assert client.post("/v1/cases", json=body, headers={"X-CSRF-Token": token}).status_code == 404  # let through

    assert client.delete("/v1/auth/session").status_code == 403  # logging out is a change too
    out = client.delete("/v1/auth/session", headers={"X-CSRF-Token": token})
    assert out.status_code == 204 and 'tianwang_session=""' in out.headers["set-cookie"]
    assert client.get("/v1/auth/session").json()["user"] is None
    assert client.get("/v1/cases").status_code == 401


def test_wrong_password_is_a_401_and_sets_no_cookie(client, people) -> None:
    r = client.post("/v1/auth/session", json={"username": "li.na", "password": "not it at all"})
    assert r.status_code == 401 and "set-cookie" not in r.headers
    assert client.post("/v1/auth/session", json={"username": "", "password": "x"}).json()["error"]["field"]


def test_over_tls_the_cookie_is_secure(service, people) -> None:
    with TestClient(create_app(service=service), base_url="https://testserver") as tls:
        r = tls.post("/v1/auth/session", json={"username": "li.na", "password": PASSWORD})
        assert "Secure" in r.headers["set-cookie"]


def test_every_answer_carries_the_security_headers_and_the_page_no_inline_script(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for answer in (page, client.get("/healthz"), client.get("/static/app.js"), client.get("/v1/cases")):
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "content-security-policy" not in client.get("/docs").headers  # Swagger UI comes from a CDN
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere


def test_the_vendored_files_are_those_listed_with_their_licences(client) -> None:
    listed = (STATIC_DIR / "vendor" / "VENDORED.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\S+) \| (\S+) \| (\S+) \| `([^`]+)` \| `([0-9a-f]{64})` \|$", listed, re.M)
    assert {r[0] for r in rows} == {"cytoscape", "layout-base", "cose-base", "cytoscape-fcose"}
    for name, _version, licence, path, digest in rows:
        assert licence == "MIT" and (STATIC_DIR / "vendor" / name / "LICENSE").exists()
        assert hashlib.sha256((STATIC_DIR / "vendor" / path).read_bytes()).hexdigest() == digest
        served = client.get(f"/static/vendor/{path}")
        assert served.status_code == 200 and hashlib.sha256(served.content).hexdigest() == digest


def test_an_applications_details_are_masked_for_investigators_and_left_out_for_analysts(
        client, headers, application) -> None:
    app = application(application_id="APP-DETAILS-1")
    scored = client.post("/v1/applications/score", content=orjson.dumps(app), headers=headers["scorer"])
    assert scored.status_code == 201
    raw = [app["applicant"][k] for k in ("id_number", "phone", "name", "bank_account")]

    seen = client.get("/v1/applications/APP-DETAILS-1", headers=headers["investigator"])
    assert seen.status_code == 200 and seen.json()["personal_fields"] == "masked"
    applicant = seen.json()["application"]["applicant"]
    assert "*" in applicant["id_number"] and "*" in applicant["phone"]
    assert not any(value in seen.text for value in raw) and "_hash" not in seen.text

    hidden = client.get("/v1/applications/APP-DETAILS-1", headers=headers["analyst"])
    assert hidden.json()["personal_fields"] == "hidden"
    shown = set(hidden.json()["application"]["applicant"])
    assert not {"id_number", "phone", "name", "address", "bank_account"} & shown
    assert hidden.json()["application"]["loan"] == seen.json()["application"]["loan"]

    assert client.get("/v1/applications/APP-DETAILS-1", headers=headers["scorer"]).status_code == 403
    missing = client.get("/v1/applications/APP-NOPE", headers=headers["investigator"])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    trail = client.get("/v1/audit", params={"action": "application.read"}, headers=headers["admin"]).json()["data"]
    assert [e["target_ids"] for e in trail] == [["APP-DETAILS-1"], ["APP-DETAILS-1"]]
