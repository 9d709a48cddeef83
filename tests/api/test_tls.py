"""TLS: `tianwang serve --ssl-certfile/--ssl-keyfile` serves HTTPS; its session cookie is Secure and its
answers carry Strict-Transport-Security. CORS stays closed: no other origin is let in."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tianwang.workers import stop_process

ROOT = Path(__file__).resolve().parents[2]
SECRET = "tls-test-secret-0123456789abcdef0123456"


def test_cors_is_closed_to_other_origins(client) -> None:
    preflight = client.options("/v1/cases", headers={"Origin": "https://elsewhere.example",
                                                     "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    plain = client.get("/healthz", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in plain.headers and "strict-transport-security" not in plain.headers


@pytest.mark.slow
def test_https_serves_a_secure_session_with_hsts(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TIANWANG_SECRET": SECRET, "TIANWANG_STORE": "embedded",
           "TIANWANG_DB_PATH": str(tmp_path / "graph.db"), "PW": "a long passphrase"}
    for name in ("TIANWANG_NEO4J_URI", "TIANWANG_DATABASE_URL"):
        env.pop(name, None)
    subprocess.run([sys.executable, "-m", "tianwang.cli", "users", "add", "li.na", "--role", "investigator",
                    "--password-env", "PW"], env=env, cwd=ROOT, check=True, capture_output=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "tianwang.cli", "serve", "--port", str(port), "--ssl-certfile",
                               str(cert), "--ssl-keyfile", str(key)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"https://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=str(cert)), timeout=10) as client:
            deadline = time.monotonic() + 120
            while True:
                assert server.poll() is None, "tianwang serve exited"
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "no answer over TLS"
                time.sleep(0.3)
            r = client.post("/v1/auth/session", json={"username": "li.na", "password": "a long passphrase"})
            assert r.status_code == 200, r.text
            assert "Secure" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
            assert r.headers["strict-transport-security"] == "max-age=31536000"
        with pytest.raises(httpx.HTTPError):  # plain HTTP is not served on that port
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        stop_process(server)
